"""Shared pytest fixtures: a real local Kubernetes control plane, a namespace per test, a real Redis.

Fixtures start their processes lazily, so unit tests never pay for them. Set
``TRADEFLEET_KUBECONFIG`` to run the integration and e2e suites against an existing cluster
(kind, or a real one) instead of the local control plane.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from tradefleet_devtools.controlplane import ClusterAccess, LocalControlPlane
from tradefleet_devtools.realnode import NODE_KINDS
from tradefleet_devtools.redis_server import LocalRedis, RedisAccess

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--node-kind",
        choices=NODE_KINDS,
        default=None,
        help="where the e2e stack runs pods: real (kubelet + containerd, images built from the "
        "Dockerfile), dev (the dev node agent's local processes) or auto (real where this machine "
        "can, else dev); default: $TRADEFLEET_NODE, else auto",
    )


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterAccess]:
    """A running cluster: the local control plane, or the one named by TRADEFLEET_KUBECONFIG."""
    external = os.environ.get("TRADEFLEET_KUBECONFIG")
    if external:
        cfg = client.Configuration()
        config.load_kube_config(config_file=external, client_configuration=cfg)
        yield ClusterAccess(server=cfg.host, token="", kubeconfig=Path(external))
        return
    plane = LocalControlPlane(workdir=tmp_path_factory.mktemp("control-plane"))
    try:
        yield plane.start()
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def api_client(cluster: ClusterAccess) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


@pytest.fixture(scope="session")
def core_v1(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps_v1(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def namespace(core_v1: client.CoreV1Api, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting for finalization)."""
    stem = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    core_v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core_v1.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisAccess]:
    """A real redis-server with AOF on, for the whole session."""
    with LocalRedis(workdir=tmp_path_factory.mktemp("redis")).running() as access:
        yield access
