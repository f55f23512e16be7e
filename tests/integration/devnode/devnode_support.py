"""Helpers for the dev node agent's integration tests: pod manifests, polling, status, events.

Imported by the test modules next to it (not a test module itself).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.rest import ApiException
from tradefleet_devtools.devnode import NodeSpec

T = TypeVar("T")

TOKYO = NodeSpec(name="devnode-test-tokyo-1", region="ap-northeast-1")
SINGAPORE = NodeSpec(name="devnode-test-singapore-1", region="ap-southeast-1")

HTTP_SERVER = ["python", "-m", "http.server", "--bind", "$(POD_IP)", "8080"]
POD_IP_ENV = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def wait_for(predicate: Callable[[], T | None], *, timeout_s: float, what: str) -> T:
    """Poll until ``predicate`` returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def pod_manifest(
    *,
    name: str,
    command: list[str],
    node_name: str | None = None,
    region: str | None = None,
    restart_policy: str = "Always",
    container: dict[str, Any] | None = None,
    pod_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A one-container pod (container ``main``) with POD_IP from the downward API."""
    main: dict[str, Any] = {
        "name": "main",
        "image": "tradefleet/not-pulled:dev",
        "command": command,
        "env": [POD_IP_ENV],
        **(container or {}),
    }
    spec: dict[str, Any] = {
        "containers": [main],
        "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": 5,
        **(pod_spec or {}),
    }
    if node_name:
        spec["nodeName"] = node_name
    if region:
        spec["nodeSelector"] = {"topology.kubernetes.io/region": region}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": spec,
    }


def http_server_pod(
    *,
    name: str,
    node_name: str | None = None,
    region: str | None = None,
    pod_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A pod serving HTTP on its pod IP, port 8080; Ready once the port accepts connections."""
    return pod_manifest(
        name=name,
        command=HTTP_SERVER,
        node_name=node_name,
        region=region,
        container={"readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}},
        pod_spec=pod_spec,
    )


def create_pod(core_v1: client.CoreV1Api, *, namespace: str, manifest: dict[str, Any]) -> None:
    """Create a pod once the namespace's default ServiceAccount (admission needs it) exists."""

    def created() -> bool:
        try:
            core_v1.create_namespaced_pod(namespace, manifest)
        except ApiException as exc:
            # 403 "service account not found", then 500 "No API token found", until the
            # controller-manager has caught up with the new namespace.
            if exc.status in (403, 500) and "service account" in str(exc.body).lower().replace(
                "serviceaccount", "service account"
            ):
                return False
            raise
        return True

    wait_for(created, timeout_s=30, what="the namespace's default ServiceAccount")


def read_pod(core_v1: client.CoreV1Api, *, namespace: str, name: str) -> client.V1Pod | None:
    try:
        return core_v1.read_namespaced_pod(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def main_status(pod: client.V1Pod | None) -> client.V1ContainerStatus | None:
    if pod is None or pod.status is None:
        return None
    return next((s for s in pod.status.container_statuses or [] if s.name == "main"), None)


def condition(pod: client.V1Pod, kind: str) -> str | None:
    return next((c.status for c in pod.status.conditions or [] if c.type == kind), None)


def wait_for_pod(
    core_v1: client.CoreV1Api,
    *,
    namespace: str,
    name: str,
    what: str,
    check: Callable[[client.V1Pod], bool],
    timeout_s: float = 60,
) -> client.V1Pod:
    def matching() -> client.V1Pod | None:
        pod = read_pod(core_v1, namespace=namespace, name=name)
        return pod if pod is not None and check(pod) else None

    return wait_for(matching, timeout_s=timeout_s, what=f"pod {name}: {what}")


def running_and_ready(pod: client.V1Pod) -> bool:
    return pod.status.phase == "Running" and condition(pod, "Ready") == "True"


def http_status(url: str) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def events_for(core_v1: client.CoreV1Api, *, namespace: str, pod: str) -> list[tuple[str, str]]:
    """(reason, message) of every Event about the pod."""
    events = core_v1.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={pod}"
    ).items
    return [(e.reason, e.message or "") for e in events]


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
