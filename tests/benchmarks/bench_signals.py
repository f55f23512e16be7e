"""Benchmarks of the signal engines: OFI, the regime model, and fusion; plus regime accuracy.

Run as ``python tests/benchmarks/bench_signals.py`` (not collected by pytest). Prints
each figure next to its target and whether it was met, and the regime accuracy per market
generator — the project's synthetic market, the Student-t/GARCH and semi-Markov jump markets,
the market of bursts inside regimes and the held-out seasonal market
(:mod:`tradefleet_runtime.marketdata.regime_markets`) — with the
previous detector's figure on the same markets in the same run (its code is read from git at
``PREVIOUS_DETECTOR_COMMIT``). About two minutes on 2 cores.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tradefleet_runtime.marketdata.regime_markets import (
    generate_burst_market,
    generate_garch_market,
    generate_jump_market,
    generate_seasonal_market,
)
from tradefleet_runtime.marketdata.synthetic import SyntheticMarket, generate_book, generate_market
from tradefleet_runtime.signals.fusion import AlphaFusion, FusionConfig, default_weights
from tradefleet_runtime.signals.learning import LearningConfig, replay
from tradefleet_runtime.signals.ofi import OfiConfig, StreamingOfi
from tradefleet_runtime.signals.ofi_batch import ofi_series
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime import RegimeDetector
from tradefleet_runtime.signals.regime_config import (
    RegimeConfig,
    RegimeLabel,
    default_trading_params,
)
from tradefleet_runtime.signals.regime_evaluation import evaluate_regimes
from tradefleet_runtime.signals.regime_model import RegimeFilter, RegimeModel, fit_regime_model

OFI_SNAPSHOTS = 10_000_000
STREAM_UPDATES = 1_000_000
FIT_BARS = 100_000
ONLINE_BARS = 50_000
FUSIONS = 100_000
ACCURACY_SEEDS = (1, 2, 3)
ACCURACY_BARS = 10_000
SCORED_FROM = 3_000
# The last commit with the detector before the switching model of returns: a 3-state Gaussian
# HMM of volatility features (clipped return, short and long volatility, trend).
PREVIOUS_DETECTOR_COMMIT = "70c926af393fe33ad2289cd67fb740a0d02b8103"
_PREVIOUS_MODULES = ("regime_features", "regime_config", "regime_model", "regime")
REPO = Path(__file__).resolve().parents[2]
# Generator, its accuracy target, and whether the detector was tuned on it.
GENERATORS: tuple[tuple[str, Callable[..., SyntheticMarket], float, str], ...] = (
    ("synthetic (Gaussian, one vol per regime)", generate_market, 90, "tuned"),
    ("Student-t + GARCH clustering", generate_garch_market, 85, "tuned"),
    ("semi-Markov, stoch. vol, Laplace + jumps", generate_jump_market, 85, "tuned"),
    # Held out of the previous detector's tuning; looked at when this one's burst_stay was chosen.
    ("bursts inside regimes, skewed t", generate_burst_market, 85, "tuned"),
    # Written after the switching model was settled; run, never tuned on.
    ("gamma stays, Heston variance, daily cycle, t(3)", generate_seasonal_market, 85, "held out"),
)


def report(
    *,
    name: str,
    value: float,
    unit: str,
    target: float,
    higher_is_better: bool,
    cpu_value: float | None = None,
) -> None:
    """One line: figure, target, met or not; ``cpu_value`` is the same figure in CPU time.

    The verdict uses wall time (perf_counter). On a shared machine the CPU-time figure
    (thread_time) shows what the code costs when it is not waiting for a core.
    """
    met = value >= target if higher_is_better else value <= target
    relation = ">=" if higher_is_better else "<="
    cpu = f"  (cpu {cpu_value:.3f})" if cpu_value is not None else ""
    print(
        f"{name:<48} {value:>9.3f} {unit:<10} target {relation} {target:g} {unit:<10} "
        f"{'met' if met else 'NOT MET'}{cpu}"
    )


def per_call_us(*, calls: int, action: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) microseconds per call of a loop that makes ``calls`` calls."""
    wall = time.perf_counter_ns()
    cpu = time.thread_time_ns()
    action()
    cpu_ns = time.thread_time_ns() - cpu
    wall_ns = time.perf_counter_ns() - wall
    return wall_ns / calls / 1_000, cpu_ns / calls / 1_000


