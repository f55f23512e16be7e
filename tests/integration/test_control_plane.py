"""The local control plane is a real Kubernetes: controllers create pods, the scheduler honours
region affinity, and CRD schemas reject bad values at the apiserver."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from tradefleet_devtools.controlplane import ClusterAccess, ControlPlaneError, LocalControlPlane
from tradefleet_devtools.crds import install_crds

pytestmark = pytest.mark.integration


def _ready_node(*, name: str, region: str) -> client.V1Node:
    return client.V1Node(
        metadata=client.V1ObjectMeta(
            name=name,
            labels={"topology.kubernetes.io/region": region, "kubernetes.io/hostname": name},
        ),
        status=client.V1NodeStatus(
            conditions=[
                client.V1NodeCondition(type="Ready", status="True", reason="TestKeepsReady")
            ],
            capacity={"cpu": "4", "memory": "8Gi", "pods": "110"},
            allocatable={"cpu": "4", "memory": "8Gi", "pods": "110"},
        ),
    )


@pytest.fixture
def two_region_nodes(core_v1: client.CoreV1Api) -> Iterator[dict[str, str]]:
    """Two Ready nodes, Tokyo and Singapore; the test keeps them Ready (no node agent here)."""
    nodes = {"ap-northeast-1": "cp-test-tokyo", "ap-southeast-1": "cp-test-singapore"}
    for region, name in nodes.items():
        node = _ready_node(name=name, region=region)
        core_v1.create_node(node)
        core_v1.patch_node_status(name, {"status": node.status.to_dict()})
    yield nodes
    for name in nodes.values():
        core_v1.delete_node(name)


def _wait_for(predicate, *, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def test_deployment_pod_is_scheduled_to_the_tokyo_node(
    apps_v1: client.AppsV1Api,
    core_v1: client.CoreV1Api,
    namespace: str,
    two_region_nodes: dict[str, str],
) -> None:
    labels = {"app": "pinned"}
    affinity = client.V1Affinity(
        node_affinity=client.V1NodeAffinity(
            required_during_scheduling_ignored_during_execution=client.V1NodeSelector(
                node_selector_terms=[
                    client.V1NodeSelectorTerm(
                        match_expressions=[
                            client.V1NodeSelectorRequirement(
                                key="topology.kubernetes.io/region",
                                operator="In",
                                values=["ap-northeast-1"],
                            )
                        ]
                    )
                ]
            )
        )
    )
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="pinned"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    affinity=affinity,
                    containers=[
                        client.V1Container(
                            name="main", image="example/unused", command=["sleep", "60"]
                        )
                    ],
                ),
            ),
        ),
    )
    apps_v1.create_namespaced_deployment(namespace, deployment)

    def bound_pod() -> client.V1Pod | None:
        pods = core_v1.list_namespaced_pod(namespace, label_selector="app=pinned").items
        return next((p for p in pods if p.spec.node_name), None)

    pod = _wait_for(
        bound_pod,
        timeout_s=60,
        what="the controller-manager to create and the scheduler to bind the pod",
    )
    assert pod.spec.node_name == two_region_nodes["ap-northeast-1"]
    assert pod.metadata.owner_references[0].kind == "ReplicaSet"


@pytest.fixture(scope="module")
def tradefleet_crds(api_client: client.ApiClient) -> None:
    install_crds(api_client=api_client)


def test_crd_enum_rejects_a_bad_mode_at_the_apiserver(
    api_client: client.ApiClient, namespace: str, tradefleet_crds: None
) -> None:
    custom = client.CustomObjectsApi(api_client)
    bot = {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "yolo"},
        "spec": {"exchange": "binance", "symbol": "BTC/USDT", "mode": "yolo"},
    }
    with pytest.raises(ApiException) as rejected:
        custom.create_namespaced_custom_object(
            "tradefleet.io", "v1alpha1", namespace, "tradingbots", bot
        )
    assert rejected.value.status == 422
    assert "spec.mode" in rejected.value.body
    assert "yolo" in rejected.value.body
    # The same bot with a valid mode is accepted, so it was the enum that rejected it.
    bot["spec"]["mode"] = "paper"
    created = custom.create_namespaced_custom_object(
        "tradefleet.io", "v1alpha1", namespace, "tradingbots", bot
    )
    assert created["spec"]["mode"] == "paper"


def test_missing_binaries_are_named_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEFLEET_CONTROL_PLANE_BIN", str(tmp_path / "nowhere"))
    with pytest.raises(ControlPlaneError) as missing:
        LocalControlPlane(workdir=tmp_path)
    message = str(missing.value)
    assert "kube-apiserver" in message and "kube-scheduler" in message
    assert "scripts/bootstrap.sh" in message


def test_the_admin_token_and_kubeconfig_are_readable_by_their_owner_only(
    cluster: ClusterAccess,
) -> None:
    if os.environ.get("TRADEFLEET_KUBECONFIG"):
        pytest.skip("an external cluster's kubeconfig is not written here")
    tokens = cluster.kubeconfig.parent / "certs" / "tokens.csv"
    for path in (cluster.kubeconfig, tokens, tokens.parent / "sa.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is {oct(path.stat().st_mode)}"
