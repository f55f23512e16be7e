"""Parameter search for the EMA/RSI strategy: the objectives, the search space, and random
and Bayesian (Optuna TPE) search.

Called by walk-forward analysis (:mod:`tradefleet_runtime.backtest.walk_forward`), the
optimization Job's decision (:mod:`tradefleet_runtime.backtest.optimize`) and the CLI's
``optimize`` command. Every trial is evaluated by the grid engine
(:mod:`tradefleet_runtime.backtest.grid`), many trials per kernel call.

Objectives (all length-independent, so in- and out-of-sample windows of different
lengths compare; DD = max drawdown in %, w = ``drawdown_penalty``, R = total return in
% scaled to 1,000 bars):

* ``sharpe``    = annualised Sharpe − w · DD / 10   (10 % drawdown costs w Sharpe units)
* ``pnl``       = R − w · DD
* ``composite`` = Sharpe + R / 10 + 2 · (win rate − ½) − w · DD / 10

A trial with fewer than ``min_trades`` trades scores −∞ and is discarded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import TypeVar

import numpy as np
import optuna
from tqdm import tqdm

from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.engine import run_backtest
from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.backtest.grid import run_grid
from tradefleet_runtime.backtest.metrics import BacktestMetrics, finite_or_none
from tradefleet_runtime.backtest.model import DEFAULT_CONFIG, BacktestConfig
from tradefleet_runtime.backtest.series import IndicatorCache
from tradefleet_runtime.signals.regime_config import RegimeConfig
from tradefleet_runtime.strategies.ema_rsi import EmaRsiStrategy
from tradefleet_runtime.strategies.parameters import StrategyParameters, spec_key
from tradefleet_runtime.strategies.regime_adaptive import RegimeAdaptiveStrategy
from tradefleet_runtime.strategies.registry import STRATEGIES

PNL_SCALE_BARS = 1_000
# The plugin the grid engine runs (many trials per kernel call); the others run in the
# event-driven engine, one backtest per trial.
GRID_STRATEGY = EmaRsiStrategy.name
# What a discarded trial reports to Optuna's TPE sampler, which needs finite values.
_DISCARDED_SCORE = -1e9
# Trials per Optuna ask/tell round; they are evaluated together in one grid call.
_BAYESIAN_BATCH = 8
_RANDOM_BATCH = 256


class Objective(StrEnum):
    SHARPE = "sharpe"
    PNL = "pnl"
    COMPOSITE = "composite"


class SearchMethod(StrEnum):
    RANDOM = "random"
    BAYESIAN = "bayesian"


Choice = TypeVar("Choice", bound=StrEnum)


def parse_choice(*, kind: type[Choice], value: str, what: str) -> Choice:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise BacktestConfigError(f"{what} must be one of {choices}, got {value!r}") from None


@dataclass(frozen=True, kw_only=True, slots=True)
class ObjectiveSpec:
    """What a trial maximises (``spec.optimizer`` objective, drawdownPenalty, minTrades)."""

    objective: Objective = Objective.SHARPE
    drawdown_penalty: float = 0.5
    min_trades: int = 5

    def __post_init__(self) -> None:
        if not isinstance(self.objective, Objective):
            raise BacktestConfigError(f"objective must be an Objective, got {self.objective!r}")
        if not (math.isfinite(self.drawdown_penalty) and 0.0 <= self.drawdown_penalty <= 10.0):
            raise BacktestConfigError(
                f"drawdown penalty must be within [0, 10], got {self.drawdown_penalty!r}"
            )
        if (
            isinstance(self.min_trades, bool)
            or not isinstance(self.min_trades, int)
            or not 0 <= self.min_trades <= 10_000
        ):
            raise BacktestConfigError(
                f"min trades must be an integer within [0, 10000], got {self.min_trades!r}"
            )

    def score(self, *, metrics: BacktestMetrics, min_trades: int | None = None) -> float:
        """The objective of one backtest; −∞ below ``min_trades`` (default: the spec's)."""
        required = self.min_trades if min_trades is None else min_trades
        if metrics.trades < required:
            return -math.inf
        drawdown = metrics.max_drawdown_pct
        scaled_return = (
            metrics.total_return_pct * PNL_SCALE_BARS / metrics.bars if metrics.bars else 0.0
        )
        penalty = self.drawdown_penalty
        if self.objective is Objective.SHARPE:
            return metrics.sharpe - penalty * drawdown / 10.0
        if self.objective is Objective.PNL:
            return scaled_return - penalty * drawdown
        return (
            metrics.sharpe
            + scaled_return / 10.0
            + 2.0 * (metrics.win_rate - 0.5)
            - penalty * drawdown / 10.0
        )


IntRange = tuple[int, int]
FloatRange = tuple[float, float]


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchSpace:
    """Inclusive ranges searched; prices levels and percentages on a 0.01 grid."""

    ema_fast: IntRange = (8, 30)
    ema_slow: IntRange = (30, 100)
    rsi_period: IntRange = (7, 30)
    rsi_overbought: FloatRange = (65.0, 85.0)
    rsi_oversold: FloatRange = (15.0, 35.0)
    risk_per_trade_pct: FloatRange = (0.3, 2.0)
    stop_loss_pct: FloatRange = (0.2, 3.0)
    take_profit_pct: FloatRange = (0.4, 6.0)
    bollinger_period: IntRange = (10, 50)
    bollinger_std_dev: FloatRange = (1.5, 3.0)
    breakout_lookback: IntRange = (10, 60)
    volume_window: IntRange = (10, 50)
    volume_spike_multiplier: FloatRange = (1.2, 3.0)

    def __post_init__(self) -> None:
        for item in fields(self):
            low, high = getattr(self, item.name)
            if not low <= high:
                raise BacktestConfigError(
                    f"search range {item.name} must have low <= high, got {low}..{high}"
                )
        if self.ema_fast[0] >= self.ema_slow[1]:
            raise BacktestConfigError("the EMA ranges leave no fast period below a slow one")
        if self.rsi_oversold[1] >= self.rsi_overbought[0]:
            raise BacktestConfigError("the RSI oversold range must lie below the overbought one")
        # Every corner of the space must be a valid parameter set.
        for corner in (0, 1):
            StrategyParameters(
                ema_fast=self.ema_fast[0],
                ema_slow=self.ema_slow[1],
                rsi_period=self.rsi_period[corner],
                rsi_overbought=self.rsi_overbought[0],
                rsi_oversold=self.rsi_oversold[1],
                risk_per_trade_pct=self.risk_per_trade_pct[corner],
                stop_loss_pct=self.stop_loss_pct[corner],
                take_profit_pct=self.take_profit_pct[corner],
                bollinger_period=self.bollinger_period[corner],
                bollinger_std_dev=self.bollinger_std_dev[corner],
                breakout_lookback=self.breakout_lookback[corner],
                volume_window=self.volume_window[corner],
                volume_spike_multiplier=self.volume_spike_multiplier[corner],
            )

    def sample(
        self,
        *,
        draw_int: Callable[[str, int, int], int],
        base: StrategyParameters,
        tuned: Collection[str] = EmaRsiStrategy.tuned_parameters,
    ) -> StrategyParameters:
        """One parameter set: the ``tuned`` fields drawn, the others ``base``'s;
        ``draw_int(name, low, high)`` picks an integer in [low, high].

        Fields are drawn in one fixed order whatever the plugin, so a seed gives an EMA/RSI
        search the same sets it always did. Percent, RSI levels and multipliers are drawn as
        whole hundredths, so what is evaluated is exactly what the CRD receives.
        """
        values: dict[str, int | float] = {}
        for name in _DRAW_ORDER:
            if name not in tuned:
                continue
            low, high = getattr(self, name)
            if name == "ema_slow" and "ema_fast" in values:
                low = max(low, int(values["ema_fast"]) + 1)
            if isinstance(low, int) and isinstance(high, int):
                values[name] = draw_int(name, low, high)
            else:
                values[name] = draw_int(name, round(low * 100), round(high * 100)) / 100.0
        return replace(base, **values)  # type: ignore[arg-type]  # each field gets its kind


# Today's draw order of the EMA/RSI fields first (a seed's sets stay what they were).
_DRAW_ORDER = (
    "ema_fast", "ema_slow", "rsi_period", "rsi_overbought", "rsi_oversold",
    "risk_per_trade_pct", "stop_loss_pct", "take_profit_pct", "bollinger_period",
    "bollinger_std_dev", "breakout_lookback", "volume_window", "volume_spike_multiplier",
)  # fmt: skip


DEFAULT_SPACE = SearchSpace()
DEFAULT_PARAMETERS = StrategyParameters()


@dataclass(frozen=True, kw_only=True, slots=True)
class Trial:
    """One evaluated parameter set; ``objective`` is −∞ when it was discarded."""

    number: int
    parameters: StrategyParameters
    metrics: BacktestMetrics
    objective: float
    strategy_name: str = GRID_STRATEGY

    @property
    def valid(self) -> bool:
        return math.isfinite(self.objective)

    def tuned_parameters(self) -> dict[str, int | float]:
        """Its parameters as the CRD takes them, those its plugin's search tunes."""
        return tuned_spec(self.parameters, strategy_name=self.strategy_name)

    def to_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "parameters": self.tuned_parameters(),
            "objective": finite_or_none(self.objective),
            "metrics": self.metrics.to_dict(),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchResult:
    """All trials of one search, in evaluation order, and the best valid one."""

    method: SearchMethod
    spec: ObjectiveSpec
    trials: tuple[Trial, ...]
    best: Trial | None

    @property
    def valid_trials(self) -> int:
        return sum(trial.valid for trial in self.trials)


def tuned_parameters(strategy_name: str) -> tuple[str, ...]:
    """The StrategyParameters fields the optimizer tunes for plugin ``strategy_name``."""
    strategy = STRATEGIES.get(strategy_name)
    if strategy is None:
        raise BacktestConfigError(
            f"{strategy_name!r} is no strategy plugin, so it has no parameters to tune; "
            f"choose one of {', '.join(STRATEGIES)}"
        )
    return strategy.tuned_parameters


def tuned_spec(
    parameters: StrategyParameters, *, strategy_name: str = GRID_STRATEGY
) -> dict[str, int | float]:
    """The CRD-shaped (camelCase) parameters the optimizer tunes for ``strategy_name``, in
    the spec's order."""
    tuned = {spec_key(name) for name in tuned_parameters(strategy_name)}
    return {key: value for key, value in parameters.to_spec().items() if key in tuned}


def _check_trials(trials: int) -> None:
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= 100_000:
        raise BacktestConfigError(f"trials must be an integer within [1, 100000], got {trials!r}")


def backtest_metrics(
    *,
    strategy_name: str,
    bars: BarSeries,
    parameter_sets: Sequence[StrategyParameters],
    config: BacktestConfig,
    start_index: int,
    indicators: IndicatorCache | None = None,
) -> list[BacktestMetrics]:
    """The backtest of each parameter set with plugin ``strategy_name``: EMA/RSI in the grid
    engine (one kernel call), any other plugin in the event-driven engine (the one the
    runtime's plugins run in; ``regime_adaptive`` with a regime detector, whose labels it
    switches on)."""
    if strategy_name == GRID_STRATEGY:
        grid = run_grid(
            bars=bars,
            parameter_sets=parameter_sets,
            config=config,
            start_index=start_index,
            indicators=indicators,
        )
        return list(grid.all_metrics())
    tuned_parameters(strategy_name)
    regime = RegimeConfig() if strategy_name == RegimeAdaptiveStrategy.name else None
    return [
        run_backtest(
            bars=bars,
            strategy_name=strategy_name,
            parameters=parameters,
            config=config,
            start_index=start_index,
            regime=regime,
        ).metrics
        for parameters in parameter_sets
    ]


class _Evaluator:
    """Scores batches of parameter sets on one bar series with a shared indicator cache."""

    __slots__ = ("_bars", "_cache", "_config", "_spec", "_start", "_strategy", "trials")

    def __init__(
        self,
        *,
        bars: BarSeries,
        spec: ObjectiveSpec,
        config: BacktestConfig,
        start_index: int,
        strategy_name: str,
    ) -> None:
        self._bars = bars
        self._spec = spec
        self._config = config
        self._start = start_index
        self._strategy = strategy_name
        self._cache = IndicatorCache(close=bars.close)
        self.trials: list[Trial] = []

    def evaluate(self, parameter_sets: Sequence[StrategyParameters]) -> list[Trial]:
        all_metrics = backtest_metrics(
            strategy_name=self._strategy,
            bars=self._bars,
            parameter_sets=parameter_sets,
            config=self._config,
            start_index=self._start,
            indicators=self._cache,
        )
        batch = []
        for offset, metrics in enumerate(all_metrics):
            trial = Trial(
                number=len(self.trials) + offset,
                parameters=parameter_sets[offset],
                metrics=metrics,
                objective=self._spec.score(metrics=metrics),
                strategy_name=self._strategy,
            )
            batch.append(trial)
        self.trials.extend(batch)
        return batch

    def result(self, *, method: SearchMethod) -> SearchResult:
        valid = [trial for trial in self.trials if trial.valid]
        best = max(valid, key=lambda trial: trial.objective) if valid else None
        return SearchResult(method=method, spec=self._spec, trials=tuple(self.trials), best=best)


def random_search(
    *,
    bars: BarSeries,
    trials: int,
    spec: ObjectiveSpec,
    seed: int,
    config: BacktestConfig = DEFAULT_CONFIG,
    base: StrategyParameters = DEFAULT_PARAMETERS,
    space: SearchSpace = DEFAULT_SPACE,
    start_index: int = 0,
    progress: bool = False,
    strategy_name: str = GRID_STRATEGY,
) -> SearchResult:
    """``trials`` parameter sets drawn uniformly from ``space`` (seeded), all evaluated."""
    _check_trials(trials)
    rng = np.random.default_rng(seed)

    def draw_int(_name: str, low: int, high: int) -> int:
        return int(rng.integers(low, high + 1))

    tuned = tuned_parameters(strategy_name)
    sets = [space.sample(draw_int=draw_int, base=base, tuned=tuned) for _ in range(trials)]
    evaluator = _Evaluator(
        bars=bars, spec=spec, config=config, start_index=start_index, strategy_name=strategy_name
    )
    with tqdm(total=trials, disable=not progress, desc="random search", unit="trial") as bar:
        for first in range(0, trials, _RANDOM_BATCH):
            batch = evaluator.evaluate(sets[first : first + _RANDOM_BATCH])
            bar.update(len(batch))
    return evaluator.result(method=SearchMethod.RANDOM)


def _suggester(trial: optuna.trial.Trial) -> Callable[[str, int, int], int]:
    def draw_int(name: str, low: int, high: int) -> int:
        return int(trial.suggest_int(name, low, high))

    return draw_int


def bayesian_search(
    *,
    bars: BarSeries,
    trials: int,
    spec: ObjectiveSpec,
    seed: int,
    config: BacktestConfig = DEFAULT_CONFIG,
    base: StrategyParameters = DEFAULT_PARAMETERS,
    space: SearchSpace = DEFAULT_SPACE,
    start_index: int = 0,
    progress: bool = False,
    strategy_name: str = GRID_STRATEGY,
) -> SearchResult:
    """Optuna's TPE sampler (seeded), asked for a few trials at a time (constant liar)."""
    _check_trials(trials)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True),
    )
    tuned = tuned_parameters(strategy_name)
    evaluator = _Evaluator(
        bars=bars, spec=spec, config=config, start_index=start_index, strategy_name=strategy_name
    )
    with tqdm(total=trials, disable=not progress, desc="bayesian search", unit="trial") as bar:
        while len(evaluator.trials) < trials:
            asked = [
                study.ask() for _ in range(min(_BAYESIAN_BATCH, trials - len(evaluator.trials)))
            ]
            sets = [
                space.sample(draw_int=_suggester(trial), base=base, tuned=tuned) for trial in asked
            ]
            for trial, scored in zip(asked, evaluator.evaluate(sets), strict=True):
                study.tell(trial, scored.objective if scored.valid else _DISCARDED_SCORE)
            bar.update(len(asked))
    return evaluator.result(method=SearchMethod.BAYESIAN)


