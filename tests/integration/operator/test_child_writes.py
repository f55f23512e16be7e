"""The operator's writes of a resource's children, against a real apiserver.

A new child is created with a plain POST (a server-side apply costs the apiserver about 1.7
times as much CPU, measured on the children of a bot), and every later repair is a server-side
apply. What a child's new rendering leaves out must then be gone from it: an environment
variable, a label, a key of a ConfigMap, whether the child was created by that POST, by an apply,
or replaced whole after someone else's fields made the apply invalid. (A child whose rendering
is still covered by it is in sync and not written: :mod:`tradefleet_operator.drift`.)
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_operator.access import read_access
from tradefleet_operator.kube import FIELD_MANAGER, KubeApiError, KubeClient
from tradefleet_operator.settings import load_settings
from tradefleet_operator.writes import ChildWriter

pytestmark = pytest.mark.integration


@pytest.fixture
async def kube(cluster: ClusterAccess) -> AsyncIterator[KubeClient]:
    async with KubeClient(access=read_access(kubeconfig=cluster.kubeconfig)) as client:
        yield client


def _deployment(namespace: str, *, env: dict[str, str], labels: dict[str, str]) -> dict[str, Any]:
    pod_labels = {"app": "writes-test"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "runtime", "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "containers": [
                        {
                            "name": "runtime",
                            "image": "registry.example/bot-runtime:1.0",
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                        }
                    ]
                },
            },
        },
    }


def _config_map(namespace: str, *, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "runtime-config", "namespace": namespace},
        "data": data,
    }


async def _converge(
    writer: ChildWriter, kube: KubeClient, desired: list[dict[str, Any]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Converge ``desired`` with the children as they are now (what the index would hold); a
    conflict (the Deployment controller wrote in between) is retried, as a pass is."""
    for attempt in range(5):
        children = {}
        for obj in desired:
            live = await kube.get(
                kind=obj["kind"],
                namespace=obj["metadata"]["namespace"],
                name=obj["metadata"]["name"],
            )
            if live is not None:
                children[(obj["kind"], obj["metadata"]["name"])] = live
        try:
            await writer.converge(desired=desired, children=children, was_reconciled=True)
            break
        except KubeApiError as exc:
            if not exc.conflict or attempt == 4:
                raise
    out = {}
    for obj in desired:
        live = await kube.get(
            kind=obj["kind"], namespace=obj["metadata"]["namespace"], name=obj["metadata"]["name"]
        )
        assert live is not None
        out[(obj["kind"], obj["metadata"]["name"])] = live
    return out


def _env(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container.get("env") or []}


async def test_what_a_childs_new_rendering_leaves_out_is_removed_from_it(
    kube: KubeClient, namespace: str
) -> None:
    writer = ChildWriter(kube=kube, settings=load_settings(path=None, region="ap-northeast-1"))
    first = [
        _config_map(namespace, data={"config.json": "{}", "passphrase": "p"}),
        _deployment(
            namespace,
            env={"EXCHANGE": "binance", "API_PASSPHRASE": "p"},
            labels={"tier": "bot", "canary": "yes"},
        ),
    ]
    created = await _converge(writer, kube, first)
    assert _env(created[("Deployment", "runtime")]) == {
        "EXCHANGE": "binance",
        "API_PASSPHRASE": "p",
    }

    second = [
        _config_map(namespace, data={"config.json": '{"v": 2}'}),
        _deployment(namespace, env={"EXCHANGE": "okx"}, labels={"tier": "bot"}),
    ]
    repaired = await _converge(writer, kube, second)
    deployment = repaired[("Deployment", "runtime")]
    assert _env(deployment) == {"EXCHANGE": "okx"}, "a variable left out stayed in the pod's env"
    assert "canary" not in deployment["metadata"]["labels"]
    assert repaired[("ConfigMap", "runtime-config")]["data"] == {"config.json": '{"v": 2}'}
    # The operator's fields are all its applied ones now: a later apply may drop any of them.
    ours = [m for m in deployment["metadata"]["managedFields"] if m["manager"] == FIELD_MANAGER]
    assert [m["operation"] for m in ours] == ["Apply"]


