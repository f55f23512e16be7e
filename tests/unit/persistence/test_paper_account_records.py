"""The paper account's records: what is written reads back equal, and every kind of damage is
refused with a ``StateFormatError`` that names the order and field."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from tradefleet_runtime.execution.model import Order, OrderSide, OrderStatus, OrderType
from tradefleet_runtime.execution.paper import PaperAccount, PaperExposure
from tradefleet_runtime.persistence.records import (
    StateFormatError,
    paper_account_from_dict,
    paper_account_to_dict,
    paper_order_to_dict,
)

pytestmark = pytest.mark.unit

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


def order(number: int, **changes: Any) -> Order:
    fields: dict[str, Any] = {
        "symbol": BTC,
        "side": OrderSide.BUY,
        "order_type": OrderType.MARKET,
        "status": OrderStatus.FILLED,
        "exchange_order_id": f"paper-{number}",
        "client_order_id": f"tf-bot-{number}-entry",
        "amount": 0.25,
        "filled": 0.25,
        "average_price": 30_001.5,
        "price": None,
        "trigger_price": None,
        "reduce_only": False,
        "fee_cost": 3.75,
        "timestamp_ms": 1_700_000_000_000 + number,
    }
    return Order(**(fields | changes))


ACCOUNT = PaperAccount(
    quote_currency="USDT",
    wallet=9_876.543,
    exposures={
        BTC: PaperExposure(amount=0.25, entry_price=30_001.5),
        ETH: PaperExposure(amount=-2.0, entry_price=2_000.25),
    },
    leverage={BTC: 5},
    orders=(
        order(1),
        order(
            2,
            side=OrderSide.SELL,
            order_type=OrderType.STOP_MARKET,
            status=OrderStatus.OPEN,
            amount=None,
            filled=0.0,
            average_price=None,
            trigger_price=29_000.0,
            reduce_only=True,
            fee_cost=0.0,
            client_order_id="tf-bot-2-sl",
        ),
        order(
            10,
            order_type=OrderType.LIMIT,
            status=OrderStatus.CANCELED,
            price=29_900.0,
            filled=0.0,
            average_price=None,
            timestamp_ms=None,
            triggered_order_id="paper-10-triggered",
        ),
    ),
    next_order_number=11,
)


def stored(account: PaperAccount) -> tuple[dict[str, Any], dict[str, Any]]:
    """The account as Redis holds it, parsed back from JSON text."""
    core = json.loads(json.dumps(paper_account_to_dict(account)))
    orders = {
        o.exchange_order_id: json.loads(json.dumps(paper_order_to_dict(o))) for o in account.orders
    }
    return core, orders


def test_an_account_reads_back_equal_with_its_orders_in_number_order() -> None:
    core, orders = stored(ACCOUNT)
    shuffled = dict(reversed(list(orders.items())))  # a Redis hash has no order
    assert paper_account_from_dict(core, orders=shuffled) == ACCOUNT


def _set(key: str, value: object) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def change(core: dict[str, Any], orders: dict[str, Any]) -> None:
        core[key] = value

    return change


def _set_order(
    number: int, key: str, value: object
) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def change(core: dict[str, Any], orders: dict[str, Any]) -> None:
        orders[f"paper-{number}"][key] = value

    return change


def _refile(core: dict[str, Any], orders: dict[str, Any]) -> None:
    orders["paper-3"] = orders.pop("paper-2")


def _foreign_id(core: dict[str, Any], orders: dict[str, Any]) -> None:
    orders["ccxt-7"] = orders.pop("paper-1")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_set("format", 2), "format 2 is not the one this runtime knows"),
        (_set("wallet", "lots"), "field 'wallet' must be a finite number"),
        (_set("wallet", None), "field 'wallet' must be a finite number"),
        (_set("nextOrderNumber", 0), "'nextOrderNumber' must be >= 1"),
        (_set("nextOrderNumber", 10), "order paper-10 is numbered at or above nextOrderNumber 10"),
        (_set("exposures", []), "field 'exposures' must be a JSON object"),
        (
            _set("exposures", {BTC: {"amount": 1.0}}),
            f"exposure of {BTC}: field 'entryPrice' is missing",
        ),
        (_set("leverage", {BTC: 0}), f"leverage of {BTC} must be an integer >= 1"),
        (_set("quoteCurrency", 7), "field 'quoteCurrency' must be a string"),
        (_set_order(1, "status", "lost"), "order paper-1: field 'status': unknown value 'lost'"),
        (_set_order(2, "reduceOnly", "yes"), "order paper-2: field 'reduceOnly' must be a boolean"),
        (
            _set_order(1, "filled", float("nan")),
            "order paper-1: field 'filled' must be a finite number",
        ),
        (
            _set_order(10, "timestampMs", 1.5),
            "order paper-10: field 'timestampMs' must be an integer",
        ),
        (_refile, "order paper-3 says it is 'paper-2'"),
        (_foreign_id, "order id 'ccxt-7' is not a paper order id"),
    ],
)
def test_damaged_records_are_refused_naming_what_is_wrong(
    damage: Callable[[dict[str, Any], dict[str, Any]], None], message: str
) -> None:
    core, orders = stored(ACCOUNT)
    damage(core, orders)
    with pytest.raises(StateFormatError, match=message.replace("(", r"\(").replace("[", r"\[")):
        paper_account_from_dict(core, orders=orders)


def test_an_order_that_is_not_an_object_is_refused() -> None:
    core, orders = stored(ACCOUNT)
    orders["paper-1"] = ["not", "an", "order"]
    with pytest.raises(StateFormatError, match="order paper-1: order must be a JSON object"):
        paper_account_from_dict(core, orders=orders)
