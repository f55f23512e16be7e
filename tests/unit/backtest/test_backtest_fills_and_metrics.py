"""Fill and exit rules bar by bar, and the equity-curve figures pinned to hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tradefleet_runtime.backtest.fills import (
    EXIT_NONE,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    exit_trigger,
    risk_sized_quantity,
)
from tradefleet_runtime.backtest.metrics import BacktestMetrics, curve_summary

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("direction", "bar", "expected"),
    [
        # Long, stop 99, target 102.
        (1, (100.0, 101.0, 99.5), (EXIT_NONE, 0.0)),
        (1, (100.0, 101.0, 98.0), (EXIT_STOP_LOSS, 99.0)),
        (1, (100.0, 103.0, 99.5), (EXIT_TAKE_PROFIT, 102.0)),
        (1, (100.0, 103.0, 98.0), (EXIT_STOP_LOSS, 99.0)),  # both touched: the stop wins
        (1, (97.0, 98.0, 96.0), (EXIT_STOP_LOSS, 97.0)),  # gapped below the stop: the open
        (1, (104.0, 105.0, 98.0), (EXIT_TAKE_PROFIT, 104.0)),  # gapped over the target
        # Short, stop 101, target 98.
        (-1, (100.0, 100.5, 99.0), (EXIT_NONE, 0.0)),
        (-1, (100.0, 101.5, 99.0), (EXIT_STOP_LOSS, 101.0)),
        (-1, (100.0, 100.5, 97.0), (EXIT_TAKE_PROFIT, 98.0)),
        (-1, (100.0, 102.0, 97.0), (EXIT_STOP_LOSS, 101.0)),
        (-1, (103.0, 104.0, 102.0), (EXIT_STOP_LOSS, 103.0)),
    ],
)
def test_exit_rules(
    direction: int, bar: tuple[float, float, float], expected: tuple[int, float]
) -> None:
    open_, high, low = bar
    stop, target = (99.0, 102.0) if direction > 0 else (101.0, 98.0)
    assert exit_trigger(direction, open_, high, low, stop, target) == expected


def test_risk_sizing_risks_the_budget_at_the_stop_and_caps_leverage() -> None:
    # 1 % of 10 000 at risk over a 2 % stop: notional 5 000 → 50 units at 100.
    assert risk_sized_quantity(10_000.0, 0.01, 0.02, 1.0, 100.0) == pytest.approx(50.0)
    # 2 % over a 0.5 % stop would be 4× equity: capped at 1× (100 units) or 2× (200 units).
    assert risk_sized_quantity(10_000.0, 0.02, 0.005, 1.0, 100.0) == pytest.approx(100.0)
    assert risk_sized_quantity(10_000.0, 0.02, 0.005, 2.0, 100.0) == pytest.approx(200.0)


def test_curve_figures_match_the_definitions() -> None:
    equity = np.array([101.0, 99.99, 102.0, 100.98])
    returns = np.array([0.01, -0.01, 102.0 / 99.99 - 1.0, -0.01])
    periods = 365.0
    sharpe, sortino, max_drawdown = curve_summary(equity, 100.0, periods)
    assert sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(periods))
    downside = math.sqrt((0.01**2 + 0.01**2) / 4)
    assert sortino == pytest.approx(returns.mean() / downside * math.sqrt(periods))
    # Peaks 101 then 102; the deepest fall is 101 → 99.99, 1 %.
    assert max_drawdown == pytest.approx(0.01)


def test_a_curve_that_never_loses_has_infinite_sortino_and_no_drawdown() -> None:
    sharpe, sortino, max_drawdown = curve_summary(np.array([100.0, 101.0, 103.0]), 100.0, 1.0)
    assert sortino == math.inf
    assert max_drawdown == 0.0
    assert sharpe > 0.0
    assert curve_summary(np.array([100.0, 100.0]), 100.0, 1.0) == (0.0, 0.0, 0.0)


def test_metrics_from_totals() -> None:
    metrics = BacktestMetrics.from_totals(
        bars=200,
        initial_equity=1_000.0,
        final_equity=1_050.0,
        trades=4,
        wins=3,
        losses=1,
        gross_profit=90.0,
        gross_loss=40.0,
        max_drawdown=0.05,
        sharpe=1.5,
        sortino=math.inf,
        exposure_bars=50,
    )
    assert metrics.total_return_pct == pytest.approx(5.0)
    assert metrics.win_rate == 0.75
    assert (metrics.average_win, metrics.average_loss) == (30.0, -40.0)
    assert metrics.profit_factor == pytest.approx(2.25)
    assert (metrics.max_drawdown_pct, metrics.exposure_pct) == (5.0, 25.0)
    as_json = metrics.to_dict()
    assert as_json["sortino"] is None  # JSON has no infinity
    assert as_json["profitFactor"] == pytest.approx(2.25)
