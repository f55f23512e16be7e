"""The Python side of the API cannot drift from the CRDs in crds/.

The spec models are generated from the CRDs (test_api_generated_models checks they are
current); here, the status enums match the Python ones, and parsing a spec gives the same
model whether or not the apiserver's defaulting ran first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any

import pytest
from api_schema_proxy import apply_defaults, openapi_schema
from tradefleet_operator.spec import (
    AccountPhase,
    BotPhase,
    CircuitState,
    ConditionStatus,
    PositionSide,
    RevisionSource,
    SignalAction,
    SignalSourcePhase,
    parse_exchange_account_spec,
    parse_signal_source_spec,
    parse_trading_bot_spec,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("kind", "status_path", "enum"),
    [
        ("TradingBot", ("phase",), BotPhase),
        ("TradingBot", ("circuitBreaker", "state"), CircuitState),
        ("TradingBot", ("position", "side"), PositionSide),
        ("TradingBot", ("lastSignal", "action"), SignalAction),
        ("SignalSource", ("phase",), SignalSourcePhase),
        ("ExchangeAccount", ("phase",), AccountPhase),
    ],
)
def test_status_enums_mirror_the_status_schema(
    kind: str, status_path: tuple[str, ...], enum: type[StrEnum]
) -> None:
    node = openapi_schema(kind)["properties"]["status"]
    for part in status_path:
        node = node["properties"][part]
    assert node["enum"] == [member.value for member in enum]


@pytest.mark.parametrize(
    ("kind", "array", "key", "enum"),
    [
        ("TradingBot", "conditions", "status", ConditionStatus),
        ("TradingBot", "revisionHistory", "source", RevisionSource),
        ("SignalSource", "conditions", "status", ConditionStatus),
        ("ExchangeAccount", "conditions", "status", ConditionStatus),
    ],
)
def test_status_list_enums_mirror_the_status_schema(
    kind: str, array: str, key: str, enum: type[StrEnum]
) -> None:
    items = openapi_schema(kind)["properties"]["status"]["properties"][array]["items"]
    assert items["properties"][key]["enum"] == [member.value for member in enum]


def _empty_defaulted_objects(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Every object the schema defaults to ``{}``, present but empty (recursively)."""
    return {
        key: _empty_defaulted_objects(node)
        for key, node in schema.get("properties", {}).items()
        if node.get("default") == {}
    }


# Each optional object without a schema default, present with only its required fields,
# so that the defaults inside it are exercised (test_skeletons_cover_every_object).
TRADING_BOT_SKELETON: dict[str, Any] = {
    "exchange": "binance",
    "symbol": "BTC/USDT",
    "credentials": {"secretRef": {"name": "keys"}},
    "accountRef": {"name": "main"},
    "strategy": {"signalSources": [{"name": "news"}]},
    "resources": {"requests": {}, "limits": {}},
    "notifications": [
        {
            "name": "ops",
            "type": "telegram",
            "secretRef": {"name": "tg", "key": "token"},
            "telegram": {"chatId": "42"},
        }
    ],
}
SIGNAL_SOURCE_SKELETON: dict[str, Any] = {
    "kind": "sentiment",
    "symbols": ["BTC/USDT"],
    "sentiment": {
        "feeds": [{"url": "https://news.example.com/rss"}],
        "keywords": {},
        "llm": {"apiKeySecretRef": {"name": "llm-key"}},
    },
    "macro": {"assetBiases": [{"asset": "BTC", "bias": 1}]},
    "whale": {
        "thresholds": [{"asset": "BTC", "minUsd": 1000000}],
        "headersSecretRef": {"name": "whale-api"},
        "exchangeAddresses": [
            {"exchange": "binance", "addresses": ["34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo"]}
        ],
    },
    "http": {
        "url": "https://signals.example.com/{base}",
        "jsonPath": "$.score",
        "headersSecretRef": {"name": "signal-headers"},
    },
    "resources": {"requests": {}, "limits": {}},
}


EXCHANGE_ACCOUNT_SKELETON: dict[str, Any] = {
    "exchange": "okx",
    "credentials": {"secretRef": {"name": "keys", "passphraseKey": "passphrase"}},
    "allocation": {"capital": 10000, "amounts": {"btc-bot": 100}, "weights": {"btc-bot": 2}},
}


def _object_paths(schema: Mapping[str, Any], path: str = "") -> Iterator[str]:
    for key, node in schema.get("properties", {}).items():
        child = f"{path}.{key}" if path else key
        if node.get("type") == "object":
            yield child
            yield from _object_paths(node, child)
        if node.get("type") == "array" and node["items"]["type"] == "object":
            yield f"{child}[]"
            yield from _object_paths(node["items"], f"{child}[]")


def _value_paths(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else key
            if isinstance(child, dict):
                yield child_path
            if isinstance(child, list) and child and isinstance(child[0], dict):
                yield f"{child_path}[]"
                yield from _value_paths(child[0], f"{child_path}[]")
            yield from _value_paths(child, child_path)


@pytest.mark.parametrize(
    ("kind", "skeleton"),
    [
        ("TradingBot", TRADING_BOT_SKELETON),
        ("SignalSource", SIGNAL_SOURCE_SKELETON),
        ("ExchangeAccount", EXCHANGE_ACCOUNT_SKELETON),
    ],
)
def test_skeletons_cover_every_object(kind: str, skeleton: dict[str, Any]) -> None:
    spec_schema = openapi_schema(kind)["properties"]["spec"]
    defaulted = apply_defaults(value=skeleton, schema=spec_schema)
    assert set(_object_paths(spec_schema)) <= set(_value_paths(defaulted))


@pytest.mark.parametrize(
    ("kind", "skeleton", "parse"),
    [
        ("TradingBot", TRADING_BOT_SKELETON, parse_trading_bot_spec),
        ("SignalSource", SIGNAL_SOURCE_SKELETON, parse_signal_source_spec),
        ("ExchangeAccount", EXCHANGE_ACCOUNT_SKELETON, parse_exchange_account_spec),
    ],
)
def test_python_defaults_are_the_apiserver_defaults(
    kind: str, skeleton: dict[str, Any], parse: Any
) -> None:
    spec_schema = openapi_schema(kind)["properties"]["spec"]
    minimal = {key: skeleton[key] for key in spec_schema["required"]}
    empty_objects = {**minimal, **_empty_defaulted_objects(spec_schema)}
    for spec in (minimal, empty_objects, skeleton):
        assert parse(spec) == parse(apply_defaults(value=spec, schema=spec_schema))
