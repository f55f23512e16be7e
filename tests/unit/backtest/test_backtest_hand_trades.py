"""Event-driven backtest of ema_rsi on 20 hand-made bars; every trade worked out by hand.

Parameters: EMA 2 / 3, RSI(2), overbought 85, oversold 15, stop 1 %, target 2 %, risk 1 %
per trade. Risk 1 % over a 1 % stop is 1× equity, so each position's notional is the
equity at entry and its quantity equity / entry price. No fees or slippage in the first
test, so every fill is a bar's open, a stop, a target or the last close.

Signals on bar t's close fill at bar t+1's open; stops and targets are watched from the
bar after the entry bar; a gap through the stop fills at the open; the stop wins when a
bar touches both.
"""

from __future__ import annotations

import numpy as np
import pytest
from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.engine import run_backtest
from tradefleet_runtime.backtest.grid import grid_backtest
from tradefleet_runtime.backtest.model import BacktestConfig, ExitReason
from tradefleet_runtime.strategies.parameters import StrategyParameters

pytestmark = pytest.mark.unit

# (open, high, low, close)
BARS = [
    (100.0, 100.0, 100.0, 100.0),  # 0
    (100.0, 102.0, 100.0, 102.0),  # 1  EMA2 seeds at 101
    (102.0, 104.0, 102.0, 104.0),  # 2  EMA2 103 > EMA3 102, RSI 100 > 85 → fallback short
    (104.0, 105.0, 103.5, 105.0),  # 3  short fills at 104: stop 105.04, target 101.92
    (106.0, 106.0, 104.0, 104.0),  # 4  opens above the stop → out at 106; then EMA2 104.11 >
    #                                    EMA3 103.75, RSI 60 → trend long
    (104.0, 104.0, 102.0, 103.0),  # 5  long fills at 104: stop 102.96 (this bar's low 102 is
    #                                    not watched: it is the entry bar), target 106.08
    (103.0, 105.0, 103.0, 105.0),  # 6
    (105.0, 105.0, 104.0, 104.5),  # 7
    (104.5, 107.0, 104.5, 107.0),  # 8  high 107 reaches the target 106.08; then EMA2 106.16 >
    #                                    EMA3 105.67 but RSI 87.6 > 85 → fallback short
    (107.0, 107.5, 106.0, 106.5),  # 9  short fills at 107: stop 108.07, target 104.86
    (106.5, 109.0, 104.5, 108.0),  # 10 touches both 108.07 and 104.86: the stop wins; then
    #                                    RSI 86.4 > 85 → fallback short
    (108.0, 108.0, 106.0, 107.0),  # 11 short fills at 108: stop 109.08, target 105.84
    (107.0, 107.0, 105.0, 106.0),  # 12 low 105 reaches the target; then EMA2 106.38 <
    #                                    EMA3 106.51, RSI 26.3 > 15 → trend short
    (106.0, 106.0, 104.0, 105.0),  # 13 short fills at 106: stop 107.06, target 103.88
    (105.0, 105.0, 103.0, 104.0),  # 14 low 103 reaches the target; then RSI 7.0 < 15 → the
    #                                    oversold fallback: long
    (104.0, 104.0, 102.0, 103.0),  # 15 long fills at 104: stop 102.96, target 106.08
    (103.0, 104.0, 102.5, 103.5),  # 16 low 102.5 hits the stop; then EMA2 103.50 < EMA3
    #                                    103.72, RSI 35.5 → trend short
    (103.5, 104.0, 102.0, 102.5),  # 17 short fills at 103.5: stop 104.535, target 101.43
    (102.5, 103.0, 101.5, 102.0),  # 18
    (102.0, 102.5, 101.45, 101.5),  # 19 last bar: target 101.43 not reached, closed at 101.5
]
PARAMETERS = StrategyParameters(
    ema_fast=2,
    ema_slow=3,
    rsi_period=2,
    rsi_overbought=85.0,
    rsi_oversold=15.0,
    stop_loss_pct=1.0,
    take_profit_pct=2.0,
    risk_per_trade_pct=1.0,
)


def hand_bars() -> BarSeries:
    table = np.array(BARS)
    return BarSeries(
        timestamp_ms=1_700_000_000_000 + 60_000 * np.arange(len(BARS)),
        open=table[:, 0],
        high=table[:, 1],
        low=table[:, 2],
        close=table[:, 3],
        volume=np.ones(len(BARS)),
        bar_seconds=60,
    )


def expected_trades() -> list[tuple[int, int, int, float, float, ExitReason, float]]:
    """(direction, entry bar, exit bar, entry, exit, reason, PnL), equity compounding."""
    trades = []
    equity = 10_000.0
    for direction, entry_bar, exit_bar, entry, exit_, reason in [
        (-1, 3, 4, 104.0, 106.0, ExitReason.STOP_LOSS),  # gap through the stop
        (1, 5, 8, 104.0, 104.0 * 1.02, ExitReason.TAKE_PROFIT),
        (-1, 9, 10, 107.0, 107.0 * 1.01, ExitReason.STOP_LOSS),  # stop and target touched
        (-1, 11, 12, 108.0, 108.0 * 0.98, ExitReason.TAKE_PROFIT),
        (-1, 13, 14, 106.0, 106.0 * 0.98, ExitReason.TAKE_PROFIT),
        (1, 15, 16, 104.0, 104.0 * 0.99, ExitReason.STOP_LOSS),
        (-1, 17, 19, 103.5, 101.5, ExitReason.END_OF_DATA),
    ]:
        quantity = equity / entry
        pnl = direction * quantity * (exit_ - entry)
        trades.append((direction, entry_bar, exit_bar, entry, exit_, reason, pnl))
        equity += pnl
    return trades


