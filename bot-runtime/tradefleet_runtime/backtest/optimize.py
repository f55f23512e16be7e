"""The optimization Job's decision: search on the older bars, then roll out only a winner that
beats the bot's current parameters on the newer bars held out from the search.

Called by the operator's optimization Job (:mod:`tradefleet_runtime.jobs.optimize`, through
:func:`run_optimization_job`). The search itself is :mod:`tradefleet_runtime.backtest.search`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.backtest.model import DEFAULT_CONFIG, BacktestConfig
from tradefleet_runtime.backtest.search import (
    Objective,
    ObjectiveSpec,
    ScoredRun,
    SearchMethod,
    parse_choice,
    score_sets,
    search,
    tuned_spec,
)
from tradefleet_runtime.strategies.parameters import StrategyParameters


@dataclass(frozen=True, kw_only=True, slots=True)
class OptimizationResult:
    """What the operator's optimization Job reports (``to_dict`` is its JSON).

    The search runs on the first ``train_bars`` bars; both the winner and the
    current parameters are then scored on the ``test_bars`` held out after them
    (min trades scaled to the test length). ``beats_current_out_of_sample`` is the
    roll-out decision: the winner scored strictly higher there.
    """

    objective: Objective
    method: SearchMethod
    seed: int
    trials: int
    valid_trials: int
    train_bars: int
    test_bars: int
    best_parameters: Mapping[str, int | float] | None
    current_parameters: Mapping[str, int | float]
    best_in_sample: ScoredRun | None
    best_out_of_sample: ScoredRun | None
    current_in_sample: ScoredRun
    current_out_of_sample: ScoredRun
    beats_current_out_of_sample: bool
    reason: str

    def to_dict(self) -> dict[str, object]:
        def scored(run: ScoredRun | None) -> dict[str, object] | None:
            return run.to_dict() if run is not None else None

        return {
            "objective": self.objective.value,
            "method": self.method.value,
            "seed": self.seed,
            "trials": self.trials,
            "validTrials": self.valid_trials,
            "trainBars": self.train_bars,
            "testBars": self.test_bars,
            "bestParameters": dict(self.best_parameters) if self.best_parameters else None,
            "currentParameters": dict(self.current_parameters),
            "bestInSample": scored(self.best_in_sample),
            "bestOutOfSample": scored(self.best_out_of_sample),
            "currentInSample": scored(self.current_in_sample),
            "currentOutOfSample": scored(self.current_out_of_sample),
            "beatsCurrentOutOfSample": self.beats_current_out_of_sample,
            "reason": self.reason,
        }


def run_optimization_job(
    *,
    bars: BarSeries,
    strategy_name: str,
    current_parameters: Mapping[str, object],
    objective: str,
    trials: int,
    drawdown_penalty: float,
    min_trades: int,
    seed: int,
    method: str = SearchMethod.RANDOM.value,
    holdout_fraction: float = 0.3,
    config: BacktestConfig = DEFAULT_CONFIG,
) -> OptimizationResult:
    """Search on the older bars, then decide on the held-out newer bars whether to roll out.

    ``strategy_name`` is the bot's plugin (``spec.strategy.name``): the search tunes the
    parameters it reads (``Strategy.tuned_parameters``) and backtests it; ``current_parameters``
    is the bot's ``spec.strategy.parameters`` dict; ``objective``, ``trials``,
    ``drawdown_penalty`` and ``min_trades`` are its ``spec.optimizer``.
    """
    spec = ObjectiveSpec(
        objective=parse_choice(kind=Objective, value=objective, what="objective"),
        drawdown_penalty=drawdown_penalty,
        min_trades=min_trades,
    )
    search_method = parse_choice(kind=SearchMethod, value=method, what="method")
    current = StrategyParameters.from_spec(current_parameters)
    if not (math.isfinite(holdout_fraction) and 0.05 <= holdout_fraction <= 0.8):
        raise BacktestConfigError(
            f"holdout fraction must be within [0.05, 0.8], got {holdout_fraction!r}"
        )
    train_bars = round(len(bars) * (1.0 - holdout_fraction))
    test_bars = len(bars) - train_bars
    if train_bars < 2 or test_bars < 2:
        raise BacktestConfigError(
            f"{len(bars)} bars are too few to split into train and held-out test bars"
        )
    found = search(
        method=search_method,
        bars=bars.window(start=0, stop=train_bars),
        trials=trials,
        spec=spec,
        seed=seed,
        config=config,
        base=current,
        strategy_name=strategy_name,
    )
    (current_in,) = score_sets(
        bars=bars.window(start=0, stop=train_bars),
        parameter_sets=[current],
        spec=spec,
        config=config,
        start_index=0,
        min_trades=spec.min_trades,
        strategy_name=strategy_name,
    )
    test_min_trades = math.ceil(spec.min_trades * test_bars / train_bars)
    contenders = [current] if found.best is None else [current, found.best.parameters]
    current_out, *best_out = score_sets(
        bars=bars,
        parameter_sets=contenders,
        spec=spec,
        config=config,
        start_index=train_bars,
        min_trades=test_min_trades,
        strategy_name=strategy_name,
    )
    best = found.best
    if best is None:
        reason = f"no trial reached {spec.min_trades} trades on the {train_bars} train bars"
        beats = False
        best_out_of_sample = None
    else:
        best_out_of_sample = best_out[0]
        beats = best_out_of_sample.objective > current_out.objective
        reason = (
            f"on the {test_bars} held-out bars the best trial scores "
            f"{best_out_of_sample.objective:.4g} against the current parameters' "
            f"{current_out.objective:.4g} ({spec.objective.value}, min {test_min_trades} trades)"
            f": {'roll out' if beats else 'keep the current parameters'}"
        )
    return OptimizationResult(
        objective=spec.objective,
        method=search_method,
        seed=seed,
        trials=trials,
        valid_trials=found.valid_trials,
        train_bars=train_bars,
        test_bars=test_bars,
        best_parameters=tuned_spec(best.parameters, strategy_name=strategy_name) if best else None,
        current_parameters=tuned_spec(current, strategy_name=strategy_name),
        best_in_sample=ScoredRun(objective=best.objective, metrics=best.metrics) if best else None,
        best_out_of_sample=best_out_of_sample,
        current_in_sample=current_in,
        current_out_of_sample=current_out,
        beats_current_out_of_sample=beats,
        reason=reason,
    )
