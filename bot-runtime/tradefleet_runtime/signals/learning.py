"""Fusion weights that learn from each signal's realised performance (opt-in per bot).

Who calls it: the bot runtime (``service/fusion_learning.py``) once per closed bar of the
strategy's timeframe, with the signals it fused at that bar's close and the close price; a
backtest feeds the same bars to :func:`replay`. Both are the same fold of :func:`step` over
the same inputs, so they give the same weights float for float — and the state, a plain
value (``to_dict``/``from_dict``, exact through JSON), survives a restart mid-way.

Per signal name (a fusion component with a positive base weight):

* its value at decision time t is the reading's value × confidence, as fusion used it;
* the realised return is close[t+h] / close[t] − 1, h = ``horizon_bars`` closed bars later;
* its information coefficient (IC) is the exponentially weighted Pearson correlation of the
  two, each observation's weight halving every ``half_life_bars`` observations of the signal.

Each resolved bar is one update. The signals observed at t share the weight they hold now in
the target ``(1 − λ)·base_i/Σbase + λ·max(IC_i, 0)/Σmax(IC, 0)`` (the base weights alone when
no IC is positive), with ``λ = 1 − 2^(−updates/half_life_bars)``: trust in the ICs grows as
evidence accumulates, so a handful of bars cannot swing the weights. Every weight then moves
toward its target by at most ``max_step``, never below ``floor``, and the weights keep
summing to the base total (the Euclidean projection onto those bounds). A signal absent at t
(missing, stale or at zero confidence) has nothing to learn from and keeps its weight.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from tradefleet_runtime.signals.errors import SignalConfigError, SignalDataError
from tradefleet_runtime.signals.validation import require_in_range, require_int_at_least

# Variances under this are a constant signal or a flat market: no correlation to speak of.
_MIN_VARIANCE = 1e-18
# Bisection steps of the projection: each halves the bracket (a few units wide), so 64 take
# it below 1e-18; it stops sooner once the bracket is one ulp wide.
_PROJECTION_STEPS = 64
STATE_VERSION = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class LearningConfig:
    """What the learner starts from (``base_weights``) and how fast it may move.

    ``bar_ms`` is the timeframe's length: a bar whose horizon passed unseen (a restart, a
    gap in the data) is dropped rather than scored against a later, longer return.
    """

    base_weights: Mapping[str, float]
    bar_ms: int
    half_life_bars: int = 48
    max_step: float = 0.02
    floor: float = 0.02
    horizon_bars: int = 1

    def __post_init__(self) -> None:
        require_int_at_least(name="bar_ms", value=self.bar_ms, minimum=1)
        require_int_at_least(name="half_life_bars", value=self.half_life_bars, minimum=1)
        require_int_at_least(name="horizon_bars", value=self.horizon_bars, minimum=1)
        require_in_range(name="max_step", value=self.max_step, low=1e-9, high=1.0)
        require_in_range(name="floor", value=self.floor, low=0.0, high=1.0)
        learned = self.learned
        if not learned:
            raise SignalConfigError("learning needs at least one component with a positive weight")
        if self.floor * len(learned) > self.total + 1e-12:
            raise SignalConfigError(
                f"floor {self.floor:g} × {len(learned)} signals exceeds the weight total "
                f"{self.total:g}"
            )

    @property
    def learned(self) -> tuple[str, ...]:
        """The components that learn: those with a positive base weight, in base order (a
        weight of 0 keeps a component out of fusion, so there is nothing to learn from)."""
        return tuple(name for name, weight in self.base_weights.items() if weight > 0.0)

    @property
    def total(self) -> float:
        return sum(self.base_weights[name] for name in self.learned)

    @property
    def decay(self) -> float:
        return math.pow(0.5, 1.0 / self.half_life_bars)


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalStats:
    """Exponentially weighted sums of one signal x against the realised return r."""

    count: int = 0
    w: float = 0.0
    x: float = 0.0
    r: float = 0.0
    xx: float = 0.0
    rr: float = 0.0
    xr: float = 0.0

    def add(self, *, x: float, r: float, decay: float) -> SignalStats:
        return SignalStats(
            count=self.count + 1,
            w=decay * self.w + 1.0,
            x=decay * self.x + x,
            r=decay * self.r + r,
            xx=decay * self.xx + x * x,
            rr=decay * self.rr + r * r,
            xr=decay * self.xr + x * r,
        )

    @property
    def ic(self) -> float:
        """The weighted correlation of x and r; 0 until both vary."""
        if self.w <= 0.0:
            return 0.0
        mean_x, mean_r = self.x / self.w, self.r / self.w
        var_x = self.xx / self.w - mean_x * mean_x
        var_r = self.rr / self.w - mean_r * mean_r
        if var_x <= _MIN_VARIANCE or var_r <= _MIN_VARIANCE:
            return 0.0
        cov = self.xr / self.w - mean_x * mean_r
        return max(-1.0, min(1.0, cov / math.sqrt(var_x * var_r)))

    def to_dict(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "w": self.w,
            "x": self.x,
            "r": self.r,
            "xx": self.xx,
            "rr": self.rr,
            "xr": self.xr,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SignalStats:
        return cls(
            count=int(raw["count"]),
            **{key: float(raw[key]) for key in ("w", "x", "r", "xx", "rr", "xr")},
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingBar:
    """A bar close whose return is not known yet: its time, price and the signals at it."""

    close_ms: int
    price: float
    signals: Mapping[str, float]

    def to_dict(self) -> dict[str, object]:
        return {"close_ms": self.close_ms, "price": self.price, "signals": dict(self.signals)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PendingBar:
        return cls(
            close_ms=int(raw["close_ms"]),
            price=float(raw["price"]),
            signals=MappingProxyType({str(k): float(v) for k, v in raw["signals"].items()}),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class LearnerState:
    """The learner's whole state: current weights, per-signal statistics, bars awaiting their
    return, and how many updates (resolved bars with at least one signal) it has made."""

    weights: Mapping[str, float]
    stats: Mapping[str, SignalStats] = field(default_factory=dict)
    pending: tuple[PendingBar, ...] = ()
    updates: int = 0

    @classmethod
    def initial(cls, config: LearningConfig) -> LearnerState:
        return cls(
            weights=MappingProxyType({name: config.base_weights[name] for name in config.learned})
        )

    def ic(self) -> dict[str, float]:
        return {name: stats.ic for name, stats in self.stats.items()}

    def to_dict(self) -> dict[str, object]:
        return {
            "version": STATE_VERSION,
            "weights": dict(self.weights),
            "stats": {name: stats.to_dict() for name, stats in self.stats.items()},
            "pending": [bar.to_dict() for bar in self.pending],
            "updates": self.updates,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, config: LearningConfig) -> LearnerState:
        """The saved state, if it belongs to ``config`` (same signals, same total);
        ``SignalDataError`` otherwise, and the caller starts afresh."""
        try:
            if raw.get("version") != STATE_VERSION:
                raise SignalDataError(f"learner state version {raw.get('version')!r}")
            weights = {str(k): float(v) for k, v in raw["weights"].items()}
            state = cls(
                weights=MappingProxyType(weights),
                stats=MappingProxyType(
                    {str(k): SignalStats.from_dict(v) for k, v in raw["stats"].items()}
                ),
                pending=tuple(PendingBar.from_dict(bar) for bar in raw["pending"]),
                updates=int(raw["updates"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise SignalDataError(f"malformed learner state: {error!r}") from None
        if tuple(weights) != config.learned or set(state.stats) - set(config.learned):
            raise SignalDataError("learner state is for other signals")
        if abs(sum(weights.values()) - config.total) > 1e-9:
            raise SignalDataError("learner state weights do not sum to the base total")
        return state


def step(
    *,
    config: LearningConfig,
    state: LearnerState,
    close_ms: int,
    price: float,
    signals: Mapping[str, float],
) -> LearnerState:
    """Fold in one closed bar: score the bar ``horizon_bars`` back, then remember this one.

    ``signals`` are the values (value × confidence) fusion used at this close; names that do
    not learn are ignored. A bar not after the last one remembered changes nothing.
    """
    if not (price > 0.0 and math.isfinite(price)):
        raise SignalDataError(f"close price must be positive and finite, got {price!r}")
    if state.pending and close_ms <= state.pending[-1].close_ms:
        return state
    horizon_ms = config.horizon_bars * config.bar_ms
    for bar in state.pending:
        if bar.close_ms + horizon_ms == close_ms:
            state = _update(config=config, state=state, bar=bar, price=price)
    kept = tuple(bar for bar in state.pending if bar.close_ms + horizon_ms > close_ms)
    values = {
        name: float(signals[name])
        for name in config.learned
        if name in signals and math.isfinite(signals[name])
    }
    return replace(
        state,
        pending=(
            *kept,
            PendingBar(close_ms=close_ms, price=price, signals=MappingProxyType(values)),
        ),
    )


def replay(
    *,
    config: LearningConfig,
    bars: Iterable[tuple[int, float, Mapping[str, float]]],
    state: LearnerState | None = None,
) -> LearnerState:
    """The backtest's way in: ``(close_ms, price, signals)`` per bar, folded with :func:`step`."""
    current = state if state is not None else LearnerState.initial(config)
    for close_ms, price, signals in bars:
        current = step(
            config=config, state=current, close_ms=close_ms, price=price, signals=signals
        )
    return current


