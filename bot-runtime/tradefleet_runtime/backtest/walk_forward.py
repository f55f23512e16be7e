"""Walk-forward analysis of the parameter search: does what wins in-sample hold up out of sample?

Called by the CLI's ``optimize`` command. It cuts the bars into rolling windows (train, then
test right after it), optimizes on each train window alone
(:func:`~tradefleet_runtime.backtest.search.search`), and scores the winner on the test window
that follows with the train bars as indicator history only — no bar after a train window can
influence what is chosen on it. The report sets the mean in-sample objective against the mean
out-of-sample one (their ratio is the degradation ratio, a.k.a. walk-forward efficiency) and
gives a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from tqdm import tqdm

from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.backtest.model import DEFAULT_CONFIG, BacktestConfig
from tradefleet_runtime.backtest.search import (
    DEFAULT_PARAMETERS,
    DEFAULT_SPACE,
    GRID_STRATEGY,
    ObjectiveSpec,
    ScoredRun,
    SearchMethod,
    SearchSpace,
    Trial,
    score_sets,
    search,
)
from tradefleet_runtime.strategies.parameters import StrategyParameters

# Walk-forward verdict thresholds on the degradation ratio (out-of-sample / in-sample).
HELD_UP_RATIO = 0.5


class Verdict(StrEnum):
    HELD_UP = "held_up"  # out-of-sample objective > 0 and ≥ HELD_UP_RATIO × in-sample
    DEGRADED = "degraded"  # out-of-sample objective > 0 but below that ratio
    FAILED = "failed"  # out-of-sample objective ≤ 0
    NO_EDGE_IN_SAMPLE = "no_edge_in_sample"  # the in-sample winners did not score > 0
    NO_WINNER = "no_winner"  # no trial met min trades in any train window


@dataclass(frozen=True, kw_only=True, slots=True)
class WalkForwardWindow:
    """One train/test split: bars [train_start, train_stop) then [train_stop, test_stop).

    ``out_of_sample`` is scored without the min-trades filter (which selects, not
    judges); its trade count is in its metrics.
    """

    index: int
    train_start: int
    train_stop: int
    test_stop: int
    best: Trial | None
    out_of_sample: ScoredRun | None

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "trainStart": self.train_start,
            "trainStop": self.train_stop,
            "testStop": self.test_stop,
            "parameters": self.best.tuned_parameters() if self.best else None,
            "inSample": (
                {"objective": self.best.objective, "metrics": self.best.metrics.to_dict()}
                if self.best
                else None
            ),
            "outOfSample": self.out_of_sample.to_dict() if self.out_of_sample else None,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class WalkForwardReport:
    """Per-window in- vs out-of-sample objectives, their means, ratio and verdict."""

    spec: ObjectiveSpec
    method: SearchMethod
    windows: tuple[WalkForwardWindow, ...]
    mean_in_sample: float | None
    mean_out_of_sample: float | None
    degradation_ratio: float | None
    verdict: Verdict

    def to_dict(self) -> dict[str, object]:
        return {
            "objective": self.spec.objective.value,
            "method": self.method.value,
            "meanInSample": self.mean_in_sample,
            "meanOutOfSample": self.mean_out_of_sample,
            "degradationRatio": self.degradation_ratio,
            "verdict": self.verdict.value,
            "windows": [window.to_dict() for window in self.windows],
        }


def _verdict(*, mean_in: float | None, mean_out: float | None) -> tuple[float | None, Verdict]:
    if mean_in is None or mean_out is None:
        return None, Verdict.NO_WINNER
    if mean_in <= 0.0:
        return None, Verdict.NO_EDGE_IN_SAMPLE
    ratio = mean_out / mean_in
    if mean_out <= 0.0:
        return ratio, Verdict.FAILED
    return ratio, Verdict.HELD_UP if ratio >= HELD_UP_RATIO else Verdict.DEGRADED


def walk_forward(
    *,
    bars: BarSeries,
    train_bars: int,
    test_bars: int,
    trials: int,
    spec: ObjectiveSpec,
    seed: int,
    method: SearchMethod = SearchMethod.RANDOM,
    step_bars: int | None = None,
    config: BacktestConfig = DEFAULT_CONFIG,
    base: StrategyParameters = DEFAULT_PARAMETERS,
    space: SearchSpace = DEFAULT_SPACE,
    progress: bool = False,
    strategy_name: str = GRID_STRATEGY,
) -> WalkForwardReport:
    """Rolling optimize-on-train, score-on-test windows (``step_bars`` defaults to ``test_bars``).

    Window k searches with seed ``seed + k`` on its train bars only; its winner is
    then backtested on the train + test bars with trading from the first test bar.
    """
    step = test_bars if step_bars is None else step_bars
    for name, value, minimum in (
        ("train_bars", train_bars, 2),
        ("test_bars", test_bars, 2),
        ("step_bars", step, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise BacktestConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    starts = range(0, len(bars) - train_bars - test_bars + 1, step)
    if not starts:
        raise BacktestConfigError(
            f"{len(bars)} bars cannot hold one window of {train_bars} train + {test_bars} test bars"
        )
    windows = []
    for index, start in enumerate(
        tqdm(starts, disable=not progress, desc="walk-forward", unit="window")
    ):
        train_stop = start + train_bars
        test_stop = train_stop + test_bars
        found = search(
            method=method,
            bars=bars.window(start=start, stop=train_stop),
            trials=trials,
            spec=spec,
            seed=seed + index,
            config=config,
            base=base,
            space=space,
            strategy_name=strategy_name,
        )
        out_of_sample = None
        if found.best is not None:
            (out_of_sample,) = score_sets(
                bars=bars.window(start=start, stop=test_stop),
                parameter_sets=[found.best.parameters],
                spec=spec,
                config=config,
                start_index=train_bars,
                min_trades=0,
                strategy_name=strategy_name,
            )
        windows.append(
            WalkForwardWindow(
                index=index,
                train_start=start,
                train_stop=train_stop,
                test_stop=test_stop,
                best=found.best,
                out_of_sample=out_of_sample,
            )
        )
    scored = [
        (window.best.objective, window.out_of_sample.objective)
        for window in windows
        if window.best is not None and window.out_of_sample is not None
    ]
    mean_in = float(np.mean([pair[0] for pair in scored])) if scored else None
    mean_out = float(np.mean([pair[1] for pair in scored])) if scored else None
    ratio, verdict = _verdict(mean_in=mean_in, mean_out=mean_out)
    return WalkForwardReport(
        spec=spec,
        method=method,
        windows=tuple(windows),
        mean_in_sample=mean_in,
        mean_out_of_sample=mean_out,
        degradation_ratio=ratio,
        verdict=verdict,
    )
