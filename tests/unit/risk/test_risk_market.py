"""Per-bar return statistics, parametric daily VaR at 95 %/99 % and return correlation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from risk_fixtures import alternating_returns, symbol_risk
from tradefleet_runtime.risk import MarketRisk, RiskInputError, SymbolRisk
from tradefleet_runtime.risk.market import parametric_var_pct, return_correlation, var_z

pytestmark = pytest.mark.unit


def test_var_quantiles_at_95_and_99_percent() -> None:
    assert var_z(95.0) == pytest.approx(1.644854, abs=1e-6)
    assert var_z(99.0) == pytest.approx(2.326348, abs=1e-6)


def test_recent_window_statistics_against_the_baseline() -> None:
    returns = np.concatenate([alternating_returns(step=0.001, length=36), np.full(12, -0.002)])
    risk = SymbolRisk(symbol="BTC/USDT", atr=1.0, log_returns=returns, recent_bars=12)
    baseline_std = 0.001 * math.sqrt(36 / 35)
    assert risk.recent_return == pytest.approx(math.expm1(-0.024))
    assert risk.recent_move_sigmas == pytest.approx(-0.024 / (baseline_std * math.sqrt(12)))
    assert risk.volatility_ratio == pytest.approx(0.0, abs=1e-12)  # a steady slide: no spread
    assert risk.volatility == pytest.approx(float(np.std(returns, ddof=1)))


def make_market(*risks: SymbolRisk, bar_seconds: int = 86_400) -> MarketRisk:
    return MarketRisk(
        regime_label="squeeze",
        momentum=0.0,
        bar_seconds=bar_seconds,
        symbols={risk.symbol: risk for risk in risks},
    )


def test_single_position_var_is_z_sigma_weight() -> None:
    market = make_market(symbol_risk(returns=alternating_returns(step=0.01)))
    sigma = 0.01 * math.sqrt(48 / 47)
    var = parametric_var_pct(weights={"BTC/USDT": 0.5}, market=market, z=var_z(95.0))
    assert var == pytest.approx(100 * 1.6448536 * sigma * 0.5, rel=1e-6)  # 0.831 %
    short = parametric_var_pct(weights={"BTC/USDT": -0.5}, market=market, z=var_z(99.0))
    assert short == pytest.approx(100 * 2.3263479 * sigma * 0.5, rel=1e-6)


def test_var_scales_hourly_volatility_to_a_day() -> None:
    market = make_market(symbol_risk(returns=alternating_returns(step=0.01)), bar_seconds=3_600)
    sigma = 0.01 * math.sqrt(48 / 47)
    var = parametric_var_pct(weights={"BTC/USDT": 1.0}, market=market, z=var_z(95.0))
    assert var == pytest.approx(100 * 1.6448536 * sigma * math.sqrt(24), rel=1e-6)


def test_var_adds_correlated_positions_and_nets_opposed_ones() -> None:
    btc = symbol_risk(returns=alternating_returns(step=0.01))
    twin = symbol_risk(symbol="ETH/USDT", returns=alternating_returns(step=0.01))
    mirror = symbol_risk(symbol="SOL/USDT", returns=-alternating_returns(step=0.01))
    market = make_market(btc, twin, mirror)
    z = var_z(95.0)
    alone = parametric_var_pct(weights={"BTC/USDT": 0.2}, market=market, z=z)
    together = parametric_var_pct(weights={"BTC/USDT": 0.2, "ETH/USDT": 0.2}, market=market, z=z)
    hedged = parametric_var_pct(weights={"BTC/USDT": 0.2, "SOL/USDT": 0.2}, market=market, z=z)
    assert together == pytest.approx(2 * alone)
    assert hedged == pytest.approx(0.0, abs=1e-9)


def test_correlation_of_return_windows() -> None:
    rng = np.random.default_rng(3)
    first = rng.normal(0.0, 0.01, 48)
    second = 0.5 * first + rng.normal(0.0, 0.01, 48)
    a = symbol_risk(returns=first)
    b = symbol_risk(symbol="ETH/USDT", returns=second)
    expected = float(np.corrcoef(first, second)[0, 1])
    assert return_correlation(first=a, second=b) == pytest.approx(expected)
    flat = symbol_risk(symbol="USDC/USDT", returns=np.zeros(48))
    assert return_correlation(first=a, second=flat) == 0.0


def test_bad_market_inputs_raise_typed_errors() -> None:
    with pytest.raises(RiskInputError, match="at least 24 log returns"):
        symbol_risk(returns=alternating_returns(step=0.01, length=20))
    with pytest.raises(RiskInputError, match="ATR must be finite and > 0"):
        symbol_risk(atr=0.0)
    with pytest.raises(RiskInputError, match="BASE/QUOTE"):
        symbol_risk(symbol="BTCUSDT")
    with pytest.raises(RiskInputError, match="same bars"):
        make_market(symbol_risk(), symbol_risk(symbol="ETH/USDT", returns=np.zeros(30)))
    with pytest.raises(RiskInputError, match="no market risk data for 'ETH/USDT'"):
        make_market(symbol_risk()).symbol("ETH/USDT")