def search(
    *,
    method: SearchMethod,
    bars: BarSeries,
    trials: int,
    spec: ObjectiveSpec,
    seed: int,
    config: BacktestConfig = DEFAULT_CONFIG,
    base: StrategyParameters = DEFAULT_PARAMETERS,
    space: SearchSpace = DEFAULT_SPACE,
    start_index: int = 0,
    progress: bool = False,
    strategy_name: str = GRID_STRATEGY,
) -> SearchResult:
    """Random or Bayesian search, by ``method``, of the parameters plugin ``strategy_name``
    reads."""
    run = random_search if method is SearchMethod.RANDOM else bayesian_search
    return run(
        bars=bars,
        trials=trials,
        spec=spec,
        seed=seed,
        config=config,
        base=base,
        space=space,
        start_index=start_index,
        progress=progress,
        strategy_name=strategy_name,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class ScoredRun:
    """A backtest's figures and its objective."""

    objective: float
    metrics: BacktestMetrics

    def to_dict(self) -> dict[str, object]:
        return {"objective": finite_or_none(self.objective), "metrics": self.metrics.to_dict()}


def score_sets(
    *,
    bars: BarSeries,
    parameter_sets: Sequence[StrategyParameters],
    spec: ObjectiveSpec,
    config: BacktestConfig,
    start_index: int,
    min_trades: int,
    strategy_name: str = GRID_STRATEGY,
) -> list[ScoredRun]:
    """Each parameter set's backtest on ``bars`` from ``start_index``, and its objective."""
    all_metrics = backtest_metrics(
        strategy_name=strategy_name,
        bars=bars,
        parameter_sets=parameter_sets,
        config=config,
        start_index=start_index,
    )
    return [
        ScoredRun(objective=spec.score(metrics=metrics, min_trades=min_trades), metrics=metrics)
        for metrics in all_metrics
    ]
