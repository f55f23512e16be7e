"""The Python spec models cannot drift from the CRDs in crds/.

Every schema property under ``spec`` has a model field (camelCase <-> snake_case) and vice
versa, with a matching type, enum, required-ness and default; the status enums match the
Python ones; and parsing a spec gives the same model whether or not the apiserver's
defaulting ran first.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
from api_schema_proxy import apply_defaults, openapi_schema
from tradefleet_operator.spec import (
    BotPhase,
    CircuitState,
    ConditionStatus,
    PositionSide,
    RevisionSource,
    SignalAction,
    SignalSourcePhase,
    SignalSourceSpec,
    TradingBotSpec,
    parse_signal_source_spec,
    parse_trading_bot_spec,
    property_name,
)

pytestmark = pytest.mark.unit

_SCALAR_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (types.UnionType, Union):
        (inner,) = (arg for arg in get_args(annotation) if arg is not type(None))
        return inner, True
    return annotation, False


def _mismatches(
    *, model: type, schema: Mapping[str, Any], path: str, defaults: object = None
) -> Iterator[str]:
    """Every difference between ``model`` and the object ``schema`` at ``path``.

    ``defaults`` is the parent field's default instance of ``model``, whose values are the
    defaults when the class itself has none (each regime of ``RegimeParametersSet``).
    """
    properties = schema["properties"]
    inline_secret_fields = {key for key, node in properties.items() if node.get("maxLength") == 0}
    if inline_secret_fields != set(getattr(model, "INLINE_SECRET_FIELDS", ())):
        yield (
            f"{path}: forbidden inline fields {sorted(inline_secret_fields)} are not the "
            f"model's INLINE_SECRET_FIELDS"
        )
    fields = {property_name(field.name): field for field in dataclasses.fields(model)}
    declared = set(properties) - inline_secret_fields
    for missing in sorted(declared - set(fields)):
        yield f"{path}.{missing}: in the schema, not in {model.__name__}"
    for extra in sorted(set(fields) - declared):
        yield f"{path}.{extra}: in {model.__name__}, not in the schema"
    required = set(schema.get("required", ()))
    hints = get_type_hints(model)
    for key in sorted(declared & set(fields)):
        field = fields[key]
        yield from _field_mismatches(
            field=field,
            default=field.default if defaults is None else getattr(defaults, field.name),
            annotation=hints[field.name],
            node=properties[key],
            is_required=key in required,
            path=f"{path}.{key}",
        )


def _field_mismatches(
    *,
    field: dataclasses.Field[Any],
    default: Any,
    annotation: Any,
    node: Mapping[str, Any],
    is_required: bool,
    path: str,
) -> Iterator[str]:
    has_default = default is not dataclasses.MISSING
    if is_required == has_default:
        yield f"{path}: required in the schema is {is_required}, model default is {has_default}"
    annotation, is_optional = _unwrap_optional(annotation)
    if is_optional and ("default" in node or is_required):
        yield f"{path}: Optional in the model, but the schema gives it a value"
    if "default" in node and node["type"] != "object" and default != node["default"]:
        yield f"{path}: model default {default!r} != schema default {node['default']!r}"
    is_empty_tuple = get_origin(annotation) is tuple and default == ()
    if "default" not in node and not is_required and not is_optional and not is_empty_tuple:
        yield f"{path}: no schema default, so the model's must be None (or () for a list)"
    yield from _type_mismatches(
        annotation=annotation, node=node, field=field, default=default, path=path
    )


# Over the complexity limit on purpose: one branch per kind of schema node.
def _type_mismatches(  # noqa: C901, PLR0912
    *,
    annotation: Any,
    node: Mapping[str, Any],
    field: dataclasses.Field[Any],
    default: Any,
    path: str,
) -> Iterator[str]:
    if node.get("x-kubernetes-int-or-string"):
        if annotation is not str or not field.metadata.get("quantity"):
            yield f"{path}: int-or-string must be a str field with quantity metadata"
        return
    if dataclasses.is_dataclass(annotation):
        if node["type"] != "object":
            yield f"{path}: model {annotation.__name__} but schema type {node['type']}"
            return
        nested_defaults = None if default in (dataclasses.MISSING, None) else default
        yield from _mismatches(model=annotation, schema=node, path=path, defaults=nested_defaults)
        return
    if get_origin(annotation) is tuple:
        if node["type"] != "array":
            yield f"{path}: model tuple but schema type {node['type']}"
            return
        item = get_args(annotation)[0]
        items = node["items"]
        if dataclasses.is_dataclass(item):
            yield from _mismatches(model=item, schema=items, path=f"{path}[]")
        elif isinstance(item, type) and issubclass(item, StrEnum):
            if items.get("enum") != [member.value for member in item]:
                yield f"{path}[]: {item.__name__} values differ from the schema enum"
        elif _SCALAR_TYPES.get(item) != items["type"]:
            yield f"{path}[]: model {item} but schema type {items['type']}"
        return
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        if node.get("enum") != [member.value for member in annotation]:
            yield f"{path}: {annotation.__name__} values differ from the schema enum"
        return
    if _SCALAR_TYPES.get(annotation) != node["type"]:
        yield f"{path}: model {annotation} but schema type {node['type']}"


@pytest.mark.parametrize(
    ("kind", "model"), [("TradingBot", TradingBotSpec), ("SignalSource", SignalSourceSpec)]
)
def test_models_mirror_the_spec_schema(kind: str, model: type) -> None:
    spec_schema = openapi_schema(kind)["properties"]["spec"]
    assert list(_mismatches(model=model, schema=spec_schema, path="spec")) == []


@pytest.mark.parametrize(
    ("kind", "status_path", "enum"),
    [
        ("TradingBot", ("phase",), BotPhase),
        ("TradingBot", ("circuitBreaker", "state"), CircuitState),
        ("TradingBot", ("position", "side"), PositionSide),
        ("TradingBot", ("lastSignal", "action"), SignalAction),
        ("SignalSource", ("phase",), SignalSourcePhase),
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
    [("TradingBot", TRADING_BOT_SKELETON), ("SignalSource", SIGNAL_SOURCE_SKELETON)],
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
