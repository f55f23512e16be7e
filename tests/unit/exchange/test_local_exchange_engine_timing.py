"""The matching engine's time-spread behaviours, on a hand-driven clock.

``slow_fill`` lots and ``late_execution`` bookings happen at their own due times whenever the
engine advances; these tests advance it to chosen milliseconds and check what a client
querying at that moment would see, and what the ledger records.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from tradefleet_devtools.exchange.engine import MatchingEngine
from tradefleet_devtools.exchange.ledger import ledger_view
from tradefleet_devtools.exchange.market import BookShape, SimulatedMarket, SymbolSpec
from tradefleet_devtools.exchange.prices import RandomWalkPriceSource
from tradefleet_devtools.exchange.records import (
    EngineConfig,
    OrderOrigin,
    OrderTicket,
    RejectionError,
    SlowFill,
)

pytestmark = pytest.mark.unit

T0 = 1_700_000_000_000
BTC = "BTCUSDT"


@pytest.fixture
def engine() -> MatchingEngine:
    source = RandomWalkPriceSource(seed=1, start_price=30_000.0, volatility=0.0)
    spec = SymbolSpec.for_perpetual(unified="BTC/USDT:USDT", reference_price=30_000.0)
    market = SimulatedMarket(spec=spec, source=source, shape=BookShape(), start_ms=T0 - 10_000)
    built = MatchingEngine(markets=[market], config=EngineConfig(), epoch_ms=T0 - 10_000)
    built.advance(now_ms=T0)
    return built


def ticket(client_order_id: str, qty: str, **overrides: object) -> OrderTicket:
    fields: dict[str, object] = {
        "symbol": BTC,
        "side": "BUY",
        "order_type": "MARKET",
        "qty": Decimal(qty),
        "price": None,
        "time_in_force": "GTC",
        "reduce_only": False,
        "client_order_id": client_order_id,
        "origin": OrderOrigin(api_key="k", sender="runtime-a"),
    }
    fields.update(overrides)
    return OrderTicket(**fields)  # type: ignore[arg-type]


def executed(engine: MatchingEngine, client_order_id: str) -> Decimal:
    order = engine.find_order(symbol=BTC, order_id=None, client_order_id=client_order_id)
    return order.executed_qty


def test_a_slow_fill_fills_lot_by_lot_at_its_due_times(engine: MatchingEngine) -> None:
    order = engine.place_order(
        ticket=ticket("slow", "0.030"), now_ms=T0, slow_fill=SlowFill(seconds=2.0, steps=3)
    )
    assert (order.status, order.executed_qty) == ("PARTIALLY_FILLED", Decimal("0.010"))

    engine.advance(now_ms=T0 + 999)
    assert executed(engine, "slow") == Decimal("0.010")
    engine.advance(now_ms=T0 + 1_000)
    assert executed(engine, "slow") == Decimal("0.020")
    assert engine.positions()[BTC].amount == Decimal("0.020")
    engine.advance(now_ms=T0 + 5_000)

    assert order.status == "FILLED"
    assert [f.time_ms for f in engine.fills(symbol=BTC)] == [T0, T0 + 1_000, T0 + 2_000]
    assert engine.positions()[BTC].amount == Decimal("0.030")


def test_a_cancelled_slow_fill_stops_filling(engine: MatchingEngine) -> None:
    engine.place_order(
        ticket=ticket("slow", "0.030"), now_ms=T0, slow_fill=SlowFill(seconds=2.0, steps=3)
    )
    engine.cancel_order(symbol=BTC, order_id=None, client_order_id="slow", now_ms=T0 + 500)
    engine.advance(now_ms=T0 + 5_000)
    assert executed(engine, "slow") == Decimal("0.010")
    assert engine.positions()[BTC].amount == Decimal("0.010")


def test_a_resting_limit_order_is_not_slowed(engine: MatchingEngine) -> None:
    order = engine.place_order(
        ticket=ticket("rest", "0.010", order_type="LIMIT", price=Decimal("25000.0")),
        now_ms=T0,
        slow_fill=SlowFill(seconds=2.0, steps=3),
    )
    assert (order.status, order.lots) == ("NEW", [])


def test_a_held_order_is_unknown_until_due_then_booked(engine: MatchingEngine) -> None:
    held = engine.hold_order(
        ticket=ticket("late", "0.010"), now_ms=T0, due_ms=T0 + 800, deadline_ms=T0 + 1_000
    )
    engine.advance(now_ms=T0 + 799)
    with pytest.raises(RejectionError) as raised:
        engine.find_order(symbol=BTC, order_id=None, client_order_id="late")
    assert raised.value.code == -2013

    engine.advance(now_ms=T0 + 2_000)
    order = engine.find_order(symbol=BTC, order_id=None, client_order_id="late")
    assert (held.status, held.order_id) == ("BOOKED", order.order_id)
    assert (order.status, order.received_ms, order.created_ms) == ("FILLED", T0, T0 + 800)


def test_a_held_order_past_its_receive_window_never_executes(engine: MatchingEngine) -> None:
    held = engine.hold_order(
        ticket=ticket("late", "0.010"), now_ms=T0, due_ms=T0 + 1_001, deadline_ms=T0 + 1_000
    )
    engine.advance(now_ms=T0 + 5_000)
    assert held.status == "DROPPED"
    assert engine.orders(symbol=None) == []
    assert engine.positions()[BTC].amount == 0


def test_a_held_order_the_account_cannot_afford_is_rejected_when_due(
    engine: MatchingEngine,
) -> None:
    held = engine.hold_order(
        ticket=ticket("late", "100.000"), now_ms=T0, due_ms=T0 + 100, deadline_ms=T0 + 1_000
    )
    engine.advance(now_ms=T0 + 200)
    assert (held.status, held.order_id) == ("REJECTED", None)
    assert held.rejection is not None and "-2019" in held.rejection


def test_the_ledger_lists_booked_and_unbooked_orders_by_arrival(engine: MatchingEngine) -> None:
    engine.hold_order(
        ticket=ticket("dropped", "0.010"), now_ms=T0, due_ms=T0 + 2_000, deadline_ms=T0 + 1_000
    )
    engine.place_order(ticket=ticket("direct", "0.010"), now_ms=T0 + 10)
    engine.advance(now_ms=T0 + 3_000)

    ledger = ledger_view(engine, now_ms=T0 + 3_000)

    assert [(o["client_order_id"], o["status"]) for o in ledger["orders"]] == [
        ("dropped", "DROPPED"),
        ("direct", "FILLED"),
    ]
    dropped, direct = ledger["orders"]
    assert (dropped["order_id"], dropped["booked_ms"], dropped["executed_quantity"]) == (
        None,
        None,
        "0.000",
    )
    assert (direct["sender"], direct["api_key"], direct["executed_quantity"]) == (
        "runtime-a",
        "k",
        "0.010",
    )
    (fill,) = ledger["fills"]
    assert (fill["client_order_id"], fill["quantity"]) == ("direct", "0.010")
    assert ledger["positions"][BTC]["amount"] == "0.010"
    assert set(ledger["wallet"]) == {"asset", "balance", "unrealized_pnl", "equity", "available"}


def test_a_second_close_position_stop_on_one_side_is_refused_as_binance_does(
    engine: MatchingEngine,
) -> None:
    def stop(client_id: str, *, side: str, order_type: str = "STOP_MARKET") -> None:
        trigger = Decimal("29000") if side == "SELL" else Decimal("31000")
        if order_type == "TAKE_PROFIT_MARKET":
            trigger = Decimal("31000") if side == "SELL" else Decimal("29000")
        engine.place_algo_order(
            symbol=BTC,
            side=side,
            order_type=order_type,
            qty=None,
            trigger_price=trigger,
            reduce_only=False,
            close_position=True,
            client_algo_id=client_id,
            now_ms=T0,
        )

    stop("sl-1", side="SELL")
    with pytest.raises(RejectionError) as refused:
        stop("sl-2", side="SELL")
    assert refused.value.code == -4130
    stop("tp-1", side="SELL", order_type="TAKE_PROFIT_MARKET")
    stop("sl-3", side="BUY")
    engine.cancel_algo_order(algo_id=None, client_algo_id="sl-1", now_ms=T0)
    stop("sl-4", side="SELL")
