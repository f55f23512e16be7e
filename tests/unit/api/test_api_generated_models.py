"""The API's Python models are generated from crds/ and current; the runtime parses with them.

A CRD change without ``python -m tradefleet_devtools.api_models`` fails here, naming the
stale module. The models carry the CRD's defaults and bounds, so the runtime refuses what the
apiserver would have refused, naming the field, and fills in what the apiserver would have.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from runtime_document import RENDERED
from tradefleet_api import validate
from tradefleet_api.models import ExchangeAccountSpec, SignalSourceSpec, TradingBotSpec
from tradefleet_devtools.api_models import CRDS, NAMES, OUTPUT, UnnamedSchemaError, is_stale, render
from tradefleet_devtools.crds import CRD_DIR
from tradefleet_runtime.config import parse_runtime_config
from tradefleet_runtime.document import ConfigError

pytestmark = pytest.mark.unit


def test_the_checked_in_models_are_what_the_crds_generate() -> None:
    assert not is_stale(), "run: python -m tradefleet_devtools.api_models"


def _spec_schema(document: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return spec["properties"]["spec"]


def _copy_crds(tmp_path: Path) -> dict[str, dict[str, Any]]:
    return {crd: yaml.safe_load((CRD_DIR / crd).read_text()) for crd in CRDS.values()}


def _write(tmp_path: Path, documents: dict[str, dict[str, Any]]) -> None:
    for crd, document in documents.items():
        (tmp_path / crd).write_text(yaml.safe_dump(document))


def test_a_changed_default_in_a_crd_makes_the_models_stale(tmp_path: Path) -> None:
    documents = _copy_crds(tmp_path)
    risk = _spec_schema(documents[CRDS["TradingBotSpec"]])["properties"]["risk"]
    risk["properties"]["kellyFraction"]["default"] = 0.5
    _write(tmp_path, documents)
    changed = render(crd_dir=tmp_path)
    assert changed != OUTPUT.read_text()
    assert "= 0.5" in changed.split("class RiskSpec")[1].split("class ")[0]


def test_a_new_object_in_a_crd_must_be_named(tmp_path: Path) -> None:
    documents = _copy_crds(tmp_path)
    spec = _spec_schema(documents[CRDS["SignalSourceSpec"]])
    spec["properties"]["schedule"] = {"type": "object", "properties": {"cron": {"type": "string"}}}
    _write(tmp_path, documents)
    with pytest.raises(UnnamedSchemaError, match=r"SignalSourceSpec: .* at schedule .*NAMES"):
        render(crd_dir=tmp_path)
    assert "schedule" not in NAMES["SignalSourceSpec"]


def test_every_example_manifest_parses_with_the_generated_models() -> None:
    kinds = {
        "TradingBot": TradingBotSpec,
        "SignalSource": SignalSourceSpec,
        "ExchangeAccount": ExchangeAccountSpec,
    }
    parsed = 0
    for path in sorted((CRD_DIR.parent / "manifests" / "examples").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") in kinds:
                validate(kinds[document["kind"]], document["spec"])
                parsed += 1
    assert parsed >= 2


def test_the_runtime_takes_the_crds_defaults() -> None:
    config = parse_runtime_config(RENDERED)
    crd = yaml.safe_load((CRD_DIR / "tradefleet.io_tradingbots.yaml").read_text())
    strategy = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["strategy"]["properties"]
    assert config.strategy.timeframe == strategy["timeframe"]["default"]
    assert config.strategy.strategy_weight == strategy["strategyWeight"]["default"]
    assert config.strategy.thresholds.buy == strategy["thresholds"]["properties"]["buy"]["default"]
    learning = strategy["fusionLearning"]["properties"]
    assert config.strategy.fusion_learning.half_life_bars == learning["halfLifeBars"]["default"]


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ({"fusionLearning": {"halfLifeBars": 0}}, r"strategy\.fusionLearning\.halfLifeBars: .*1"),
        ({"thresholds": {"sell": 0.3}}, r"strategy\.thresholds\.sell: .*got 0\.3"),
        ({"strategyWeight": "0.5"}, r"strategy\.strategyWeight: .*number, got '0\.5'"),
        ({"timeframe": "2h"}, r"strategy\.timeframe: .*'1m'.*got '2h'"),
    ],
)
def test_the_runtime_refuses_what_the_crd_refuses_naming_the_field(
    strategy: dict[str, Any], message: str
) -> None:
    document = copy.deepcopy(RENDERED)
    document["strategy"] = strategy
    with pytest.raises(ConfigError, match=message):
        parse_runtime_config(document)
