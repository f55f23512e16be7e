"""The rules between fields of a TradingBot spec that its schema cannot express, written once.

The operator reports each breach as a condition (phase Invalid, the rule's name as the reason,
the message naming the field); the runtime refuses a configuration that breaks one with the
same message, so a spec the operator accepts is one the runtime runs. One group is the
operator's alone: :func:`stop_breaches` (a user's stop beyond its take profit), which the
optimizer's choice may break. Pure functions over the
generated models of :mod:`tradefleet_api.models`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from tradefleet_api.models import (
    FusionWeights,
    RegimeParametersSet,
    RiskSpec,
    SignalThresholds,
    StrategyName,
    StrategyParameters,
    StrategySpec,
)

# Fusion weights are typed by hand (0.3 + 0.3 + 0.2 + 0.1 + 0.1 is 0.9999999999999999).
FUSION_WEIGHT_TOLERANCE = 1e-6
# The fusion inputs besides the ML one, which counts only with a weight.
_UNCONDITIONAL_INPUTS = 5


class Rule(StrEnum):
    """A rule between fields; the value is the condition reason the operator reports."""

    FUSION_WEIGHTS_INVALID = "FusionWeightsInvalid"
    THRESHOLDS_INVALID = "ThresholdsInvalid"
    STOP_ABOVE_TAKE_PROFIT = "StopAboveTakeProfit"
    EMA_PERIODS_INVALID = "EmaPeriodsInvalid"
    RSI_LEVELS_INVALID = "RsiLevelsInvalid"
    EXPOSURE_LIMITS_INVALID = "ExposureLimitsInvalid"


@dataclass(frozen=True, kw_only=True, slots=True)
class Breach:
    """One broken rule: the field it is about (``spec.risk.maxPositionPct``) and why."""

    field: str
    rule: Rule
    message: str


def weights_total(weights: FusionWeights) -> float:
    """The sum of the fusion weights (1 in a valid spec)."""
    return (
        weights.regime
        + weights.ofi
        + weights.whale
        + weights.sentiment
        + weights.macro
        + weights.ml
    )


def weighted_inputs(strategy: StrategySpec) -> int:
    """How many inputs fusion weighs: five, the ML input with a weight, a plugin's reading."""
    plugin = 0 if strategy.name is StrategyName.FUSION else 1
    return _UNCONDITIONAL_INPUTS + (1 if strategy.fusion_weights.ml > 0 else 0) + plugin


def strategy_breaches(strategy: StrategySpec, *, path: str = "spec.strategy") -> list[Breach]:
    """Every broken rule of ``spec.strategy`` (``path`` is where it sits in its document)."""
    breaches: list[Breach] = []
    total = weights_total(strategy.fusion_weights)
    if not math.isclose(total, 1.0, rel_tol=0.0, abs_tol=FUSION_WEIGHT_TOLERANCE):
        breaches.append(
            Breach(
                field=f"{path}.fusionWeights",
                rule=Rule.FUSION_WEIGHTS_INVALID,
                message=f"fusion weights must sum to 1, they sum to {total:g}",
            )
        )
    learning = strategy.fusion_learning
    inputs = weighted_inputs(strategy)
    if learning.enabled and learning.floor * inputs > 1.0:
        breaches.append(
            Breach(
                field=f"{path}.fusionLearning.floor",
                rule=Rule.FUSION_WEIGHTS_INVALID,
                message=f"fusionLearning.floor {learning.floor:g} x {inputs} weighted inputs "
                f"exceeds 1: lower it to at most {1.0 / inputs:.3f}",
            )
        )
    breaches.extend(_threshold_breaches(strategy.thresholds, path=f"{path}.thresholds"))
    breaches.extend(parameter_breaches(strategy.parameters, path=f"{path}.parameters"))
    return breaches


def parameter_breaches(parameters: StrategyParameters, *, path: str) -> list[Breach]:
    """Every broken rule of ``spec.strategy.parameters``."""
    breaches: list[Breach] = []
    if parameters.ema_fast >= parameters.ema_slow:
        breaches.append(
            Breach(
                field=f"{path}.emaFast",
                rule=Rule.EMA_PERIODS_INVALID,
                message=f"emaFast ({parameters.ema_fast}) must be below emaSlow "
                f"({parameters.ema_slow})",
            )
        )
    if parameters.rsi_oversold >= parameters.rsi_overbought:
        breaches.append(
            Breach(
                field=f"{path}.rsiOversold",
                rule=Rule.RSI_LEVELS_INVALID,
                message=f"rsiOversold ({parameters.rsi_oversold:g}) must be below "
                f"rsiOverbought ({parameters.rsi_overbought:g})",
            )
        )
    return breaches


