"""RiskEngine.evaluate: sizing, ATR stops and targets, and each limit layer's refusal."""

from __future__ import annotations

import numpy as np
import pytest
from risk_fixtures import (
    NOW_MS,
    alternating_returns,
    intent,
    market,
    portfolio,
    symbol_risk,
)
from tradefleet_runtime.risk import (
    BreakerReason,
    BreakerState,
    BreakerTrip,
    RiskEngine,
    RiskInputError,
    RiskLayer,
    RiskLimits,
    RiskPosition,
    RiskRegime,
    Side,
    SizeLimit,
    TradeIntent,
    TradeStats,
)

pytestmark = pytest.mark.unit

# Equity 10 000, no trades: K = 1/6, so a quarter-Kelly position is 10 000 / 24 = 416.67.
QUARTER_KELLY_NOTIONAL = 10_000 / 24


def engine(**spec: object) -> RiskEngine:
    return RiskEngine(limits=RiskLimits.from_spec(spec))


def test_quarter_kelly_sizes_a_new_bot_from_the_prior() -> None:
    decision = engine().evaluate(
        intent=intent(), portfolio=portfolio(), market=market(), now_ms=NOW_MS
    )
    assert decision.approved
    assert decision.sized_by is SizeLimit.KELLY
    assert decision.notional == pytest.approx(QUARTER_KELLY_NOTIONAL)
    assert decision.quantity == pytest.approx(QUARTER_KELLY_NOTIONAL / 100.0)
    assert decision.regime is RiskRegime.NORMAL
    assert decision.rejected_by is None
    assert decision.decided_at_ms == NOW_MS


def test_an_approval_explains_its_size_stop_and_target() -> None:
    approved = engine().evaluate(
        intent=intent(), portfolio=portfolio(), market=market(), now_ms=NOW_MS
    )
    assert approved.refusal == ""
    assert approved.reason == (
        "buy 4.16667 BTC/USDT (416.67 notional, sized by kelly, normal regime), stop 98, target 103"
    )
    short = engine().evaluate(
        intent=intent(side=Side.SELL),
        portfolio=portfolio(),
        market=market(symbol_risk(atr=30.0)),
        now_ms=NOW_MS,
    )
    assert short.reason == (
        "sell 3.33333 BTC/USDT (333.33 notional, sized by risk_per_trade, normal regime), "
        "stop 160, target 10"
    )


def test_the_kelly_estimate_follows_the_trade_history() -> None:
    risk = engine()
    fresh = risk.evaluate(intent=intent(), portfolio=portfolio(), market=market(), now_ms=NOW_MS)
    losing = portfolio(
        trades=TradeStats(
            trades=10, wins=2, losses=8, gross_win_return=0.02, gross_loss_return=0.08
        )
    )
    after_losses = risk.evaluate(intent=intent(), portfolio=losing, market=market(), now_ms=NOW_MS)
    again = risk.evaluate(intent=intent(), portfolio=portfolio(), market=market(), now_ms=NOW_MS)
    assert after_losses.kelly.trades == 10
    assert after_losses.kelly.full_kelly < fresh.kelly.full_kelly
    assert again.kelly == fresh.kelly


def test_wide_stops_make_the_risk_budget_bind() -> None:
    # ATR 30 → stop distance 60; a 2 % risk budget (200) buys 200 / 60 units.
    decision = engine().evaluate(
        intent=intent(), portfolio=portfolio(), market=market(symbol_risk(atr=30.0)), now_ms=NOW_MS
    )
    assert decision.sized_by is SizeLimit.RISK_PER_TRADE
    assert decision.quantity == pytest.approx(200.0 / 60.0)
    assert decision.stop_price == pytest.approx(40.0)


def test_kelly_is_capped_at_max_position_pct() -> None:
    decision = engine(kellyFraction=1.0).evaluate(
        intent=intent(), portfolio=portfolio(), market=market(), now_ms=NOW_MS
    )
    # Full Kelly would be 1 666.67; the cap is 10 % of 10 000.
    assert decision.sized_by is SizeLimit.MAX_POSITION
    assert decision.notional == pytest.approx(1_000.0)
    assert decision.quantity == pytest.approx(10.0)