async def test_a_child_replaced_whole_still_loses_what_its_rendering_leaves_out(
    kube: KubeClient, namespace: str
) -> None:
    """The 422 fallback (someone's hand-set field makes the merged object invalid) replaces the
    child with a PUT; the next apply must still be able to remove what it leaves out."""
    writer = ChildWriter(kube=kube, settings=load_settings(path=None, region="ap-northeast-1"))
    first = _deployment(namespace, env={"A": "1"}, labels={"tier": "bot"})
    first["spec"]["strategy"] = {"type": "Recreate"}
    await _converge(writer, kube, [first])
    # Someone sets a rolling update by hand: our Recreate plus their rollingUpdate is invalid.
    await kube.patch_merge(
        kind="Deployment",
        namespace=namespace,
        name="runtime",
        patch={"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
    )
    replaced = copy.deepcopy(first)
    replaced["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "B", "value": "2"})
    after_put = await _converge(writer, kube, [replaced])
    assert _env(after_put[("Deployment", "runtime")]) == {"A": "1", "B": "2"}
    assert after_put[("Deployment", "runtime")]["spec"]["strategy"] == {"type": "Recreate"}

    again = await _converge(writer, kube, [first])
    assert _env(again[("Deployment", "runtime")]) == {"A": "1"}


async def test_a_repair_of_a_created_child_leaves_its_defaulted_fields_and_its_pods_alone(
    kube: KubeClient, namespace: str
) -> None:
    """The fields the apiserver defaulted at creation become ours as applied; an apply that
    leaves them out has them defaulted again, so a repair of the labels rolls no new pods."""
    writer = ChildWriter(kube=kube, settings=load_settings(path=None, region="ap-northeast-1"))
    created = await _converge(
        writer, kube, [_deployment(namespace, env={"A": "1"}, labels={"tier": "bot"})]
    )
    before = created[("Deployment", "runtime")]
    relabelled = await _converge(
        writer, kube, [_deployment(namespace, env={"A": "1"}, labels={"tier": "paper"})]
    )
    after = relabelled[("Deployment", "runtime")]
    assert after["metadata"]["labels"]["tier"] == "paper"
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"]["template"] == before["spec"]["template"]
    assert after["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


async def test_a_revision_written_again_by_a_writer_that_had_not_seen_it_is_accepted(
    kube: KubeClient, namespace: str
) -> None:
    """A restarted operator, or one whose index lags, writes a bot's current ControllerRevision
    again: its data is immutable and compared byte for byte, so the second write must leave
    those bytes as the first one stored them."""
    revision = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "runtime-4af1aad2c3", "namespace": namespace},
        "revision": 1,
        "data": {"config": {"risk": {"maxLeverage": 3, "kellyFraction": 0.25}, "symbol": "BTC"}},
    }
    settings = load_settings(path=None, region="ap-northeast-1")
    await ChildWriter(kube=kube, settings=settings).converge(
        desired=[revision], children={}, was_reconciled=False
    )
    # A writer with no cache of that write, whose index has not delivered the revision yet.
    again = await ChildWriter(kube=kube, settings=settings).converge(
        desired=[revision], children={}, was_reconciled=False
    )
    stored = again.children[("ControllerRevision", "runtime-4af1aad2c3")]
    assert stored["data"] == revision["data"]


async def test_a_child_as_rendered_that_the_index_had_not_delivered_is_not_written_again(
    kube: KubeClient, namespace: str
) -> None:
    """A pass whose index lags finds its POST refused (the child exists): the child is as
    rendered, so nothing is written, not even its field ownership (its resourceVersion stays)."""
    config_map = _config_map(namespace, data={"config.json": "{}"})
    settings = load_settings(path=None, region="ap-northeast-1")
    first = await ChildWriter(kube=kube, settings=settings).converge(
        desired=[config_map], children={}, was_reconciled=False
    )
    again = await ChildWriter(kube=kube, settings=settings).converge(
        desired=[config_map], children={}, was_reconciled=True
    )
    key = ("ConfigMap", "runtime-config")
    assert again.writes == 0 and not again.events
    version = again.children[key]["metadata"]["resourceVersion"]
    assert version == first.children[key]["metadata"]["resourceVersion"]
