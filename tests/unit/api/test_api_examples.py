"""The example manifests in manifests/examples/ are valid, complete and teach the right thing.

Each TradingBot and SignalSource passes the CRD schema without a single field being
silently pruned (a typo would be), passes the semantic validation, and lands where its
comments say; `kubectl apply -f manifests/examples/` needs no namespace and no kustomize.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from api_schema_proxy import (
    REPO_ROOT,
    apiserver_errors,
    openapi_schema,
    pruned_paths,
    stored_object,
)
from tradefleet_operator.spec import (
    DEFAULT_EXCHANGE_REGIONS,
    Market,
    TradingMode,
    parse_exchange_account_spec,
    parse_signal_source_spec,
    parse_trading_bot_spec,
    resolve_region,
    source_covers_symbol,
    validate_exchange_account_spec,
    validate_signal_source_spec,
    validate_trading_bot_spec,
)
from tradefleet_runtime.signals.econ_calendar import parse_calendar

pytestmark = pytest.mark.unit

EXAMPLES_DIRECTORY = REPO_ROOT / "manifests" / "examples"


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, document)
        for path in sorted(EXAMPLES_DIRECTORY.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]


DOCUMENTS = _documents()
CUSTOM_RESOURCES = [
    (path, document)
    for path, document in DOCUMENTS
    if document["kind"] not in ("Secret", "ConfigMap")
]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {
        document["metadata"]["name"]: document
        for _, document in DOCUMENTS
        if document["kind"] == kind
    }


def test_every_example_applies_to_the_current_namespace() -> None:
    assert DOCUMENTS, "no examples found"
    assert {document["kind"] for _, document in DOCUMENTS} == {
        "TradingBot",
        "SignalSource",
        "ExchangeAccount",
        "Secret",
        "ConfigMap",
    }
    for path, document in DOCUMENTS:
        assert "namespace" not in document["metadata"], path.name
        assert path.read_text().startswith("#"), f"{path.name} has no explanatory comment"


@pytest.mark.parametrize(
    ("path", "document"), CUSTOM_RESOURCES, ids=lambda value: getattr(value, "name", "")
)
def test_example_passes_the_schema_without_pruned_fields(
    path: Path, document: dict[str, Any]
) -> None:
    assert apiserver_errors(document) == []
    assert pruned_paths(value=document, schema=openapi_schema(document["kind"])) == []


@pytest.mark.parametrize(
    ("path", "document"), CUSTOM_RESOURCES, ids=lambda value: getattr(value, "name", "")
)
def test_example_passes_the_semantic_validation(path: Path, document: dict[str, Any]) -> None:
    spec = stored_object(document)["spec"]
    if document["kind"] == "TradingBot":
        assert validate_trading_bot_spec(parse_trading_bot_spec(spec)) == []
    elif document["kind"] == "ExchangeAccount":
        assert validate_exchange_account_spec(parse_exchange_account_spec(spec)) == []
    else:
        assert validate_signal_source_spec(parse_signal_source_spec(spec)) == []


@pytest.mark.parametrize(
    ("bot_name", "region"),
    [
        ("btc-usdt-binance-paper", "ap-northeast-1"),
        ("eth-usdt-okx-paper", "ap-southeast-1"),
        ("sol-usdt-bybit-testnet", "ap-southeast-1"),
    ],
)
def test_auto_region_pins_each_bot_near_its_exchange(bot_name: str, region: str) -> None:
    spec = parse_trading_bot_spec(stored_object(_by_kind("TradingBot")[bot_name])["spec"])
    assert spec.region == "auto"
    assert resolve_region(spec=spec, exchange_region_map=DEFAULT_EXCHANGE_REGIONS) == region


def test_examples_show_the_promised_bots() -> None:
    bots = {
        name: parse_trading_bot_spec(stored_object(document)["spec"])
        for name, document in _by_kind("TradingBot").items()
    }
    binance = bots["btc-usdt-binance-paper"]
    assert (binance.exchange, binance.market, binance.symbol, binance.mode) == (
        "binance",
        Market.FUTURES,
        "BTC/USDT:USDT",
        TradingMode.PAPER,
    )
    assert (bots["eth-usdt-okx-paper"].exchange, bots["eth-usdt-okx-paper"].symbol) == (
        "okx",
        "ETH/USDT",
    )
    testnet = bots["sol-usdt-bybit-testnet"]
    assert testnet.mode is TradingMode.TESTNET
    assert testnet.credentials is not None
    assert testnet.credentials.secret_ref.name in _by_kind("Secret")


def test_referenced_signal_sources_exist_and_cover_the_bot_symbol() -> None:
    sources = {
        name: parse_signal_source_spec(stored_object(document)["spec"])
        for name, document in _by_kind("SignalSource").items()
    }
    assert {source.kind for source in sources.values()} == {"sentiment", "macro"}
    for name, document in _by_kind("TradingBot").items():
        bot = parse_trading_bot_spec(stored_object(document)["spec"])
        for reference in bot.strategy.signal_sources:
            assert source_covers_symbol(source=sources[reference.name], symbol=bot.symbol), name


def test_secret_template_holds_placeholders_only() -> None:
    (secret,) = _by_kind("Secret").values()
    assert secret["stringData"] == {"apiKey": "REPLACE_ME", "apiSecret": "REPLACE_ME"}
    # Issue 20: the operator gives a bot only a Secret marked for exchange credentials.
    assert secret["metadata"]["labels"] == {"tradefleet.io/credentials": "true"}


def test_the_macro_examples_calendar_is_one_its_source_reads() -> None:
    source = stored_object(_by_kind("SignalSource")["macro-events"])["spec"]["macro"]
    calendar = _by_kind("ConfigMap")[source["eventsConfigMap"]]
    for text in calendar["data"].values():
        events = parse_calendar(text.encode())
        assert events and all(event.forecast is not None for event in events)