def test_every_trade_matches_the_hand_computation() -> None:
    result = run_backtest(
        bars=hand_bars(),
        strategy_name="ema_rsi",
        parameters=PARAMETERS,
        config=BacktestConfig(fee_pct=0.0, slippage_pct=0.0),
    )
    expected = expected_trades()
    assert len(result.trades) == len(expected)
    for trade, (direction, entry_bar, exit_bar, entry, exit_, reason, pnl) in zip(
        result.trades, expected, strict=True
    ):
        assert (trade.direction, trade.entry_index, trade.exit_index) == (
            direction,
            entry_bar,
            exit_bar,
        )
        assert trade.entry_price == pytest.approx(entry, rel=1e-12)
        assert trade.exit_price == pytest.approx(exit_, rel=1e-12)
        assert trade.exit_reason is reason
        assert trade.pnl == pytest.approx(pnl, rel=1e-9)
        assert trade.stop_price == pytest.approx(entry * (1 - 0.01 * direction), rel=1e-12)
        assert trade.target_price == pytest.approx(entry * (1 + 0.02 * direction), rel=1e-12)
    assert "fallback short" in result.trades[0].entry_reason
    assert "trend long" in result.trades[1].entry_reason


def test_the_summary_figures_follow_from_the_hand_trades() -> None:
    result = run_backtest(
        bars=hand_bars(),
        strategy_name="ema_rsi",
        parameters=PARAMETERS,
        config=BacktestConfig(fee_pct=0.0, slippage_pct=0.0),
    )
    pnls = [trade[-1] for trade in expected_trades()]
    wins = [pnl for pnl in pnls if pnl > 0]
    losses = [pnl for pnl in pnls if pnl < 0]
    metrics = result.metrics
    assert metrics.total_pnl == pytest.approx(sum(pnls), rel=1e-9)
    assert metrics.final_equity == pytest.approx(10_000.0 + sum(pnls), rel=1e-12)
    assert (metrics.trades, metrics.wins, metrics.losses) == (7, 4, 3)
    assert metrics.win_rate == pytest.approx(4 / 7)
    assert metrics.average_win == pytest.approx(sum(wins) / 4)
    assert metrics.average_loss == pytest.approx(sum(losses) / 3)
    assert metrics.profit_factor == pytest.approx(sum(wins) / -sum(losses))
    # Bars in a position, entry bar to exit bar: 2 + 4 + 2 + 2 + 2 + 2 + 3 = 17 of 20.
    assert metrics.exposure_pct == pytest.approx(85.0)
    # Worst fall from the starting peak, at bar 5's close: the gap exit lost 2/104 of the
    # equity, then the new long at 104 is marked at 103, another 1/104 of what was left.
    assert metrics.max_drawdown_pct == pytest.approx(100 * (1 - (102 / 104) * (103 / 104)))


def test_fees_and_slippage_move_every_fill_against_the_trader() -> None:
    result = run_backtest(
        bars=hand_bars(),
        strategy_name="ema_rsi",
        parameters=PARAMETERS,
        config=BacktestConfig(fee_pct=0.1, slippage_pct=0.05),
    )
    first = result.trades[0]
    # Short entry sells at 104 less 0.05 %; the stop and the size follow that fill.
    entry = 104.0 * (1 - 0.0005)
    quantity = 10_000.0 / entry
    # Bar 4 opens at 106, above the stop 103.948 · 1.01: bought back at 106 plus 0.05 %.
    exit_ = 106.0 * (1 + 0.0005)
    fees = 0.001 * quantity * entry + 0.001 * quantity * exit_
    assert first.entry_price == pytest.approx(entry, rel=1e-12)
    assert first.stop_price == pytest.approx(entry * 1.01, rel=1e-12)
    assert first.quantity == pytest.approx(quantity, rel=1e-12)
    assert first.exit_price == pytest.approx(exit_, rel=1e-12)
    assert first.fees == pytest.approx(fees, rel=1e-12)
    assert first.pnl == pytest.approx(-quantity * (exit_ - entry) - fees, rel=1e-9)
    assert first.exit_reason is ExitReason.STOP_LOSS


def test_the_grid_engine_trades_the_hand_series_identically() -> None:
    config = BacktestConfig(fee_pct=0.1, slippage_pct=0.05)
    event = run_backtest(
        bars=hand_bars(), strategy_name="ema_rsi", parameters=PARAMETERS, config=config
    )
    grid = grid_backtest(bars=hand_bars(), parameters=PARAMETERS, config=config)
    assert [
        (t.entry_index, t.exit_index, t.entry_price, t.exit_price, t.pnl, t.exit_reason)
        for t in grid.trades
    ] == [
        (t.entry_index, t.exit_index, t.entry_price, t.exit_price, t.pnl, t.exit_reason)
        for t in event.trades
    ]
    assert grid.metrics == event.metrics


def test_long_only_skips_short_signals() -> None:
    result = run_backtest(
        bars=hand_bars(),
        strategy_name="ema_rsi",
        parameters=PARAMETERS,
        config=BacktestConfig(fee_pct=0.0, slippage_pct=0.0, allow_short=False),
    )
    assert all(trade.direction == 1 for trade in result.trades)
    # Bar 2's fallback short is skipped; bar 3's signal (RSI 100) is short too; bar 4's
    # trend long is the first trade, as before.
    assert result.trades[0].entry_index == 5
    assert result.rejected_entries["short_disabled"] >= 2
