"""Every strategy parameter the runtime reads is a CRD field, and so is the strategy's fusion weight
(issue 18, item 8).

A TradingBot that sets them is stored by the apiserver (pruned and defaulted as it would),
parsed by the operator, rendered into the runtime's config and read by the runtime: the values
arrive. The CRD's defaults and bounds are the runtime's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from api_schema_proxy import apiserver_errors, openapi_schema, stored_object
from tradefleet_operator.render import Owner, render_runtime_config
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import parse_trading_bot_spec
from tradefleet_runtime.config import DEFAULT_STRATEGY_WEIGHT, parse_runtime_config
from tradefleet_runtime.service.build import fusion_weights_of
from tradefleet_runtime.strategies.parameters import StrategyParameters

pytestmark = pytest.mark.unit

SET = {
    "bollingerPeriod": 30,
    "bollingerStdDev": 2.5,
    "breakoutLookback": 55,
    "volumeWindow": 40,
    "volumeSpikeMultiplier": 2.0,
}


def _bot(strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "breakout", "namespace": "trading"},
        "spec": {"exchange": "binance", "symbol": "BTC/USDT", "strategy": strategy},
    }


def _strategy_schema() -> dict[str, Any]:
    schema: dict[str, Any] = openapi_schema("TradingBot")["properties"]["spec"]["properties"][
        "strategy"
    ]
    return schema


def test_a_bot_sets_every_strategy_parameter_and_the_strategy_weight() -> None:
    manifest = _bot({"name": "momentum_breakout", "strategyWeight": 0.3, "parameters": dict(SET)})
    assert apiserver_errors(manifest) == []
    stored = stored_object(manifest)
    assert (
        stored["spec"]["strategy"]["parameters"] | SET == stored["spec"]["strategy"]["parameters"]
    )
    spec = parse_trading_bot_spec(stored["spec"])
    assert spec.strategy.strategy_weight == 0.3
    assert spec.strategy.parameters.breakout_lookback == 55
    rendered = render_runtime_config(
        owner=Owner(kind="TradingBot", name="breakout", namespace="trading", uid="u1"),
        spec=spec,
        raw_spec=stored["spec"],
        settings=OperatorSettings(region="ap-northeast-1"),
    )
    config = parse_runtime_config(rendered)
    parameters = StrategyParameters.from_spec(config.strategy.parameters)
    assert (
        parameters.bollinger_period,
        parameters.bollinger_std_dev,
        parameters.breakout_lookback,
        parameters.volume_window,
        parameters.volume_spike_multiplier,
    ) == (30, 2.5, 55, 40, 2.0)
    assert fusion_weights_of(config)["strategy"] == pytest.approx(0.3)


def test_crd_parameters_are_the_runtimes_with_its_defaults() -> None:
    properties = _strategy_schema()["properties"]["parameters"]["properties"]
    runtime = StrategyParameters()
    keys = {
        field.name: "".join(
            part if i == 0 else part.capitalize() for i, part in enumerate(field.name.split("_"))
        )
        for field in dataclasses.fields(StrategyParameters)
    }
    assert set(properties) == set(keys.values())
    for name, key in keys.items():
        assert properties[key]["default"] == getattr(runtime, name), key
    weight = _strategy_schema()["properties"]["strategyWeight"]
    assert (weight["default"], weight["minimum"], weight["maximum"]) == (
        DEFAULT_STRATEGY_WEIGHT,
        0,
        1,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bollingerPeriod", 1),
        ("bollingerStdDev", 0),
        ("breakoutLookback", 1_001),
        ("volumeWindow", 1.5),
        ("volumeSpikeMultiplier", 0.9),
    ],
)
def test_the_crd_refuses_what_the_runtime_refuses(field: str, value: float) -> None:
    errors = apiserver_errors(_bot({"name": "mean_reversion", "parameters": {field: value}}))
    assert any(field in error for error in errors), errors
    with pytest.raises(ValueError, match=field):
        StrategyParameters.from_spec({field: value})


def test_a_strategy_weight_above_one_is_refused() -> None:
    errors = apiserver_errors(_bot({"name": "ema_rsi", "strategyWeight": 1.2}))
    assert any("strategyWeight" in error for error in errors), errors
