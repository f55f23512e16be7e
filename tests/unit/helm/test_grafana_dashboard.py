"""The Grafana dashboard the chart ships: well-formed for Grafana, complete, documented metrics only.

helm/tradefleet/files/grafana-dashboard.json is loaded by Grafana's dashboard sidecar from the
chart's ConfigMap. Checks what a broken dashboard would show: panels without ids or positions,
overlapping panels, queries without targets, a missing ``bot`` variable, undocumented metrics.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.promql import REPO, documented_metrics, metric_names

pytestmark = pytest.mark.unit

DASHBOARD = REPO / "helm" / "tradefleet" / "files" / "grafana-dashboard.json"
GRID_WIDTH = 24


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def test_the_dashboard_has_grafanas_top_level_fields() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "tradefleet-fleet"
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["time"] == {"from": "now-6h", "to": "now"}
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert all(isinstance(i, int) and i > 0 for i in ids)


def test_panels_sit_inside_the_grid_without_overlapping() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in _dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0, panel["title"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_every_panel_queries_prometheus_through_the_datasource_variable() -> None:
    for panel in _panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]


def test_the_fleet_overview_and_per_bot_panels_are_there() -> None:
    titles = {panel["title"] for panel in _dashboard()["panels"]}
    assert {"Fleet overview", "Bot $bot"} <= titles
    for wanted in (
        "Bots by phase and region",
        "PnL by bot",
        "Drawdown by bot",
        "Open breakers",
        "Equity",
        "Position size",
        "Market regime",
        "Fusion score and components",
        "Tick to decision latency",
        "Exchange errors",
    ):
        assert wanted in titles
    per_bot = [p for p in _panels() if p["gridPos"]["y"] > _row_y("Bot $bot")]
    for panel in per_bot:
        for target in panel["targets"]:
            assert 'bot=~"$bot"' in target["expr"], panel["title"]


def _row_y(title: str) -> int:
    (row,) = [p for p in _dashboard()["panels"] if p["type"] == "row" and p["title"] == title]
    y: int = row["gridPos"]["y"]
    return y


def test_the_bot_variable_lists_bots_of_the_chosen_namespaces() -> None:
    variables = {v["name"]: v for v in _dashboard()["templating"]["list"]}
    assert set(variables) == {"datasource", "region", "namespace", "bot"}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    bot = variables["bot"]
    assert bot["type"] == "query"
    assert (
        bot["query"]["query"] == 'label_values(tradefleet_bot_equity{namespace=~"$namespace"}, bot)'
    )
    assert bot["includeAll"] is True


def test_queries_use_only_documented_metrics() -> None:
    documented = documented_metrics()
    queries = [t["expr"] for p in _panels() for t in p["targets"]] + [
        v["query"]["query"] for v in _dashboard()["templating"]["list"] if v["type"] == "query"
    ]
    used: set[str] = set()
    for query in queries:
        names = metric_names(query)
        assert names, query
        assert names <= documented, f"{query}: {sorted(names - documented)}"
        used |= names
    # The dashboard shows every bot and operator metric but the histograms' _sum/_count.
    assert documented - used == {name for name in documented if name.endswith(("_sum", "_count"))}
