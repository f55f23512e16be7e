"""Circuit breakers: each trips at its threshold (not just below), persists, resets by policy."""

from __future__ import annotations

import json

import pytest
from risk_fixtures import DAY_MS, NOW_MS, intent, market, portfolio
from tradefleet_runtime.risk import (
    BreakerReason,
    BreakerState,
    BreakerUpdate,
    PortfolioState,
    RiskEngine,
    RiskInputError,
    RiskLayer,
    RiskLimits,
    RiskPosition,
    RiskStateError,
    TransitionKind,
)

pytestmark = pytest.mark.unit


def mark(
    engine: RiskEngine,
    state: PortfolioState,
    equity: float,
    *,
    now_ms: int = NOW_MS,
    positions: tuple[RiskPosition, ...] = (),
    atr: float | None = None,
) -> BreakerUpdate:
    return engine.on_mark(
        portfolio=state,
        equity=equity,
        positions=positions,
        atr_by_symbol={} if atr is None else {"BTC/USDT": atr},
        now_ms=now_ms,
    )


def test_drawdown_breaker_trips_at_exactly_max_drawdown() -> None:
    engine = RiskEngine(limits=RiskLimits())
    # Lost over earlier days, so today's loss stays under the daily limit.
    state = portfolio(equity=8_500.0, peak=10_000.0, day_start=8_500.0)
    assert mark(engine, state, 8_001.0).transition is None  # 19.99 %
    assert not engine.breaker.is_open
    transition = mark(engine, state, 8_000.0).transition
    assert transition is not None
    assert (transition.kind, transition.reason) == (TransitionKind.TRIPPED, BreakerReason.DRAWDOWN)
    assert transition.message == (
        "drawdown 20.00% (equity 8000.00 vs high-water mark 10000.00) reached the 20% limit"
    )
    assert engine.breaker.is_open


def test_drawdown_is_measured_from_the_high_water_mark() -> None:
    engine = RiskEngine(limits=RiskLimits())
    higher = mark(engine, portfolio(), 12_000.0).portfolio
    assert higher.peak_equity == 12_000.0
    assert mark(engine, higher, 9_601.0).transition is None
    transition = mark(engine, higher, 9_600.0).transition
    assert transition is not None
    assert transition.reason is BreakerReason.DRAWDOWN


def test_daily_loss_breaker_trips_at_exactly_max_daily_loss() -> None:
    engine = RiskEngine(limits=RiskLimits())
    assert mark(engine, portfolio(), 9_001.0).transition is None  # 9.99 %
    transition = mark(engine, portfolio(), 9_000.0).transition
    assert transition is not None
    assert transition.reason is BreakerReason.DAILY_LOSS
    assert "daily loss 10.00% (equity 9000.00 vs UTC day start 10000.00)" in transition.message


