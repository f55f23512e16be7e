"""A real Prometheus (Debian's package) for e2e tests: started on the local stack's targets with the
chart's alert rules; helpers to read alert states and check dashboard queries against /metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from tradefleet_devtools.controlplane import free_port

from support.k8s import wait_for
from support.promql import REPO, metric_names

RULES = REPO / "helm" / "tradefleet" / "files" / "prometheus-rules.yaml"
DASHBOARD = REPO / "helm" / "tradefleet" / "files" / "grafana-dashboard.json"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


def bot_target(api: client.ApiClient, namespace: str, name: str) -> str:
    pods = (
        client.CoreV1Api(api)
        .list_namespaced_pod(
            namespace,
            label_selector=f"tradefleet.io/bot={name},app.kubernetes.io/name=tradefleet-bot",
        )
        .items
    )
    running = [p for p in pods if p.status.pod_ip and p.status.phase == "Running"]
    assert running, f"no running pod for {name}"
    return f"{running[0].status.pod_ip}:8080"


def _ready(url: str) -> bool:
    try:
        return get_text(f"{url}/-/ready").strip().lower().startswith("prometheus")
    except OSError:
        return False


def alert_state(url: str, alert: str) -> str:
    """inactive, pending or firing: the alert rule's state as Prometheus evaluates it."""
    groups = get_json(f"{url}/api/v1/rules?type=alert")["data"]["groups"]
    rule = next(r for g in groups for r in g["rules"] if r["name"] == alert)
    return str(rule["state"])


def running_prometheus(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Yields a handle whose ``start(targets=...)`` launches Prometheus; stopped afterwards."""
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


def exported_metric_names(targets: list[str]) -> set[str]:
    """Every series name the targets' /metrics declare (histogram and counter series included)."""
    exported: set[str] = set()
    for target in targets:
        for line in get_text(f"http://{target}/metrics").splitlines():
            if line.startswith("# TYPE "):
                name, kind = line.split()[2:4]
                exported.add(name)
                if kind == "histogram":
                    exported.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
                if kind == "counter" and not name.endswith("_total"):
                    exported.add(f"{name}_total")
    return exported


def dashboard_metric_names() -> set[str]:
    """The metrics the Grafana dashboard's panels and query variables select."""
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
    return queried
