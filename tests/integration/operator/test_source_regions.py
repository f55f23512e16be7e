"""Issue 15, item 7: two regional operators sharing one cluster run a SignalSource once.

Against a real apiserver, with the Tokyo and the Singapore operator running side by side (each with
its own Redis URL, as each region has its own Redis): one of them claims the unclaimed source in
``status.region`` (the apiserver's resourceVersion precondition decides a race), and from then on
the source's children keep that region's label and Redis URL — the ConfigMap and Deployment are
not rewritten while both operators pass over the source every 2 s. Before, each operator applied
its own over the other's on every pass and every flip recreated the source's pod.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.k8s import wait_for
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

GROUP, VERSION = "tradefleet.io", "v1alpha1"
REDIS = {
    "ap-northeast-1": "redis://tokyo-redis:6379/0",
    "ap-southeast-1": "redis://singapore-redis:6379/0",
}


def _operator(*, cluster: ClusterAccess, workdir: Path, region: str) -> OperatorProcess:
    return OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=workdir,
        region=region,
        settings={"reconcileIntervalSeconds": 2, "redisUrl": REDIS[region]},
    )


@pytest.fixture
def two_operators(cluster: ClusterAccess, crds: None, tmp_path: Path) -> Iterator[None]:
    operators = [
        _operator(cluster=cluster, workdir=tmp_path / region, region=region) for region in REDIS
    ]
    for process in operators:
        process.start()
    yield
    for process in operators:
        process.stop()
    for process in operators:
        assert "Traceback" not in process.log_text(), "an operator logged a traceback"


def _source(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SignalSource",
        "metadata": {"name": name},
        "spec": {
            "kind": "macro",
            "symbols": ["BTC/USDT"],
            "macro": {"feeds": ["https://www.federalreserve.gov/feeds/press_all.xml"]},
            **spec,
        },
    }


def _status(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    source = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "signalsources", name)
    return dict(source.get("status") or {})


def _children(
    core_v1: client.CoreV1Api, apps_v1: client.AppsV1Api, namespace: str, name: str
) -> tuple[str, str, str, str]:
    """The ConfigMap's resourceVersion, the Deployment's generation (its status changes on its
    own), their region label and the Redis URL."""
    config = core_v1.read_namespaced_config_map(f"{name}-sigsrc", namespace)
    deployment = apps_v1.read_namespaced_deployment(f"{name}-sigsrc", namespace)
    url = json.loads(config.data["config.json"])["redis"]["url"]
    region = config.metadata.labels["tradefleet.io/region"]
    assert deployment.metadata.labels["tradefleet.io/region"] == region
    return config.metadata.resource_version, str(deployment.metadata.generation), region, url


def _made(
    core_v1: client.CoreV1Api, apps_v1: client.AppsV1Api, namespace: str, name: str
) -> tuple[str, str, str, str] | None:
    """:func:`_children` once both exist."""
    try:
        return _children(core_v1, apps_v1, namespace, name)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_one_operator_runs_a_shared_source_and_the_other_leaves_it_alone(
    namespace: str,
    two_operators: None,
    core_v1: client.CoreV1Api,
    apps_v1: client.AppsV1Api,
) -> None:
    custom = client.CustomObjectsApi(core_v1.api_client)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "signalsources", _source("news")
    )
    owner = wait_for(
        lambda: _status(custom, namespace, "news").get("region"),
        timeout_s=30,
        what="a region's claim on the source",
    )
    wait_for(
        lambda: _status(custom, namespace, "news").get("phase") not in (None, "NotOwned"),
        timeout_s=30,
        what="the owner's status",
    )
    first = wait_for(
        lambda: _made(core_v1, apps_v1, namespace, "news"),
        timeout_s=30,
        what="the source's children",
    )
    assert first[2:] == (owner, REDIS[owner])
    # Both operators pass over the source every 2 s: nothing of it may change hands.
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        assert _children(core_v1, apps_v1, namespace, "news") == first
        status = _status(custom, namespace, "news")
        assert (status.get("region"), status.get("phase")) != (owner, "NotOwned"), status
        assert status.get("region") == owner, status
        time.sleep(1)


def test_spec_region_names_the_owner_and_the_other_says_not_owned_only_until_it_reports(
    namespace: str,
    two_operators: None,
    core_v1: client.CoreV1Api,
    apps_v1: client.AppsV1Api,
) -> None:
    custom = client.CustomObjectsApi(core_v1.api_client)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "signalsources", _source("pinned", region="ap-southeast-1")
    )
    wait_for(
        lambda: (
            (_made(core_v1, apps_v1, namespace, "pinned") or ())[2:]
            == ("ap-southeast-1", REDIS["ap-southeast-1"])
        ),
        timeout_s=30,
        what="Singapore's children for the pinned source",
    )
    wait_for(
        lambda: _status(custom, namespace, "pinned").get("phase") not in (None, "NotOwned"),
        timeout_s=30,
        what="the owner's status",
    )
    first = _children(core_v1, apps_v1, namespace, "pinned")
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        assert _children(core_v1, apps_v1, namespace, "pinned") == first
        assert _status(custom, namespace, "pinned")["region"] == "ap-southeast-1"
        time.sleep(1)