def test_the_daily_loss_baseline_rolls_at_utc_midnight() -> None:
    engine = RiskEngine(limits=RiskLimits())
    yesterday = mark(engine, portfolio(), 9_500.0).portfolio
    next_midnight = (NOW_MS // DAY_MS + 1) * DAY_MS
    today = mark(engine, yesterday, 9_100.0, now_ms=next_midnight)
    assert today.transition is None  # yesterday's 9 % is not today's loss
    assert today.portfolio.day_start_equity == 9_100.0
    assert mark(engine, today.portfolio, 8_191.0, now_ms=next_midnight + 1).transition is None
    transition = mark(engine, today.portfolio, 8_190.0, now_ms=next_midnight + 1).transition
    assert transition is not None
    assert transition.reason is BreakerReason.DAILY_LOSS  # 10 % of 9 100; drawdown 18.1 %


def test_consecutive_losses_breaker_trips_on_the_fifth_loss_in_a_row() -> None:
    engine = RiskEngine(limits=RiskLimits())
    state = portfolio()
    for trade_return in (-0.01, -0.01, -0.01, 0.02, -0.01, -0.01, -0.01, -0.01):
        update = engine.on_trade_closed(portfolio=state, trade_return=trade_return, now_ms=NOW_MS)
        assert update.transition is None  # the win broke the first streak at 3
        state = update.portfolio
    assert state.trades.loss_streak == 4
    update = engine.on_trade_closed(portfolio=state, trade_return=-0.01, now_ms=NOW_MS)
    assert update.transition is not None
    assert update.transition.reason is BreakerReason.CONSECUTIVE_LOSSES
    assert update.transition.message == "5 consecutive losing trades reached the limit of 5"
    assert update.portfolio.trades.trades == 9


def test_atr_breaker_trips_when_unrealised_loss_reaches_three_atr_per_unit() -> None:
    engine = RiskEngine(limits=RiskLimits())

    def long_marked_at(price: float) -> tuple[RiskPosition, ...]:
        return (RiskPosition(symbol="BTC/USDT", quantity=2.0, entry_price=100.0, mark_price=price),)

    # Limit: −3 × ATR 5 × size 2 = −30, i.e. a mark of 85.
    assert (
        mark(engine, portfolio(), 9_970.02, positions=long_marked_at(85.01), atr=5.0).transition
        is None
    )
    assert mark(engine, portfolio(), 9_970.0, positions=long_marked_at(85.0)).transition is None
    transition = mark(
        engine, portfolio(), 9_970.0, positions=long_marked_at(85.0), atr=5.0
    ).transition
    assert transition is not None
    assert transition.reason is BreakerReason.ATR
    assert transition.message == (
        "BTC/USDT unrealised PnL -30.00 reached −3 × ATR 5 × size 2 = -30.00"
    )


def test_the_atr_multiplier_is_configurable() -> None:
    engine = RiskEngine(limits=RiskLimits.from_spec({"atrCircuitBreakerMultiplier": 2.0}))
    short = (RiskPosition(symbol="BTC/USDT", quantity=-1.0, entry_price=100.0, mark_price=110.0),)
    transition = mark(engine, portfolio(), 9_990.0, positions=short, atr=5.0).transition
    assert transition is not None
    assert transition.reason is BreakerReason.ATR


def test_a_trip_asks_to_flatten_only_when_configured() -> None:
    quiet = mark(RiskEngine(limits=RiskLimits()), portfolio(), 8_000.0).transition
    assert quiet is not None
    assert not quiet.flatten
    flattening = RiskEngine(limits=RiskLimits.from_spec({"flattenOnTrip": True}))
    loud = mark(flattening, portfolio(), 8_000.0).transition
    assert loud is not None
    assert loud.flatten


def test_an_open_breaker_does_not_trip_again_or_reset_by_itself() -> None:
    engine = RiskEngine(limits=RiskLimits())
    tripped = mark(engine, portfolio(), 8_000.0)
    later = mark(engine, tripped.portfolio, 7_000.0, now_ms=NOW_MS + 30 * DAY_MS)
    assert later.transition is None
    assert engine.breaker.trip is not None
    assert engine.breaker.trip.reason is BreakerReason.DRAWDOWN


def test_a_tripped_breaker_survives_a_restart() -> None:
    engine = RiskEngine(limits=RiskLimits())
    update = mark(engine, portfolio(), 9_000.0)
    stored_breaker = json.dumps(engine.breaker.to_dict())
    stored_portfolio = json.dumps(update.portfolio.to_dict())

    restored_breaker = BreakerState.from_dict(json.loads(stored_breaker))
    restored_portfolio = PortfolioState.from_dict(json.loads(stored_portfolio))
    assert restored_breaker == engine.breaker
    assert restored_portfolio == update.portfolio
    restarted = RiskEngine(limits=RiskLimits(), breaker=restored_breaker)
    decision = restarted.evaluate(
        intent=intent(), portfolio=restored_portfolio, market=market(), now_ms=NOW_MS + 1
    )
    assert decision.rejected_by is RiskLayer.CIRCUIT_BREAKER
    assert "daily_loss" in decision.reason


def test_a_closed_breaker_round_trips_too() -> None:
    assert BreakerState.from_dict(BreakerState().to_dict()) == BreakerState()


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({}, "field 'trip' is missing"),
        ({"trip": {"reason": "boredom", "message": "", "trippedAtMs": 1}}, "unknown reason"),
        ({"trip": {"reason": "atr", "message": "x"}}, "'trippedAtMs' is missing"),
        ({"trip": {"reason": "atr", "message": "x", "trippedAtMs": "1"}}, "must be an integer"),
        ("tripped", "must be an object"),
    ],
)
def test_corrupt_breaker_state_raises_a_state_error(stored: object, message: str) -> None:
    with pytest.raises(RiskStateError, match=message):
        BreakerState.from_dict(stored)


