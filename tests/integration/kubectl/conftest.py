"""Fixtures for the kubectl plugin's tests: CRDs on the real apiserver and the plugin run as a
user would (:func:`plugin`: ``kubectl tradefleet ARGS`` with the test cluster's kubeconfig)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from support.fake_kubelet import FakeKubelet
from support.plugin_bots import Plugin, Run
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.crds import install_crds
from tradefleet_kubectl.cli import main


@pytest.fixture(scope="session")
def plugin_crds(api_client: client.ApiClient) -> None:
    install_crds(api_client=api_client)


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def plugin(cluster: ClusterAccess, plugin_crds: None) -> Plugin:
    """``kubectl tradefleet ARGS`` against the test cluster: its exit code and what it printed."""

    def run(*args: str) -> Run:
        out = io.StringIO()
        code = main(["--kubeconfig", str(cluster.kubeconfig), *args], out=out)
        return Run(code=code, out=out.getvalue())

    return run


@pytest.fixture(scope="session")
def fake_kubelet(
    core_v1: client.CoreV1Api, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FakeKubelet]:
    """A node whose kubelet endpoint is a local HTTPS server that serves container logs: the
    apiserver's ``pods/log`` reaches it as it reaches a real kubelet."""
    kubelet = FakeKubelet(workdir=tmp_path_factory.mktemp("fake-kubelet"))
    kubelet.start()
    name = f"kubectl-plugin-node-{uuid.uuid4().hex[:6]}"
    kubelet.node = name
    core_v1.create_node(
        client.V1Node(
            metadata=client.V1ObjectMeta(
                name=name, labels={"topology.kubernetes.io/region": "ap-northeast-1"}
            ),
            spec=client.V1NodeSpec(
                taints=[client.V1Taint(key="tradefleet.io/test-only", effect="NoSchedule")]
            ),
        )
    )
    core_v1.patch_node_status(
        name,
        {
            "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}},
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "FakeKubelet", "message": ""}
                ],
            }
        },
    )
    yield kubelet
    core_v1.delete_node(name)
    kubelet.stop()
