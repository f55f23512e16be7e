"""Shared market data's configuration: the publisher's MarketDataConfig, and the bot's
``marketData.source: shared``; clear errors naming the key."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from tradefleet_api import content_hash
from tradefleet_runtime.config import (
    MarketDataSource,
    MarketKind,
    parse_runtime_config,
)
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.publisher.config import load_market_data_config, parse_market_data_config

pytestmark = pytest.mark.unit

PREFIX = "tradefleet:market:default:fleet"
RENDERED: dict[str, Any] = {
    "apiVersion": "tradefleet.io/v1alpha1",
    "kind": "MarketDataConfig",
    "exchange": {"id": "binance", "market": "futures", "baseUrl": None, "requestIntervalMs": 100},
    "symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT"],
    "timeframes": ["1m", "5m"],
    "pollIntervalMs": 1000,
    "depth": 20,
    "historyBars": 1200,
    "redis": {"url": "redis://redis:6379/0", "keyPrefix": PREFIX},
    "api": {"port": 8080},
}
BOT: dict[str, Any] = {
    "apiVersion": "tradefleet.io/v1alpha1",
    "kind": "RuntimeConfig",
    "bot": {"name": "btc-fusion", "namespace": "trading"},
    "exchange": {"id": "binance", "market": "futures", "symbol": "BTC/USDT:USDT"},
    "redis": {"url": "redis://redis:6379/0", "keyPrefix": "tradefleet:bot:trading:btc-fusion"},
    "api": {"port": 8080},
}


def rendered(**changes: Any) -> dict[str, Any]:
    """RENDERED with ``a__b=value`` set (``None``: the key removed)."""
    document = copy.deepcopy(RENDERED)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = document
        for part in path:
            target = target[part]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return document


def test_the_documented_example_parses() -> None:
    config = parse_market_data_config(RENDERED)
    assert config.exchange.exchange == "binance"
    assert config.exchange.market is MarketKind.FUTURES
    assert config.exchange.base_url is None
    assert config.exchange.request_interval_ms == 100
    assert config.symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT")
    assert config.timeframes == ("1m", "5m")
    assert (config.poll_interval_ms, config.depth, config.history_bars) == (1000, 20, 1200)
    assert (config.redis.url, config.redis.key_prefix) == ("redis://redis:6379/0", PREFIX)
    assert config.port == 8080
    assert config.config_hash == content_hash(RENDERED)


def test_optional_keys_take_their_defaults() -> None:
    config = parse_market_data_config(
        rendered(
            exchange__requestIntervalMs=None,
            exchange__baseUrl=None,
            pollIntervalMs=None,
            depth=None,
            historyBars=None,
            api=None,
        )
    )
    assert config.exchange.request_interval_ms is None
    assert (config.poll_interval_ms, config.depth, config.history_bars) == (1000, 20, 1200)
    assert config.port == 8080


def test_the_file_is_read_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "market-data.json"
    path.write_text(json.dumps(RENDERED))
    assert load_market_data_config(path).symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_market_data_config(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "RuntimeConfig"}, "kind MarketDataConfig"),
        ({"exchange": None}, "exchange must be an object"),
        ({"exchange__id": ""}, r"exchange\.id must be a non-empty string"),
        ({"exchange__market": "options"}, r"exchange\.market must be one of spot, futures"),
        ({"exchange__baseUrl": 5}, r"exchange\.baseUrl must be a non-empty string"),
        ({"exchange__requestIntervalMs": 0}, r"exchange\.requestIntervalMs must be an integer"),
        ({"symbols": None}, "symbols must be a non-empty list"),
        ({"symbols": []}, "symbols must be a non-empty list"),
        ({"symbols": "BTC/USDT"}, "symbols must be a non-empty list"),
        ({"symbols": ["BTC/USDT", 7]}, r"symbols\[1\] must be a non-empty string"),
        ({"symbols": ["BTCUSDT"]}, r"symbols\[0\] must look like BASE/QUOTE"),
        ({"symbols": ["BTC/USDT", "BTC/USDT"]}, "symbols must be distinct"),
        ({"timeframes": []}, "timeframes must be a non-empty list"),
        ({"timeframes": ["1m", "2m"]}, r"timeframes\[1\] must be one of 1m, 5m"),
        ({"timeframes": ["1m", "1m"]}, "timeframes must be distinct"),
        ({"pollIntervalMs": 0}, "pollIntervalMs must be an integer"),
        ({"pollIntervalMs": 1.5}, "pollIntervalMs must be an integer"),
        ({"depth": 2}, r"depth must be an integer in \[5, 1000\]"),
        ({"historyBars": 5_000}, r"historyBars must be an integer in \[30, 1500\]"),
        ({"redis": None}, "redis must be an object"),
        ({"redis__url": "http://redis"}, r"redis\.url must be a redis:// URL"),
        ({"redis__keyPrefix": None}, r"redis\.keyPrefix must be a non-empty string"),
        ({"api__port": 70_000}, r"api\.port must be an integer"),
    ],
)
def test_bad_documents_are_refused_naming_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_market_data_config(rendered(**changes))


def test_a_bot_reads_shared_market_data_under_the_publishers_prefix() -> None:
    config = parse_runtime_config(
        BOT | {"marketData": {"source": "shared", "sharedKeyPrefix": PREFIX}}
    )
    assert config.market_data.source is MarketDataSource.SHARED
    assert config.market_data.shared_key_prefix == PREFIX
    assert parse_runtime_config(BOT).market_data.shared_key_prefix is None


@pytest.mark.parametrize(
    ("market_data", "message"),
    [
        ({"source": "shared"}, r"marketData\.sharedKeyPrefix is required"),
        ({"source": "shared", "sharedKeyPrefix": ""}, r"marketData\.sharedKeyPrefix must be"),
        ({"source": "redis", "sharedKeyPrefix": PREFIX}, r"marketData\.source must be one of"),
    ],
)
def test_a_bot_on_shared_market_data_needs_the_prefix(
    market_data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_runtime_config(BOT | {"marketData": market_data})
