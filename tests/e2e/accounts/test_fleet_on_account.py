"""A fleet on one ExchangeAccount, on the local stack: two bots trade their slices of it with its
keys; the account shows what the exchange holds, and that it allocates more; a manual order on
one's symbol is never touched; the kill switch on one leaves the other's orders alone; the
account's drawdown limit halts both (set below what their trades lost).

Real runtimes (the stack's nodes) trade through ccxt over HTTP on the local exchange, whose books
say what was done; the operator allocates the account and halts it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes import client
from support.bots import (
    GROUP,
    VERSION,
    exchange_admin,
    exchange_orders,
    get_bot,
    hair_trigger_bot,
    rest_limit_buys,
    set_annotation,
    wait_for_phase,
    wait_for_position,
)
from support.k8s import condition, wait_for
from tradefleet_devtools.stack import LocalStack
from tradefleet_runtime.execution.client_order_id import owns

pytestmark = pytest.mark.e2e

ALPHA, BETA = "XRP/USDT:USDT", "DOT/USDT:USDT"
MANUAL_ID = "manual-on-the-fleets-symbol"


def _create_account(api: client.ApiClient, namespace: str, **spec: Any) -> None:
    """The ExchangeAccount ``fleet`` on the local exchange (Binance)."""
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "exchangeaccounts",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ExchangeAccount",
            "metadata": {"name": "fleet"},
            "spec": {"exchange": "binance", **spec},
        },
    )


def _account(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "exchangeaccounts", "fleet"
    )
    return found


def _kill_switch_state(api: client.ApiClient, namespace: str, bot: str) -> str | None:
    status = get_bot(api, namespace, bot).get("status") or {}
    state: str | None = status.get("control", {}).get("killSwitch", {}).get("state")
    return state


def _owned(stack: LocalStack, bot: str) -> set[str]:
    """The client ids of ``bot``'s orders (regular and conditional) resting on the exchange."""
    resting = set()
    for order in exchange_orders(stack):
        client_id = str(order.get("clientOrderId") or order.get("clientAlgoId"))
        state = order.get("status") or order.get("algoStatus")
        if state in ("NEW", "PARTIALLY_FILLED") and owns(
            exchange="binanceusdm", bot_name=bot, client_order_id=client_id
        ):
            resting.add(client_id)
    return resting


def test_a_fleet_trades_its_slices_and_its_drawdown_limit_halts_every_bot(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    exchange_admin(stack, "/_admin/reset", {})
    asyncio.run(rest_limit_buys(stack, symbol=ALPHA, client_ids=(MANUAL_ID,), amount=10.0))
    custom = client.CustomObjectsApi(e2e_api)
    _create_account(
        e2e_api,
        e2e_namespace,
        mode="testnet",
        credentials={"secretRef": {"name": exchange_keys}},
        # 20,000 each: the bots' positions are above the lot size.
        allocation={"capital": 40000},
        risk={"maxDrawdownPct": 5},
    )
    for name, symbol in (("alpha", ALPHA), ("beta", BETA)):
        # A stop-out on these markets costs about 0.4 % of the bot's equity.
        bot = hair_trigger_bot(name, symbol=symbol, account="fleet", max_drawdown_pct=2)
        custom.create_namespaced_custom_object(GROUP, VERSION, e2e_namespace, "tradingbots", bot)
    for name in ("alpha", "beta"):
        wait_for_phase(e2e_api, e2e_namespace, name, "Running", timeout_s=180)
    try:
        wait_for_position(stack, BETA)
        wait_for_position(stack, ALPHA)
    except AssertionError:
        for name in ("alpha", "beta"):
            print(name, get_bot(e2e_api, e2e_namespace, name).get("status"))
        print(_account(e2e_api, e2e_namespace).get("status"))
        raise

    # Each trades its own slice of the account (20,000 each), not the account's balance.
    account = _account(e2e_api, e2e_namespace)
    assert {row["name"]: row["allocation"] for row in account["status"]["bots"]} == {
        "alpha": 20000,
        "beta": 20000,
    }
    for name in ("alpha", "beta"):
        equity = wait_for(
            lambda name=name: (get_bot(e2e_api, e2e_namespace, name).get("status") or {}).get(
                "equity"
            ),
            timeout_s=30,
            what=f"{name}'s equity",
        )
        assert 19000 < equity < 21000, (name, equity)

    # The exchange account holds 10,000 USDT (the local exchange's starting balance), as the
    # bots' runtimes read it: the 40,000 allocated is more than it has, and the account says so.
    def short() -> dict[str, Any] | None:
        status = _account(e2e_api, e2e_namespace).get("status") or {}
        funded = condition({"status": status}, "Funded")
        return status if funded and funded["reason"] == "AllocationExceedsBalance" else None

    status = wait_for(short, timeout_s=60, what="the account to compare its balance")
    (usdt,) = status["balances"]
    assert usdt["currency"] == "USDT" and usdt["allocated"] == 40000, usdt
    assert 9000 < usdt["total"] < 11000 and usdt["reportedBy"] in ("alpha", "beta"), usdt

    # The kill switch on alpha: its own orders go, beta's protective orders and the manual one
    # on alpha's symbol stay.
    assert _owned(stack, "beta"), "beta's position has its protective orders on the exchange"
    set_annotation(e2e_api, e2e_namespace, "alpha", "tradefleet.io/kill-switch", "true")
    wait_for(
        lambda: _kill_switch_state(e2e_api, e2e_namespace, "alpha") == "Halted",
        timeout_s=90,
        what="alpha's runtime to confirm its halt",
    )
    (manual,) = exchange_orders(stack, prefix=MANUAL_ID)
    assert manual["status"] == "NEW", manual
    assert _owned(stack, "alpha") == set()
    # beta trades on (it may have closed and reopened meanwhile): protected, and not halted.
    wait_for_position(stack, BETA)
    assert _owned(stack, "beta"), "beta's protective orders are gone"
    runtime = get_bot(e2e_api, e2e_namespace, "beta")["status"]["runtime"]
    assert not runtime["halted"] and not runtime["userHalted"], runtime

    # The account has lost something to its bots' trades (fees, spread, stops): a limit below
    # that loss halts it, and every bot on it.
    def lost() -> dict[str, Any] | None:
        status = _account(e2e_api, e2e_namespace).get("status") or {}
        return status if (status.get("drawdownPct") or 0) > 0 else None

    loss = wait_for(lost, timeout_s=120, what="the account to be below its peak")["drawdownPct"]
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        e2e_namespace,
        "exchangeaccounts",
        "fleet",
        {"spec": {"risk": {"maxDrawdownPct": loss / 4}}},
    )

    def halted() -> dict[str, Any] | None:
        status = _account(e2e_api, e2e_namespace).get("status") or {}
        return status if status.get("phase") == "Halted" else None

    try:
        status = wait_for(halted, timeout_s=120, what="the account's drawdown halt")
    except AssertionError:
        print("account", _account(e2e_api, e2e_namespace).get("status"))
        print("beta", get_bot(e2e_api, e2e_namespace, "beta").get("status"))
        raise
    assert status["drawdownPct"] >= loss / 4
    reason = condition({"status": status}, "Halted")
    assert reason is not None and reason["reason"] == "AccountDrawdownLimit", reason
    annotations = get_bot(e2e_api, e2e_namespace, "beta")["metadata"]["annotations"]
    assert annotations["tradefleet.io/kill-switch"] == "true"
    assert annotations["tradefleet.io/halted-by-account"] == "fleet"
    # alpha's kill switch was the user's, not the account's.
    assert (
        "tradefleet.io/halted-by-account"
        not in get_bot(e2e_api, e2e_namespace, "alpha")["metadata"]["annotations"]
    )
    wait_for(
        lambda: _kill_switch_state(e2e_api, e2e_namespace, "beta") in ("Halted", "FlattenFailed"),
        timeout_s=90,
        what="beta's runtime to confirm the account's halt",
    )
    (manual,) = exchange_orders(stack, prefix=MANUAL_ID)
    assert manual["status"] == "NEW", manual


