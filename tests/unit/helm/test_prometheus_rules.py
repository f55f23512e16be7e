"""The chart's alert rules: valid for Prometheus, each unit-tested with promtool, each documented.

Runs the real ``promtool`` (Debian's prometheus package, installed by scripts/bootstrap.sh) on
helm/tradefleet/files/prometheus-rules.yaml — the file the chart's PrometheusRule embeds — and on
its unit tests in prometheus-rules.test.yaml next to this module.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.promql import REPO, documented_metrics, metric_names

pytestmark = pytest.mark.unit

RULES = REPO / "helm" / "tradefleet" / "files" / "prometheus-rules.yaml"
RULE_TESTS = Path(__file__).with_name("prometheus-rules.test.yaml")
RUNBOOK_BASE = "https://github.com/tradefleet/tradefleet/blob/main/docs/runbooks/"
# What the issue asks alerts for, by alert name.
REQUIRED_ALERTS = {
    "TradefleetCircuitBreakerOpen",
    "TradefleetBotDegraded",
    "TradefleetBotRolledBack",
    "TradefleetDrawdownHigh",
    "TradefleetHeartbeatMissing",
    "TradefleetOrderErrorRate",
    "TradefleetPositionUnprotected",
    "TradefleetBotHalted",
    "TradefleetBotSelfPaused",
    "TradefleetBotNotTrading",
    "TradefleetBotRateLimited",
    "TradefleetBotInvalid",
    "TradefleetBotStuckProgressing",
    "TradefleetBotFailed",
    "TradefleetKillSwitchNotConfirmed",
    "TradefleetFlattenNotConfirmed",
    "TradefleetOperatorDown",
    "TradefleetOperatorNotReconciling",
}


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: scripts/bootstrap.sh installs Debian's prometheus package"
    return found


def _promtool_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args], check=False, capture_output=True, text=True, timeout=60
    )


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_rules() -> None:
    done = _promtool_run("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in done.stdout


def test_every_alert_fires_and_stays_quiet_as_its_promtool_tests_expect() -> None:
    done = _promtool_run("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_issues_alerts_exist_and_each_has_a_promtool_test() -> None:
    names = {rule["alert"] for rule in _alerts()}
    assert names == REQUIRED_ALERTS
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing = {
        check["alertname"]
        for case in cases
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }
    assert firing == names


@pytest.mark.parametrize("alert", sorted(REQUIRED_ALERTS))
def test_each_alert_links_to_its_runbook(alert: str) -> None:
    (rule,) = [rule for rule in _alerts() if rule["alert"] == alert]
    assert rule["annotations"]["runbook_url"] == f"{RUNBOOK_BASE}{alert}.md"
    assert rule["labels"]["severity"] in ("warning", "critical")
    runbook = REPO / "docs" / "runbooks" / f"{alert}.md"
    text = runbook.read_text()
    for section in ("## What it means", "## What to check", "## What to do"):
        assert section in text, f"{runbook.name} lacks {section!r}"


def test_rules_use_only_documented_metrics() -> None:
    documented = documented_metrics()
    for rule in _alerts():
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= documented, f"{rule['alert']}: {sorted(used - documented)}"
