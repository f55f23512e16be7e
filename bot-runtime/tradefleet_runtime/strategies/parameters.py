"""Parameters of the indicator strategies, read from a TradingBot's ``spec.strategy.parameters``.

The bot runtime and the backtest CLI call :meth:`StrategyParameters.from_spec` with the
camelCase dict of the CRD; the optimizer writes its result back with
:meth:`StrategyParameters.to_spec`. Every set is checked when it is made, against the
CRD's types and bounds (through the generated :class:`tradefleet_api.models.StrategyParameters`)
and the relations between fields, so a bad spec fails with a
:class:`~tradefleet_runtime.strategies.errors.StrategyConfigError` that names the field, never
deep inside an indicator. A dataclass rather than the API model itself: the backtester and the
optimizer make and compare thousands of them.

Percent units as in the CRD: ``stop_loss_pct = 1.0`` means 1 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from pydantic import ValidationError
from tradefleet_api import describe_validation_error, validate
from tradefleet_api import models as api
from tradefleet_api.rules import parameter_breaches

from tradefleet_runtime.strategies.errors import StrategyConfigError


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
        # Types and bounds are the CRD's: the generated model checks them (strictly: a set made
        # in Python with 9.0 for a period is a mistake, not a spec).
        try:
            model = api.StrategyParameters.model_validate(self.to_spec())
        except ValidationError as error:
            raise StrategyConfigError(
                describe_validation_error(error, path="spec.strategy.parameters")
            ) from None
        # The rules between fields, as the operator applies them.
        for breach in parameter_breaches(model, path="spec.strategy.parameters"):
            raise StrategyConfigError(f"{breach.field}: {breach.message}")

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
        try:
            # As the apiserver reads them (5.0 is an integer), with the CRD's defaults.
            model = validate(api.StrategyParameters, parameters)
        except ValidationError as error:
            raise StrategyConfigError(
                describe_validation_error(error, path="spec.strategy.parameters")
            ) from None
        return cls(**model.model_dump())

    def to_spec(self) -> dict[str, int | float]:
        """The camelCase dict of ``spec.strategy.parameters``."""
        return {_SPEC_KEYS[name]: getattr(self, name) for name in _SPEC_KEYS}


_SPEC_KEYS: Mapping[str, str] = {
    item.name: _camel_case(item.name) for item in fields(StrategyParameters)
}
_FIELD_BY_KEY: Mapping[str, str] = {key: name for name, key in _SPEC_KEYS.items()}


def spec_key(field: str) -> str:
    """The camelCase key of ``spec.strategy.parameters`` for a StrategyParameters field."""
    return _SPEC_KEYS[field]