def test_a_fleet_on_shared_market_data_polls_each_symbol_once(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str
) -> None:
    custom = client.CustomObjectsApi(e2e_api)
    _create_account(
        e2e_api,
        e2e_namespace,
        mode="paper",
        allocation={"capital": 30000},
        marketData={"shared": True},
    )
    # Three paper bots on two symbols: two of them on the same symbol, on two timeframes.
    for name, symbol, timeframe in (
        ("sol-fast", "SOL/USDT:USDT", "1m"),
        ("sol-slow", "SOL/USDT:USDT", "5m"),
        ("ada", "ADA/USDT:USDT", "5m"),
    ):
        bot = hair_trigger_bot(name, symbol=symbol, account="fleet")
        bot["spec"]["mode"] = "paper"
        bot["spec"]["strategy"]["timeframe"] = timeframe
        custom.create_namespaced_custom_object(GROUP, VERSION, e2e_namespace, "tradingbots", bot)

    def publishing() -> dict[str, Any] | None:
        status = _account(e2e_api, e2e_namespace).get("status") or {}
        ready = condition({"status": status}, "MarketDataReady")
        return status if ready and ready["status"] == "True" else None

    status = wait_for(publishing, timeout_s=180, what="the market-data workload to publish")
    (workload,) = status["marketData"]
    assert workload["workload"] == "fleet-market-futures"
    assert workload["symbols"] == ["ADA/USDT:USDT", "SOL/USDT:USDT"]
    for name in ("sol-fast", "sol-slow", "ada"):
        wait_for_phase(e2e_api, e2e_namespace, name, "Running", timeout_s=180)

    def decided() -> bool:
        bots = [get_bot(e2e_api, e2e_namespace, n).get("status") or {} for n in ("sol-fast", "ada")]
        return all(b.get("lastSignal") for b in bots)

    wait_for(decided, timeout_s=120, what="the bots to decide on the shared market data")
    # The workload keeps the books from the exchange's websocket stream (ccxt.pro in its pod).
    stream = exchange_admin(stack, "/_admin/stream", {})
    assert stream["connections"] >= 1 and stream["eventsSent"] > 0, stream
    # The bots ask the exchange nothing: the workload's requests are the account's.
    for name in ("sol-fast", "sol-slow", "ada"):
        assert (get_bot(e2e_api, e2e_namespace, name)["status"]).get("requestsPerMinute") == 0