def test_regime_and_fusion_multipliers_scale_size_and_stops() -> None:
    decision = engine().evaluate(
        intent=intent(size_multiplier=0.5),
        portfolio=portfolio(),
        market=market(label="bullish_calm"),
        now_ms=NOW_MS,
    )
    # Trending: size × 1.2 (× fusion 0.5), stops and targets × 0.8.
    assert decision.regime is RiskRegime.TRENDING
    assert decision.notional == pytest.approx(QUARTER_KELLY_NOTIONAL * 1.2 * 0.5)
    assert decision.stop_price == pytest.approx(100.0 - 2.0 * 0.8)
    assert decision.target_price == pytest.approx(100.0 + 3.0 * 0.8)


@pytest.mark.parametrize(
    ("label", "side", "stop", "target"),
    [
        ("squeeze", Side.BUY, 98.0, 103.0),  # ATR 1 × 2 stop, × 3 target
        ("squeeze", Side.SELL, 102.0, 97.0),
        ("bearish_volatile", Side.BUY, 97.0, 104.5),  # volatile widens both by 1.5
        ("bearish_volatile", Side.SELL, 103.0, 95.5),
    ],
)
def test_atr_stops_and_targets(label: str, side: Side, stop: float, target: float) -> None:
    decision = engine().evaluate(
        intent=intent(side=side), portfolio=portfolio(), market=market(label=label), now_ms=NOW_MS
    )
    assert decision.stop_price == pytest.approx(stop)
    assert decision.target_price == pytest.approx(target)


def test_fusion_percentages_widen_but_never_tighten_the_atr_levels() -> None:
    decision = engine().evaluate(
        intent=intent(stop_pct=3.0, target_pct=2.0),
        portfolio=portfolio(),
        market=market(),
        now_ms=NOW_MS,
    )
    assert decision.stop_price == pytest.approx(97.0)  # 3 % beats 2 × ATR
    assert decision.target_price == pytest.approx(103.0)  # 3 × ATR beats 2 %


def test_an_open_circuit_breaker_refuses_with_its_reason() -> None:
    trip = BreakerTrip(
        reason=BreakerReason.DAILY_LOSS, message="daily loss 10.00% …", tripped_at_ms=NOW_MS
    )
    decision = RiskEngine(limits=RiskLimits(), breaker=BreakerState(trip=trip)).evaluate(
        intent=intent(), portfolio=portfolio(), market=market(), now_ms=NOW_MS
    )
    assert not decision.approved
    assert decision.rejected_by is RiskLayer.CIRCUIT_BREAKER
    assert decision.reason == "circuit breaker open (daily_loss): daily loss 10.00% …"
    assert (decision.quantity, decision.notional, decision.stop_price) == (0.0, 0.0, None)


CRASH_RETURNS = np.concatenate([alternating_returns(step=0.001, length=36), np.full(12, -0.01)])


def test_emergency_layer_refuses_longs_in_a_crash() -> None:
    decision = engine().evaluate(
        intent=intent(),
        portfolio=portfolio(),
        market=market(symbol_risk(returns=CRASH_RETURNS), label="bearish_volatile"),
        now_ms=NOW_MS,
    )
    assert decision.rejected_by is RiskLayer.EMERGENCY
    assert decision.regime is RiskRegime.CRASH
    assert "moved -11.31% over the last 12 bars" in decision.reason
    assert "no new longs" in decision.reason


def test_a_short_in_a_crash_is_sized_by_the_crash_profile() -> None:
    decision = engine().evaluate(
        intent=intent(side=Side.SELL),
        portfolio=portfolio(),
        market=market(symbol_risk(returns=CRASH_RETURNS), label="bearish_volatile"),
        now_ms=NOW_MS,
    )
    assert decision.approved
    assert decision.regime is RiskRegime.CRASH
    assert decision.notional == pytest.approx(QUARTER_KELLY_NOTIONAL * 0.2)
    assert decision.stop_price == pytest.approx(100.0 + 2.0 * 2.0)


