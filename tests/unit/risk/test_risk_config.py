"""RiskLimits: CRD defaults, camelCase parsing, regime profile table, errors naming the field."""

from __future__ import annotations

import pytest
from tradefleet_runtime.risk import (
    DEFAULT_REGIME_PROFILES,
    RegimeProfile,
    RiskConfigError,
    RiskLimits,
    RiskRegime,
)

pytestmark = pytest.mark.unit


def test_defaults_follow_the_trading_bot_crd() -> None:
    limits = RiskLimits.from_spec({})
    assert limits.kelly_fraction == 0.25
    assert limits.max_position_pct == 10.0
    assert limits.max_leverage == 1.0
    assert limits.atr_stop_multiplier == 2.0
    assert limits.atr_take_profit_multiplier == 3.0
    assert limits.max_drawdown_pct == 20.0
    assert limits.max_daily_loss_pct == 10.0
    assert limits.max_consecutive_losses == 5
    assert limits.atr_circuit_breaker_multiplier == 3.0
    assert limits.max_total_exposure_pct == 100.0
    assert limits.max_single_asset_exposure_pct == 50.0
    assert limits.max_daily_var_pct == 5.0
    assert limits.max_correlation == 0.8
    assert limits.breaker_cooldown_seconds == 0
    assert limits.flatten_on_trip is False


@pytest.mark.parametrize(
    ("regime", "position_multiplier", "stop_multiplier", "risk_per_trade_pct", "max_positions"),
    [
        (RiskRegime.NORMAL, 1.0, 1.0, 2.0, 10),
        (RiskRegime.VOLATILE, 0.5, 1.5, 1.0, 5),
        (RiskRegime.TRENDING, 1.2, 0.8, 2.5, 12),
        (RiskRegime.CRASH, 0.2, 2.0, 0.5, 2),
        (RiskRegime.BULL_RUN, 1.5, 0.7, 3.0, 15),
        (RiskRegime.RECOVERY, 0.7, 1.3, 1.5, 6),
    ],
)
def test_each_regime_profile_has_the_documented_numbers(
    regime: RiskRegime,
    position_multiplier: float,
    stop_multiplier: float,
    risk_per_trade_pct: float,
    max_positions: int,
) -> None:
    assert RiskLimits().regime_profiles[regime] == RegimeProfile(
        position_multiplier=position_multiplier,
        stop_multiplier=stop_multiplier,
        risk_per_trade_pct=risk_per_trade_pct,
        max_positions=max_positions,
    )


def test_from_spec_reads_camel_case_keys() -> None:
    limits = RiskLimits.from_spec(
        {
            "kellyFraction": 0.5,
            "maxPositionPct": 100,
            "maxLeverage": 5,
            "maxConsecutiveLosses": 3,
            "atrCircuitBreakerMultiplier": 2.5,
            "maxTotalExposurePct": 300,
            "maxSingleAssetExposurePct": 200,
            "breakerCooldownSeconds": 3600,
            "flattenOnTrip": True,
        }
    )
    assert limits.kelly_fraction == 0.5
    assert limits.max_position_pct == 100
    assert limits.max_leverage == 5
    assert limits.max_consecutive_losses == 3
    assert limits.atr_circuit_breaker_multiplier == 2.5
    assert limits.max_total_exposure_pct == 300
    assert limits.max_single_asset_exposure_pct == 200
    assert limits.breaker_cooldown_seconds == 3600
    assert limits.flatten_on_trip is True


