"""The chart's single sources stay single: CRD copies, the values schema, the values page.

The chart cannot read crds/ (outside the chart), so scripts/render-manifests.sh copies it into
helm/tradefleet/files/crds/; the schema's exchanges must be the API's; the default exchange map
the operator's; docs/helm-values.md what values.yaml says. No cluster needed.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path
from typing import Any

import helm_sdkpy
import jsonschema
import pytest
import yaml
from tradefleet_operator.spec import DEFAULT_EXCHANGE_REGIONS
from values_doc import (
    CHART_README,
    PAGE,
    REPO,
    VALUES,
    render_page,
    render_readme,
    undocumented_leaves,
)

pytestmark = pytest.mark.unit

CHART = REPO / "helm" / "tradefleet"
# Helm's lint severities (helm.sh/helm/v4/pkg/chart/v2/lint/support).
LINT_ERROR = 3


def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return loaded


def _api_exchanges() -> list[str]:
    crd = yaml.safe_load((REPO / "crds" / "tradefleet.io_tradingbots.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    exchanges: list[str] = spec["properties"]["exchange"]["enum"]
    return exchanges


def test_the_charts_crds_are_byte_copies_of_the_api() -> None:
    sources = {path.name: path.read_bytes() for path in (REPO / "crds").glob("*.yaml")}
    copies = {path.name: path.read_bytes() for path in (CHART / "files" / "crds").glob("*.yaml")}
    assert sources, "no CRDs in crds/"
    assert copies == sources, "run scripts/render-manifests.sh"


def test_the_schema_is_draft_7_and_accepts_the_defaults_and_each_region() -> None:
    schema = _schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    defaults = yaml.safe_load(VALUES.read_text())
    assert list(validator.iter_errors(defaults)) == []
    for region in ("ap-northeast-1", "ap-southeast-1", "eu-central-1", "us-east-1"):
        assert list(validator.iter_errors({**defaults, "region": region})) == []


def test_the_schema_knows_exactly_the_apis_exchanges() -> None:
    properties = _schema()["properties"]
    assert sorted(properties["exchangeRegions"]["properties"]) == sorted(_api_exchanges())
    runtime = properties["runtime"]["properties"]
    assert sorted(runtime["exchangeUrls"]["properties"]) == sorted(_api_exchanges())


def test_the_default_exchange_map_is_the_operators() -> None:
    defaults = yaml.safe_load(VALUES.read_text())["exchangeRegions"]
    assert defaults == {str(k): v for k, v in DEFAULT_EXCHANGE_REGIONS.items()}


def test_every_value_is_documented_and_the_values_page_is_current() -> None:
    text = VALUES.read_text()
    assert undocumented_leaves(text) == []
    assert PAGE.read_text() == render_page(text), "run scripts/render-manifests.sh"
    assert CHART_README.read_text() == render_readme(text), "run scripts/render-manifests.sh"


def test_the_chart_ships_the_projects_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]


def test_helm_lint_finds_no_errors(tmp_path: Path) -> None:
    # Lint needs a configuration, not a cluster: a kubeconfig naming an unused address.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "none", "user": {}}],
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "current-context": "none",
            }
        )
    )
    lint = helm_sdkpy.Lint(helm_sdkpy.Configuration(kubeconfig=str(kubeconfig)))
    result = asyncio.run(lint.run(str(CHART)))
    assert result["TotalChartsLinted"] == 1
    assert result["Errors"] is None
    assert [m for m in result["Messages"] if m["Severity"] >= LINT_ERROR] == []
