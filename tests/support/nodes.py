"""A node kept Ready without a kubelet, for integration tests that play the kubelet themselves.

The test sets its pods' status by hand (:func:`play_pod`); the node's status and Lease are renewed
so that the node lifecycle controller never takes it for lost (no taint, no eviction).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client
from tradefleet_devtools.devnode.kube import KubeApi
from tradefleet_devtools.devnode.nodes import NodeKeeper, delete_nodes
from tradefleet_devtools.devnode.settings import AgentSettings, NodeSpec, PodNetwork
from tradefleet_devtools.operator_process import OperatorProcess


@contextmanager
def ready_node(
    *, kubeconfig: Path, region: str, prefix: str, stop: threading.Event | None = None
) -> Iterator[str]:
    """A node of ``region`` named ``<prefix>-<random>``, Ready until the block ends or until
    ``stop`` is set (then its heartbeats stop, as when a node is lost)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    settings = AgentSettings(
        kubeconfig=kubeconfig, nodes=(NodeSpec(name=name, region=region),), heartbeat_s=5
    )
    api = KubeApi(kubeconfig=kubeconfig)
    keeper = NodeKeeper(
        api=api, settings=settings, network=PodNetwork(cidr=settings.pod_network, node_names=[name])
    )
    keeper.register()
    stopped = stop if stop is not None else threading.Event()

    def beat() -> None:
        while not stopped.wait(settings.heartbeat_s):
            keeper.heartbeat()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield name
    finally:
        stopped.set()
        thread.join(timeout=10)
        delete_nodes(api=api, names=[name])


def play_pod(
    core_v1: client.CoreV1Api,
    *,
    pod: Any,
    ip: str,
    container: str,
    terminated: dict[str, Any] | None = None,
) -> None:
    """Write what a kubelet would for ``pod``: its container running and ready, or (with
    ``terminated``, the container's terminated state) the pod failed."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ready = "False" if terminated else "True"
    state = (
        {"terminated": {"startedAt": now, "finishedAt": now, **terminated}}
        if terminated
        else {"running": {"startedAt": now}}
    )
    status = {
        "phase": "Failed" if terminated else "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "conditions": [
            {"type": t, "status": s, "lastTransitionTime": now}
            for t, s in (
                ("PodScheduled", "True"),
                ("Initialized", "True"),
                ("ContainersReady", ready),
                ("Ready", ready),
            )
        ],
        "containerStatuses": [
            {
                "name": container,
                "image": pod.spec.containers[0].image,
                "imageID": "",
                "ready": not terminated,
                "restartCount": 0,
                "started": not terminated,
                "state": state,
            }
        ],
    }
    core_v1.patch_namespaced_pod_status(
        pod.metadata.name, pod.metadata.namespace, {"status": status}
    )


@contextmanager
def operator_with_ready_node(
    *, kubeconfig: Path, workdir: Path, region: str, prefix: str
) -> Iterator[OperatorProcess]:
    """An operator of ``region`` polling fast (2 s passes, 1 s health), on a Ready node of its
    region; the operator must log no traceback."""
    with ready_node(kubeconfig=kubeconfig, region=region, prefix=prefix):
        process = OperatorProcess(
            kubeconfig=kubeconfig,
            workdir=workdir,
            region=region,
            settings={"reconcileIntervalSeconds": 2, "healthPollIntervalSeconds": 1},
        )
        process.start()
        yield process
        process.stop()
    assert "Traceback" not in process.log_text(), "the operator logged a traceback"
