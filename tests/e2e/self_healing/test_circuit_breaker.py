"""A drawdown trips the bot's circuit breaker: the bot stops opening positions, the TradingBot shows
CircuitBreakerOpen=True (and Open in `kubectl get`), and the reset annotation closes it again."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from kubernetes import client
from support.bots import (
    condition_of,
    exchange_orders,
    gap_price_against,
    get_bot,
    start_hair_trigger_bot,
    wait_for_phase,
)
from support.k8s import kubectl, wait_for
from tradefleet_devtools.stack import LocalStack

pytestmark = pytest.mark.e2e


def test_drawdown_opens_the_breaker_and_the_annotation_resets_it(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    assert stack.cluster is not None
    long = start_hair_trigger_bot(
        stack=stack, api=e2e_api, namespace=e2e_namespace, symbol="BTC/USDT:USDT", name="tripwire"
    )
    gap_price_against(stack=stack, symbol="BTC/USDT:USDT", long=long)
    opened = wait_for(
        lambda: (
            (c := condition_of(e2e_api, e2e_namespace, "tripwire", "CircuitBreakerOpen"))
            and c["status"] == "True"
            and c
        ),
        timeout_s=30,
        what="CircuitBreakerOpen=True",
    )
    seen_at = datetime.now(UTC)
    status = get_bot(e2e_api, e2e_namespace, "tripwire")["status"]
    assert opened["reason"] == "Drawdown"
    since = datetime.fromisoformat(status["circuitBreaker"]["since"].replace("Z", "+00:00"))
    print(
        f"breaker trip -> CircuitBreakerOpen visible: {(seen_at - since).total_seconds():.1f}s (target <= 5 s)"
    )
    wait_for_phase(e2e_api, e2e_namespace, "tripwire", "Halted", timeout_s=10)
    table = kubectl(
        "get", "tradingbots", "-n", e2e_namespace, kubeconfig=stack.cluster.kubeconfig
    ).stdout
    assert "Open" in table.splitlines()[1] and "Halted" in table.splitlines()[1]

    # While open, no new positions: no order that is not reduce-only appears.
    before = {str(o.get("clientOrderId")) for o in exchange_orders(stack)}
    time.sleep(8)
    new = [o for o in exchange_orders(stack) if str(o.get("clientOrderId")) not in before]
    assert all(
        o.get("reduceOnly") in (True, "true") or o.get("closePosition") in (True, "true")
        for o in new
    ), new

    client.CustomObjectsApi(e2e_api).patch_namespaced_custom_object(
        "tradefleet.io",
        "v1alpha1",
        e2e_namespace,
        "tradingbots",
        "tripwire",
        {
            "metadata": {
                "annotations": {"tradefleet.io/reset-circuit-breaker": str(int(time.time()))}
            }
        },
    )
    closed = wait_for(
        lambda: (
            (c := condition_of(e2e_api, e2e_namespace, "tripwire", "CircuitBreakerOpen"))
            and c["status"] == "False"
            and c
        ),
        timeout_s=30,
        what="the breaker to close after the reset annotation",
    )
    assert closed["reason"] == "Closed"
    events = client.CoreV1Api(e2e_api).list_namespaced_event(e2e_namespace).items
    assert any(e.reason == "Drawdown" and e.type == "Warning" for e in events)
    assert any(e.reason == "CommandDelivered" and "reset-breaker" in e.message for e in events)