def test_volatility_layer_refuses_during_a_volatility_shock() -> None:
    returns = np.concatenate(
        [alternating_returns(step=0.001, length=36), alternating_returns(step=0.005, length=12)]
    )
    decision = engine().evaluate(
        intent=intent(),
        portfolio=portfolio(),
        market=market(symbol_risk(returns=returns)),
        now_ms=NOW_MS,
    )
    # Recent std 0.005·√(12/11) over baseline 0.001·√(36/35) = 5.15.
    assert decision.rejected_by is RiskLayer.VOLATILITY
    assert "5.15× as volatile as the baseline (limit 3×)" in decision.reason


def test_volatility_layer_refuses_a_long_whose_stop_would_be_below_zero() -> None:
    decision = engine().evaluate(
        intent=intent(), portfolio=portfolio(), market=market(symbol_risk(atr=60.0)), now_ms=NOW_MS
    )
    assert decision.rejected_by is RiskLayer.VOLATILITY
    assert "stop distance 120 is not below the entry price 100" in decision.reason


def test_position_size_layer_refuses_without_an_edge() -> None:
    losing = TradeStats(trades=100, wins=30, losses=70, gross_win_return=0.3, gross_loss_return=0.7)
    decision = engine().evaluate(
        intent=intent(), portfolio=portfolio(trades=losing), market=market(), now_ms=NOW_MS
    )
    assert decision.rejected_by is RiskLayer.POSITION_SIZE
    assert decision.reason == (
        "no edge: Kelly -0.2821 from win rate 33.3% and payoff ratio 1.08 over 100 trades"
    )
    assert decision.kelly.full_kelly < 0


def test_position_size_layer_refuses_a_zero_size() -> None:
    decision = engine().evaluate(
        intent=intent(size_multiplier=0.0), portfolio=portfolio(), market=market(), now_ms=NOW_MS
    )
    assert decision.rejected_by is RiskLayer.POSITION_SIZE
    assert decision.reason == (
        "size is zero (kellyFraction 0.25, normal position multiplier 1, fusion size multiplier 0)"
    )


def position(symbol: str, quantity: float, price: float) -> RiskPosition:
    return RiskPosition(symbol=symbol, quantity=quantity, entry_price=price, mark_price=price)


def test_total_exposure_layer_refuses_beyond_the_exposure_limit() -> None:
    held = (position("ETH/USDT", 2.4, 2_500.0), position("SOL/USDT", 37.0, 100.0))
    decision = engine().evaluate(
        intent=intent(), portfolio=portfolio(positions=held), market=market(), now_ms=NOW_MS
    )
    # 6 000 + 3 700 + 416.67 of 10 000 equity.
    assert decision.rejected_by is RiskLayer.TOTAL_EXPOSURE
    assert "total exposure would be 101.17% of equity (limit 100%)" in decision.reason


def test_total_exposure_layer_refuses_beyond_the_profiles_position_count() -> None:
    held = tuple(
        position(f"{coin}/USDT", 1.0, 10.0) for coin in ("ETH", "SOL", "ADA", "XRP", "DOT")
    )
    decision = engine().evaluate(
        intent=intent(),
        portfolio=portfolio(positions=held),
        market=market(label="bearish_volatile"),
        now_ms=NOW_MS,
    )
    assert decision.rejected_by is RiskLayer.TOTAL_EXPOSURE
    assert "6 open positions would exceed the volatile profile's 5" in decision.reason


def test_single_asset_layer_nets_positions_across_quote_currencies() -> None:
    held = (position("BTC/USDC", 46.0, 100.0),)
    both = market(symbol_risk(), symbol_risk(symbol="BTC/USDC"))
    long = engine().evaluate(
        intent=intent(), portfolio=portfolio(positions=held), market=both, now_ms=NOW_MS
    )
    assert long.rejected_by is RiskLayer.SINGLE_ASSET_EXPOSURE
    assert "BTC exposure would be 50.17% of equity (limit 50%)" in long.reason
    short = engine().evaluate(
        intent=intent(side=Side.SELL),
        portfolio=portfolio(positions=held),
        market=both,
        now_ms=NOW_MS,
    )
    assert short.approved


