"""Bots that share one exchange account: one symbol per bot, and manual orders left alone.

Two bots on one symbol of one account (the same exchange, mode and credentials Secret) would net
into a single exchange position: the later one is refused (``Invalid``, ``SymbolTakenOnAccount``,
no workload) until the first goes. A bot adopts, cancels and flattens only orders whose client id
carries its own tag: its kill switch cancels an order it left resting before a restart, and a
manual order resting on its symbol survives it.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from kubernetes import client
from support.bots import (
    condition_of,
    exchange_bot,
    exchange_orders,
    get_bot,
    rest_limit_buys,
    set_annotation,
    wait_for_condition,
    wait_for_phase,
)
from support.k8s import wait_for
from tradefleet_devtools.stack import LocalStack
from tradefleet_runtime.execution.client_order_id import client_order_id

pytestmark = pytest.mark.e2e

GROUP, VERSION = "tradefleet.io", "v1alpha1"
MANUAL_ID = "manual-limit-order-1"


def _create(api: client.ApiClient, namespace: str, bot: dict[str, object]) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", bot
    )


def _deployments(api: client.ApiClient, namespace: str) -> set[str]:
    items = client.AppsV1Api(api).list_namespaced_deployment(namespace).items
    return {d.metadata.name for d in items}


def test_a_second_bot_on_a_symbol_of_the_same_account_is_refused_until_the_first_goes(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    _create(e2e_api, e2e_namespace, exchange_bot("first"))
    wait_for_phase(e2e_api, e2e_namespace, "first", "Running", timeout_s=120)
    _create(e2e_api, e2e_namespace, exchange_bot("second"))
    # Another symbol on the same keys is a bot of its own.
    _create(e2e_api, e2e_namespace, exchange_bot("other-symbol", symbol="ETH/USDT:USDT"))

    wait_for_phase(e2e_api, e2e_namespace, "second", "Invalid", timeout_s=60)
    ready = condition_of(e2e_api, e2e_namespace, "second", "Ready")
    assert ready is not None and ready["reason"] == "SymbolTakenOnAccount", ready
    assert ready["message"].startswith("spec.symbol: first already trades BTC/USDT:USDT")
    assert "exchange-keys" in ready["message"]
    wait_for_phase(e2e_api, e2e_namespace, "other-symbol", "Running", timeout_s=120)
    deployments = _deployments(e2e_api, e2e_namespace)
    assert "second" not in deployments and {"first", "other-symbol"} <= deployments

    client.CustomObjectsApi(e2e_api).delete_namespaced_custom_object(
        GROUP, VERSION, e2e_namespace, "tradingbots", "first"
    )
    deleted = time.monotonic()
    wait_for_phase(e2e_api, e2e_namespace, "second", "Running", timeout_s=180)
    print(f"first deleted -> second Running: {time.monotonic() - deleted:.1f}s")


# An order of the bot's own, left resting by an earlier runtime: it carries the bot's tag.
LEFT_BY_THE_BOT = client_order_id(
    exchange="binanceusdm", bot_name="owner", decision_id="earlier-1", leg="entry"
)


def test_the_kill_switch_cancels_the_bots_own_orders_and_never_a_manual_one(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    # One placed by hand, one the bot placed before it restarted.
    asyncio.run(
        rest_limit_buys(
            stack, symbol="SOL/USDT:USDT", client_ids=(MANUAL_ID, LEFT_BY_THE_BOT), amount=1.0
        )
    )
    _create(e2e_api, e2e_namespace, exchange_bot("owner", symbol="SOL/USDT:USDT"))
    # The bot adopts its own resting order, which keeps it from opening positions (Paused,
    # OrdersUnresolved, after 30 s): ready is what it needs to be for its kill switch.
    wait_for_condition(e2e_api, e2e_namespace, "owner", "Ready", status="True", timeout_s=120)

    set_annotation(e2e_api, e2e_namespace, "owner", "tradefleet.io/kill-switch", "true")
    wait_for(
        lambda: (
            (get_bot(e2e_api, e2e_namespace, "owner").get("status") or {})
            .get("control", {})
            .get("killSwitch", {})
            .get("state")
            == "Halted"
        ),
        timeout_s=60,
        what="the runtime to confirm the kill switch",
    )
    (manual,) = exchange_orders(stack, prefix=MANUAL_ID)
    assert manual["status"] == "NEW", manual
    (own,) = exchange_orders(stack, prefix=LEFT_BY_THE_BOT)
    assert own["status"] == "CANCELED", own
