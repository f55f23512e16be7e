"""The CRDs in crds/ are what Kubernetes 1.20 accepts and what `kubectl` users see.

Structural schemas (a type on every node), no CEL, defaults that validate, list-map keys
that are required, a description on every field (for `kubectl explain`), and the printer
columns that make `kubectl get tradingbots` a dashboard.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import pytest
from api_schema_proxy import load_crd, openapi_schema

pytestmark = pytest.mark.unit

KINDS = ("TradingBot", "SignalSource")


def _nodes(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}" if path else name)
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")


def _node_at(schema: Mapping[str, Any], dotted: str) -> Mapping[str, Any]:
    node = schema
    for part in dotted.strip(".").split("."):
        node = node["properties"][part]
    return node


@pytest.mark.parametrize("kind", KINDS)
def test_every_node_is_structural_and_documented(kind: str) -> None:
    undocumented = []
    untyped = []
    for path, node in _nodes(openapi_schema(kind)):
        # 1.20 forbids anything but a type on the root metadata (see the test below).
        if not node.get("description") and path != "metadata":
            undocumented.append(path)
        if "type" not in node and not node.get("x-kubernetes-int-or-string"):
            untyped.append(path)
    assert undocumented == []
    assert untyped == []


@pytest.mark.parametrize("kind", KINDS)
def test_schema_uses_nothing_newer_than_kubernetes_1_20(kind: str) -> None:
    for path, node in _nodes(openapi_schema(kind)):
        assert "x-kubernetes-validations" not in node, path
        assert "x-kubernetes-preserve-unknown-fields" not in node, path
        assert "uniqueItems" not in node, path  # forbidden in structural schemas


@pytest.mark.parametrize("kind", KINDS)
def test_root_metadata_is_left_to_the_apiserver(kind: str) -> None:
    # kube-apiserver 1.20 refuses a CRD whose root metadata schema says more than its type.
    assert openapi_schema(kind)["properties"]["metadata"] == {"type": "object"}


@pytest.mark.parametrize("kind", KINDS)
def test_no_default_is_an_empty_string(kind: str) -> None:
    # kube-apiserver 1.20 reads `default: ""` as null and refuses the CRD.
    empty = [path for path, node in _nodes(openapi_schema(kind)) if node.get("default") == ""]
    assert empty == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_default_validates_against_its_own_schema(kind: str) -> None:
    invalid = [
        path
        for path, node in _nodes(openapi_schema(kind))
        if "default" in node and not jsonschema.Draft4Validator(node).is_valid(node["default"])
    ]
    assert invalid == []


@pytest.mark.parametrize("kind", KINDS)
def test_list_map_keys_are_required_in_their_items(kind: str) -> None:
    for path, node in _nodes(openapi_schema(kind)):
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            assert set(keys) <= set(node["items"].get("required", ())), path


@pytest.mark.parametrize(
    ("kind", "plural", "short_name"),
    [("TradingBot", "tradingbots", "tb"), ("SignalSource", "signalsources", "sigsrc")],
)
def test_names_short_names_and_category(kind: str, plural: str, short_name: str) -> None:
    crd = load_crd(kind)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{plural}.tradefleet.io"
    assert crd["spec"]["group"] == "tradefleet.io"
    assert crd["spec"]["names"]["kind"] == kind
    assert crd["spec"]["names"]["plural"] == plural
    assert crd["spec"]["names"]["shortNames"] == [short_name]
    assert crd["spec"]["names"]["categories"] == ["tradefleet"]
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1"
    assert version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}


def _columns(kind: str) -> list[tuple[str, str, int]]:
    (version,) = load_crd(kind)["spec"]["versions"]
    return [
        (column["name"], column["jsonPath"], column.get("priority", 0))
        for column in version["additionalPrinterColumns"]
    ]


def test_kubectl_get_tradingbots_is_a_dashboard() -> None:
    columns = _columns("TradingBot")
    assert [name for name, _, priority in columns if priority == 0] == [
        "Exchange",
        "Symbol",
        "Mode",
        "Region",
        "Phase",
        "PnL",
        "Regime",
        "Circuit",
        "Age",
    ]
    assert [name for name, _, priority in columns if priority == 1] == [
        "Equity",
        "Drawdown",
        "Position",
        "Restarts",
        "Revision",
        "Node",
    ]
    assert ("Circuit", ".status.circuitBreaker.state", 0) in columns
    assert ("Region", ".status.region", 0) in columns


def test_kubectl_get_signalsources_columns() -> None:
    assert [name for name, _, _ in _columns("SignalSource")] == [
        "Kind",
        "Symbols",
        "Phase",
        "Region",
        "Last-Published",
        "Age",
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_every_printer_column_reads_a_declared_field(kind: str) -> None:
    schema = openapi_schema(kind)
    for name, json_path, _ in _columns(kind):
        if json_path == ".metadata.creationTimestamp":
            continue
        assert _node_at(schema, json_path)["description"], name


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("TradingBot", "spec.apiKey"),
        ("TradingBot", "spec.apiSecret"),
        ("TradingBot", "spec.credentials.apiKey"),
        ("TradingBot", "spec.credentials.apiSecret"),
        ("TradingBot", "spec.credentials.passphrase"),
        ("SignalSource", "spec.sentiment.llm.apiKey"),
    ],
)
def test_inline_key_fields_are_declared_only_to_be_refused(kind: str, path: str) -> None:
    node = _node_at(openapi_schema(kind), path)
    assert node["maxLength"] == 0
    assert node["description"].startswith("Not allowed")
