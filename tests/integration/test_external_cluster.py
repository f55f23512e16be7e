"""The local stack on a cluster it is given (``TRADEFLEET_KUBECONFIG``: kind, or a real cluster), as
scripts/kind-e2e.sh runs the e2e suite: no control plane and no node of its own, the CRDs installed
there, Redis, the exchange and the operators on this machine, Redis and the exchange listening
where that cluster's pods reach this machine. Here the given cluster is the session's control plane
with a dev node agent for two regions, and pods reach this machine at its own non-loopback address
(as kind's pods reach it at the docker network's gateway)."""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from support.bots import GROUP, VERSION, exchange_bot, wait_for_phase
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.devnode import DevNodeAgentHandle, NodeSpec, start_dev_node_agent
from tradefleet_devtools.stack import ExternalCluster, LocalStack, StackError

pytestmark = pytest.mark.integration


def _host_address() -> str:
    """This machine's source address towards the outside (not 127.0.0.1), else skip."""
    route = subprocess.run(
        ["ip", "-4", "-o", "route", "get", "192.0.2.123"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    address = route[route.index("src") + 1] if "src" in route else ""
    if not address or address.startswith("127."):
        pytest.skip("no non-loopback IPv4 address on this machine")
    return address


@pytest.fixture(scope="module")
def region_nodes(
    cluster: ClusterAccess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevNodeAgentHandle]:
    """The given cluster's own nodes, one per operator region (kind's labelled workers)."""
    suffix = uuid.uuid4().hex[:6]
    handle = start_dev_node_agent(
        cluster=cluster,
        state_dir=tmp_path_factory.mktemp("external-nodes"),
        nodes=[
            NodeSpec(name=f"given-tokyo-{suffix}", region="ap-northeast-1"),
            NodeSpec(name=f"given-singapore-{suffix}", region="ap-southeast-1"),
        ],
        backoff_base_s=1.0,
        backoff_max_s=30.0,
    )
    try:
        yield handle
    finally:
        handle.stop()


def test_external_cluster_is_read_from_the_environment(tmp_path: Path) -> None:
    assert ExternalCluster.from_env({}) is None
    with pytest.raises(StackError, match="names no file"):
        ExternalCluster.from_env({"TRADEFLEET_KUBECONFIG": str(tmp_path / "missing")})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("")
    given = ExternalCluster.from_env(
        {
            "TRADEFLEET_KUBECONFIG": str(kubeconfig),
            "TRADEFLEET_POD_HOST": "172.18.0.1",
            "TRADEFLEET_RUNTIME_IMAGE": "ghcr.io/tradefleet/bot-runtime:e2e",
            "TRADEFLEET_OPTIMIZER_IMAGE": "ghcr.io/tradefleet/research:e2e",
        }
    )
    assert given is not None
    assert given.pod_settings(redis_port=6390, exchange_url="http://172.18.0.1:8001") == {
        "runtimeImage": "ghcr.io/tradefleet/bot-runtime:e2e",
        "optimizerImage": "ghcr.io/tradefleet/research:e2e",
        "redisUrl": "redis://172.18.0.1:6390/0",
        "exchangeUrls": {
            "binance": "http://172.18.0.1:8001",
            "binanceusdm": "http://172.18.0.1:8001",
        },
    }


def test_the_stack_runs_its_bots_on_the_cluster_it_is_given(
    cluster: ClusterAccess,
    region_nodes: DevNodeAgentHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    host = _host_address()
    stack = LocalStack(
        workdir=tmp_path_factory.mktemp("external-stack"),
        operator_settings={"healthPollIntervalSeconds": 1, "reconcileIntervalSeconds": 5},
        node_kind="real",  # ignored: the given cluster's nodes run the pods
        external=ExternalCluster(kubeconfig=cluster.kubeconfig, pod_host=host),
    )
    stack.start()
    try:
        assert stack.plane is None and stack.agent is None and stack.real_node is None
        assert stack.cluster is not None and stack.cluster.server == cluster.server
        assert host in stack.node_note
        assert stack.exchange is not None and stack.exchange.url.startswith(f"http://{host}:")
        assert stack.redis_access is not None
        with socket.create_connection((host, stack.redis_access.port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            assert conn.recv(16) == b"+PONG\r\n"
        api = stack.api_client()
        core = client.CoreV1Api(api)
        namespace = f"given-{uuid.uuid4().hex[:6]}"
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(
                    name="exchange-keys", labels={"tradefleet.io/credentials": "true"}
                ),
                string_data={
                    "apiKey": stack.exchange.api_key,
                    "apiSecret": stack.exchange.api_secret,
                },
            ),
        )
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, "tradingbots", exchange_bot("given")
        )
        # Running: the runtime reached Redis and the exchange at the pods' address of this machine.
        wait_for_phase(api, namespace, "given", "Running", timeout_s=120)
        (pod,) = core.list_namespaced_pod(namespace, label_selector="tradefleet.io/bot=given").items
        assert pod.spec.node_name.startswith("given-tokyo-")
        rendered = [
            value
            for cm in core.list_namespaced_config_map(namespace).items
            for value in (cm.data or {}).values()
        ]
        assert any(f"redis://{host}:{stack.redis_access.port}/0" in v for v in rendered), rendered
        assert any(stack.exchange.url in v for v in rendered), rendered
        core.delete_namespace(namespace, propagation_policy="Background")
    finally:
        stack.stop()
