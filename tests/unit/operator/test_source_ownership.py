"""Issue 15, item 7: one region's operator runs a SignalSource, as one runs a TradingBot.

Two regional operators share one cluster (a documented mode). Each pass here is a whole
``reconcile_source`` of one operator against a fake cluster that keeps the source's
resourceVersion and refuses a stale precondition with 409, as the apiserver does; the pass's status
is written back as the Kopf handlers write it. Before ownership, each operator applied its own
region label and Redis URL over the other's on every pass, and every flip recreated the pod.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest
from tradefleet_operator.kube import KubeApiError
from tradefleet_operator.reconcile import Reconciler
from tradefleet_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

TOKYO = OperatorSettings(region="ap-northeast-1", redis_url="redis://tokyo-redis:6379/0")
SINGAPORE = OperatorSettings(region="ap-southeast-1", redis_url="redis://singapore-redis:6379/0")
CONFIG_MAP = ("ConfigMap", "news-sigsrc")


@dataclass
class Cluster:
    """The SignalSource and its children as the apiserver holds them."""

    source: dict[str, Any]
    children: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    version: int = 10
    # (operator's region, what it wrote), in order.
    writes: list[tuple[str, str]] = field(default_factory=list)

    def bump(self) -> str:
        self.version += 1
        return str(self.version)


class ClusterKube:
    """The API as one operator sees it: writes go to the shared :class:`Cluster`."""

    def __init__(self, *, cluster: Cluster, region: str) -> None:
        self.cluster = cluster
        self.region = region

    async def apply(self, *, body: dict[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = self.cluster.bump()
        self.cluster.children[(body["kind"], body["metadata"]["name"])] = stored
        self.cluster.writes.append((self.region, f"apply {body['kind']}"))
        return stored

    async def replace(self, *, body: dict[str, Any]) -> dict[str, Any]:
        return await self.apply(body=body)

    async def create(self, *, body: dict[str, Any]) -> dict[str, Any]:
        return await self.apply(body=body)

    async def get(self, *, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return None

    async def delete(self, *, kind: str, namespace: str | None, name: str, **_: Any) -> bool:
        self.cluster.writes.append((self.region, f"delete {kind}"))
        return self.cluster.children.pop((kind, name), None) is not None

    async def patch_merge(
        self,
        *,
        kind: str,
        namespace: str | None,
        name: str,
        patch: dict[str, Any],
        subresource: str = "",
    ) -> dict[str, Any]:
        assert (kind, subresource) == ("SignalSource", "status")
        source = self.cluster.source
        expected = (patch.get("metadata") or {}).get("resourceVersion")
        if expected is not None and expected != source["metadata"]["resourceVersion"]:
            raise KubeApiError(
                status=409, reason="Conflict", message="the object has been modified"
            )
        status = dict(source.get("status") or {})
        for key, value in patch["status"].items():
            if value is None:
                status.pop(key, None)
            else:
                status[key] = value
        source["status"] = status
        source["metadata"]["resourceVersion"] = self.cluster.bump()
        self.cluster.writes.append((self.region, "status"))
        return copy.deepcopy(source)


def _source(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "SignalSource",
        "metadata": {
            "name": "news",
            "namespace": "ns",
            "uid": "uid-src",
            "generation": 1,
            "resourceVersion": "10",
        },
        "spec": {
            "kind": "macro",
            "symbols": ["BTC/USDT"],
            "macro": {"feeds": ["https://www.federalreserve.gov/feeds/press_all.xml"]},
            **spec,
        },
    }


class Operator:
    """One region's operator: a reconciler whose passes write through the handlers' way."""

    def __init__(self, *, cluster: Cluster, settings: OperatorSettings) -> None:
        self.cluster = cluster
        self.reconciler = Reconciler(
            kube=ClusterKube(cluster=cluster, region=settings.region),  # type: ignore[arg-type]
            settings=settings,
        )

    async def run(self, *, seen: dict[str, Any] | None = None) -> None:
        """A pass over the source as ``seen`` (default: as it is now)."""
        body = copy.deepcopy(seen or self.cluster.source)
        outcome = await self.reconciler.reconcile_source(
            body=body, children=copy.deepcopy(self.cluster.children), consumers=0
        )
        # As the handlers write: compared with the live status (the watch may have delivered
        # another operator's during the pass), nulls for what the pass dropped.
        stored = self.cluster.source.get("status") or {}
        if not getattr(outcome, "leave_status", False) and outcome.status != stored:
            patch = {**{k: None for k in stored if k not in outcome.status}, **outcome.status}
            await self.reconciler.kube.patch_merge(
                kind="SignalSource",
                namespace="ns",
                name="news",
                patch={"status": patch},
                subresource="status",
            )


def _config(cluster: Cluster) -> str:
    return str(cluster.children[CONFIG_MAP]["data"]["config.json"])


async def test_of_two_operators_one_claims_the_source_and_the_other_never_writes() -> None:
    cluster = Cluster(source=_source())
    tokyo = Operator(cluster=cluster, settings=TOKYO)
    singapore = Operator(cluster=cluster, settings=SINGAPORE)
    # Both see the unclaimed source at once (their watches deliver it together).
    first_sight = copy.deepcopy(cluster.source)
    await tokyo.run(seen=first_sight)
    await singapore.run(seen=first_sight)
    for _ in range(5):
        await singapore.run()
        await tokyo.run()
    assert [w for w in cluster.writes if w[0] == "ap-southeast-1"] == [], "Singapore wrote"
    assert cluster.children[CONFIG_MAP]["metadata"]["labels"]["tradefleet.io/region"] == (
        "ap-northeast-1"
    )
    assert "tokyo-redis" in _config(cluster)
    assert cluster.source["status"]["region"] == "ap-northeast-1"
    # On Tokyo's nodes, near Tokyo's Redis, with Tokyo's image.
    pod = cluster.children[("Deployment", "news-sigsrc")]["spec"]["template"]["spec"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert "ap-northeast-1" in str(terms["nodeSelectorTerms"])
    settled = len(cluster.writes)
    await tokyo.run()
    await singapore.run()
    assert len(cluster.writes) == settled, "a steady pass of either operator wrote"


async def test_spec_region_moves_the_source_and_the_old_owner_removes_only_its_own() -> None:
    cluster = Cluster(source=_source())
    tokyo = Operator(cluster=cluster, settings=TOKYO)
    singapore = Operator(cluster=cluster, settings=SINGAPORE)
    await tokyo.run()
    assert "tokyo-redis" in _config(cluster)
    cluster.source["spec"]["region"] = "ap-southeast-1"
    cluster.source["metadata"]["generation"] = 2
    await tokyo.run()  # Tokyo lets go first: its children are removed
    assert CONFIG_MAP not in cluster.children
    await singapore.run()
    await tokyo.run()
    await singapore.run()
    assert "singapore-redis" in _config(cluster)
    assert cluster.source["status"]["region"] == "ap-southeast-1"
    assert cluster.source["status"]["phase"] != "NotOwned"
    tokyo_writes = len([w for w in cluster.writes if w[0] == "ap-northeast-1"])
    for _ in range(3):
        await tokyo.run()
        await singapore.run()
    assert len([w for w in cluster.writes if w[0] == "ap-northeast-1"]) == tokyo_writes
    assert "singapore-redis" in _config(cluster)


async def test_a_source_of_a_region_without_operator_is_not_owned_in_the_same_words() -> None:
    cluster = Cluster(source=_source(region="eu-central-1"))
    tokyo = Operator(cluster=cluster, settings=TOKYO)
    singapore = Operator(cluster=cluster, settings=SINGAPORE)
    await tokyo.run()
    await singapore.run()
    assert cluster.source["status"]["phase"] == "NotOwned"
    assert cluster.children == {}
    settled = len(cluster.writes)
    for _ in range(3):
        await tokyo.run()
        await singapore.run()
    # The same status from both: neither rewrites the other's (each write woke the other's loop).
    assert len(cluster.writes) == settled
    ready = next(c for c in cluster.source["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "OwnedByOtherRegion"
    assert "eu-central-1" in ready["message"]


async def test_a_bot_of_a_region_without_operator_gets_the_same_status_from_every_other() -> None:
    """The same for a TradingBot: two non-owners' NotOwned must not differ (it named the writer's
    region, so each operator rewrote the other's status on every pass)."""
    body = {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "bot", "namespace": "ns", "uid": "uid-bot", "generation": 1},
        "spec": {
            "exchange": "binance",
            "market": "futures",
            "symbol": "BTC/USDT:USDT",
            "region": "eu-central-1",
        },
    }
    statuses = []
    for settings in (TOKYO, SINGAPORE, TOKYO):
        cluster = Cluster(source=_source())
        reconciler = Reconciler(
            kube=ClusterKube(cluster=cluster, region=settings.region),  # type: ignore[arg-type]
            settings=settings,
        )
        outcome = await reconciler.reconcile_bot(body=body, children={}, sources={})
        body = {**body, "status": outcome.status}
        statuses.append(outcome.status)
    assert statuses[0]["phase"] == "NotOwned"
    assert statuses[1] == statuses[0], "Singapore rewrote Tokyo's NotOwned"
    assert statuses[2] == statuses[1]
