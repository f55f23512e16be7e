"""Alpha fusion: named signal readings → one trading decision for a symbol.

The decision loop calls :meth:`AlphaFusion.fuse` with the latest
:class:`~tradefleet_runtime.signals.reading.SignalReading` of every engine (and of any
extra component — a strategy plugin, the ML ensemble — configured by name) plus the
regime's trading parameters. With weights w_i (validated to sum to 1):

    score = Σ_i value_i · confidence_i · w_i / Σ_i w_i     over the fresh readings

A reading that is missing, older than its ``max_age_ms`` or at zero confidence (it says
nothing, so it must not dilute the others) is dropped and the weights of the rest are
renormalised (the reasoning names each and why). The score is rounded to 12
decimals, so sums that are exact in decimal classify as written, then:

    score >= 0.5 STRONG_BUY;  >= 0.2 BUY;  <= -0.5 STRONG_SELL;  <= -0.2 SELL;  else NEUTRAL

Confidence = Σ_i w_i · confidence_i over the fresh readings (original weights, so
missing signals lower it). Size multiplier, stop and target come from the regime.

Readings made from closed bars (the regime, a strategy plugin) are as of the bar's close and
stay current for one bar — the next one closes then — plus a grace for fetching it late
(:func:`bar_max_age_ms`), whatever the timeframe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from tradefleet_runtime.signals.errors import SignalConfigError, SignalDataError
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime_config import RegimeTradingParams
from tradefleet_runtime.signals.validation import (
    require_in_range,
    require_int_at_least,
    require_non_negative,
)

WEIGHT_SUM_TOLERANCE = 1e-6
SCORE_DECIMALS = 12
_MINUTE_MS = 60_000
# A bar-made reading outlives its bar by this share of a bar, and by at least a minute.
BAR_GRACE_FRACTION = 0.1
BAR_GRACE_MIN_MS = _MINUTE_MS


def default_weights() -> dict[str, float]:
    return {"regime": 0.25, "ofi": 0.20, "whale": 0.20, "sentiment": 0.20, "macro": 0.15}


def default_max_age_ms() -> dict[str, int]:
    """How old each reading may be: order flow goes stale in seconds, macro in a day."""
    return {
        "regime": 120 * _MINUTE_MS,
        "ofi": 30_000,
        "whale": 120 * _MINUTE_MS,
        "sentiment": 360 * _MINUTE_MS,
        "macro": 1_440 * _MINUTE_MS,
    }


def bar_max_age_ms(*, bar_seconds: int) -> int:
    """How old a reading made at a bar's close may be: until the next bar closes, plus grace."""
    bar_ms = 1000 * bar_seconds
    return bar_ms + max(BAR_GRACE_MIN_MS, int(bar_ms * BAR_GRACE_FRACTION))


class FusedAction(StrEnum):
    STRONG_BUY = "strong_buy"
    BUY = "buy"
    NEUTRAL = "neutral"
    SELL = "sell"
    STRONG_SELL = "strong_sell"


@dataclass(frozen=True, kw_only=True, slots=True)
class FusionConfig:
    """Weights by component name, staleness limits, and the two score thresholds.

    Components without an entry in ``max_age_ms`` use ``default_max_age_ms``.
    """

    weights: Mapping[str, float] = field(default_factory=default_weights)
    max_age_ms: Mapping[str, int] = field(default_factory=default_max_age_ms)
    default_max_age_ms: int = 60 * _MINUTE_MS
    buy_threshold: float = 0.2
    strong_threshold: float = 0.5

    def __post_init__(self) -> None:
        if not self.weights:
            raise SignalConfigError("fusion needs at least one weighted component")
        for name, weight in self.weights.items():
            if not name:
                raise SignalConfigError("fusion component names must not be empty")
            require_non_negative(name=f"weights[{name!r}]", value=weight)
        total = sum(self.weights.values())
        if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
            raise SignalConfigError(
                f"fusion weights must sum to 1 (±{WEIGHT_SUM_TOLERANCE:g}), got {total:.9g}"
            )
        for name, age in self.max_age_ms.items():
            require_int_at_least(name=f"max_age_ms[{name!r}]", value=age, minimum=1)
        require_int_at_least(name="default_max_age_ms", value=self.default_max_age_ms, minimum=1)
        require_in_range(name="buy_threshold", value=self.buy_threshold, low=1e-9, high=1.0)
        require_in_range(
            name="strong_threshold", value=self.strong_threshold, low=self.buy_threshold, high=1.0
        )
        if self.strong_threshold == self.buy_threshold:
            raise SignalConfigError("strong_threshold must be greater than buy_threshold")


