"""Objectives, random and Bayesian search, walk-forward without look-ahead, the optimization Job."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tradefleet_runtime.backtest.data import BarSeries, synthetic_bars
from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.backtest.metrics import BacktestMetrics
from tradefleet_runtime.backtest.optimize import run_optimization_job
from tradefleet_runtime.backtest.search import (
    Objective,
    ObjectiveSpec,
    SearchSpace,
    bayesian_search,
    random_search,
)
from tradefleet_runtime.backtest.walk_forward import HELD_UP_RATIO, Verdict, walk_forward
from tradefleet_runtime.strategies.parameters import StrategyParameters

pytestmark = pytest.mark.unit

# 500 bars, +4 % (8 % per 1,000 bars), 12 trades of which 7 won, 6 % max drawdown, Sharpe 2.
METRICS = BacktestMetrics.from_totals(
    bars=500,
    initial_equity=10_000.0,
    final_equity=10_400.0,
    trades=12,
    wins=7,
    losses=5,
    gross_profit=900.0,
    gross_loss=500.0,
    max_drawdown=0.06,
    sharpe=2.0,
    sortino=3.0,
    exposure_bars=250,
)


@pytest.mark.parametrize(
    ("objective", "expected"),
    [
        (Objective.SHARPE, 2.0 - 0.5 * 6.0 / 10.0),
        (Objective.PNL, 8.0 - 0.5 * 6.0),
        (Objective.COMPOSITE, 2.0 + 8.0 / 10.0 + 2.0 * (7 / 12 - 0.5) - 0.5 * 6.0 / 10.0),
    ],
)
def test_objectives_follow_their_formulas(objective: Objective, expected: float) -> None:
    spec = ObjectiveSpec(objective=objective, drawdown_penalty=0.5, min_trades=5)
    assert spec.score(metrics=METRICS) == pytest.approx(expected)


def test_too_few_trades_discard_a_trial() -> None:
    assert ObjectiveSpec(min_trades=13).score(metrics=METRICS) == -math.inf
    assert ObjectiveSpec(min_trades=13).score(metrics=METRICS, min_trades=12) > -math.inf


@pytest.fixture(scope="module")
def bars() -> BarSeries:
    return synthetic_bars(seed=21, n_bars=2_400)


def test_random_search_is_seeded_stays_in_its_space_and_keeps_the_best(bars: BarSeries) -> None:
    spec = ObjectiveSpec(objective=Objective.SHARPE, min_trades=5)
    first = random_search(bars=bars, trials=120, spec=spec, seed=4)
    again = random_search(bars=bars, trials=120, spec=spec, seed=4)
    other = random_search(bars=bars, trials=120, spec=spec, seed=5)
    assert [t.parameters for t in first.trials] == [t.parameters for t in again.trials]
    assert [t.parameters for t in first.trials] != [t.parameters for t in other.trials]
    space = SearchSpace()
    for trial in first.trials:
        p = trial.parameters
        assert space.ema_fast[0] <= p.ema_fast < p.ema_slow <= space.ema_slow[1]
        assert space.rsi_period[0] <= p.rsi_period <= space.rsi_period[1]
        assert space.stop_loss_pct[0] <= p.stop_loss_pct <= space.stop_loss_pct[1]
        assert space.take_profit_pct[0] <= p.take_profit_pct <= space.take_profit_pct[1]
        assert round(p.risk_per_trade_pct * 100) == pytest.approx(p.risk_per_trade_pct * 100)
        assert trial.valid == (trial.metrics.trades >= 5)
    assert first.best is not None
    assert first.best.objective == max(t.objective for t in first.trials if t.valid)


def test_bayesian_search_is_seeded(bars: BarSeries) -> None:
    spec = ObjectiveSpec(objective=Objective.COMPOSITE)
    first = bayesian_search(bars=bars, trials=24, spec=spec, seed=9)
    again = bayesian_search(bars=bars, trials=24, spec=spec, seed=9)
    assert len(first.trials) == 24
    assert [t.parameters for t in first.trials] == [t.parameters for t in again.trials]
    assert first.best is not None and first.best.valid


def with_spike(bars: BarSeries, *, index: int) -> BarSeries:
    """The same bars with one absurd spike (close ×5) at ``index``."""
    close = bars.close.copy()
    high = bars.high.copy()
    close[index] *= 5.0
    high[index] = close[index]
    return BarSeries(
        timestamp_ms=bars.timestamp_ms,
        open=bars.open,
        high=high,
        low=bars.low,
        close=close,
        volume=bars.volume,
        bar_seconds=bars.bar_seconds,
    )


def test_walk_forward_never_looks_past_a_train_window(bars: BarSeries) -> None:
    spec = ObjectiveSpec(objective=Objective.SHARPE, min_trades=3)
    settings = {"train_bars": 1_000, "test_bars": 400, "trials": 60, "spec": spec, "seed": 2}
    plain = walk_forward(bars=bars, **settings)  # type: ignore[arg-type]
    # A spike in the first test window, after the first train window ends at bar 1,000.
    spiked = walk_forward(bars=with_spike(bars, index=1_100), **settings)  # type: ignore[arg-type]
    first, first_spiked = plain.windows[0], spiked.windows[0]
    assert (first.train_start, first.train_stop, first.test_stop) == (0, 1_000, 1_400)
    assert first.best is not None and first_spiked.best is not None
    assert first_spiked.best.parameters == first.best.parameters
    assert first_spiked.best.objective == first.best.objective
    # The spike is out of sample for window 0, and does show there.
    assert first.out_of_sample is not None and first_spiked.out_of_sample is not None
    assert first_spiked.out_of_sample.metrics != first.out_of_sample.metrics


def test_walk_forward_report_sets_in_sample_against_out_of_sample(bars: BarSeries) -> None:
    report = walk_forward(
        bars=bars,
        train_bars=800,
        test_bars=400,
        step_bars=400,
        trials=40,
        spec=ObjectiveSpec(min_trades=3),
        seed=1,
    )
    assert [w.train_start for w in report.windows] == [0, 400, 800, 1_200]
    scored = [w for w in report.windows if w.best is not None and w.out_of_sample is not None]
    mean_in = float(np.mean([w.best.objective for w in scored]))  # type: ignore[union-attr]
    mean_out = float(np.mean([w.out_of_sample.objective for w in scored]))  # type: ignore[union-attr]
    assert report.mean_in_sample == pytest.approx(mean_in)
    assert report.mean_out_of_sample == pytest.approx(mean_out)
    if mean_in > 0:
        assert report.degradation_ratio == pytest.approx(mean_out / mean_in)
        expected = (
            Verdict.FAILED
            if mean_out <= 0
            else Verdict.HELD_UP
            if mean_out / mean_in >= HELD_UP_RATIO
            else Verdict.DEGRADED
        )
        assert report.verdict is expected
    json.dumps(report.to_dict(), allow_nan=False)


def test_walk_forward_needs_room_for_one_window(bars: BarSeries) -> None:
    with pytest.raises(BacktestConfigError, match="cannot hold one window"):
        walk_forward(
            bars=bars, train_bars=2_000, test_bars=500, trials=5, spec=ObjectiveSpec(), seed=0
        )


def test_the_optimization_job_reports_json_with_a_crd_shaped_winner(bars: BarSeries) -> None:
    current = {"emaFast": 12, "emaSlow": 26, "rsiPeriod": 14, "bollingerPeriod": 30}
    result = run_optimization_job(
        bars=bars,
        strategy_name="ema_rsi",
        current_parameters=current,
        objective="sharpe",
        trials=80,
        drawdown_penalty=0.5,
        min_trades=5,
        seed=3,
    )
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert (document["trainBars"], document["testBars"]) == (1_680, 720)
    assert result.best_parameters is not None
    assert tuple(result.best_parameters) == (
        "emaFast", "emaSlow", "rsiPeriod", "rsiOverbought", "rsiOversold", "stopLossPct",
        "takeProfitPct", "riskPerTradePct",
    )  # fmt: skip
    assert StrategyParameters.from_spec(result.best_parameters)  # a valid spec
    assert result.current_parameters["emaFast"] == 12
    assert result.best_out_of_sample is not None
    assert result.beats_current_out_of_sample == (
        result.best_out_of_sample.objective > result.current_out_of_sample.objective
    )
    assert document["beatsCurrentOutOfSample"] is result.beats_current_out_of_sample
    assert ("roll out" in result.reason) == result.beats_current_out_of_sample


def test_the_optimization_job_keeps_the_current_parameters_without_a_valid_trial(
    bars: BarSeries,
) -> None:
    result = run_optimization_job(
        bars=bars,
        strategy_name="ema_rsi",
        current_parameters={},
        objective="pnl",
        trials=10,
        drawdown_penalty=0.0,
        min_trades=10_000,
        seed=0,
    )
    assert result.best_parameters is None
    assert not result.beats_current_out_of_sample
    assert "no trial reached 10000 trades" in result.reason
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"objective": "calmar"}, "objective must be one of sharpe, pnl, composite"),
        ({"method": "grid"}, "method must be one of random, bayesian"),
        ({"trials": 0}, "trials must be an integer"),
        ({"drawdown_penalty": -1.0}, "drawdown penalty"),
    ],
)
def test_bad_job_settings_are_refused(
    bars: BarSeries, settings: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {
        "bars": bars,
        "strategy_name": "ema_rsi",
        "current_parameters": {},
        "objective": "sharpe",
        "trials": 5,
        "drawdown_penalty": 0.5,
        "min_trades": 5,
        "seed": 0,
    }
    arguments.update(settings)
    with pytest.raises(BacktestConfigError, match=message):
        run_optimization_job(**arguments)  # type: ignore[arg-type]
