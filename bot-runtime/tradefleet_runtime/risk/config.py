"""Risk configuration: the TradingBot's ``spec.risk`` as a validated, frozen ``RiskLimits``.

The bot runtime calls ``RiskLimits.from_spec(spec["risk"])`` once per revision and hands the
result to ``RiskEngine``; the operator may call it to reject a bad spec before rollout. Every
bad value raises ``RiskConfigError`` naming the camelCase field the user wrote.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from types import MappingProxyType

from pydantic import ValidationError
from tradefleet_api import describe_validation_error, validate
from tradefleet_api import models as api
from tradefleet_api.rules import risk_breaches

from tradefleet_runtime.risk.errors import RiskConfigError

MAX_EXCHANGE_LEVERAGE = 125.0


class RiskRegime(StrEnum):
    """The risk profiles the engine sizes and stops by."""

    NORMAL = "normal"
    VOLATILE = "volatile"
    TRENDING = "trending"
    CRASH = "crash"
    BULL_RUN = "bull_run"
    RECOVERY = "recovery"


DEFAULT_RECOVERY_DRAWDOWN_PCT = 5.0


@dataclass(frozen=True, kw_only=True, slots=True)
class _NumberRule:
    """A range check for one numeric setting, with the wording used in error messages."""

    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    integer: bool = False

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            opening = "[" if self.low_inclusive else "("
            closing = "]" if self.high_inclusive else ")"
            return f"in {opening}{self.low:g}, {self.high:g}{closing}"
        if self.low is not None:
            return f"{'≥' if self.low_inclusive else '>'} {self.low:g}"
        return "a finite number"

    def check(self, *, name: str, value: object) -> None:
        accepted = int if self.integer else int | float
        # bool is an int subclass, but `true` is never a sensible number of anything.
        if isinstance(value, bool) or not isinstance(value, accepted):
            kind = "an integer" if self.integer else "a number"
            raise RiskConfigError(f"{name} must be {kind}, got {value!r}")
        if not math.isfinite(value):
            raise RiskConfigError(f"{name} must be finite, got {value!r}")
        too_low = self.low is not None and (
            value < self.low or (value == self.low and not self.low_inclusive)
        )
        too_high = self.high is not None and (
            value > self.high or (value == self.high and not self.high_inclusive)
        )
        if too_low or too_high:
            raise RiskConfigError(f"{name} must be {self.describe()}, got {value!r}")


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


_POSITIVE = _NumberRule(low=0.0, low_inclusive=False)
_PERCENT = _NumberRule(low=0.0, high=100.0, low_inclusive=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeProfile:
    """How one regime scales a trade: size, stop width, risk budget and position count."""

    position_multiplier: float
    stop_multiplier: float
    risk_per_trade_pct: float
    max_positions: int

    def __post_init__(self) -> None:
        for name, rule in _PROFILE_RULES.items():
            rule.check(name=_PROFILE_KEYS[name], value=getattr(self, name))


_PROFILE_RULES: Mapping[str, _NumberRule] = {
    "position_multiplier": _NumberRule(low=0.0),
    "stop_multiplier": _POSITIVE,
    "risk_per_trade_pct": _PERCENT,
    "max_positions": _NumberRule(low=1, integer=True),
}
_PROFILE_KEYS: Mapping[str, str] = {
    item.name: _camel_case(item.name) for item in fields(RegimeProfile)
}
_PROFILE_FIELD_BY_KEY: Mapping[str, str] = {key: name for name, key in _PROFILE_KEYS.items()}

DEFAULT_REGIME_PROFILES: Mapping[RiskRegime, RegimeProfile] = MappingProxyType(
    {
        RiskRegime.NORMAL: RegimeProfile(
            position_multiplier=1.0, stop_multiplier=1.0, risk_per_trade_pct=2.0, max_positions=10
        ),
        RiskRegime.VOLATILE: RegimeProfile(
            position_multiplier=0.5, stop_multiplier=1.5, risk_per_trade_pct=1.0, max_positions=5
        ),
        RiskRegime.TRENDING: RegimeProfile(
            position_multiplier=1.2, stop_multiplier=0.8, risk_per_trade_pct=2.5, max_positions=12
        ),
        RiskRegime.CRASH: RegimeProfile(
            position_multiplier=0.2, stop_multiplier=2.0, risk_per_trade_pct=0.5, max_positions=2
        ),
        RiskRegime.BULL_RUN: RegimeProfile(
            position_multiplier=1.5, stop_multiplier=0.7, risk_per_trade_pct=3.0, max_positions=15
        ),
        RiskRegime.RECOVERY: RegimeProfile(
            position_multiplier=0.7, stop_multiplier=1.3, risk_per_trade_pct=1.5, max_positions=6
        ),
    }
)

# The signal engine's regime labels; any label not listed is treated as UNKNOWN_LABEL.
UNKNOWN_LABEL = "unknown"
DEFAULT_REGIME_MAP: Mapping[str, RiskRegime] = MappingProxyType(
    {
        "bullish_calm": RiskRegime.TRENDING,
        "bearish_volatile": RiskRegime.VOLATILE,
        "squeeze": RiskRegime.NORMAL,
        UNKNOWN_LABEL: RiskRegime.NORMAL,
    }
)
# Labels whose profile is upgraded when the signal engine's momentum reaches strongMomentum.
DEFAULT_STRONG_MOMENTUM_REGIME_MAP: Mapping[str, RiskRegime] = MappingProxyType(
    {"bullish_calm": RiskRegime.BULL_RUN}
)


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskLimits:
    """Every risk setting of one bot; field names mirror spec.risk in snake_case."""

    kelly_fraction: float = 0.25
    max_position_pct: float = 10.0
    max_leverage: float = 1.0
    atr_stop_multiplier: float = 2.0
    atr_take_profit_multiplier: float = 3.0
    max_drawdown_pct: float = 20.0
    max_daily_loss_pct: float = 10.0
    max_consecutive_losses: int = 5
    atr_circuit_breaker_multiplier: float = 3.0
    max_total_exposure_pct: float = 100.0
    max_single_asset_exposure_pct: float = 50.0
    max_daily_var_pct: float = 5.0
    var_confidence_pct: float = 95.0
    max_correlation: float = 0.8
    # Recent-window realised volatility over the baseline before it; above this is a shock.
    max_volatility_ratio: float = 3.0
    # A recent-window fall of this many baseline standard deviations is a crash.
    crash_sigma: float = 4.0
    # The recent window of SymbolRisk (its recent_bars); the bars before it are the baseline.
    recent_window_bars: int = 12
    breaker_cooldown_seconds: int = 0
    flatten_on_trip: bool = False
    # The bot's slice of a shared exchange account, in the quote currency; None: the whole
    # account balance is the bot's equity.
    capital: float | None = None
    # Below the high-water mark by at least this much, the bot sizes as RECOVERY.
    recovery_drawdown_pct: float = DEFAULT_RECOVERY_DRAWDOWN_PCT
    strong_momentum: float = 0.6
    kelly_prior_win_rate: float = 0.5
    kelly_prior_trades: float = 20.0
    kelly_prior_payoff_ratio: float = 1.5
    regime_profiles: Mapping[RiskRegime, RegimeProfile] = field(
        default_factory=lambda: DEFAULT_REGIME_PROFILES
    )
    regime_map: Mapping[str, RiskRegime] = field(default_factory=lambda: DEFAULT_REGIME_MAP)
    strong_momentum_regime_map: Mapping[str, RiskRegime] = field(
        default_factory=lambda: DEFAULT_STRONG_MOMENTUM_REGIME_MAP
    )

    def __post_init__(self) -> None:
        # The settings a TradingBot has: types and bounds are the CRD's (the generated model),
        # and the rules between them the operator applies.
        try:
            crd = api.RiskSpec.model_validate(
                {key: getattr(self, name) for name, key in _CRD_KEYS.items()}
            )
        except ValidationError as error:
            raise RiskConfigError(describe_validation_error(error, path="spec.risk")) from None
        for breach in risk_breaches(crd, path="spec.risk"):
            raise RiskConfigError(f"{breach.field}: {breach.message}")
        for name, rule in _RUNTIME_RULES.items():
            rule.check(name=_spec_name(_LIMIT_KEYS[name]), value=getattr(self, name))
        if self.recovery_drawdown_pct >= self.max_drawdown_pct:
            raise RiskConfigError(
                f"{_spec_name('recoveryDrawdownPct')} must be below maxDrawdownPct "
                f"({self.max_drawdown_pct:g}), got {self.recovery_drawdown_pct!r}"
            )
        missing = [regime.value for regime in RiskRegime if regime not in self.regime_profiles]
        if missing:
            raise RiskConfigError(f"{_spec_name('regimeProfiles')} lacks {', '.join(missing)}")
        if UNKNOWN_LABEL not in self.regime_map:
            raise RiskConfigError(f"{_spec_name('regimeMap')} must map the {UNKNOWN_LABEL!r} label")
        # Read-only views, so a caller's dict cannot change a running engine's limits.
        object.__setattr__(self, "regime_profiles", MappingProxyType(dict(self.regime_profiles)))
        object.__setattr__(self, "regime_map", MappingProxyType(dict(self.regime_map)))
        object.__setattr__(
            self,
            "strong_momentum_regime_map",
            MappingProxyType(dict(self.strong_momentum_regime_map)),
        )

    @classmethod
    def from_spec(cls, spec: Mapping[str, object]) -> RiskLimits:
        """Build limits from a TradingBot's spec.risk (camelCase keys; absent keys default)."""
        if not isinstance(spec, Mapping):
            raise RiskConfigError(f"spec.risk must be an object, got {type(spec).__name__}")
        unknown = sorted(str(key) for key in spec if key not in _FIELD_BY_KEY)
        if unknown:
            raise RiskConfigError(
                f"spec.risk has unknown field(s) {', '.join(unknown)}; "
                f"known fields: {', '.join(sorted(_FIELD_BY_KEY))}"
            )
        values: dict[str, object] = {}
        for key, value in spec.items():
            if key == "regimeProfiles":
                values["regime_profiles"] = _parse_regime_profiles(value)
            elif key == "regimeMap":
                values["regime_map"] = _parse_regime_map(
                    key=key, value=value, defaults=DEFAULT_REGIME_MAP
                )
            elif key == "strongMomentumRegimeMap":
                values["strong_momentum_regime_map"] = _parse_regime_map(
                    key=key, value=value, defaults=DEFAULT_STRONG_MOMENTUM_REGIME_MAP
                )
            else:
                values[_FIELD_BY_KEY[key]] = value
        # A TradingBot's settings as the apiserver reads them (5.0 is an integer).
        try:
            crd = validate(api.RiskSpec, {k: v for k, v in spec.items() if k in _CRD_FIELD_BY_KEY})
        except ValidationError as error:
            raise RiskConfigError(describe_validation_error(error, path="spec.risk")) from None
        values.update(
            {name: getattr(crd, name) for key, name in _CRD_FIELD_BY_KEY.items() if key in spec}
        )
        max_drawdown = values.get("max_drawdown_pct")
        if "recoveryDrawdownPct" not in spec and isinstance(max_drawdown, int | float):
            # The recovery band sits inside the drawdown limit, however tight the user set it.
            values["recovery_drawdown_pct"] = min(DEFAULT_RECOVERY_DRAWDOWN_PCT, max_drawdown / 2)
        # Field types are checked by __post_init__, which names the offending key.
        return cls(**values)  # type: ignore[arg-type]


