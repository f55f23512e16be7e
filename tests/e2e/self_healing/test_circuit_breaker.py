"""A drawdown trips the bot's circuit breaker: the bot stops opening positions, the TradingBot shows
CircuitBreakerOpen=True (and Open in `kubectl get`), a real Prometheus with the chart's rules fires
the breaker alert, an operator restart keeps the breaker open, and the reset annotation closes it.
The Grafana dashboard queries only metrics the bot and the operators really export. A local
webhook (spec.notifications) receives the trip and the reset, each once: the operator restart
in between sends nothing again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from support.bots import (
    exchange_orders,
    gap_price_against,
    get_bot,
    operator_down,
    set_annotation,
    start_hair_trigger_bot,
    wait_for_condition,
    wait_for_phase,
)
from support.k8s import kubectl, wait_for
from support.prometheus import (
    alert_state,
    bot_target,
    dashboard_metric_names,
    exported_metric_names,
    get_json,
)
from support.webhook import Receiver, webhook_target, webhook_with_secret
from tradefleet_devtools.stack import LocalStack

pytestmark = pytest.mark.e2e

ALERT = "TradefleetCircuitBreakerOpen"


@pytest.fixture
def hook(e2e_api: client.ApiClient, e2e_namespace: str) -> Iterator[Receiver]:
    """A local webhook, and the Secret tripwire-hook with its URL."""
    with webhook_with_secret(
        client.CoreV1Api(e2e_api), namespace=e2e_namespace, secret="tripwire-hook"
    ) as receiver:
        yield receiver


def test_drawdown_opens_the_breaker_and_the_annotation_resets_it(
    stack: LocalStack,
    e2e_api: client.ApiClient,
    e2e_namespace: str,
    exchange_keys: str,
    prometheus: dict[str, Any],
    hook: Receiver,
) -> None:
    assert stack.cluster is not None
    start_hair_trigger_bot(
        stack=stack,
        api=e2e_api,
        namespace=e2e_namespace,
        symbol="BTC/USDT:USDT",
        name="tripwire",
        notifications=[
            webhook_target(name="ops", secret="tripwire-hook", events=["breaker", "rollbacks"])
        ],
    )
    bot = bot_target(e2e_api, e2e_namespace, "tripwire")
    operators = [f"127.0.0.1:{op.metrics_port}" for op in stack.operators.values()]
    prometheus["start"](targets={"bots": [bot], "operators": operators})
    wait_for(
        lambda: alert_state(prometheus["url"], ALERT) == "inactive",
        timeout_s=30,
        what="the breaker alert rule loaded and inactive",
    )
    gap_price_against(stack=stack, symbol="BTC/USDT:USDT")
    gapped_at = time.monotonic()
    opened = wait_for_condition(
        e2e_api, e2e_namespace, "tripwire", "CircuitBreakerOpen", status="True", timeout_s=30
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

    wait_for(
        lambda: alert_state(prometheus["url"], ALERT) == "firing",
        timeout_s=180,
        what=f"{ALERT} to fire",
    )
    alerts = get_json(f"{prometheus['url']}/api/v1/alerts")["data"]["alerts"]
    fired = next(a for a in alerts if a["labels"]["alertname"] == ALERT)
    assert fired["labels"]["bot"] == "tripwire" and fired["labels"]["namespace"] == e2e_namespace
    assert fired["labels"]["reason"] == "drawdown"
    wait_for(lambda: hook.events() == ["breakerTripped"], timeout_s=10, what="the trip notified")
    assert "circuit breaker tripped (Drawdown)" in hook.got[0]["text"]
    print(
        f"{ALERT}: inactive -> firing {time.monotonic() - gapped_at:.0f}s after the gap (rule has for: 1m)"
    )
    missing = sorted(dashboard_metric_names() - exported_metric_names([bot, *operators]))
    assert not missing, f"dashboard queries metrics nobody exports: {missing}"

    # An operator restart while the breaker is open keeps it open: the state is the bot's, read
    # back from it, not the operator's memory. The reset below goes through the new process.
    with operator_down(stack):
        time.sleep(3)
    time.sleep(5)
    halted = wait_for_phase(e2e_api, e2e_namespace, "tripwire", "Halted", timeout_s=30)
    assert halted["status"]["circuitBreaker"]["state"] == "Open"
    wait_for_condition(
        e2e_api, e2e_namespace, "tripwire", "CircuitBreakerOpen", status="True", timeout_s=10
    )

    set_annotation(
        e2e_api,
        e2e_namespace,
        "tripwire",
        "tradefleet.io/reset-circuit-breaker",
        str(int(time.time())),
    )
    closed = wait_for_condition(
        e2e_api, e2e_namespace, "tripwire", "CircuitBreakerOpen", status="False", timeout_s=30
    )
    assert closed["reason"] == "Closed"
    # Notified once each, the operator restart in between notwithstanding.
    wait_for(
        lambda: hook.events() == ["breakerTripped", "breakerReset"],
        timeout_s=15,
        what="the reset notified",
    )
    events = client.CoreV1Api(e2e_api).list_namespaced_event(e2e_namespace).items
    assert any(e.reason == "Drawdown" and e.type == "Warning" for e in events)
    assert any(e.reason == "CommandDelivered" and "reset-breaker" in e.message for e in events)
