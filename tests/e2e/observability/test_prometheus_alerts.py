"""A real Prometheus (Debian's package) loads the chart's alert rules, scrapes the local stack's bot
and operator metrics, and fires the circuit-breaker alert when a bot's breaker trips. The Grafana
dashboard's queries use only metrics the bot and the operator really export."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from support.bots import gap_price_against, start_hair_trigger_bot
from support.k8s import wait_for
from support.promql import REPO, metric_names
from tradefleet_devtools.controlplane import free_port
from tradefleet_devtools.stack import LocalStack

pytestmark = pytest.mark.e2e

RULES = REPO / "helm" / "tradefleet" / "files" / "prometheus-rules.yaml"
DASHBOARD = REPO / "helm" / "tradefleet" / "files" / "grafana-dashboard.json"
ALERT = "TradefleetCircuitBreakerOpen"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def _text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


def _bot_target(api: client.ApiClient, namespace: str, name: str) -> str:
    pods = (
        client.CoreV1Api(api)
        .list_namespaced_pod(namespace, label_selector=f"tradefleet.io/bot={name}")
        .items
    )
    running = [p for p in pods if p.status.pod_ip and p.status.phase == "Running"]
    assert running, f"no running pod for {name}"
    return f"{running[0].status.pod_ip}:8080"


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[dict[str, Any]]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    assert Path(binary).exists(), "Debian's prometheus package is installed by scripts/bootstrap.sh"
    port = free_port()
    handle: dict[str, Any] = {
        "url": f"http://127.0.0.1:{port}",
        "config": tmp_path / "prometheus.yml",
        "proc": None,
    }

    def start(*, targets: dict[str, list[str]]) -> None:
        config = {
            "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                # The metrics carry their own namespace/bot labels, as honorLabels keeps them in-cluster.
                {"job_name": job, "honor_labels": True, "static_configs": [{"targets": hosts}]}
                for job, hosts in targets.items()
            ],
        }
        handle["config"].write_text(yaml.safe_dump(config))
        log = (tmp_path / "prometheus.log").open("w")
        handle["proc"] = subprocess.Popen(
            [
                binary,
                f"--config.file={handle['config']}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(lambda: _ready(handle["url"]), timeout_s=30, what="Prometheus to be ready")

    handle["start"] = start
    yield handle
    if handle["proc"] is not None:
        handle["proc"].terminate()
        handle["proc"].wait(timeout=15)


def _ready(url: str) -> bool:
    try:
        return _text(f"{url}/-/ready").strip().lower().startswith("prometheus")
    except OSError:
        return False


def _alert_state(url: str) -> str:
    """inactive, pending or firing: the circuit-breaker rule's state as Prometheus evaluates it."""
    groups = _get(f"{url}/api/v1/rules?type=alert")["data"]["groups"]
    rule = next(r for g in groups for r in g["rules"] if r["name"] == ALERT)
    return str(rule["state"])


def test_breaker_alert_fires_and_the_dashboard_uses_real_metrics(
    stack: LocalStack,
    e2e_api: client.ApiClient,
    e2e_namespace: str,
    exchange_keys: str,
    prometheus: dict[str, Any],
) -> None:
    started = time.monotonic()
    long = start_hair_trigger_bot(
        stack=stack, api=e2e_api, namespace=e2e_namespace, symbol="ETH/USDT:USDT", name="alarmed"
    )
    bot = _bot_target(e2e_api, e2e_namespace, "alarmed")
    operators = [f"127.0.0.1:{op.metrics_port}" for op in stack.operators.values()]
    prometheus["start"](targets={"bots": [bot], "operators": operators})
    wait_for(
        lambda: _alert_state(prometheus["url"]) == "inactive",
        timeout_s=30,
        what="the rule loaded, inactive",
    )
    gap_price_against(stack=stack, symbol="ETH/USDT:USDT", long=long)

    fired = wait_for(
        lambda: _alert_state(prometheus["url"]) == "firing", timeout_s=180, what=f"{ALERT} to fire"
    )
    assert fired
    alerts = _get(f"{prometheus['url']}/api/v1/alerts")["data"]["alerts"]
    breaker = next(a for a in alerts if a["labels"]["alertname"] == ALERT)
    assert breaker["labels"]["bot"] == "alarmed" and breaker["labels"]["namespace"] == e2e_namespace
    assert breaker["labels"]["reason"] == "drawdown"
    print(
        f"{ALERT}: inactive -> firing {time.monotonic() - started:.0f}s after the bot was applied (rule has for: 1m)"
    )

    # Every metric a dashboard panel queries is exported by the bot or the operator.
    exported = set()
    for target in [bot, *operators]:
        for line in _text(f"http://{target}/metrics").splitlines():
            if line.startswith("# TYPE "):
                name, kind = line.split()[2:4]
                exported.add(name)
                if kind == "histogram":
                    exported.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
                if kind == "counter":
                    exported.add(f"{name}_total" if not name.endswith("_total") else name)
    dashboard = json.loads(DASHBOARD.read_text())
    queried: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queried |= metric_names(target["expr"])
    # Query variables select series; a datasource variable's "query" is a plugin type.
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        if query:
            queried |= metric_names(str(query))
    assert queried, "the dashboard queries something"
    missing = sorted(queried - exported)
    assert not missing, f"dashboard queries metrics nobody exports: {missing}"
