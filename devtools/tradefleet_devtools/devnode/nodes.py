"""The Node objects the dev node agent plays: registration, Ready heartbeats, node Leases, deletion.

Used by the agent (:mod:`tradefleet_devtools.devnode.agent`) and by the launcher's clean-up after a
killed agent. Blocking calls (run them in a thread). The node controller in kube-controller-manager
marks a node NotReady when its Lease in ``kube-node-lease`` is not renewed within 40 s, so the
heartbeat renews the Lease and refreshes the status conditions every ``--heartbeat`` seconds.
"""

from __future__ import annotations

import logging
import os
import platform
import time
import uuid
from collections.abc import Sequence
from typing import Any

from tradefleet_devtools.devnode.errors import KubeApiError
from tradefleet_devtools.devnode.kube import KubeApi
from tradefleet_devtools.devnode.settings import AgentSettings, NodeSpec, PodNetwork
from tradefleet_devtools.devnode.status import rfc3339, rfc3339_micro

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]

REGION_LABEL = "topology.kubernetes.io/region"
AGENT_LABEL = "tradefleet.io/dev-node-agent"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_S = 40
KUBELET_VERSION = "v1.20.0-dev-node-agent"
_BOOT_ID = str(uuid.uuid4())
_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "no memory pressure (not measured)"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure (not measured)"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "sufficient PIDs (not measured)"),
    (
        "Ready",
        "True",
        "KubeletReady",
        "dev node agent is posting ready status (dev/test tooling, not a kubelet)",
    ),
)


def node_path(name: str) -> str:
    return f"/api/v1/nodes/{name}"


def lease_path(name: str) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{name}"


class NodeKeeper:
    """Registers the agent's nodes and keeps them Ready."""

    def __init__(self, *, api: KubeApi, settings: AgentSettings, network: PodNetwork) -> None:
        self._api = api
        self._settings = settings
        self._network = network
        self._registered_at = time.time()

    @property
    def allocatable(self) -> dict[str, str]:
        return {
            "cpu": self._settings.node_cpu,
            "memory": self._settings.node_memory,
            "pods": str(self._settings.node_max_pods),
        }

    def _metadata(self, node: NodeSpec) -> JsonObject:
        return {
            "name": node.name,
            "labels": {
                REGION_LABEL: node.region,
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64"
                if platform.machine() == "x86_64"
                else platform.machine(),
                AGENT_LABEL: "true",
            },
            "annotations": {
                AGENT_LABEL: "dev/test tooling, not a kubelet: pods run as local processes",
                "tradefleet.io/dev-node-agent-logs": str(self._settings.state_dir / "logs"),
            },
        }

    def _status(self, node: NodeSpec) -> JsonObject:
        now = rfc3339(time.time())
        since = rfc3339(self._registered_at)
        return {
            "capacity": self.allocatable,
            "allocatable": self.allocatable,
            "conditions": [
                {
                    "type": kind,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": since,
                }
                for kind, status, reason, message in _CONDITIONS
            ],
            "addresses": [
                {"type": "InternalIP", "address": self._network.host_ip(node.name)},
                {"type": "Hostname", "address": node.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": node.name,
                "systemUUID": node.name,
                "bootID": _BOOT_ID,
                "kernelVersion": os.uname().release,
                "osImage": "dev node agent (local processes)",
                "containerRuntimeVersion": "devnode://local-processes",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "none",
                "operatingSystem": "linux",
                "architecture": "amd64" if platform.machine() == "x86_64" else platform.machine(),
            },
        }

    def register(self) -> None:
        """Create (or re-label) every node and post Ready; then renew each node's Lease."""
        self._registered_at = time.time()
        for node in self._settings.nodes:
            existing = self._api.get_or_none(path=node_path(node.name))
            if existing is None:
                self._api.create(path="/api/v1/nodes", body={"metadata": self._metadata(node)})
                log.info(
                    "registered node %s (region %s, InternalIP %s)",
                    node.name,
                    node.region,
                    self._network.host_ip(node.name),
                )
            else:
                self._api.merge_patch(
                    path=node_path(node.name), body={"metadata": self._metadata(node)}
                )
                log.info("took over existing node %s (region %s)", node.name, node.region)
        self.heartbeat()

    def heartbeat(self) -> None:
        """Post Ready status and renew the Lease of every node; re-register one that was deleted."""
        for node in self._settings.nodes:
            try:
                self._api.merge_patch(
                    path=f"{node_path(node.name)}/status", body={"status": self._status(node)}
                )
            except KubeApiError as exc:
                if not exc.not_found:
                    raise
                log.warning(
                    "node %s was deleted behind the agent's back; registering it again", node.name
                )
                self._api.create(path="/api/v1/nodes", body={"metadata": self._metadata(node)})
                self._api.merge_patch(
                    path=f"{node_path(node.name)}/status", body={"status": self._status(node)}
                )
            self._renew_lease(node)

    def _renew_lease(self, node: NodeSpec) -> None:
        renew = rfc3339_micro(time.time())
        try:
            self._api.merge_patch(
                path=lease_path(node.name),
                body={"spec": {"holderIdentity": node.name, "renewTime": renew}},
            )
        except KubeApiError as exc:
            if not exc.not_found:
                raise
            owner = self._api.get(path=node_path(node.name))["metadata"]["uid"]
            self._api.create(
                path=f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases",
                body={
                    "metadata": {
                        "name": node.name,
                        "ownerReferences": [
                            {"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": owner}
                        ],
                    },
                    "spec": {
                        "holderIdentity": node.name,
                        "leaseDurationSeconds": LEASE_DURATION_S,
                        "renewTime": renew,
                    },
                },
            )


def delete_nodes(*, api: KubeApi, names: Sequence[str]) -> None:
    """Delete Node objects and their Leases (a missing one is fine)."""
    for name in names:
        api.delete(path=node_path(name))
        api.delete(path=lease_path(name))
        log.info("deleted node %s", name)
