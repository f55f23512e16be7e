"""Labelled regime markets of other constructions than :func:`~tradefleet_runtime.marketdata.synthetic.generate_market`.

The project's own synthetic market draws Gaussian returns at one volatility per regime. Real
markets have fat tails and volatility that clusters within a regime, so a regime detector is
also scored (tests, ``tests/benchmarks/bench_signals.py``) on markets built differently, with
the same three regimes — squeeze (quiet, no drift), bullish_calm (moderate volatility, up
drift) and bearish_volatile (high volatility, down drift) — at other levels:

* :func:`generate_garch_market` — a sticky Markov chain of regimes; Student-t innovations
  scaled by a GARCH(1,1) variance that clusters around the regime's level.
* :func:`generate_jump_market` — semi-Markov regimes (uniformly drawn stays, no self
  transitions, squeezes break out up or down); a log-volatility AR(1) around the regime's level,
  Laplace innovations and Gaussian jumps.
* :func:`generate_burst_market` — a sticky chain of regimes with a hidden calm/burst state inside
  each (volatility x0.6 or x1.8, itself persistent), returns summed from five Student-t sub-steps
  with a skew.
* :func:`generate_seasonal_market` — regimes that stay a gamma-distributed time; a Heston-like
  variance that reverts to the new regime's level over tens of bars (volatility does not jump at
  a regime change); a daily U-shaped volatility cycle; Student-t(3) noise. Written after the
  detector was settled and never tuned on: the benchmark's held-out construction.

All are seeded and reproducible and return a
:class:`~tradefleet_runtime.marketdata.synthetic.SyntheticMarket`, the true regime per bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tradefleet_runtime.marketdata.synthetic import (
    DEFAULT_START_MS,
    CodeArray,
    FloatArray,
    SyntheticMarket,
    SyntheticMarketError,
    markov_path,
    sticky_transitions,
)

REGIME_NAMES = ("bullish_calm", "bearish_volatile", "squeeze")
BULLISH, BEARISH, SQUEEZE = range(3)


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeLevels:
    """Per-regime drift and volatility (per bar), in ``REGIME_NAMES`` order."""

    mean_log_return: tuple[float, float, float]
    volatility: tuple[float, float, float]


GARCH_LEVELS = RegimeLevels(
    mean_log_return=(0.0005, -0.0007, 0.0), volatility=(0.0045, 0.013, 0.0018)
)
JUMP_LEVELS = RegimeLevels(
    mean_log_return=(0.0004, -0.0008, 0.0), volatility=(0.0035, 0.010, 0.0012)
)
BURST_LEVELS = RegimeLevels(
    mean_log_return=(0.0007, -0.0005, 0.0001), volatility=(0.005, 0.012, 0.002)
)
SEASONAL_LEVELS = RegimeLevels(
    mean_log_return=(0.0004, -0.0006, 0.0), volatility=(0.004, 0.011, 0.0016)
)


def _check(*, seed: int, n_bars: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SyntheticMarketError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(n_bars, bool) or not isinstance(n_bars, int) or n_bars < 1:
        raise SyntheticMarketError(f"n_bars must be an integer >= 1, got {n_bars!r}")


def _unit_student_t(rng: np.random.Generator, *, dof: float, size: int) -> FloatArray:
    """Student-t draws scaled to unit variance (dof > 2)."""
    return np.asarray(rng.standard_t(dof, size=size) / math.sqrt(dof / (dof - 2.0)))


def _market(
    *,
    rng: np.random.Generator,
    log_returns: FloatArray,
    volatility: FloatArray,
    regime: CodeArray,
    start_ms: int,
    bar_seconds: int,
) -> SyntheticMarket:
    """OHLCV bars from close-to-close log returns and each bar's volatility."""
    n_bars = log_returns.size
    close = 30_000.0 * np.exp(np.cumsum(log_returns))
    open_ = np.empty(n_bars)
    open_[0] = 30_000.0
    open_[1:] = close[:-1]
    high = np.maximum(open_, close) * np.exp(volatility * 0.5 * np.abs(rng.standard_normal(n_bars)))
    low = np.minimum(open_, close) * np.exp(-volatility * 0.5 * np.abs(rng.standard_normal(n_bars)))
    size = np.abs(log_returns) / np.maximum(volatility, 1e-12)
    volume = 100.0 * (volatility / 0.004) * np.exp(0.3 * rng.standard_normal(n_bars)) * (1 + size)
    timestamp_ms = start_ms + np.arange(n_bars, dtype=np.int64) * (bar_seconds * 1000)
    for array in (timestamp_ms, open_, high, low, close, volume, regime):
        array.flags.writeable = False
    return SyntheticMarket(
        timestamp_ms=timestamp_ms,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        regime=regime,
        regime_names=REGIME_NAMES,
    )


