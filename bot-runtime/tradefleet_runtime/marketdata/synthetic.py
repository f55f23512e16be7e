"""Seeded, labelled synthetic markets for the synthetic feed, tests, benchmarks and backtest demos.

``generate_market`` draws OHLCV bars whose log returns switch between regimes
(bullish_calm / bearish_volatile / squeeze) along a sticky Markov chain, and returns
the true regime of every bar so regime detectors can be scored. ``generate_book``
draws L1 order-book snapshots whose price moves and queue sizes follow a known
buy / sell / balanced order-flow state. Both are vectorised and reproducible: the same
arguments give bit-identical arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.int8]

DEFAULT_START_MS = 1_700_000_000_000
STICKY_STAY_PROBABILITY = 0.995


class SyntheticMarketError(ValueError):
    """Arguments to the synthetic market generators are out of range."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeSpec:
    """How bars behave while the market is in one regime (per-bar figures)."""

    name: str
    mean_log_return: float
    volatility: float
    volume_level: float


DEFAULT_REGIMES: tuple[RegimeSpec, ...] = (
    RegimeSpec(name="bullish_calm", mean_log_return=0.0006, volatility=0.004, volume_level=100.0),
    RegimeSpec(
        name="bearish_volatile", mean_log_return=-0.0006, volatility=0.012, volume_level=250.0
    ),
    RegimeSpec(name="squeeze", mean_log_return=0.0, volatility=0.0015, volume_level=60.0),
)


def sticky_transitions(*, n_states: int, stay_probability: float) -> FloatArray:
    """A Markov matrix that stays put with ``stay_probability`` and otherwise moves uniformly."""
    if n_states < 2:
        raise SyntheticMarketError(f"n_states must be >= 2, got {n_states}")
    if not 0.0 <= stay_probability <= 1.0:
        raise SyntheticMarketError(f"stay_probability must be in [0, 1], got {stay_probability}")
    move = (1.0 - stay_probability) / (n_states - 1)
    matrix = np.full((n_states, n_states), move)
    np.fill_diagonal(matrix, stay_probability)
    return matrix


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SyntheticMarket:
    """OHLCV bars plus the true regime code of every bar (index into ``regime_names``)."""

    timestamp_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    regime: CodeArray
    regime_names: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class SyntheticBook:
    """L1 snapshots plus the true order-flow state: -1 sell pressure, 0 balanced, +1 buy."""

    timestamp_ms: IntArray
    bid_price: FloatArray
    bid_size: FloatArray
    ask_price: FloatArray
    ask_size: FloatArray
    flow: CodeArray


def _check_common(*, seed: int, count: int, count_name: str, start_price: float) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SyntheticMarketError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise SyntheticMarketError(f"{count_name} must be an integer >= 1, got {count!r}")
    if not math.isfinite(start_price) or start_price <= 0:
        raise SyntheticMarketError(f"start_price must be finite and > 0, got {start_price!r}")


def _check_transitions(*, matrix: FloatArray, n_states: int) -> None:
    if matrix.shape != (n_states, n_states):
        raise SyntheticMarketError(
            f"transition matrix must be {n_states}x{n_states}, got shape {matrix.shape}"
        )
    if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
        raise SyntheticMarketError("transition probabilities must be finite and >= 0")
    if not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-9):
        raise SyntheticMarketError("each transition-matrix row must sum to 1")


def markov_path(
    *, rng: np.random.Generator, transitions: FloatArray, length: int, initial_state: int
) -> CodeArray:
    """A Markov state path drawn episode by episode (geometric stays, then a jump).

    Drawing whole stays keeps the Python loop at one turn per regime change instead of
    one per bar; the path has exactly the distribution of a step-by-step chain.
    """
    n_states = transitions.shape[0]
    jump = transitions.copy()
    np.fill_diagonal(jump, 0.0)
    codes = np.empty(length, dtype=np.int8)
    state = initial_state
    position = 0
    while position < length:
        stay = transitions[state, state]
        remaining = length - position
        duration = remaining if stay >= 1.0 else min(remaining, int(rng.geometric(1.0 - stay)))
        codes[position : position + duration] = state
        position += duration
        row = jump[state]
        state = int(rng.choice(n_states, p=row / row.sum()))
    return codes


def _read_only(*arrays: npt.NDArray[np.generic]) -> None:
    for array in arrays:
        array.flags.writeable = False