def _update(
    *, config: LearningConfig, state: LearnerState, bar: PendingBar, price: float
) -> LearnerState:
    """One learning step from ``bar``'s signals and the return since it closed."""
    if not bar.signals:
        return state
    realised = price / bar.price - 1.0
    decay = config.decay
    stats = dict(state.stats)
    for name, value in bar.signals.items():
        stats[name] = stats.get(name, SignalStats()).add(x=value, r=realised, decay=decay)
    updates = state.updates + 1
    observed = tuple(name for name in config.learned if name in bar.signals)
    targets = _targets(config=config, state=state, stats=stats, observed=observed, updates=updates)
    weights = _project(config=config, current=state.weights, targets=targets, observed=observed)
    return replace(
        state,
        weights=MappingProxyType(weights),
        stats=MappingProxyType(stats),
        updates=updates,
    )


def _targets(
    *,
    config: LearningConfig,
    state: LearnerState,
    stats: Mapping[str, SignalStats],
    observed: tuple[str, ...],
    updates: int,
) -> dict[str, float]:
    """Where the observed signals' weights head: their present mass, shared by base and IC."""
    mass = sum(state.weights[name] for name in observed)
    base_mass = sum(config.base_weights[name] for name in observed)
    positive = {name: max(stats[name].ic, 0.0) for name in observed}
    positive_total = sum(positive.values())
    trust = 1.0 - 0.5 ** (updates / config.half_life_bars) if positive_total > 0.0 else 0.0
    return {
        name: mass
        * (
            (1.0 - trust) * config.base_weights[name] / base_mass
            + (trust * positive[name] / positive_total if positive_total > 0.0 else 0.0)
        )
        for name in observed
    }