def test_corrupt_portfolio_state_raises_a_state_error() -> None:
    stored = portfolio().to_dict()
    stored["peakEquity"] = -1.0
    with pytest.raises(RiskStateError, match="peak_equity must be finite and > 0"):
        PortfolioState.from_dict(stored)


def test_cooldown_resets_the_breaker_and_rebases_what_it_measured() -> None:
    engine = RiskEngine(limits=RiskLimits.from_spec({"breakerCooldownSeconds": 60}))
    tripped = mark(engine, portfolio(), 8_000.0)
    assert mark(engine, tripped.portfolio, 8_000.0, now_ms=NOW_MS + 59_999).transition is None
    assert engine.breaker.is_open

    update = mark(engine, tripped.portfolio, 8_000.0, now_ms=NOW_MS + 60_000)
    assert update.transition is not None
    assert update.transition.kind is TransitionKind.RESET
    assert update.transition.reason is BreakerReason.DRAWDOWN
    assert update.transition.message.startswith(
        "cooldown of 60 s elapsed (had tripped on: drawdown"
    )
    assert not engine.breaker.is_open
    assert (update.portfolio.peak_equity, update.portfolio.day_start_equity) == (8_000.0, 8_000.0)
    # The acknowledged loss does not trip it again; a fresh 20 % from here would.
    assert mark(engine, update.portfolio, 8_000.0, now_ms=NOW_MS + 60_001).transition is None


def test_manual_only_breaker_needs_an_explicit_reset() -> None:
    engine = RiskEngine(limits=RiskLimits())
    state = portfolio()
    for _ in range(5):
        update = engine.on_trade_closed(portfolio=state, trade_return=-0.01, now_ms=NOW_MS)
        state = update.portfolio
    assert mark(engine, state, 10_000.0, now_ms=NOW_MS + 365 * DAY_MS).transition is None
    assert engine.breaker.is_open

    reset = engine.reset(portfolio=state, now_ms=NOW_MS + 1)
    assert reset.transition is not None
    assert reset.transition.kind is TransitionKind.RESET
    assert reset.transition.message.startswith("reset by command")
    assert reset.portfolio.trades.loss_streak == 0
    assert reset.portfolio.trades.losses == 5  # Kelly still learns from them
    assert not engine.breaker.is_open
    decision = engine.evaluate(
        intent=intent(), portfolio=reset.portfolio, market=market(), now_ms=NOW_MS + 2
    )
    assert decision.rejected_by is not RiskLayer.CIRCUIT_BREAKER


def test_reset_of_a_closed_breaker_changes_nothing() -> None:
    engine = RiskEngine(limits=RiskLimits())
    state = portfolio(equity=9_000.0, peak=10_000.0)
    assert engine.reset(portfolio=state, now_ms=NOW_MS) == BreakerUpdate(
        portfolio=state, transition=None
    )


def test_a_blown_account_cannot_be_re_armed() -> None:
    engine = RiskEngine(limits=RiskLimits())
    tripped = mark(engine, portfolio(), -50.0)
    with pytest.raises(RiskInputError, match="cannot re-arm"):
        engine.reset(portfolio=tripped.portfolio, now_ms=NOW_MS + 1)


def test_a_new_bot_starts_with_baselines_at_its_equity() -> None:
    state = PortfolioState.opening(equity=5_000.0, now_ms=NOW_MS)
    assert (state.peak_equity, state.day_start_equity, state.utc_day) == (5_000.0, 5_000.0, 20_000)
    assert (state.positions, state.trades.trades) == ((), 0)


def test_inconsistent_portfolios_are_rejected() -> None:
    with pytest.raises(RiskInputError, match="above the high-water mark"):
        portfolio(equity=11_000.0, peak=10_000.0)
    twice = (
        RiskPosition(symbol="BTC/USDT", quantity=1.0, entry_price=100.0, mark_price=100.0),
        RiskPosition(symbol="BTC/USDT", quantity=-1.0, entry_price=100.0, mark_price=100.0),
    )
    with pytest.raises(RiskInputError, match="netted per symbol"):
        portfolio(positions=twice)
    with pytest.raises(RiskInputError, match="quantity must be finite and non-zero"):
        RiskPosition(symbol="BTC/USDT", quantity=0.0, entry_price=100.0, mark_price=100.0)
