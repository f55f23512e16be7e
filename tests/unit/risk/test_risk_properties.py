"""Property tests: whatever the inputs, sizes stay within max position % and the risk budget."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from risk_fixtures import NOW_MS, alternating_returns, market, portfolio, symbol_risk
from tradefleet_runtime.risk import RiskEngine, RiskLimits, Side, TradeIntent, TradeStats

pytestmark = pytest.mark.unit


@st.composite
def trade_histories(draw: st.DrawFn) -> TradeStats:
    wins = draw(st.integers(min_value=0, max_value=300))
    losses = draw(st.integers(min_value=0, max_value=300))
    average_win = draw(st.floats(min_value=0.001, max_value=0.2))
    average_loss = draw(st.floats(min_value=0.001, max_value=0.2))
    return TradeStats(
        trades=wins + losses,
        wins=wins,
        losses=losses,
        gross_win_return=wins * average_win,
        gross_loss_return=losses * average_loss,
        loss_streak=draw(st.integers(min_value=0, max_value=losses)),
    )


@settings(max_examples=300, deadline=None)
@given(
    equity=st.floats(min_value=100.0, max_value=1e7),
    drawdown=st.floats(min_value=0.0, max_value=0.19),
    trades=trade_histories(),
    price=st.floats(min_value=0.01, max_value=1e5),
    atr_fraction=st.floats(min_value=1e-4, max_value=0.5),
    return_step=st.floats(min_value=1e-4, max_value=0.05),
    side=st.sampled_from(Side),
    size_multiplier=st.just(0.0) | st.floats(min_value=1e-3, max_value=3.0),
    stop_pct=st.none() | st.floats(min_value=0.1, max_value=20.0),
    label=st.sampled_from(["bullish_calm", "bearish_volatile", "squeeze", "unknown"]),
    momentum=st.floats(min_value=-1.0, max_value=1.0),
    kelly_fraction=st.floats(min_value=0.0, max_value=1.0, exclude_min=True),
    max_position_pct=st.floats(min_value=0.1, max_value=100.0),
)
def test_size_is_bounded_by_max_position_and_the_risk_budget(
    *,
    equity: float,
    drawdown: float,
    trades: TradeStats,
    price: float,
    atr_fraction: float,
    return_step: float,
    side: Side,
    size_multiplier: float,
    stop_pct: float | None,
    label: str,
    momentum: float,
    kelly_fraction: float,
    max_position_pct: float,
) -> None:
    limits = RiskLimits(
        kelly_fraction=kelly_fraction,
        max_position_pct=max_position_pct,
        max_single_asset_exposure_pct=100.0,
        max_total_exposure_pct=100.0,
    )
    decision = RiskEngine(limits=limits).evaluate(
        intent=TradeIntent(
            symbol="BTC/USDT",
            side=side,
            price=price,
            size_multiplier=size_multiplier,
            stop_pct=stop_pct,
        ),
        portfolio=portfolio(equity=equity, peak=equity / (1.0 - drawdown), trades=trades),
        market=market(
            symbol_risk(atr=atr_fraction * price, returns=alternating_returns(step=return_step)),
            label=label,
            momentum=momentum,
        ),
        now_ms=NOW_MS,
    )
    assert decision.quantity >= 0.0
    assert decision.notional >= 0.0
    assert decision.notional <= equity * max_position_pct / 100.0 * (1.0 + 1e-12)
    if decision.approved:
        assert decision.stop_price is not None
        assert decision.notional == pytest.approx(decision.quantity * price)
        multipliers = decision.profile.position_multiplier * size_multiplier
        risk_budget = decision.profile.risk_per_trade_pct / 100.0 * equity * multipliers
        assert decision.quantity * abs(price - decision.stop_price) <= risk_budget * (1.0 + 1e-9)
    else:
        assert decision.quantity == 0.0
        assert decision.rejected_by is not None
