"""Issue 21, item 3: a bot's notifications, sent by a real operator process to local receivers.

Against a real apiserver, controller-manager and scheduler, with the region's node kept Ready and
the kubelet played by the test: the runtime pod of revision 1 is set Running and Ready at
127.0.0.1, where a stub runtime answers ``/status`` (breaker closed, then open, then closed);
pods of revision 2 never get ready, so that revision is rolled back. A webhook receiver gets the
breaker trip, the reset and the rollback, each once (not again after an operator restart); a
receiver that answers 500 is retried, then reported in the ``NotificationsDelivered`` condition,
a Warning event and ``tradefleet_operator_notifications_total``.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.k8s import condition, wait_for
from support.nodes import play_pod, ready_node
from support.webhook import Receiver, notification_secret, webhook_receiver, webhook_target
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.operator_process import OperatorProcess
from tradefleet_runtime.service.trading_state import TradingCondition, TradingReason

pytestmark = pytest.mark.integration

GROUP, VERSION = "tradefleet.io", "v1alpha1"
REGION = "test-notify"
BOT = "notified"


@pytest.fixture
def servers() -> Iterator[dict[str, Receiver]]:
    """The stub runtime (its ``/status`` is its ``body``), a webhook receiver and a receiver
    that fails."""
    with (
        webhook_receiver() as runtime,
        webhook_receiver() as hook,
        webhook_receiver(status=500) as failing,
    ):
        yield {"runtime": runtime, "hook": hook, "failing": failing}


def _runtime_status(breaker: dict[str, Any]) -> dict[str, Any]:
    return {
        "phase": "trading",
        "heartbeat": datetime.now(UTC).timestamp(),
        "position": {"side": "flat", "size": 0.0, "entryPrice": 0.0},
        "circuitBreaker": breaker,
        "userPaused": False,
        "userHalted": False,
        "paused": False,
        "halted": False,
        "flatten": {"state": "none"},
        "trading": TradingCondition(
            trading=True, reason=TradingReason.TRADING, message="trading"
        ).to_dict(),
    }


@pytest.fixture
def kubelet(core_v1: client.CoreV1Api, namespace: str) -> Iterator[None]:
    """Plays the kubelet for the bot: revision 1's pods run and are ready at 127.0.0.1;
    revision 2's never get ready; terminating pods go at once."""
    stop = threading.Event()

    def play() -> None:
        while not stop.wait(0.5):
            try:
                pods = core_v1.list_namespaced_pod(
                    namespace, label_selector=f"tradefleet.io/bot={BOT}"
                ).items
                for pod in pods:
                    if pod.metadata.deletion_timestamp:
                        core_v1.delete_namespaced_pod(
                            pod.metadata.name, namespace, grace_period_seconds=0
                        )
                    elif (
                        pod.spec.node_name
                        and (pod.metadata.annotations or {}).get("tradefleet.io/revision") == "1"
                        and (pod.status.phase or "Pending") == "Pending"
                    ):
                        play_pod(core_v1, pod=pod, ip="127.0.0.1", container="runtime")
            except client.ApiException:
                continue

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def _secret(core_v1: client.CoreV1Api, namespace: str, name: str, url: str) -> None:
    core_v1.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, labels={"tradefleet.io/notifications": "true"}),
            string_data={"url": url},
        ),
    )


def _bot(custom: client.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", BOT
    )
    return found


def _operator(cluster: ClusterAccess, workdir: Path, runtime_port: int) -> OperatorProcess:
    return OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=workdir,
        region=REGION,
        settings={
            "reconcileIntervalSeconds": 2,
            "healthPollIntervalSeconds": 1,
            "runtimePort": runtime_port,
        },
    )


