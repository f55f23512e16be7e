"""Self-healing of crashed bots: a SIGKILLed runtime comes back, the restart is counted, no order
is placed twice; a bot that keeps dying exhausts its budget and stops instead of storming."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest
from kubernetes import client
from support.bots import (
    exchange_admin,
    exchange_bot,
    get_bot,
    operator_down,
    runtime_pid,
    wait_for_condition,
    wait_for_phase,
)
from support.k8s import wait_for
from tradefleet_devtools.stack import LocalStack
from tradefleet_runtime.execution.client_order_id import owns

pytestmark = pytest.mark.e2e


def test_killed_runtime_comes_back_without_duplicate_orders(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    custom = client.CustomObjectsApi(e2e_api)
    custom.create_namespaced_custom_object(
        "tradefleet.io", "v1alpha1", e2e_namespace, "tradingbots", exchange_bot("crashy")
    )
    wait_for_phase(e2e_api, e2e_namespace, "crashy", "Running", timeout_s=120)

    os.kill(runtime_pid(stack, e2e_api, e2e_namespace, "crashy"), signal.SIGKILL)
    killed_at = time.monotonic()

    def restarted_and_running() -> bool:
        status = get_bot(e2e_api, e2e_namespace, "crashy").get("status") or {}
        return status.get("phase") == "Running" and int(status.get("restarts") or 0) >= 1

    wait_for(
        restarted_and_running,
        timeout_s=60,
        what="the bot to be Running again with the restart counted",
    )
    print(f"crash -> Running: {time.monotonic() - killed_at:.1f}s (target <= 10 s)")
    restarts = get_bot(e2e_api, e2e_namespace, "crashy")["status"]["selfHealing"]["recentRestarts"]
    assert restarts[0]["cause"] == "crashed"

    state = exchange_admin(stack, "/_admin/state")
    # A triggered stop shows as its algo order and as the market order it became: count each list.
    for kind, id_field in (("orders", "clientOrderId"), ("algo_orders", "clientAlgoId")):
        ids = Counter(
            str(o.get(id_field))
            for o in state[kind]
            if owns(exchange="binanceusdm", bot_name="crashy", client_order_id=str(o.get(id_field)))
        )
        assert all(count == 1 for count in ids.values()), f"duplicate {kind}: {ids.most_common(3)}"


def test_exhausted_restart_budget_degrades_without_a_restart_storm(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    custom = client.CustomObjectsApi(e2e_api)
    bot = exchange_bot(
        "fragile",
        symbol="ETH/USDT:USDT",
        selfHealing={"maxRestarts": 2, "restartWindowSeconds": 600},
    )
    custom.create_namespaced_custom_object(
        "tradefleet.io", "v1alpha1", e2e_namespace, "tradingbots", bot
    )
    wait_for_phase(e2e_api, e2e_namespace, "fragile", "Running", timeout_s=120)

    for expected in (1, 2):
        os.kill(runtime_pid(stack, e2e_api, e2e_namespace, "fragile"), signal.SIGKILL)
        if expected < 2:
            wait_for(
                lambda n=expected: (
                    int(
                        (get_bot(e2e_api, e2e_namespace, "fragile").get("status") or {}).get(
                            "restarts"
                        )
                        or 0
                    )
                    >= n
                    and get_bot(e2e_api, e2e_namespace, "fragile")["status"].get("phase")
                    == "Running"
                ),
                timeout_s=60,
                what=f"restart {expected} to be counted",
            )

    degraded = wait_for_condition(
        e2e_api, e2e_namespace, "fragile", "Degraded", status="True", timeout_s=60
    )
    assert degraded["reason"] == "RestartBudgetExhausted"
    assert get_bot(e2e_api, e2e_namespace, "fragile")["status"]["phase"] == "Degraded"
    apps = client.AppsV1Api(e2e_api)
    wait_for(
        lambda: apps.read_namespaced_deployment("fragile", e2e_namespace).spec.replicas == 0,
        timeout_s=30,
        what="scale to zero",
    )
    wait_for(
        lambda: _runtime_stopped(e2e_api, e2e_namespace, "fragile"),
        timeout_s=60,
        what="the runtime to stop and its pod to be on its way out",
    )
    # No restart storm: the count stays put while the bot is degraded.
    counted = int(get_bot(e2e_api, e2e_namespace, "fragile")["status"]["restarts"])
    time.sleep(5)
    assert int(get_bot(e2e_api, e2e_namespace, "fragile")["status"]["restarts"]) == counted
    events = client.CoreV1Api(e2e_api).list_namespaced_event(e2e_namespace).items
    assert any(e.reason == "RestartBudgetExhausted" and e.type == "Warning" for e in events)

    # An operator restart does not forget the degradation: no fresh budget, no new pod.
    with operator_down(stack):
        time.sleep(2)
    time.sleep(10)
    after = get_bot(e2e_api, e2e_namespace, "fragile")["status"]
    assert after["phase"] == "Degraded" and int(after["restarts"]) == counted
    assert apps.read_namespaced_deployment("fragile", e2e_namespace).spec.replicas == 0
    wait_for_condition(e2e_api, e2e_namespace, "fragile", "Degraded", status="True", timeout_s=5)


def _runtime_stopped(api: client.ApiClient, namespace: str, bot: str) -> bool:
    """No runtime container of the bot runs, and every pod it had is being deleted.

    The pod object itself may outlive its containers by a minute: kubelet 1.20 deletes it only
    once its container garbage collection (every minute) has removed the pod's sandbox.
    """
    pods = client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"tradefleet.io/bot={bot}"
    )
    return all(
        pod.metadata.deletion_timestamp is not None
        and not any(s.state.running for s in pod.status.container_statuses or [])
        for pod in pods.items
    )