def _project(
    *,
    config: LearningConfig,
    current: Mapping[str, float],
    targets: Mapping[str, float],
    observed: tuple[str, ...],
) -> dict[str, float]:
    """The weights nearest ``targets`` that move at most ``max_step``, stay at or above
    ``floor`` (or where they are, if a base weight starts below it) and keep their sum.

    The projection onto a box and a sum is ``clip(target + μ, low, high)`` for the one μ
    that restores the sum; the sum is monotone in μ, so bisection finds it. ``current``
    lies in the box and has the sum, so such a μ exists.
    """
    now = [current[name] for name in observed]
    wanted = [targets[name] for name in observed]
    lows = [max(min(weight, config.floor), weight - config.max_step) for weight in now]
    highs = [weight + config.max_step for weight in now]
    mass = sum(now)
    bounds = tuple(zip(wanted, lows, highs, strict=True))

    def placed(mu: float) -> list[float]:
        return [min(high, max(low, target + mu)) for target, low, high in bounds]

    low, high = -1.0 - mass, 1.0 + mass
    for _ in range(_PROJECTION_STEPS):
        mid = (low + high) / 2.0
        if mid in (low, high):  # the bracket is one ulp wide
            break
        if sum(placed(mid)) < mass:
            low = mid
        else:
            high = mid
    moved = dict(zip(observed, placed(high), strict=True))
    return {name: moved.get(name, weight) for name, weight in current.items()}