def risk_breaches(risk: RiskSpec, *, path: str = "spec.risk") -> list[Breach]:
    """Every broken rule of ``spec.risk``."""
    breaches: list[Breach] = []
    # Below the total, which is below this, so are a single asset and a position.
    leveraged_pct = 100.0 * risk.max_leverage
    if risk.max_total_exposure_pct > leveraged_pct:
        breaches.append(
            Breach(
                field=f"{path}.maxTotalExposurePct",
                rule=Rule.EXPOSURE_LIMITS_INVALID,
                message=f"maxTotalExposurePct ({risk.max_total_exposure_pct:g}) is above "
                f"100 x maxLeverage ({leveraged_pct:g}): exposure that large needs that much "
                "leverage",
            )
        )
    if risk.max_single_asset_exposure_pct > risk.max_total_exposure_pct:
        breaches.append(
            Breach(
                field=f"{path}.maxSingleAssetExposurePct",
                rule=Rule.EXPOSURE_LIMITS_INVALID,
                message=f"maxSingleAssetExposurePct ({risk.max_single_asset_exposure_pct:g}) "
                f"is above maxTotalExposurePct ({risk.max_total_exposure_pct:g})",
            )
        )
    if risk.max_position_pct > risk.max_single_asset_exposure_pct:
        breaches.append(
            Breach(
                field=f"{path}.maxPositionPct",
                rule=Rule.EXPOSURE_LIMITS_INVALID,
                message=f"maxPositionPct ({risk.max_position_pct:g}) is above "
                f"maxSingleAssetExposurePct ({risk.max_single_asset_exposure_pct:g}): "
                "one position is exposure to one asset",
            )
        )
    return breaches


def stop_breaches(strategy: StrategySpec, risk: RiskSpec) -> list[Breach]:
    """Every stop of a user's spec set beyond its take profit: the operator refuses them.

    Not a rule of a running configuration: the optimizer may find that a wide stop and a near
    target trade best, and the runtime runs what it chose.
    """
    parameters = strategy.parameters
    breaches = _stop_breaches(
        path="spec.strategy.parameters",
        stop=parameters.stop_loss_pct,
        take_profit=parameters.take_profit_pct,
        names=("stopLossPct", "takeProfitPct"),
    )
    breaches.extend(_regime_breaches(strategy.regime_parameters))
    breaches.extend(
        _stop_breaches(
            path="spec.risk",
            stop=risk.atr_stop_multiplier,
            take_profit=risk.atr_take_profit_multiplier,
            names=("atrStopMultiplier", "atrTakeProfitMultiplier"),
        )
    )
    return breaches


def _threshold_breaches(thresholds: SignalThresholds, *, path: str) -> list[Breach]:
    # The schema's bounds already put buy levels at or above 0 and sell levels at or below.
    breaches: list[Breach] = []
    if not thresholds.strong_buy > thresholds.buy:
        breaches.append(
            Breach(
                field=f"{path}.strongBuy",
                rule=Rule.THRESHOLDS_INVALID,
                message=f"strongBuy ({thresholds.strong_buy:g}) must be above buy "
                f"({thresholds.buy:g})",
            )
        )
    if not thresholds.strong_sell < thresholds.sell:
        breaches.append(
            Breach(
                field=f"{path}.strongSell",
                rule=Rule.THRESHOLDS_INVALID,
                message=f"strongSell ({thresholds.strong_sell:g}) must be below sell "
                f"({thresholds.sell:g})",
            )
        )
    return breaches


def _regime_breaches(regimes: RegimeParametersSet) -> list[Breach]:
    path = "spec.strategy.regimeParameters"
    breaches: list[Breach] = []
    for key, regime in (
        ("bullishCalm", regimes.bullish_calm),
        ("bearishVolatile", regimes.bearish_volatile),
        ("squeeze", regimes.squeeze),
    ):
        breaches.extend(
            _stop_breaches(
                path=f"{path}.{key}",
                stop=regime.stop_loss_pct,
                take_profit=regime.take_profit_pct,
                names=("stopLossPct", "takeProfitPct"),
            )
        )
    return breaches


def _stop_breaches(
    *, path: str, stop: float, take_profit: float, names: tuple[str, str]
) -> list[Breach]:
    if stop <= take_profit:
        return []
    stop_name, take_profit_name = names
    return [
        Breach(
            field=f"{path}.{stop_name}",
            rule=Rule.STOP_ABOVE_TAKE_PROFIT,
            message=f"{stop_name} ({stop:g}) is above {take_profit_name} ({take_profit:g}): "
            "every trade would risk more than it can win",
        )
    ]