def best_of(*, runs: int, action: Callable[[], object]) -> float:
    """Fastest wall time of ``runs`` calls, in seconds."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def bench_ofi() -> None:
    book = generate_book(seed=1, n_snapshots=OFI_SNAPSHOTS)
    columns = {
        "timestamp_ms": book.timestamp_ms,
        "bid_price": book.bid_price,
        "bid_size": book.bid_size,
        "ask_price": book.ask_price,
        "ask_size": book.ask_size,
    }
    ofi_series(**{k: v[:1_000] for k, v in columns.items()}, window_ms=1_000)  # compile/load
    seconds = best_of(runs=3, action=lambda: ofi_series(**columns, window_ms=1_000))
    report(
        name=f"OFI batch ({OFI_SNAPSHOTS / 1e6:g} M snapshots, 1 s windows)",
        value=OFI_SNAPSHOTS / seconds / 1e6,
        unit="M snaps/s",
        target=50,
        higher_is_better=True,
    )

    rows = list(
        zip(
            book.bid_price[:STREAM_UPDATES].tolist(),
            book.bid_size[:STREAM_UPDATES].tolist(),
            book.ask_price[:STREAM_UPDATES].tolist(),
            book.ask_size[:STREAM_UPDATES].tolist(),
            book.timestamp_ms[:STREAM_UPDATES].tolist(),
            strict=True,
        )
    )

    def stream() -> None:
        update = StreamingOfi(symbol="BTC/USDT", config=OfiConfig()).update
        for bp, bq, ap, aq, ts in rows:
            update(bid_price=bp, bid_size=bq, ask_price=ap, ask_size=aq, timestamp_ms=ts)

    wall, cpu = min(per_call_us(calls=STREAM_UPDATES, action=stream) for _ in range(3))
    report(
        name="OFI streaming update (1e6 updates, incl. loop)",
        value=wall,
        unit="us",
        target=1.0,
        higher_is_better=False,
        cpu_value=cpu,
    )


def bench_regime_fit_and_update() -> None:
    config = RegimeConfig(fit_window=FIT_BARS)
    market = generate_market(seed=3, n_bars=FIT_BARS + 1 + ONLINE_BARS)
    returns = np.diff(np.log(market.close))
    fits: list[RegimeModel] = []
    wall, cpu = per_call_us(
        calls=1,
        action=lambda: fits.append(fit_regime_model(returns=returns[:FIT_BARS], config=config)),
    )
    report(
        name=f"regime fit ({FIT_BARS // 1000} k returns, {fits[0].iterations} EM iter)",
        value=wall / 1e6,
        unit="s",
        target=3.0,
        higher_is_better=False,
        cpu_value=cpu / 1e6,
    )

    # Online figures with the default config, after 10 k bars of history and one fit.
    closes = market.close.tolist()
    stamps = market.timestamp_ms.tolist()
    split = FIT_BARS + 1

    def warmed_up_detector() -> RegimeDetector:
        detector = RegimeDetector(symbol="BTC/USDT", config=RegimeConfig())
        history = zip(closes[split - 10_000 : split], stamps[split - 10_000 : split], strict=True)
        for price, stamp in history:
            detector.update(close=price, timestamp_ms=stamp)
        detector.refit()
        return detector

    fitted = warmed_up_detector().model
    assert fitted is not None
    online_returns = returns[FIT_BARS:].tolist()

    def filter_steps() -> None:
        step = RegimeFilter(model=fitted).step
        for log_return in online_returns:
            step(log_return)

    wall, cpu = min(per_call_us(calls=len(online_returns), action=filter_steps) for _ in range(3))
    report(
        name="regime forward-filter step per bar",
        value=wall,
        unit="us",
        target=10.0,
        higher_is_better=False,
        cpu_value=cpu,
    )
    online = list(zip(closes[split:], stamps[split:], strict=True))

    def updates(detector: RegimeDetector) -> tuple[float, float]:
        update = detector.update
        wall_start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
        for price, stamp in online:
            update(close=price, timestamp_ms=stamp)
        return (
            (time.perf_counter_ns() - wall_start) / len(online) / 1_000,
            (time.thread_time_ns() - cpu_start) / len(online) / 1_000,
        )

    wall, cpu = min(updates(warmed_up_detector()) for _ in range(3))
    report(
        name="regime full update per bar (return+features+filter+state)",
        value=wall,
        unit="us",
        target=10.0,
        higher_is_better=False,
        cpu_value=cpu,
    )


def bench_fusion() -> None:
    fusion = AlphaFusion(config=FusionConfig())
    params = default_trading_params()[RegimeLabel.BULLISH_CALM]
    now = 1_700_000_000_000
    readings = [
        SignalReading(name=name, value=0.3, confidence=0.8, as_of_ms=now, detail=f"{name} says up")
        for name in default_weights()
    ]

    def fusions() -> None:
        fuse = fusion.fuse
        for _ in range(FUSIONS):
            fuse(symbol="BTC/USDT", readings=readings, regime_params=params, now_ms=now)

    wall, cpu = per_call_us(calls=FUSIONS, action=fusions)
    report(
        name="fusion of five signals per decision",
        value=wall,
        unit="us",
        target=50.0,
        higher_is_better=False,
        cpu_value=cpu,
    )


def previous_detector() -> Any | None:
    """The ``RegimeDetector`` class as of ``PREVIOUS_DETECTOR_COMMIT``, loaded from git into a
    package of its own (its other modules come from the current runtime); None without git."""
    names = "|".join(_PREVIOUS_MODULES)
    modules: dict[str, types.ModuleType] = {}
    package = types.ModuleType("previous_regime")
    package.__path__ = [tempfile.mkdtemp(prefix="previous_regime_")]
    sys.modules["previous_regime"] = package
    for name in _PREVIOUS_MODULES:
        shown = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{PREVIOUS_DETECTOR_COMMIT}:bot-runtime/"
             f"tradefleet_runtime/signals/{name}.py"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if shown.returncode != 0:
            return None
        source = re.sub(
            rf"tradefleet_runtime\.signals\.({names})\b", r"previous_regime.\1", shown.stdout
        )
        module = types.ModuleType(f"previous_regime.{name}")
        sys.modules[module.__name__] = module
        exec(compile(source, f"{PREVIOUS_DETECTOR_COMMIT[:8]}:{name}.py", "exec"), module.__dict__)
        modules[name] = module
    return modules["regime"].RegimeDetector, modules["regime_config"].RegimeConfig


def online_accuracy(
    *, generate: Callable[..., SyntheticMarket], detector_class: Any, config_class: Any
) -> tuple[float, float, str]:
    """Accuracy over ``ACCURACY_SEEDS`` (bars after ``SCORED_FROM``, scheduled refits), the mean
    update time per bar in microseconds (refits excluded), and the confusion matrix."""
    predicted: list[str] = []
    truth: list[str] = []
    names: tuple[str, ...] = ()
    update_ns = updates = 0
    for seed in ACCURACY_SEEDS:
        market = generate(seed=seed, n_bars=ACCURACY_BARS)
        names = market.regime_names
        detector = detector_class(symbol="BTC/USDT", config=config_class())
        update = detector.update
        for i, (price, stamp) in enumerate(
            zip(market.close.tolist(), market.timestamp_ms.tolist(), strict=True)
        ):
            if detector.refit_due:
                detector.refit()
            start = time.perf_counter_ns()
            state = update(close=price, timestamp_ms=stamp)
            update_ns += time.perf_counter_ns() - start
            updates += 1
            if i >= SCORED_FROM:
                predicted.append(state.regime.value)
                truth.append(names[int(market.regime[i])])
    evaluation = evaluate_regimes(predicted=predicted, truth=truth, labels=names)
    return evaluation.accuracy * 100, update_ns / updates / 1_000, evaluation.render()


def bench_regime_accuracy() -> None:
    """Each generator: this detector's accuracy and the previous one's, side by side."""
    previous = previous_detector()
    print(
        f"regime accuracy, online, seeds {ACCURACY_SEEDS}, {ACCURACY_BARS:,} bars each, scored "
        f"from bar {SCORED_FROM:,}; previous = detector at {PREVIOUS_DETECTOR_COMMIT[:8]}"
    )
    for label, generate, target, tuning in GENERATORS:
        accuracy, update_us, matrix = online_accuracy(
            generate=generate, detector_class=RegimeDetector, config_class=RegimeConfig
        )
        if previous is None:
            before = "previous: unavailable (no git history)"
        else:
            old_accuracy, old_update_us, _ = online_accuracy(
                generate=generate, detector_class=previous[0], config_class=previous[1]
            )
            before = f"previous {old_accuracy:5.1f} %  ({old_update_us:.1f} us/bar)"
        report(
            name=f"regime accuracy: {label}",
            value=accuracy,
            unit="%",
            target=target,
            higher_is_better=True,
        )
        print(f"    {tuning:<8}  now {accuracy:5.1f} %  ({update_us:.1f} us/bar)   {before}")
        print("    " + matrix.replace("\n", "\n    "))


def bench_fusion_learning() -> None:
    """One learner update per closed bar (signals/learning.py): five signals, one projection."""
    bars = 2_000
    config = LearningConfig(base_weights=default_weights(), bar_ms=60_000)
    inputs = [
        (
            (index + 1) * 60_000,
            100.0 + (index % 7) * 0.1,
            {
                name: ((index * 31 + n * 17) % 11 - 5) / 5
                for n, name in enumerate(default_weights())
            },
        )
        for index in range(bars)
    ]
    wall, cpu = per_call_us(calls=bars, action=lambda: replay(config=config, bars=inputs))
    report(
        name="fusion learning update per closed bar",
        value=wall,
        unit="us",
        target=500.0,
        higher_is_better=False,
        cpu_value=cpu,
    )


def main() -> None:
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores (timings are wall time)")
    bench_ofi()
    bench_regime_fit_and_update()
    bench_fusion()
    bench_fusion_learning()
    bench_regime_accuracy()


if __name__ == "__main__":
    main()