def test_drawdown_layer_refuses_a_trade_whose_stop_out_would_reach_max_drawdown() -> None:
    # 19.5 % down → recovery profile: 0.7 × quarter Kelly of 8 050, stop 10 × 2 × 1.3 = 26.
    decision = engine().evaluate(
        intent=intent(),
        portfolio=portfolio(equity=8_050.0, peak=10_000.0),
        market=market(symbol_risk(atr=10.0)),
        now_ms=NOW_MS,
    )
    loss = 8_050.0 / 24 * 0.7 / 100.0 * 26.0
    assert decision.regime is RiskRegime.RECOVERY
    assert decision.rejected_by is RiskLayer.DRAWDOWN
    assert decision.reason == (
        f"a stop-out (−{loss:.2f}) would take drawdown to {(1_950.0 + loss) / 100:.2f}% (limit 20%)"
    )
    fits = engine().evaluate(
        intent=intent(),
        portfolio=portfolio(equity=8_100.0, peak=10_000.0),
        market=market(symbol_risk(atr=10.0)),
        now_ms=NOW_MS,
    )
    assert fits.approved  # 19 % + 0.61 % stays below 20 %


def test_drawdown_layer_refuses_a_trade_whose_stop_out_would_reach_the_daily_loss_limit() -> None:
    decision = engine().evaluate(
        intent=intent(),
        portfolio=portfolio(equity=9_020.0, peak=10_000.0, day_start=10_000.0),
        market=market(symbol_risk(atr=20.0)),
        now_ms=NOW_MS,
    )
    # Recovery risk budget 1.5 % × 0.7 × 9 020 = 94.71 lost at the stop, on top of 9.8 %.
    assert decision.rejected_by is RiskLayer.DRAWDOWN
    assert decision.reason == "a stop-out (−94.71) would take today's loss to 10.75% (limit 10%)"


def test_var_layer_refuses_beyond_the_daily_var_limit() -> None:
    volatile = market(symbol_risk(atr=5.0, returns=alternating_returns(step=0.05)))
    decision = engine(maxDailyVarPct=0.3).evaluate(
        intent=intent(), portfolio=portfolio(), market=volatile, now_ms=NOW_MS
    )
    # 1.645 × 0.05·√(48/47) × 4.17 % of equity = 0.35 %.
    assert decision.rejected_by is RiskLayer.DAILY_VAR
    assert decision.reason == "daily 95% VaR would be 0.35% of equity (limit 0.3%)"
    at_99 = engine(maxDailyVarPct=0.45, varConfidencePct=99).evaluate(
        intent=intent(), portfolio=portfolio(), market=volatile, now_ms=NOW_MS
    )
    assert at_99.reason == "daily 99% VaR would be 0.49% of equity (limit 0.45%)"


def test_correlation_layer_refuses_a_position_that_moves_with_an_open_one() -> None:
    held = (position("ETH/USDT", 0.1, 2_500.0),)
    twins = market(symbol_risk(), symbol_risk(symbol="ETH/USDT", atr=25.0))
    long = engine().evaluate(
        intent=intent(), portfolio=portfolio(positions=held), market=twins, now_ms=NOW_MS
    )
    assert long.rejected_by is RiskLayer.CORRELATION
    assert "move with the open long ETH/USDT (P&L correlation 1.00, limit 0.8)" in long.reason
    hedge = engine().evaluate(
        intent=intent(side=Side.SELL),
        portfolio=portfolio(positions=held),
        market=twins,
        now_ms=NOW_MS,
    )
    assert hedge.approved


def test_missing_market_data_and_bad_intents_raise_typed_errors() -> None:
    with pytest.raises(RiskInputError, match="no market risk data for 'ETH/USDT'"):
        engine().evaluate(
            intent=intent(symbol="ETH/USDT"), portfolio=portfolio(), market=market(), now_ms=NOW_MS
        )
    with pytest.raises(RiskInputError, match="12-bar recent window, recentWindowBars is 6"):
        engine(recentWindowBars=6).evaluate(
            intent=intent(), portfolio=portfolio(), market=market(), now_ms=NOW_MS
        )
    with pytest.raises(RiskInputError, match="price must be finite and > 0"):
        TradeIntent(symbol="BTC/USDT", side=Side.BUY, price=0.0)
    with pytest.raises(RiskInputError, match="stop % must be finite and > 0"):
        TradeIntent(symbol="BTC/USDT", side=Side.BUY, price=1.0, stop_pct=-1.0)