def generate_market(
    *,
    seed: int,
    n_bars: int,
    start_price: float = 30_000.0,
    bar_seconds: int = 60,
    start_ms: int = DEFAULT_START_MS,
    regimes: tuple[RegimeSpec, ...] = DEFAULT_REGIMES,
    transitions: FloatArray | None = None,
    initial_regime: int = 0,
) -> SyntheticMarket:
    """Regime-switching OHLCV bars with the true regime of each bar.

    ``transitions`` defaults to a sticky matrix (stay 0.995, mean stay 200 bars).
    Close-to-close log returns are normal with the regime's mean and volatility; each
    bar opens at the previous close; highs and lows extend past the body by a
    half-normal excursion of the regime's volatility; volume is log-normal around the
    regime's level and rises with the size of the move.
    """
    _check_common(seed=seed, count=n_bars, count_name="n_bars", start_price=start_price)
    if isinstance(bar_seconds, bool) or not isinstance(bar_seconds, int) or bar_seconds < 1:
        raise SyntheticMarketError(f"bar_seconds must be an integer >= 1, got {bar_seconds!r}")
    if len(regimes) < 2:
        raise SyntheticMarketError("at least two regimes are needed")
    for spec in regimes:
        if not (spec.volatility > 0 and spec.volume_level > 0):
            raise SyntheticMarketError(f"regime {spec.name!r}: volatility and volume must be > 0")
    matrix = (
        sticky_transitions(n_states=len(regimes), stay_probability=STICKY_STAY_PROBABILITY)
        if transitions is None
        else np.asarray(transitions, dtype=np.float64)
    )
    _check_transitions(matrix=matrix, n_states=len(regimes))
    if not 0 <= initial_regime < len(regimes):
        raise SyntheticMarketError(f"initial_regime must index a regime, got {initial_regime}")

    rng = np.random.default_rng(seed)
    regime = markov_path(rng=rng, transitions=matrix, length=n_bars, initial_state=initial_regime)
    means = np.array([spec.mean_log_return for spec in regimes])[regime]
    vols = np.array([spec.volatility for spec in regimes])[regime]
    levels = np.array([spec.volume_level for spec in regimes])[regime]

    shocks = rng.standard_normal(n_bars)
    log_returns = means + vols * shocks
    close = start_price * np.exp(np.cumsum(log_returns))
    open_ = np.empty(n_bars)
    open_[0] = start_price
    open_[1:] = close[:-1]
    wick_up = np.exp(vols * 0.5 * np.abs(rng.standard_normal(n_bars)))
    wick_down = np.exp(-vols * 0.5 * np.abs(rng.standard_normal(n_bars)))
    high = np.maximum(open_, close) * wick_up
    low = np.minimum(open_, close) * wick_down
    volume = levels * np.exp(0.3 * rng.standard_normal(n_bars)) * (1.0 + 0.5 * np.abs(shocks))
    timestamp_ms = start_ms + np.arange(n_bars, dtype=np.int64) * (bar_seconds * 1000)
    _read_only(timestamp_ms, open_, high, low, close, volume, regime)
    return SyntheticMarket(
        timestamp_ms=timestamp_ms,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        regime=regime,
        regime_names=tuple(spec.name for spec in regimes),
    )


# Per flow state (sell, balanced, buy): probability that the best bid/ask moves up / down
# by one tick between snapshots.
_TICK_UP_PROBABILITY = np.array([0.05, 0.10, 0.30])
_TICK_DOWN_PROBABILITY = np.array([0.30, 0.10, 0.05])


def generate_book(
    *,
    seed: int,
    n_snapshots: int,
    start_price: float = 30_000.0,
    tick_size: float = 0.5,
    snapshot_ms: int = 100,
    start_ms: int = DEFAULT_START_MS,
    mean_size: float = 2.0,
    flow_stay_probability: float = 0.999,
) -> SyntheticBook:
    """L1 book snapshots driven by a known order-flow state.

    The flow state follows a sticky Markov chain over sell / balanced / buy. Under buy
    pressure the quotes tick up more often than down and bid queues are 1.5x the mean
    size while ask queues are 0.5x (mirror image under sell pressure), so the order-flow
    imbalance of the book has the sign of the flow state. The spread is one tick, two
    ticks in 20 % of snapshots.
    """
    _check_common(seed=seed, count=n_snapshots, count_name="n_snapshots", start_price=start_price)
    if not (math.isfinite(tick_size) and tick_size > 0):
        raise SyntheticMarketError(f"tick_size must be finite and > 0, got {tick_size!r}")
    if not (math.isfinite(mean_size) and mean_size > 0):
        raise SyntheticMarketError(f"mean_size must be finite and > 0, got {mean_size!r}")
    if isinstance(snapshot_ms, bool) or not isinstance(snapshot_ms, int) or snapshot_ms < 1:
        raise SyntheticMarketError(f"snapshot_ms must be an integer >= 1, got {snapshot_ms!r}")

    rng = np.random.default_rng(seed)
    state = markov_path(
        rng=rng,
        transitions=sticky_transitions(n_states=3, stay_probability=flow_stay_probability),
        length=n_snapshots,
        initial_state=1,
    )
    uniform = rng.random(n_snapshots)
    step = (uniform < _TICK_UP_PROBABILITY[state]).astype(np.int64) - (
        uniform > 1.0 - _TICK_DOWN_PROBABILITY[state]
    ).astype(np.int64)
    step[0] = 0
    first_bid_ticks = math.floor(start_price / tick_size)
    bid_ticks = first_bid_ticks + np.cumsum(step)
    spread_ticks = 1 + (rng.random(n_snapshots) < 0.2)
    bid_price = np.asarray(bid_ticks * tick_size, dtype=np.float64)
    ask_price = np.asarray((bid_ticks + spread_ticks) * tick_size, dtype=np.float64)
    flow = (state - 1).astype(np.int8)
    bid_size = mean_size * np.exp(0.5 * rng.standard_normal(n_snapshots)) * (1.0 + 0.5 * flow)
    ask_size = mean_size * np.exp(0.5 * rng.standard_normal(n_snapshots)) * (1.0 - 0.5 * flow)
    timestamp_ms = start_ms + np.arange(n_snapshots, dtype=np.int64) * snapshot_ms
    _read_only(timestamp_ms, bid_price, bid_size, ask_price, ask_size, flow)
    return SyntheticBook(
        timestamp_ms=timestamp_ms,
        bid_price=bid_price,
        bid_size=bid_size,
        ask_price=ask_price,
        ask_size=ask_size,
        flow=flow,
    )
