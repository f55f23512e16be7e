"""Fixtures for the operator suite: CRDs installed, two Ready region nodes, a running operator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.crds import install_crds
from tradefleet_devtools.operator_process import OperatorProcess

REGION_NODES = {"ap-northeast-1": "op-test-tokyo", "ap-southeast-1": "op-test-singapore"}


@pytest.fixture(scope="session")
def crds(api_client: client.ApiClient) -> None:
    install_crds(api_client=api_client)


@pytest.fixture(scope="session")
def region_nodes(core_v1: client.CoreV1Api) -> Iterator[dict[str, str]]:
    """Ready Tokyo and Singapore nodes (no pods run on them: scheduling is what these tests need)."""
    for region, name in REGION_NODES.items():
        node = client.V1Node(
            metadata=client.V1ObjectMeta(
                name=name,
                labels={"topology.kubernetes.io/region": region, "kubernetes.io/hostname": name},
            ),
            status=client.V1NodeStatus(
                conditions=[
                    client.V1NodeCondition(type="Ready", status="True", reason="TestKeepsReady")
                ],
                capacity={"cpu": "64", "memory": "256Gi", "pods": "5000"},
                allocatable={"cpu": "64", "memory": "256Gi", "pods": "5000"},
            ),
        )
        core_v1.create_node(node)
        core_v1.patch_node_status(name, {"status": node.status.to_dict()})
    yield REGION_NODES
    for name in REGION_NODES.values():
        core_v1.delete_node(name)


@pytest.fixture(scope="module")
def tokyo_operator(
    cluster: ClusterAccess, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator for ap-northeast-1, resyncing every 5 s so drift heals quickly in tests."""
    process = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=tmp_path_factory.mktemp("operator"),
        region="ap-northeast-1",
        settings={"reconcileIntervalSeconds": 5, "deletionTimeoutSeconds": 5},
    )
    process.start()
    yield process
    process.stop()
    assert "Traceback" not in process.log_text(), "the operator logged a traceback"


@pytest.fixture
def restartable_operator(
    cluster: ClusterAccess, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """An operator of ap-northeast-1 of the test's own, which it may kill and start again."""
    process = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=tmp_path_factory.mktemp("operator-restartable"),
        region="ap-northeast-1",
    )
    process.start()
    yield process
    process.stop()
    assert "Traceback" not in process.log_text(), "the operator logged a traceback"