class FusedSignal(NamedTuple):
    """One fusion decision; ``used`` are the fresh readings that made the score, in weight order.

    ``reasoning`` explains the decision to people (API, logs, backtest reports) and is built
    only when read: the decision loop itself never needs the text. A named tuple, not a
    frozen dataclass: one is built per decision, on the tick-to-order path, and a tuple is
    as immutable and about three times cheaper to build.
    """

    symbol: str
    signal: FusedAction
    score: float
    confidence: float
    position_size_multiplier: float
    stop_loss_pct: float
    take_profit_pct: float
    component_scores: Mapping[str, float]
    weights_used: Mapping[str, float]
    dropped: tuple[str, ...]
    used: tuple[SignalReading, ...]
    ignored: tuple[str, ...]  # names of readings without a weight, sorted
    as_of_ms: int

    @property
    def reasoning(self) -> tuple[str, ...]:
        """One line per used reading, then what was dropped or ignored and why."""
        lines = [
            f"{reading.detail or reading.name}: {reading.value:+.2f} at "
            f"{reading.confidence:.0%} confidence, weight {self.weights_used[reading.name]:.2f}"
            for reading in self.used
        ]
        if self.dropped:
            lines.append(
                f"dropped {', '.join(self.dropped)}; "
                f"weights renormalised over {len(self.used)} signals"
            )
        if self.ignored:
            lines.append(f"ignored readings without a weight: {', '.join(self.ignored)}")
        return tuple(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "signal": self.signal.value,
            "confidence": self.confidence,
            "score": self.score,
            "position_size_multiplier": self.position_size_multiplier,
            "stop_loss_pct": self.stop_loss_pct,
            "take_profit_pct": self.take_profit_pct,
            "reasoning": list(self.reasoning),
            "component_scores": dict(self.component_scores),
            "weights_used": dict(self.weights_used),
            "dropped": list(self.dropped),
            "as_of_ms": self.as_of_ms,
        }


def classify(*, score: float, buy_threshold: float, strong_threshold: float) -> FusedAction:
    """The threshold rule of the module docstring (boundaries belong to the stronger side)."""
    if score >= strong_threshold:
        return FusedAction.STRONG_BUY
    if score >= buy_threshold:
        return FusedAction.BUY
    if score <= -strong_threshold:
        return FusedAction.STRONG_SELL
    if score <= -buy_threshold:
        return FusedAction.SELL
    return FusedAction.NEUTRAL


class AlphaFusion:
    """Combines readings with the configured weights (stateless apart from its config)."""

    __slots__ = ("_components", "_config")

    def __init__(self, *, config: FusionConfig) -> None:
        self._config = config
        # (name, weight, max age, note if missing) in weight order: built once, not per decision.
        self._components = tuple(
            (
                name,
                weight,
                config.max_age_ms.get(name, config.default_max_age_ms),
                f"{name}: missing",
            )
            for name, weight in config.weights.items()
        )

    @property
    def config(self) -> FusionConfig:
        return self._config

    def fuse(
        self,
        *,
        symbol: str,
        readings: Iterable[SignalReading],
        regime_params: RegimeTradingParams,
        now_ms: int,
    ) -> FusedSignal:
        config = self._config
        by_name: dict[str, SignalReading] = {}
        for given in readings:
            if given.name in by_name:
                raise SignalDataError(f"two readings named {given.name!r} in one fusion")
            by_name[given.name] = given
        used: list[SignalReading] = []
        used_weights: list[float] = []
        dropped: list[str] = []
        weighted_present = 0
        for name, weight, limit_ms, missing in self._components:
            reading = by_name.get(name)
            if reading is None:
                dropped.append(missing)
                continue
            weighted_present += 1
            age_ms = now_ms - reading.as_of_ms
            if age_ms > limit_ms:
                dropped.append(
                    f"{name}: stale ({age_ms / 1000:.0f} s old, limit {limit_ms / 1000:.0f} s)"
                )
                continue
            if reading.confidence <= 0.0:
                dropped.append(f"{name}: zero confidence")
                continue
            if weight > 0.0:
                used.append(reading)
                used_weights.append(weight)
        total_weight = sum(used_weights)
        component_scores: dict[str, float] = {}
        weights_used: dict[str, float] = {}
        weighted_sum = confidence = 0.0
        for reading, weight in zip(used, used_weights, strict=True):
            weighted_sum += reading.value * reading.confidence * weight
            confidence += weight * reading.confidence
            component_scores[reading.name] = reading.value
            weights_used[reading.name] = weight / total_weight
        score = round(weighted_sum / total_weight, SCORE_DECIMALS) if total_weight > 0 else 0.0
        ignored = (
            tuple(sorted(name for name in by_name if name not in config.weights))
            if weighted_present < len(by_name)
            else ()
        )
        return FusedSignal(
            symbol=symbol,
            signal=classify(
                score=score,
                buy_threshold=config.buy_threshold,
                strong_threshold=config.strong_threshold,
            ),
            score=score,
            confidence=min(1.0, confidence),
            position_size_multiplier=regime_params.position_size_multiplier,
            stop_loss_pct=regime_params.stop_loss_pct,
            take_profit_pct=regime_params.take_profit_pct,
            component_scores=component_scores,
            weights_used=weights_used,
            dropped=tuple(dropped),
            used=tuple(used),
            ignored=ignored,
            as_of_ms=now_ms,
        )