def _spec_name(key: str) -> str:
    return f"spec.risk.{key}"


# The settings only the runtime has (tests and backtests set them): their own bounds.
_RUNTIME_RULES: Mapping[str, _NumberRule] = {
    "var_confidence_pct": _NumberRule(
        low=50.0, high=100.0, low_inclusive=False, high_inclusive=False
    ),
    "max_volatility_ratio": _NumberRule(low=1.0),
    "crash_sigma": _POSITIVE,
    "recent_window_bars": _NumberRule(low=2, integer=True),
    "recovery_drawdown_pct": _PERCENT,
    "strong_momentum": _NumberRule(),
    "kelly_prior_win_rate": _NumberRule(
        low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    ),
    "kelly_prior_trades": _POSITIVE,
    "kelly_prior_payoff_ratio": _POSITIVE,
}
_LIMIT_KEYS: Mapping[str, str] = {item.name: _camel_case(item.name) for item in fields(RiskLimits)}
_FIELD_BY_KEY: Mapping[str, str] = {key: name for name, key in _LIMIT_KEYS.items()}
_CRD_KEYS: Mapping[str, str] = {
    name: _LIMIT_KEYS[name] for name in api.RiskSpec.model_fields if name in _LIMIT_KEYS
}
_CRD_FIELD_BY_KEY: Mapping[str, str] = {key: name for name, key in _CRD_KEYS.items()}