def test_regime_profiles_and_map_are_configurable_field_by_field() -> None:
    limits = RiskLimits.from_spec(
        {
            "regimeProfiles": {"volatile": {"positionMultiplier": 0.3, "maxPositions": 2}},
            "regimeMap": {"squeeze": "volatile", "ranging": "normal"},
        }
    )
    volatile = limits.regime_profiles[RiskRegime.VOLATILE]
    assert (volatile.position_multiplier, volatile.max_positions) == (0.3, 2)
    assert (volatile.stop_multiplier, volatile.risk_per_trade_pct) == (1.5, 1.0)
    assert limits.regime_profiles[RiskRegime.NORMAL] == DEFAULT_REGIME_PROFILES[RiskRegime.NORMAL]
    assert limits.regime_map["squeeze"] is RiskRegime.VOLATILE
    assert limits.regime_map["ranging"] is RiskRegime.NORMAL
    assert limits.regime_map["bullish_calm"] is RiskRegime.TRENDING


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"kellyFraction": 1.5},
            "spec.risk.kellyFraction: Input should be less than or equal to 1, got 1.5",
        ),
        (
            {"kellyFraction": "0.25"},
            "spec.risk.kellyFraction: Input should be a valid number, got '0.25'",
        ),
        (
            {"maxLeverage": 200},
            "spec.risk.maxLeverage: Input should be less than or equal to 125, got 200",
        ),
        ({"maxLeverage": 0.5}, "spec.risk.maxLeverage: Input should be greater than or equal to 1"),
        ({"maxPositionPct": 0}, "spec.risk.maxPositionPct: Input should be greater than 0, got 0"),
        (
            {"maxPositionPct": 150},
            "spec.risk.maxPositionPct: Input should be less than or equal to 100",
        ),
        (
            {"maxTotalExposurePct": 150},
            "spec.risk.maxTotalExposurePct: maxTotalExposurePct (150) is above 100 x maxLeverage (100)",
        ),
        (
            {"maxDrawdownPct": 120},
            "spec.risk.maxDrawdownPct: Input should be less than or equal to 100",
        ),
        (
            {"maxConsecutiveLosses": 2.5},
            "spec.risk.maxConsecutiveLosses: Input should be a valid integer",
        ),
        (
            {"maxConsecutiveLosses": True},
            "spec.risk.maxConsecutiveLosses: Input should be a valid integer",
        ),
        (
            {"atrStopMultiplier": float("nan")},
            "spec.risk.atrStopMultiplier: Input should be less than or equal to 20, got nan",
        ),
        (
            {"breakerCooldownSeconds": -1},
            "spec.risk.breakerCooldownSeconds: Input should be greater than or equal to 0",
        ),
        (
            {"flattenOnTrip": "yes"},
            "spec.risk.flattenOnTrip: Input should be a valid boolean, got 'yes'",
        ),
        (
            {"maxSingleAssetExposurePct": 5},
            "spec.risk.maxPositionPct: maxPositionPct (10) is above maxSingleAssetExposurePct (5)",
        ),
        ({"recoveryDrawdownPct": 25}, "spec.risk.recoveryDrawdownPct must be below maxDrawdown"),
        ({"maxDrawdownPercent": 20}, "unknown field(s) maxDrawdownPercent"),
        (
            {"regimeProfiles": {"volatile": {"positionMultiplier": -1}}},
            "spec.risk.regimeProfiles.volatile.positionMultiplier must be ≥ 0, got -1",
        ),
        ({"regimeProfiles": {"panic": {}}}, "spec.risk.regimeProfiles key must be one of"),
        (
            {"regimeProfiles": {"crash": {"stopMult": 2}}},
            "spec.risk.regimeProfiles.crash has unknown field(s) stopMult",
        ),
        ({"regimeMap": {"squeeze": "sideways"}}, "spec.risk.regimeMap.squeeze must be one of"),
    ],
)
def test_bad_values_raise_a_config_error_naming_the_field(
    spec: dict[str, object], message: str
) -> None:
    with pytest.raises(RiskConfigError) as raised:
        RiskLimits.from_spec(spec)
    assert message in str(raised.value)


def test_spec_must_be_an_object() -> None:
    with pytest.raises(RiskConfigError, match=r"spec\.risk must be an object"):
        RiskLimits.from_spec(["kellyFraction", 0.25])  # type: ignore[arg-type]


def test_limits_cannot_be_changed_through_the_callers_dict() -> None:
    mapping = {"unknown": RiskRegime.NORMAL}
    limits = RiskLimits(regime_map=mapping)
    mapping["unknown"] = RiskRegime.CRASH
    assert limits.regime_map["unknown"] is RiskRegime.NORMAL
