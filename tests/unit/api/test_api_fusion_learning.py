"""spec.strategy.fusionLearning end to end: stored by the apiserver with the CRD's defaults,
parsed by the operator, rendered and read by the runtime with the same values; the CRD's
defaults and bounds are the runtime's."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from api_schema_proxy import apiserver_errors, openapi_schema, stored_object
from tradefleet_api.models import FusionLearning
from tradefleet_operator.render import Owner, render_runtime_config
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import parse_trading_bot_spec
from tradefleet_runtime.config import parse_runtime_config
from tradefleet_runtime.document import ConfigError

pytestmark = pytest.mark.unit

LEARNING = {
    "enabled": True,
    "halfLifeBars": 96,
    "maxStepPerUpdate": 0.01,
    "floor": 0.04,
    "horizonBars": 3,
}


def _bot(strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "learner", "namespace": "trading"},
        "spec": {"exchange": "binance", "symbol": "BTC/USDT", "strategy": strategy},
    }


def _runtime_config(manifest: dict[str, Any]) -> Any:
    stored = stored_object(manifest)
    spec = parse_trading_bot_spec(stored["spec"])
    rendered = render_runtime_config(
        owner=Owner(kind="TradingBot", name="learner", namespace="trading", uid="u1"),
        spec=spec,
        raw_spec=stored["spec"],
        settings=OperatorSettings(region="ap-northeast-1"),
    )
    return spec, rendered, parse_runtime_config(rendered)


def test_a_bot_turns_learning_on_and_the_runtime_reads_it() -> None:
    manifest = _bot({"fusionLearning": dict(LEARNING)})
    assert apiserver_errors(manifest) == []
    spec, _, config = _runtime_config(manifest)
    assert spec.strategy.fusion_learning.horizon_bars == 3
    assert config.strategy.fusion_learning == FusionLearning(
        enabled=True, half_life_bars=96, max_step_per_update=0.01, floor=0.04, horizon_bars=3
    )


def test_unset_it_is_off_with_the_runtimes_defaults() -> None:
    spec, _, config = _runtime_config(_bot({}))
    assert config.strategy.fusion_learning == FusionLearning()
    assert spec.strategy.fusion_learning.enabled is False
    properties = openapi_schema("TradingBot")["properties"]["spec"]["properties"]["strategy"][
        "properties"
    ]["fusionLearning"]["properties"]
    defaults = FusionLearning()
    for name, field in FusionLearning.model_fields.items():
        assert properties[field.alias or name]["default"] == getattr(defaults, name)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("halfLifeBars", 0),
        ("maxStepPerUpdate", 0.6),
        ("floor", 0.0),
        ("floor", 0.2),
        ("horizonBars", 101),
    ],
)
def test_the_crd_refuses_what_the_runtime_refuses(field: str, value: float) -> None:
    errors = apiserver_errors(_bot({"fusionLearning": {field: value}}))
    assert any(field in error for error in errors), errors
    _, rendered, _ = _runtime_config(_bot({}))
    document = copy.deepcopy(rendered)
    document["strategy"]["fusionLearning"] = {field: value}
    with pytest.raises(ConfigError, match=field):
        parse_runtime_config(document)
