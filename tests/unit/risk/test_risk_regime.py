"""Regime profile selection: label mapping, strong momentum, crash override, recovery."""

from __future__ import annotations

import pytest
from tradefleet_runtime.risk import RiskLimits, RiskRegime
from tradefleet_runtime.risk.regime import select_regime

pytestmark = pytest.mark.unit

LIMITS = RiskLimits()


def pick(
    label: str,
    *,
    momentum: float = 0.0,
    crash: bool = False,
    drawdown_pct: float = 0.0,
    limits: RiskLimits = LIMITS,
) -> RiskRegime:
    return select_regime(
        limits=limits, label=label, momentum=momentum, crash=crash, drawdown_pct=drawdown_pct
    )


@pytest.mark.parametrize(
    ("label", "regime"),
    [
        ("bullish_calm", RiskRegime.TRENDING),
        ("bearish_volatile", RiskRegime.VOLATILE),
        ("squeeze", RiskRegime.NORMAL),
        ("unknown", RiskRegime.NORMAL),
        ("some_future_label", RiskRegime.NORMAL),
    ],
)
def test_signal_engine_labels_map_to_profiles(label: str, regime: RiskRegime) -> None:
    assert pick(label) is regime


def test_strong_momentum_turns_a_calm_bull_into_a_bull_run() -> None:
    assert pick("bullish_calm", momentum=0.6) is RiskRegime.BULL_RUN
    assert pick("bullish_calm", momentum=0.59) is RiskRegime.TRENDING
    assert pick("squeeze", momentum=0.9) is RiskRegime.NORMAL


def test_a_crash_overrides_the_label() -> None:
    assert pick("bearish_volatile", crash=True) is RiskRegime.CRASH
    assert pick("bullish_calm", momentum=0.9, crash=True) is RiskRegime.CRASH


def test_a_bot_in_drawdown_sizes_as_recovery_unless_the_market_is_more_cautious() -> None:
    assert pick("bullish_calm", drawdown_pct=5.0) is RiskRegime.RECOVERY
    assert pick("bullish_calm", drawdown_pct=4.9) is RiskRegime.TRENDING
    assert pick("bearish_volatile", drawdown_pct=12.0) is RiskRegime.VOLATILE


def test_the_mapping_is_configurable() -> None:
    limits = RiskLimits.from_spec(
        {
            "regimeMap": {"squeeze": "volatile", "unknown": "recovery"},
            "strongMomentumRegimeMap": {"bullish_calm": "trending"},
            "strongMomentum": 0.2,
        }
    )
    assert pick("squeeze", limits=limits) is RiskRegime.VOLATILE
    assert pick("no_such_label", limits=limits) is RiskRegime.RECOVERY
    assert pick("bullish_calm", momentum=0.9, limits=limits) is RiskRegime.TRENDING
