"""A SignalSource's Secret and ConfigMap references reach its pod (issue 18, item 3).

The LLM key's Secret key becomes an environment variable, the http source's header Secret and
the macro source's events ConfigMap are mounted read-only, and the pod is told where; a source
that references none gets none of them.
"""

from __future__ import annotations

from typing import Any

import pytest
from tradefleet_operator.render import Owner
from tradefleet_operator.render_source import render_source_children
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import parse_signal_source_spec

pytestmark = pytest.mark.unit

SETTINGS = OperatorSettings(region="ap-northeast-1")


def _pod(raw: dict[str, Any]) -> dict[str, Any]:
    owner = Owner(kind="SignalSource", name="src", namespace="ns", uid="u-1")
    children = render_source_children(
        owner=owner, spec=parse_signal_source_spec(raw), raw_spec=raw, settings=SETTINGS
    )
    (deployment,) = [c for c in children if c["kind"] == "Deployment"]
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def _env(pod: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in pod["containers"][0]["env"]}


def _mounts(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    volumes = {v["name"]: v for v in pod["volumes"]}
    return {
        m["mountPath"]: {**volumes[m["name"]], "readOnly": m.get("readOnly")}
        for m in pod["containers"][0]["volumeMounts"]
    }


def test_llm_key_secret_becomes_the_pods_environment() -> None:
    pod = _pod(
        {
            "kind": "sentiment",
            "symbols": ["BTC/USDT"],
            "sentiment": {
                "feeds": [{"url": "https://news.example/rss"}],
                "llm": {
                    "enabled": True,
                    "endpoint": "https://llm.example",
                    "model": "m",
                    "apiKeySecretRef": {"name": "llm-credentials", "key": "token"},
                },
            },
        }
    )
    assert _env(pod)["TRADEFLEET_LLM_API_KEY"] == {
        "secretKeyRef": {"name": "llm-credentials", "key": "token"}
    }


def test_header_secret_and_events_config_map_are_mounted_and_named() -> None:
    http = _pod(
        {
            "kind": "http",
            "symbols": ["BTC/USDT"],
            "http": {
                "url": "https://api.example/score/{symbol}",
                "jsonPath": "$.score",
                "headersSecretRef": {"name": "score-api-headers"},
            },
        }
    )
    assert _env(http)["TRADEFLEET_HTTP_HEADERS_DIR"] == "/etc/tradefleet-inputs/http-headers"
    mounted = _mounts(http)["/etc/tradefleet-inputs/http-headers"]
    assert mounted["secret"] == {"secretName": "score-api-headers"} and mounted["readOnly"]
    macro = _pod(
        {
            "kind": "macro",
            "symbols": ["BTC/USDT"],
            "macro": {"eventsConfigMap": "fomc-calendar"},
        }
    )
    assert _env(macro)["TRADEFLEET_MACRO_EVENTS_DIR"] == "/etc/tradefleet-inputs/macro-events"
    mounted = _mounts(macro)["/etc/tradefleet-inputs/macro-events"]
    assert mounted["configMap"] == {"name": "fomc-calendar"} and mounted["readOnly"]


def test_a_source_without_references_gets_no_inputs() -> None:
    pod = _pod(
        {"kind": "macro", "symbols": ["BTC/USDT"], "macro": {"feeds": ["https://cal.example"]}}
    )
    assert not any(name.startswith("TRADEFLEET_LLM") for name in _env(pod))
    assert list(_mounts(pod)) == ["/etc/tradefleet"]


def test_a_whale_sources_header_secret_is_mounted_like_an_http_sources() -> None:
    pod = _pod(
        {
            "kind": "whale",
            "symbols": ["BTC/USDT"],
            "whale": {
                "feedUrl": "https://whales.example/v1/transactions",
                "headersSecretRef": {"name": "whale-api"},
            },
        }
    )
    assert _env(pod)["TRADEFLEET_HTTP_HEADERS_DIR"] == "/etc/tradefleet-inputs/http-headers"
    assert _mounts(pod)["/etc/tradefleet-inputs/http-headers"]["secret"] == {
        "secretName": "whale-api"
    }
