"""The e2e suite runs the whole product on the local stack: control plane, nodes for three regions,
Redis, the local exchange and one operator per region — the same stack as the demo.

``--node-kind`` (default ``$TRADEFLEET_NODE``, else ``auto``) chooses the nodes: ``real`` runs the
first region (ap-northeast-1, where every e2e bot trades) on a real kubelet with containerd and the
images built from the Dockerfile, the other regions on the dev node agent; ``dev`` runs them all on
the dev node agent; ``auto`` is ``real`` where this machine can run it. Tests that only a real
kubelet can show ask for the ``real_node`` fixture, which skips them on the dev agent.

``TRADEFLEET_KUBECONFIG`` names a cluster to run on instead (scripts/kind-e2e.sh: kind, its workers
labelled with the regions, the images loaded with ``kind load``): the stack starts no control plane
and no node there (see :class:`~tradefleet_devtools.stack.ExternalCluster` for
``TRADEFLEET_POD_HOST``, ``TRADEFLEET_RUNTIME_IMAGE`` and ``TRADEFLEET_OPTIMIZER_IMAGE``)."""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.bots import GROUP, VERSION
from support.prometheus import running_prometheus
from tradefleet_devtools.realnode import RealNodeError, RealNodeHandle, node_kind
from tradefleet_devtools.realnode.build import ensure_built
from tradefleet_devtools.stack import ExternalCluster, LocalStack


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Bring the real node's images up to date before any test runs when e2e tests are selected,
    so a first build (minutes) is not counted against the first test's timeout; cached, it takes a
    second. A failure is left for the ``stack`` fixture to report (or fall back, with ``auto``)."""
    wanted = any("stack" in getattr(item, "fixturenames", ()) for item in items)
    external = ExternalCluster.from_env(os.environ) is not None
    if wanted and not external and node_kind(config.getoption("--node-kind")) != "dev":
        with contextlib.suppress(RealNodeError):
            ensure_built()


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[LocalStack]:
    local = LocalStack(
        workdir=tmp_path_factory.mktemp("stack"),
        operator_settings={
            "healthPollIntervalSeconds": 1,
            "reconcileIntervalSeconds": 5,
            # The images of the tests that make the kubelet fail (unpullable, misnamed): allowed,
            # so that the kubelet, not the operator's image check, is what they meet.
            "allowedImagePrefixes": ["127.0.0.1:9/", "registry.invalid/", "tradefleet/"],
        },
        backoff_base_s=1.0,
        node_kind=node_kind(pytestconfig.getoption("--node-kind")),
        external=ExternalCluster.from_env(os.environ),
    )
    local.start()
    print(f"e2e nodes: {local.node_note or 'dev node agent for every region'}")
    yield local
    local.stop()
    for region, operator in local.operators.items():
        assert "Traceback" not in operator.log_text(), f"operator {region} logged a traceback"


@pytest.fixture(scope="session")
def real_node(stack: LocalStack) -> RealNodeHandle:
    """The stack's real node; tests that only a real kubelet can show skip without one."""
    if stack.real_node is None:
        pytest.skip(f"no real node in this run: {stack.node_note or 'node kind dev'}")
    return stack.real_node


@pytest.fixture(scope="session")
def e2e_api(stack: LocalStack) -> client.ApiClient:
    return stack.api_client()


@pytest.fixture
def e2e_namespace(e2e_api: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    core = client.CoreV1Api(e2e_api)
    stem = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    custom = client.CustomObjectsApi(e2e_api)
    for bot in custom.list_namespaced_custom_object(GROUP, VERSION, name, "tradingbots")["items"]:
        custom.delete_namespaced_custom_object(
            GROUP, VERSION, name, "tradingbots", bot["metadata"]["name"]
        )
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def exchange_keys(stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str) -> str:
    """A Secret with the local exchange's API keys, for testnet bots whose orders land on it."""
    assert stack.exchange is not None
    client.CoreV1Api(e2e_api).create_namespaced_secret(
        e2e_namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="exchange-keys", labels={"tradefleet.io/credentials": "true"}
            ),
            string_data={"apiKey": stack.exchange.api_key, "apiSecret": stack.exchange.api_secret},
        ),
    )
    return "exchange-keys"


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A real Prometheus with the chart's rules; call ``prometheus["start"](targets=...)``."""
    yield from running_prometheus(tmp_path)
