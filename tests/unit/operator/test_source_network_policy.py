"""A SignalSource's pod is fenced by its own NetworkPolicy (issue 20, item 4): only the operator
and Prometheus may call it, and it may reach DNS, its feeds over HTTP and HTTPS, and Redis —
not the exchange's private ports, the apiserver or any other service of the cluster."""

from __future__ import annotations

from typing import Any

import pytest
from tradefleet_operator.render import Owner
from tradefleet_operator.render_source import render_source_children
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import parse_signal_source_spec

pytestmark = pytest.mark.unit

SETTINGS = OperatorSettings(region="ap-northeast-1")
RAW = {"kind": "macro", "symbols": ["BTC/USDT"], "macro": {"feeds": ["https://cal.example"]}}


def _by_kind() -> dict[str, dict[str, Any]]:
    owner = Owner(kind="SignalSource", name="src", namespace="ns", uid="u-1")
    children = render_source_children(
        owner=owner, spec=parse_signal_source_spec(RAW), raw_spec=RAW, settings=SETTINGS
    )
    return {c["kind"]: c for c in children}


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_the_sources_pod_and_only_it_is_selected_by_its_network_policy() -> None:
    children = _by_kind()
    policy = children["NetworkPolicy"]["spec"]
    pod_labels = children["Deployment"]["spec"]["template"]["metadata"]["labels"]
    selector = policy["podSelector"]["matchLabels"]
    assert _selects(selector, pod_labels)
    other_source = {**pod_labels, "tradefleet.io/signal-source": "another"}
    assert not _selects(selector, other_source)
    assert policy["policyTypes"] == ["Ingress", "Egress"]


def test_the_source_reaches_dns_its_feeds_and_redis_and_nothing_else() -> None:
    policy = _by_kind()["NetworkPolicy"]["spec"]
    allowed = {(p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"]}
    assert allowed == {("UDP", 53), ("TCP", 53), ("TCP", 80), ("TCP", 443), ("TCP", 6379)}
    assert all("to" not in rule for rule in policy["egress"])  # by port, to any address
    (ingress,) = policy["ingress"]
    callers = {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in ingress["from"]
    }
    assert callers == {"tradefleet-operator", "prometheus"}
    assert ingress["ports"] == [{"protocol": "TCP", "port": SETTINGS.runtime_port}]
