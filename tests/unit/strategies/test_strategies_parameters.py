"""Strategy parameters from the CRD's camelCase dict: defaults, round trip, clear errors."""

from __future__ import annotations

import pytest
from tradefleet_runtime.strategies.errors import StrategyConfigError
from tradefleet_runtime.strategies.parameters import StrategyParameters

pytestmark = pytest.mark.unit


def test_an_empty_spec_gives_the_crd_defaults() -> None:
    parameters = StrategyParameters.from_spec({})
    assert (parameters.ema_fast, parameters.ema_slow, parameters.rsi_period) == (12, 26, 14)
    assert (parameters.rsi_overbought, parameters.rsi_oversold) == (70.0, 30.0)
    assert (parameters.stop_loss_pct, parameters.take_profit_pct) == (1.0, 2.0)
    assert parameters.risk_per_trade_pct == 0.5


def test_camel_case_keys_map_to_fields_and_back() -> None:
    spec = {"emaFast": 9, "emaSlow": 40, "rsiOverbought": 75.5, "bollingerStdDev": 2.5}
    parameters = StrategyParameters.from_spec(spec)
    assert parameters.ema_fast == 9
    assert parameters.bollinger_std_dev == 2.5
    round_trip = parameters.to_spec()
    assert {key: round_trip[key] for key in spec} == spec
    assert StrategyParameters.from_spec(round_trip) == parameters


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"emaFastt": 9}, "unknown field.*emaFastt"),
        ({"emaFast": True}, "emaFast: Input should be a valid integer, got True"),
        ({"emaFast": 9.5}, "emaFast: Input should be a valid integer, got 9.5"),
        ({"rsiPeriod": "14"}, "rsiPeriod: Input should be a valid integer, got '14'"),
        ({"stopLossPct": 0}, "stopLossPct: Input should be greater than 0, got 0"),
        ({"rsiOverbought": 101}, "rsiOverbought: Input should be less than or equal to 100"),
        ({"stopLossPct": float("nan")}, "stopLossPct: .*got nan"),
        ({"emaFast": 30, "emaSlow": 30}, "emaFast .30. must be below emaSlow .30."),
        ({"rsiOversold": 50, "rsiOverbought": 50}, "rsiOversold .50. must be below"),
        ({"volumeSpikeMultiplier": 0.5}, "volumeSpikeMultiplier: .*greater than or equal to 1"),
    ],
)
def test_bad_specs_name_the_field(spec: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyConfigError, match=message):
        StrategyParameters.from_spec(spec)


def test_an_integral_number_is_an_integer_as_the_apiserver_reads_it() -> None:
    parameters = StrategyParameters.from_spec({"emaFast": 9.0})
    assert parameters.ema_fast == 9
    assert isinstance(parameters.ema_fast, int)


def test_a_set_made_with_a_fractional_period_is_refused() -> None:
    with pytest.raises(StrategyConfigError, match="emaFast: Input should be a valid integer"):
        StrategyParameters(ema_fast=9.0)  # type: ignore[arg-type]


def test_a_non_object_spec_is_refused() -> None:
    with pytest.raises(StrategyConfigError, match="must be an object"):
        StrategyParameters.from_spec([("emaFast", 9)])  # type: ignore[arg-type]