def generate_garch_market(
    *,
    seed: int,
    n_bars: int,
    levels: RegimeLevels = GARCH_LEVELS,
    degrees_of_freedom: float = 4.0,
    arch: float = 0.08,
    garch: float = 0.90,
    stay_probability: float = 0.995,
    bar_seconds: int = 60,
    start_ms: int = DEFAULT_START_MS,
) -> SyntheticMarket:
    """Student-t returns whose variance clusters (GARCH(1,1)) around each regime's level.

    The GARCH runs on the standardised shock, so the regime sets the level and the clustering
    stays inside the regime: sigma_t = vol_k * sqrt(g_t), g_t = (1 - a - b) + a z_{t-1}^2 g_{t-1}
    + b g_{t-1}, z ~ unit-variance t(dof).
    """
    _check(seed=seed, n_bars=n_bars)
    if not (degrees_of_freedom > 2.0 and arch >= 0.0 and garch >= 0.0 and arch + garch < 1.0):
        raise SyntheticMarketError("needs dof > 2 and a stationary GARCH (arch + garch < 1)")
    rng = np.random.default_rng(seed)
    matrix = sticky_transitions(n_states=3, stay_probability=stay_probability)
    regime = markov_path(rng=rng, transitions=matrix, length=n_bars, initial_state=BULLISH)
    shocks = _unit_student_t(rng, dof=degrees_of_freedom, size=n_bars).tolist()
    level = 1.0 - arch - garch
    variance = np.empty(n_bars)
    g = 1.0
    for t, z in enumerate(shocks):
        variance[t] = g
        g = level + (arch * z * z + garch) * g
    vol = np.asarray(levels.volatility)[regime] * np.sqrt(variance)
    log_returns = np.asarray(levels.mean_log_return)[regime] + vol * np.asarray(shocks)
    return _market(
        rng=rng,
        log_returns=log_returns,
        volatility=vol,
        regime=regime,
        start_ms=start_ms,
        bar_seconds=bar_seconds,
    )


# After a stay in a regime, where the market goes next (no self transitions): a squeeze breaks
# out up or down, a trend calms into a squeeze or turns.
_JUMP_CHAIN = np.array([[0.0, 0.45, 0.55], [0.45, 0.0, 0.55], [0.5, 0.5, 0.0]])


def _semi_markov_path(
    *, length: int, state: int, stay: Callable[[], int], move: Callable[[int], int]
) -> CodeArray:
    """Regimes from ``state`` on: each held for ``stay()`` bars, then ``move(state)``."""
    codes = np.empty(length, dtype=np.int8)
    position = 0
    while position < length:
        span = stay()
        codes[position : position + span] = state
        position += span
        state = move(state)
    return codes


def generate_jump_market(
    *,
    seed: int,
    n_bars: int,
    levels: RegimeLevels = JUMP_LEVELS,
    min_stay: int = 80,
    max_stay: int = 500,
    log_vol_persistence: float = 0.97,
    log_vol_spread: float = 0.3,
    jump_probability: float = 0.01,
    jump_scale: float = 4.0,
    bar_seconds: int = 60,
    start_ms: int = DEFAULT_START_MS,
) -> SyntheticMarket:
    """Semi-Markov regimes; stochastic volatility around each level; Laplace noise and jumps.

    log sigma_t = log vol_k + x_t with x_t = phi x_{t-1} + e_t (stationary spread
    ``log_vol_spread``); returns are drift + sigma_t * Laplace (unit variance), plus with
    probability ``jump_probability`` a N(0, (jump_scale * vol_k)^2) jump.
    """
    _check(seed=seed, n_bars=n_bars)
    if not (0 < min_stay <= max_stay and 0.0 <= log_vol_persistence < 1.0):
        raise SyntheticMarketError("needs 0 < min_stay <= max_stay and persistence in [0, 1)")
    rng = np.random.default_rng(seed)
    regime = _semi_markov_path(
        length=n_bars,
        state=SQUEEZE,
        stay=lambda: int(rng.integers(min_stay, max_stay + 1)),
        move=lambda state: int(rng.choice(3, p=_JUMP_CHAIN[state])),
    )
    innovation = log_vol_spread * math.sqrt(1.0 - log_vol_persistence**2)
    steps = (innovation * rng.standard_normal(n_bars)).tolist()
    log_vol = np.empty(n_bars)
    x = 0.0
    for t, step in enumerate(steps):
        x = log_vol_persistence * x + step
        log_vol[t] = x
    base = np.asarray(levels.volatility)[regime]
    vol = base * np.exp(log_vol)
    noise = rng.laplace(0.0, 1.0 / math.sqrt(2.0), size=n_bars)
    jumps = (rng.random(n_bars) < jump_probability) * rng.standard_normal(n_bars) * jump_scale
    log_returns = np.asarray(levels.mean_log_return)[regime] + vol * noise + base * jumps
    return _market(
        rng=rng,
        log_returns=log_returns,
        volatility=vol,
        regime=regime,
        start_ms=start_ms,
        bar_seconds=bar_seconds,
    )


