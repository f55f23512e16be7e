"""The dev node agent survives its own crash, and a stopped agent leaves nothing behind.

Containers outlive a killed agent (as they outlive a kubelet); the restarted agent adopts the ones
still running — same process, restart count unchanged — and restarts the ones that died meanwhile,
reporting how they ended.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from devnode_support import (
    TOKYO,
    create_pod,
    http_server_pod,
    http_status,
    main_status,
    process_alive,
    read_pod,
    running_and_ready,
    wait_for,
    wait_for_pod,
)
from kubernetes import client
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.devnode import DevNodeAgentHandle, NodeSpec, start_dev_node_agent

pytestmark = pytest.mark.integration


def _running_pod(
    agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, *, namespace: str, name: str, node: str
) -> tuple[client.V1Pod, int]:
    create_pod(core_v1, namespace=namespace, manifest=http_server_pod(name=name, node_name=node))
    pod = wait_for_pod(
        core_v1, namespace=namespace, name=name, what="Running", check=running_and_ready
    )
    pid = wait_for(
        lambda: agent.container_pid(namespace=namespace, pod=name, container="main"),
        timeout_s=10,
        what="the container's pid",
    )
    return pod, pid


def test_a_restarted_agent_adopts_the_containers_still_running(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str
) -> None:
    pod, pid = _running_pod(
        dev_node_agent, core_v1, namespace=namespace, name="survivor", node=TOKYO.name
    )
    url = f"http://{pod.status.pod_ip}:8080/"

    dev_node_agent.kill()
    assert process_alive(pid), "a container outlives the agent"
    assert http_status(url) == 200
    dev_node_agent.start()

    adopted = wait_for_pod(
        core_v1, namespace=namespace, name="survivor", what="Running", check=running_and_ready
    )
    assert main_status(adopted).restart_count == 0
    assert adopted.status.pod_ip == pod.status.pod_ip
    assert (
        dev_node_agent.container_pid(namespace=namespace, pod="survivor", container="main") == pid
    )
    assert http_status(url) == 200

    # The adopted container is supervised: its death is seen, with its exit code, and it restarts.
    os.kill(pid, signal.SIGKILL)
    restarted = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="survivor",
        what="restarted after the kill",
        check=lambda p: main_status(p).restart_count == 1 and running_and_ready(p),
    )
    assert main_status(restarted).last_state.terminated.exit_code == 137


def test_a_container_that_died_while_the_agent_was_down_is_restarted(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str
) -> None:
    _, pid = _running_pod(
        dev_node_agent, core_v1, namespace=namespace, name="orphan", node=TOKYO.name
    )

    dev_node_agent.kill()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(pid), timeout_s=5, what="the container to die")
    dev_node_agent.start()

    pod = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="orphan",
        what="restarted by the new agent",
        check=lambda p: main_status(p).restart_count == 1 and running_and_ready(p),
    )
    terminated = main_status(pod).last_state.terminated
    assert (terminated.exit_code, terminated.reason) == (137, "Error")
    new_pid = dev_node_agent.container_pid(namespace=namespace, pod="orphan", container="main")
    assert new_pid is not None and new_pid != pid and process_alive(new_pid)


def test_stopping_the_agent_stops_its_pods_and_deletes_its_nodes(
    cluster: ClusterAccess, core_v1: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    node = NodeSpec(name="devnode-test-frankfurt-1", region="eu-central-1")
    agent = start_dev_node_agent(cluster=cluster, state_dir=tmp_path / "devnode", nodes=[node])
    try:
        _, pid = _running_pod(agent, core_v1, namespace=namespace, name="transient", node=node.name)
        assert (
            core_v1.read_node(node.name).metadata.labels["topology.kubernetes.io/region"]
            == "eu-central-1"
        )
    finally:
        agent.stop()

    assert not process_alive(pid)
    assert node.name not in {n.metadata.name for n in core_v1.list_node().items}
    assert read_pod(core_v1, namespace=namespace, name="transient") is not None, (
        "the pod object is the API's"
    )
