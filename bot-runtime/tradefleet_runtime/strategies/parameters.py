"""Parameters of the indicator strategies, read from a TradingBot's ``spec.strategy.parameters``.

The bot runtime and the backtest CLI call :meth:`StrategyParameters.from_spec` with the
camelCase dict of the CRD; the optimizer writes its result back with
:meth:`StrategyParameters.to_spec`. Every value is checked here once, so a bad spec
fails with a :class:`~tradefleet_runtime.strategies.errors.StrategyConfigError` that
names the field, never deep inside an indicator.

Percent units as in the CRD: ``stop_loss_pct = 1.0`` means 1 %. The first eight fields
are the CRD's; the Bollinger, breakout and volume fields are read by the mean-reversion
and momentum-breakout plugins and default when absent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from tradefleet_runtime.strategies.errors import StrategyConfigError


@dataclass(frozen=True, kw_only=True, slots=True)
class _Rule:
    """Allowed values of one field: integer or number, with bounds (open or closed below)."""

    low: float
    high: float
    integer: bool = False
    low_inclusive: bool = True

    def check(self, *, key: str, value: object) -> None:
        kind = "an integer" if self.integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise StrategyConfigError(
                f"spec.strategy.parameters.{key} must be {kind}, got {value!r}"
            )
        if self.integer and not isinstance(value, int):
            raise StrategyConfigError(
                f"spec.strategy.parameters.{key} must be {kind}, got {value!r}"
            )
        above_low = value >= self.low if self.low_inclusive else value > self.low
        if not (math.isfinite(value) and above_low and value <= self.high):
            bracket = "[" if self.low_inclusive else "("
            raise StrategyConfigError(
                f"spec.strategy.parameters.{key} must be within {bracket}{self.low:g}, "
                f"{self.high:g}], got {value!r}"
            )


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True, kw_only=True, slots=True)
class StrategyParameters:
    """Indicator periods, RSI levels, exits and sizing of the indicator strategies."""

    ema_fast: int = 12
    ema_slow: int = 26
    rsi_period: int = 14
    rsi_overbought: float = 70.0
    rsi_oversold: float = 30.0
    stop_loss_pct: float = 1.0
    take_profit_pct: float = 2.0
    risk_per_trade_pct: float = 0.5
    bollinger_period: int = 20
    bollinger_std_dev: float = 2.0
    breakout_lookback: int = 20
    volume_window: int = 20
    volume_spike_multiplier: float = 1.5

    def __post_init__(self) -> None:
        for name, rule in _RULES.items():
            rule.check(key=_SPEC_KEYS[name], value=getattr(self, name))
        if self.ema_fast >= self.ema_slow:
            raise StrategyConfigError(
                f"spec.strategy.parameters.emaFast ({self.ema_fast}) must be below "
                f"emaSlow ({self.ema_slow})"
            )
        if self.rsi_oversold >= self.rsi_overbought:
            raise StrategyConfigError(
                f"spec.strategy.parameters.rsiOversold ({self.rsi_oversold:g}) must be below "
                f"rsiOverbought ({self.rsi_overbought:g})"
            )

    @classmethod
    def from_spec(cls, parameters: Mapping[str, object]) -> StrategyParameters:
        """Parameters from ``spec.strategy.parameters`` (camelCase keys; absent keys default)."""
        if not isinstance(parameters, Mapping):
            raise StrategyConfigError(
                f"spec.strategy.parameters must be an object, got {type(parameters).__name__}"
            )
        unknown = sorted(str(key) for key in parameters if key not in _FIELD_BY_KEY)
        if unknown:
            raise StrategyConfigError(
                f"spec.strategy.parameters has unknown field(s) {', '.join(unknown)}; "
                f"known fields: {', '.join(sorted(_FIELD_BY_KEY))}"
            )
        values = {_FIELD_BY_KEY[str(key)]: value for key, value in parameters.items()}
        # Types and ranges are checked by __post_init__, which names the offending key.
        return cls(**values)  # type: ignore[arg-type]

    def to_spec(self) -> dict[str, int | float]:
        """The camelCase dict of ``spec.strategy.parameters``."""
        return {_SPEC_KEYS[name]: getattr(self, name) for name in _SPEC_KEYS}


_PERIOD = _Rule(low=2, high=1_000, integer=True)
_RULES: Mapping[str, _Rule] = {
    # The eight CRD fields carry the CRD schema's bounds.
    "ema_fast": _Rule(low=2, high=500, integer=True),
    "ema_slow": _Rule(low=3, high=1_000, integer=True),
    "rsi_period": _Rule(low=2, high=200, integer=True),
    "rsi_overbought": _Rule(low=50.0, high=100.0),
    "rsi_oversold": _Rule(low=0.0, high=50.0),
    "stop_loss_pct": _Rule(low=0.0, high=50.0, low_inclusive=False),
    "take_profit_pct": _Rule(low=0.0, high=100.0, low_inclusive=False),
    "risk_per_trade_pct": _Rule(low=0.0, high=10.0, low_inclusive=False),
    "bollinger_period": _PERIOD,
    "bollinger_std_dev": _Rule(low=0.0, high=10.0, low_inclusive=False),
    "breakout_lookback": _PERIOD,
    "volume_window": _PERIOD,
    # A spike is volume above its average, so the multiplier is at least 1.
    "volume_spike_multiplier": _Rule(low=1.0, high=20.0),
}
_SPEC_KEYS: Mapping[str, str] = {
    item.name: _camel_case(item.name) for item in fields(StrategyParameters)
}
_FIELD_BY_KEY: Mapping[str, str] = {key: name for name, key in _SPEC_KEYS.items()}


def spec_key(field: str) -> str:
    """The camelCase key of ``spec.strategy.parameters`` for a StrategyParameters field."""
    return _SPEC_KEYS[field]