def generate_burst_market(
    *,
    seed: int,
    n_bars: int,
    levels: RegimeLevels = BURST_LEVELS,
    stay_probability: float = 0.993,
    burst_stay: float = 0.97,
    sub_steps: int = 5,
    degrees_of_freedom: float = 3.5,
    skew: float = -0.3,
    bar_seconds: int = 60,
    start_ms: int = DEFAULT_START_MS,
) -> SyntheticMarket:
    """Sticky regimes with a persistent calm/burst state inside each; skewed t sub-steps.

    Within a regime the volatility is vol_k * 0.6 (calm) or vol_k * 1.8 (burst), switching with
    stay probability ``burst_stay``; a bar's return is the drift plus the sum of ``sub_steps``
    unit-variance t draws, each made skewed by scaling its negative values by (1 - skew).
    """
    _check(seed=seed, n_bars=n_bars)
    if not (sub_steps >= 1 and degrees_of_freedom > 2.0 and -1.0 < skew < 1.0):
        raise SyntheticMarketError("needs sub_steps >= 1, dof > 2 and skew in (-1, 1)")
    rng = np.random.default_rng(seed)
    matrix = sticky_transitions(n_states=3, stay_probability=stay_probability)
    regime = markov_path(rng=rng, transitions=matrix, length=n_bars, initial_state=SQUEEZE)
    bursts = markov_path(
        rng=rng,
        transitions=sticky_transitions(n_states=2, stay_probability=burst_stay),
        length=n_bars,
        initial_state=0,
    )
    draws = _unit_student_t(rng, dof=degrees_of_freedom, size=n_bars * sub_steps)
    draws = np.where(draws < 0.0, draws * (1.0 - skew), draws)
    draws = (draws - draws.mean()) / draws.std()
    shock = draws.reshape(n_bars, sub_steps).sum(axis=1) / math.sqrt(sub_steps)
    vol = np.asarray(levels.volatility)[regime] * np.where(bursts == 1, 1.8, 0.6)
    log_returns = np.asarray(levels.mean_log_return)[regime] + vol * shock
    return _market(
        rng=rng,
        log_returns=log_returns,
        volatility=vol,
        regime=regime,
        start_ms=start_ms,
        bar_seconds=bar_seconds,
    )


def generate_seasonal_market(
    *,
    seed: int,
    n_bars: int,
    levels: RegimeLevels = SEASONAL_LEVELS,
    mean_stay: float = 300.0,
    stay_shape: float = 2.0,
    reversion: float = 0.05,
    vol_of_variance: float = 0.25,
    daily_amplitude: float = 0.35,
    degrees_of_freedom: float = 3.0,
    bar_seconds: int = 60,
    start_ms: int = DEFAULT_START_MS,
) -> SyntheticMarket:
    """Gamma-distributed regime stays; Heston-like variance reverting to the regime's level; a
    daily U-shaped volatility cycle; Student-t noise.

    v_t = v_{t-1} + kappa (theta_k - v_{t-1}) + xi sqrt(theta_k v_{t-1}) e_t (floored at 1 %
    of theta_k), theta_k = vol_k^2; the bar's volatility is sqrt(v_t) times
    1 + a cos(2 pi h / 24), h the hour of the day (busiest at midnight UTC, quietest at noon).
    """
    _check(seed=seed, n_bars=n_bars)
    if not (0.0 < reversion <= 1.0 and degrees_of_freedom > 2.0 and 0 <= daily_amplitude < 1):
        raise SyntheticMarketError("needs reversion in (0, 1], dof > 2, amplitude in [0, 1)")
    rng = np.random.default_rng(seed)
    # Stays of Gamma(shape, mean / shape) bars (at least one), then one of the other two regimes.
    regime = _semi_markov_path(
        length=n_bars,
        state=int(rng.integers(3)),
        stay=lambda: max(1, round(float(rng.gamma(stay_shape, mean_stay / stay_shape)))),
        move=lambda state: (state + 1 + int(rng.integers(2))) % 3,
    )
    target = (np.asarray(levels.volatility) ** 2)[regime].tolist()
    steps = rng.standard_normal(n_bars).tolist()
    variance = np.empty(n_bars)
    v = target[0]
    for t, (theta, step) in enumerate(zip(target, steps, strict=True)):
        v += reversion * (theta - v) + vol_of_variance * math.sqrt(theta * v) * step
        v = max(v, 0.01 * theta)
        variance[t] = v
    timestamp_ms = start_ms + np.arange(n_bars, dtype=np.int64) * (bar_seconds * 1000)
    hour = (timestamp_ms // 1000 % 86_400) / 3_600.0
    vol = np.sqrt(variance) * (1.0 + daily_amplitude * np.cos(2.0 * math.pi * hour / 24.0))
    noise = _unit_student_t(rng, dof=degrees_of_freedom, size=n_bars)
    log_returns = np.asarray(levels.mean_log_return)[regime] + vol * noise
    return _market(
        rng=rng,
        log_returns=log_returns,
        volatility=vol,
        regime=regime,
        start_ms=start_ms,
        bar_seconds=bar_seconds,
    )