def _failed_count(process: OperatorProcess) -> float:
    with urllib.request.urlopen(process.metrics_url, timeout=5) as answer:
        text = answer.read().decode()
    for line in text.splitlines():
        if line.startswith("tradefleet_operator_notifications_total{") and all(
            part in line for part in ('kind="webhook"', 'result="failed"')
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_breaker_and_rollback_notifications_reach_a_webhook_once(
    namespace: str,
    cluster: ClusterAccess,
    crds: None,
    tmp_path: Path,
    core_v1: client.CoreV1Api,
    servers: dict[str, Receiver],
    kubelet: None,
) -> None:
    runtime, hook, failing = servers["runtime"], servers["hook"], servers["failing"]
    runtime.body = _runtime_status({"state": "Closed"})
    custom = client.CustomObjectsApi(core_v1.api_client)
    notification_secret(core_v1, namespace=namespace, name="hook-url", url=hook.url)
    notification_secret(core_v1, namespace=namespace, name="pager-url", url=failing.url)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TradingBot",
        "metadata": {"name": BOT},
        "spec": {
            "exchange": "binance",
            "market": "futures",
            "symbol": "BTC/USDT:USDT",
            "region": REGION,
            "selfHealing": {"heartbeatTimeoutSeconds": 3600, "progressDeadlineSeconds": 10},
            "notifications": [
                webhook_target(name="ops", secret="hook-url", events=["breaker", "rollbacks"]),
                webhook_target(name="pager", secret="pager-url", events=["breaker"]),
            ],
        },
    }
    with ready_node(kubeconfig=cluster.kubeconfig, region=REGION, prefix="notify"):
        first = _operator(cluster, tmp_path / "first", runtime.port)
        first.start()
        try:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", body)
            wait_for(
                lambda: (
                    (s := _bot(custom, namespace).get("status") or {}).get("lastGoodRevision") == 1
                    and (s.get("notifications") or {}).get("notified") is not None
                ),
                timeout_s=90,
                what="revision 1 healthy, with the notified state recorded",
            )
            assert hook.got == [], "the state when notifications start is no transition"

            runtime.body = _runtime_status(
                {"state": "Open", "reason": "drawdown", "message": "drawdown 21% >= 20%"}
            )
            wait_for(lambda: hook.events() == ["breakerTripped"], timeout_s=30, what="the trip")
            assert "circuit breaker tripped (Drawdown)" in hook.got[0]["text"]
            assert hook.got[0]["bot"] == BOT and hook.got[0]["namespace"] == namespace

            # The failing receiver: one attempt and three retries (1 + 2 + 4 s), then reported.
            failed = wait_for(
                lambda: (
                    (c := condition(_bot(custom, namespace), "NotificationsDelivered"))
                    and c["status"] == "False"
                    and c
                ),
                timeout_s=40,
                what="the failing target reported",
            )
            assert failed["reason"] == "NotificationTargetFailing"
            assert "target pager (webhook): HTTP 500 after 4 attempt(s)" in failed["message"]
            assert failing.url not in failed["message"]
            assert len(failing.got) == 4
            assert _failed_count(first) >= 1
            warnings = [
                e
                for e in core_v1.list_namespaced_event(namespace).items
                if e.reason == "NotificationTargetFailing"
            ]
            assert warnings and warnings[0].type == "Warning"

            runtime.body = _runtime_status({"state": "Closed"})
            wait_for(
                lambda: hook.events() == ["breakerTripped", "breakerReset"],
                timeout_s=30,
                what="the reset",
            )
            # A revision that never gets ready: rolled back after progressDeadlineSeconds.
            custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                "tradingbots",
                BOT,
                {"spec": {"risk": {"maxPositionPct": 5}}},
            )
            wait_for(
                lambda: hook.events() == ["breakerTripped", "breakerReset", "rolledBack"],
                timeout_s=90,
                what="the rollback notification",
            )
            rolled = hook.got[2]
            assert rolled["title"] == "rolled back from revision 2 to revision 1"
            assert "progressDeadlineSeconds=10" in rolled["detail"]
        finally:
            first.stop()
        assert "Traceback" not in first.log_text()

        # A new operator process reads what was notified from the status: nothing is sent again.
        second = _operator(cluster, tmp_path / "second", runtime.port)
        second.start()
        try:
            wait_for(
                lambda: (
                    (_bot(custom, namespace).get("status") or {}).get("currentRevision") == 1
                    and condition(_bot(custom, namespace), "RolledBack") is not None
                ),
                timeout_s=30,
                what="the bot seen by the new operator",
            )
            time.sleep(8)
            assert hook.events() == ["breakerTripped", "breakerReset", "rolledBack"]
        finally:
            second.stop()
        assert "Traceback" not in second.log_text()
