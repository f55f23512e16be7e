"""Never two runtimes of one bot, against a real apiserver, controller-manager and scheduler.

A hung runtime is replaced by scaling its Deployment to zero and back to one. A ReplicaSet does not
count a terminating pod as a replica, so scaling back up while the old pod terminates would start a
second runtime next to one that may still trade. These tests replace a runtime whose pod cannot
finish terminating (a finalizer here; a runtime that recovers within its grace period, or a node
that lost the control plane, in real life) and check that no second pod appears until the old one
is gone, that the bot's status says why, and that a pod on a lost node is force-deleted after the
bound.

No kubelet runs: the bot's node is kept Ready with the dev node agent's heartbeat, the test plays
the kubelet by writing the pod's status, and the pod's runtime address answers nothing, so the
operator finds it unhealthy after ``heartbeatTimeoutSeconds``. The bots use a region of their own,
served by an operator of their own, so no other test's node or operator takes part.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client
from support.k8s import condition, wait_for
from support.nodes import ready_node
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

GROUP, VERSION = "tradefleet.io", "v1alpha1"
REGION = "test-succession"
HOLD = "tradefleet.io/test-hold"
# A loopback address nothing listens on: the runtime "hangs" as soon as its pod is running.
SILENT_IP = "127.231.47.9"


@dataclass(kw_only=True)
class KeptNode:
    name: str
    stop: threading.Event


@pytest.fixture(scope="module")
def succession_operator(
    cluster: ClusterAccess, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator of REGION, polling runtimes every second so a hung one is replaced quickly."""
    process = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=tmp_path_factory.mktemp("succession-operator"),
        region=REGION,
        settings={"reconcileIntervalSeconds": 5, "healthPollIntervalSeconds": 1},
    )
    process.start()
    yield process
    process.stop()
    assert "Traceback" not in process.log_text(), "the operator logged a traceback"


@pytest.fixture
def region_node(cluster: ClusterAccess) -> Iterator[KeptNode]:
    """REGION's only node, kept Ready (status and Lease) until the test sets ``stop``."""
    stop = threading.Event()
    with ready_node(
        kubeconfig=cluster.kubeconfig, region=REGION, prefix="succession", stop=stop
    ) as name:
        yield KeptNode(name=name, stop=stop)


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


def _create_bot(custom: client.CustomObjectsApi, namespace: str, name: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {
            "exchange": "binance",
            "market": "futures",
            "symbol": "BTC/USDT:USDT",
            "region": REGION,
            "selfHealing": {"heartbeatTimeoutSeconds": 5},
        },
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", body)


def _runtime_pods(core_v1: client.CoreV1Api, namespace: str, bot: str) -> list[Any]:
    """The bot's runtime pods (made by a ReplicaSet), terminating ones included."""
    pods = core_v1.list_namespaced_pod(namespace, label_selector=f"tradefleet.io/bot={bot}").items
    return [
        p
        for p in pods
        if any(ref.kind == "ReplicaSet" for ref in p.metadata.owner_references or [])
    ]


def _scheduled_pod(core_v1: client.CoreV1Api, namespace: str, bot: str) -> Any:
    pods = _runtime_pods(core_v1, namespace, bot)
    return pods[0] if len(pods) == 1 and pods[0].spec.node_name else None


def _play_running(core_v1: client.CoreV1Api, namespace: str, pod: Any) -> None:
    """What a kubelet would write for a started container, at an address that answers nothing."""
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "phase": "Running",
        "podIP": SILENT_IP,
        "podIPs": [{"ip": SILENT_IP}],
        "startTime": started,
        "containerStatuses": [
            {
                "name": "runtime",
                "image": pod.spec.containers[0].image,
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": started}},
            }
        ],
    }
    core_v1.patch_namespaced_pod_status(pod.metadata.name, namespace, {"status": status})


def _terminating(core_v1: client.CoreV1Api, namespace: str, name: str) -> bool:
    return bool(core_v1.read_namespaced_pod(name, namespace).metadata.deletion_timestamp)


def _pod_gone(core_v1: client.CoreV1Api, namespace: str, name: str) -> bool:
    try:
        core_v1.read_namespaced_pod(name, namespace)
    except client.ApiException as exc:
        return exc.status == 404
    return False


def _waiting_message(custom: client.CustomObjectsApi, namespace: str, bot: str) -> str | None:
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", bot)
    ready = condition(obj, "Ready") or {}
    return str(ready["message"]) if ready.get("reason") == "WaitingForPreviousRuntime" else None


