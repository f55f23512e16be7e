"""What the real node asks the cluster: its Node's readiness, its pods, their container ids.

Blocking calls through the official Kubernetes client; used by the launcher (:mod:`.launcher`) to
wait for the Node, to find a container's id (then its host PID in containerd), and to empty the
node before it stops.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.realnode.errors import RealNodeError

CONTAINERD_PREFIX = "containerd://"


class NodeClient:
    """The cluster as one node sees it."""

    def __init__(self, *, cluster: ClusterAccess, node_name: str) -> None:
        self.node_name = node_name
        api: client.ApiClient = config.new_client_from_config(config_file=str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
        self.core = client.CoreV1Api(api)

    def kubernetes_service(self) -> tuple[str, int]:
        """The ``kubernetes`` Service's cluster IP and port (what in-cluster clients dial)."""
        spec = self.core.read_namespaced_service("kubernetes", "default").spec
        if spec is None or not spec.ports:
            raise RealNodeError("the `kubernetes` Service has no spec or port yet")
        return str(spec.cluster_ip), int(spec.ports[0].port)

    def node_ready(self) -> bool:
        try:
            node = self.core.read_node(self.node_name)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        conditions = (node.status.conditions if node.status else None) or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    def wait_ready(self, *, timeout_s: float, alive: Any) -> None:
        """Until the Node is Ready; ``alive()`` raises when the kubelet died meanwhile."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            alive()
            if self.node_ready():
                return
            time.sleep(0.5)
        raise RealNodeError(f"node {self.node_name} did not become Ready in {timeout_s:.0f}s")

    def pods(self) -> list[Any]:
        selector = f"spec.nodeName={self.node_name}"
        return list(self.core.list_pod_for_all_namespaces(field_selector=selector).items)

    def container_id(self, *, namespace: str, pod: str, container: str) -> str | None:
        """containerd's id of the pod's running container, or None."""
        try:
            found = self.core.read_namespaced_pod(pod, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        statuses = (found.status.container_statuses if found.status else None) or []
        for status in statuses:
            if status.name == container and status.state and status.state.running:
                cid = str(status.container_id or "")
                return cid.removeprefix(CONTAINERD_PREFIX) or None
        return None

    def drain(self) -> None:
        """Cordon the node and delete its pods at once (the stack is stopping: nothing reschedules)."""
        try:
            self.core.patch_node(self.node_name, {"spec": {"unschedulable": True}})
            for pod in self.pods():
                self.core.delete_namespaced_pod(
                    pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
                )
        except (ApiException, OSError):
            pass
