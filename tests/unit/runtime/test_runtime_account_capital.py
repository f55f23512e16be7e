"""A bot's equity on a shared account: its capital, its own trades, its own fees.

``spec.risk.capital`` makes the bot's equity its slice of the account; without it the account's
balance is the bot's equity. Fees come from the order, or are looked up when the venue reports
them on trades only; a fee in the base currency is converted at the fill price.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from tradefleet_runtime.execution.model import Order, OrderSide, OrderStatus, OrderType
from tradefleet_runtime.execution.venue import _order_from_ccxt
from tradefleet_runtime.persistence.records import BalanceRecord, PositionRecord, PositionSide
from tradefleet_runtime.risk import RiskEngine, RiskLimits
from tradefleet_runtime.service.account import Account
from tradefleet_runtime.service.events import EventHub
from tradefleet_runtime.service.metrics import BotMetrics

pytestmark = pytest.mark.unit


def _account(*, capital: float | None) -> Account:
    return Account(
        symbol="BTC/USDT:USDT",
        quote="USDT",
        risk=RiskEngine(limits=RiskLimits(capital=capital)),
        metrics=BotMetrics(bot="b", namespace="n", exchange="binance", symbol="BTC/USDT:USDT"),
        events=EventHub(),
    )


def _order(*, status: OrderStatus, filled: float, fee: float | None) -> Order:
    return Order(
        symbol="BTC/USDT:USDT",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        status=status,
        exchange_order_id="42",
        client_order_id="tfabc",
        amount=0.01,
        filled=filled,
        average_price=50_000.0,
        price=None,
        trigger_price=None,
        reduce_only=False,
        fee_cost=fee,
        timestamp_ms=1,
    )


LONG = PositionRecord(side=PositionSide.LONG, size=0.01, entry_price=50_000.0)
BALANCE = BalanceRecord(currency="USDT", free=10_000.0, used=0.0, total=10_000.0, as_of_ms=1)


def test_a_bot_with_capital_is_worth_its_slice_whatever_the_account_holds() -> None:
    account = _account(capital=2_000.0)
    account.set_balance(BALANCE)
    account.mark(position=LONG, mark_price=51_000.0, atr=None)
    assert account.equity() == pytest.approx(2_010.0)
    account.set_balance(BalanceRecord(currency="USDT", free=1.0, used=0.0, total=1.0, as_of_ms=2))
    assert account.equity() == pytest.approx(2_010.0)
    account.book_trade(previous=LONG, exit_price=52_000.0)
    account.book_fee(_order(status=OrderStatus.FILLED, filled=0.01, fee=0.4))
    account.mark(position=PositionRecord(), mark_price=52_000.0, atr=None)
    assert account.equity() == pytest.approx(2_000.0 + 20.0 - 0.4)
    assert account.pnl() == pytest.approx(19.6) and account.starting_equity == 2_000.0


def test_without_capital_the_account_balance_is_the_equity() -> None:
    account = _account(capital=None)
    account.set_balance(BALANCE)
    account.mark(position=LONG, mark_price=51_000.0, atr=None)
    assert account.equity() == 10_000.0 and account.starting_equity == 10_000.0


def test_new_capital_rebases_drawdown_instead_of_counting_as_a_loss() -> None:
    account = _account(capital=2_000.0)
    account.mark(position=PositionRecord(), mark_price=50_000.0, atr=None)
    account.risk = RiskEngine(limits=RiskLimits(capital=1_000.0))
    account.mark(position=PositionRecord(), mark_price=50_000.0, atr=None)
    assert account.portfolio is not None
    assert account.portfolio.drawdown_pct == 0.0 and account.portfolio.peak_equity == 1_000.0
    assert not account.risk.breaker.is_open


def test_only_an_ended_orders_fee_is_booked_and_a_missing_one_is_looked_up() -> None:
    account = _account(capital=2_000.0)
    account.book_fee(_order(status=OrderStatus.OPEN, filled=0.005, fee=0.2))
    assert account.fees_paid == 0.0
    account.book_fee(_order(status=OrderStatus.FILLED, filled=0.01, fee=None))
    assert account.fees_unpriced == {"42": "BTC/USDT:USDT"}
    account.price_fee(exchange_order_id="42", fee=0.4)
    account.price_fee(exchange_order_id="42", fee=0.4)  # booked once
    assert account.fees_paid == pytest.approx(0.4) and not account.fees_unpriced


@pytest.mark.parametrize(
    ("fee", "expected"),
    [
        ({"cost": 0.4, "currency": "USDT"}, 0.4),
        ({"cost": 0.00001, "currency": "BTC"}, 0.5),  # a spot buy pays in the base
        ({"cost": 0.001, "currency": "BNB"}, None),  # a third currency: unknown here
        ({}, None),
    ],
)
def test_an_orders_fee_is_read_in_the_quote_currency(
    fee: dict[str, object], expected: float | None
) -> None:
    raw = {
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "market",
        "status": "closed",
        "id": "7",
        "clientOrderId": "tfabc",
        "amount": 0.001,
        "filled": 0.001,
        "average": 50_000.0,
        "fee": fee,
    }
    assert _order_from_ccxt(raw, symbol="BTC/USDT").fee_cost == (
        pytest.approx(expected) if expected is not None else None
    )


def test_a_restart_keeps_the_drawdown_unless_the_capital_changed_meanwhile() -> None:
    before = _account(capital=2_000.0)
    before.mark(position=LONG, mark_price=50_000.0, atr=None)
    before.book_trade(previous=LONG, exit_price=45_000.0)  # -50
    before.mark(position=PositionRecord(), mark_price=45_000.0, atr=None)
    saved, portfolio = before.trades(), before.portfolio
    assert portfolio is not None

    same = _account(capital=2_000.0)
    same.restore_trades(saved)
    same.portfolio = portfolio
    same.mark(position=PositionRecord(), mark_price=45_000.0, atr=None)
    assert same.equity() == pytest.approx(1_950.0)
    assert same.portfolio is not None and same.portfolio.peak_equity == 2_000.0

    raised = _account(capital=3_000.0)
    raised.restore_trades(saved)
    raised.portfolio = portfolio
    raised.mark(position=PositionRecord(), mark_price=45_000.0, atr=None)
    assert raised.portfolio is not None and raised.portfolio.drawdown_pct == 0.0


def test_a_triggered_stops_fee_is_looked_up_on_the_order_it_became() -> None:
    account = _account(capital=None)
    stop = replace(
        _order(status=OrderStatus.FILLED, filled=0.01, fee=None),
        order_type=OrderType.STOP_MARKET,
        triggered_order_id="43",
    )
    account.book_fee(stop)
    assert account.fees_unpriced == {"43": "BTC/USDT:USDT"}