def _parse_regime(*, where: str, value: object) -> RiskRegime:
    names = {regime.value: regime for regime in RiskRegime}
    if not isinstance(value, str) or value not in names:
        raise RiskConfigError(f"{where} must be one of {', '.join(names)}, got {value!r}")
    return names[value]


def _parse_regime_profiles(value: object) -> Mapping[RiskRegime, RegimeProfile]:
    where = _spec_name("regimeProfiles")
    if not isinstance(value, Mapping):
        raise RiskConfigError(f"{where} must be an object, got {value!r}")
    profiles = dict(DEFAULT_REGIME_PROFILES)
    for name, overrides in value.items():
        regime = _parse_regime(where=f"{where} key", value=name)
        if not isinstance(overrides, Mapping):
            raise RiskConfigError(f"{where}.{name} must be an object, got {overrides!r}")
        unknown = sorted(str(key) for key in overrides if key not in _PROFILE_FIELD_BY_KEY)
        if unknown:
            raise RiskConfigError(
                f"{where}.{name} has unknown field(s) {', '.join(unknown)}; "
                f"known fields: {', '.join(sorted(_PROFILE_FIELD_BY_KEY))}"
            )
        changes = {_PROFILE_FIELD_BY_KEY[key]: item for key, item in overrides.items()}
        try:
            profiles[regime] = replace(profiles[regime], **changes)
        except RiskConfigError as error:
            raise RiskConfigError(f"{where}.{name}.{error}") from None
    return profiles


def _parse_regime_map(
    *, key: str, value: object, defaults: Mapping[str, RiskRegime]
) -> Mapping[str, RiskRegime]:
    where = _spec_name(key)
    if not isinstance(value, Mapping):
        raise RiskConfigError(f"{where} must be an object, got {value!r}")
    mapping = dict(defaults)
    for label, regime_name in value.items():
        if not isinstance(label, str) or not label:
            raise RiskConfigError(f"{where} keys must be non-empty labels, got {label!r}")
        mapping[label] = _parse_regime(where=f"{where}.{label}", value=regime_name)
    return mapping