def _replace_hung_runtime(
    core_v1: client.CoreV1Api, namespace: str, bot: str, *, hold: bool
) -> str:
    """Start the bot's runtime "hung" and wait until the operator has its pod deleted."""
    pod = wait_for(
        lambda: _scheduled_pod(core_v1, namespace, bot), timeout_s=30, what="the bot's pod"
    )
    name = str(pod.metadata.name)
    if hold:
        core_v1.patch_namespaced_pod(name, namespace, {"metadata": {"finalizers": [HOLD]}})
    _play_running(core_v1, namespace, pod)
    wait_for(
        lambda: _terminating(core_v1, namespace, name),
        timeout_s=60,
        what="the operator to replace the hung runtime (its pod deleted)",
    )
    return name


def test_no_replacement_pod_while_the_old_one_is_stuck_terminating(
    namespace: str,
    succession_operator: OperatorProcess,
    region_node: KeptNode,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
    apps_v1: client.AppsV1Api,
) -> None:
    bot = "succession"
    _create_bot(custom, namespace, bot)
    old = _replace_hung_runtime(core_v1, namespace, bot, hold=True)
    try:
        # Several passes (the operator looks every second while it waits): never a second pod.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            others = [
                p.metadata.name
                for p in _runtime_pods(core_v1, namespace, bot)
                if p.metadata.name != old
            ]
            assert others == [], (
                f"a replacement runtime pod {others} was started while the old pod {old} "
                "is still terminating: two runtimes of one bot"
            )
            time.sleep(0.5)
        assert apps_v1.read_namespaced_deployment(bot, namespace).spec.replicas == 0
        message = wait_for(
            lambda: _waiting_message(custom, namespace, bot),
            timeout_s=10,
            what="the status to say what the bot waits for",
        )
        assert f"waiting for the previous runtime pod {old} to terminate (" in message
        progressing = condition(
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", bot),
            "Progressing",
        )
        assert progressing is not None and progressing["reason"] == "WaitingForPreviousRuntime"
    finally:
        # The kubelet's part: the container stopped, the pod's deletion completes.
        core_v1.patch_namespaced_pod(old, namespace, {"metadata": {"finalizers": None}})
        core_v1.delete_namespaced_pod(old, namespace, grace_period_seconds=0)

    wait_for(
        lambda: [p for p in _runtime_pods(core_v1, namespace, bot) if p.metadata.name != old],
        timeout_s=30,
        what="the replacement pod once the old one is gone",
    )
    assert apps_v1.read_namespaced_deployment(bot, namespace).spec.replicas == 1


def test_a_pod_on_a_lost_node_is_force_deleted_and_then_replaced(
    namespace: str,
    succession_operator: OperatorProcess,
    region_node: KeptNode,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
) -> None:
    bot = "lost-node"
    _create_bot(custom, namespace, bot)
    # No kubelet confirms the deletion: the pod terminates for ever, as on a node cut off.
    old = _replace_hung_runtime(core_v1, namespace, bot, hold=False)
    assert [p.metadata.name for p in _runtime_pods(core_v1, namespace, bot)] == [old]
    # The node stops reporting; it has been NotReady for longer than the bound (30 s + 60 s).
    region_node.stop.set()
    lost_since = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    core_v1.patch_node_status(
        region_node.name,
        {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "TestLostNode",
                        "message": "the test cut this node off",
                        "lastHeartbeatTime": lost_since,
                        "lastTransitionTime": lost_since,
                    }
                ]
            }
        },
    )

    def forced() -> list[Any]:
        return [
            e
            for e in core_v1.list_namespaced_event(namespace).items
            if e.involved_object.name == bot and e.reason == "PreviousRuntimeForceDeleted"
        ]

    event = wait_for(forced, timeout_s=30, what="the forced deletion's event")[0]
    assert event.type == "Warning"
    assert old in event.message and region_node.name in event.message
    assert "may still be running" in event.message and "lease" in event.message
    wait_for(lambda: _pod_gone(core_v1, namespace, old), timeout_s=10, what="the old pod gone")
    wait_for(
        lambda: [p for p in _runtime_pods(core_v1, namespace, bot) if p.metadata.name != old],
        timeout_s=30,
        what="the replacement pod after the forced deletion",
    )
    assert len(forced()) == 1, "one forced deletion, one event"
