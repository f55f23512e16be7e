"""How a strategy plugin joins fusion: half of the weight, the engines share the other half."""

from __future__ import annotations

import copy

import pytest
from test_runtime_config import RENDERED
from tradefleet_runtime.config import parse_runtime_config
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.service.build import build_strategy, fusion_weights_of

pytestmark = pytest.mark.unit


def test_a_fusion_only_bot_uses_the_configured_weights() -> None:
    config = parse_runtime_config(RENDERED)
    assert fusion_weights_of(config) == dict(config.strategy.fusion_weights)
    assert build_strategy(config) is None


def test_a_strategy_plugin_takes_half_of_the_weight() -> None:
    document = copy.deepcopy(RENDERED)
    document["strategy"]["name"] = "ema_rsi"
    config = parse_runtime_config(document)
    weights = fusion_weights_of(config)
    assert weights["strategy"] == 0.5
    assert weights["regime"] == pytest.approx(0.125)  # 0.25 × 0.5
    assert sum(weights.values()) == pytest.approx(1.0)
    assert build_strategy(config) is not None


def test_an_unknown_plugin_is_a_config_error() -> None:
    document = copy.deepcopy(RENDERED)
    document["strategy"]["name"] = "martingale"
    with pytest.raises(ConfigError, match="martingale"):
        build_strategy(parse_runtime_config(document))


def test_the_strategy_weight_is_read_from_the_spec() -> None:
    document = copy.deepcopy(RENDERED)
    document["strategy"]["name"] = "mean_reversion"
    document["strategy"]["strategyWeight"] = 0.3
    config = parse_runtime_config(document)
    weights = fusion_weights_of(config)
    assert weights["strategy"] == pytest.approx(0.3)
    assert weights["regime"] == pytest.approx(0.25 * 0.7)
    assert sum(weights.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("weight", [1.5, -0.1, "half", True])
def test_a_strategy_weight_outside_zero_to_one_is_a_config_error(weight: object) -> None:
    document = copy.deepcopy(RENDERED)
    document["strategy"]["name"] = "ema_rsi"
    document["strategy"]["strategyWeight"] = weight
    with pytest.raises(ConfigError, match="strategyWeight"):
        parse_runtime_config(document)
