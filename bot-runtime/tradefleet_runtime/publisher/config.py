"""The market-data publisher's configuration: the MarketDataConfig JSON file, parsed into frozen
dataclasses.

``python -m tradefleet_runtime market-data`` reads the file named by ``TRADEFLEET_CONFIG`` once
at start (:func:`load_market_data_config`). It is written in the style of the bot's
RuntimeConfig, with the readers of :mod:`tradefleet_runtime.config`: camelCase keys, and every
problem a :class:`~tradefleet_runtime.config.ConfigError` naming the key, so a bad file ends the
process with exit code 2 and one line saying why::

    {"apiVersion": "tradefleet.io/v1alpha1", "kind": "MarketDataConfig",
     "exchange": {"id": "binance", "market": "futures", "baseUrl": null, "requestIntervalMs": 100},
     "symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT"], "timeframes": ["1m", "5m"],
     "pollIntervalMs": 1000, "depth": 20, "historyBars": 1200,
     "redis": {"url": "redis://...", "keyPrefix": "tradefleet:market:default:fleet"},
     "api": {"port": 8080}}

``exchange.id`` and ``exchange.market`` name the exchange as a TradingBot does; ``baseUrl``
replaces its REST host and ``requestIntervalMs`` spaces its requests (both optional).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradefleet_api import content_hash

from tradefleet_runtime.config import (
    TIMEFRAME_SECONDS,
    MarketKind,
    RedisSettings,
    read_config_document,
    redis_settings,
)
from tradefleet_runtime.document import (
    ConfigError,
    check_kind,
    read_enum,
    read_integer,
    read_object,
    read_optional_integer,
    read_optional_object,
    read_optional_text,
    read_text,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class PublishedExchange:
    """The exchange the publisher reads, as a TradingBot names it."""

    exchange: str
    market: MarketKind
    base_url: str | None
    # The least time between two requests; None: the exchange client's own spacing.
    request_interval_ms: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class MarketDataConfig:
    """What one publisher fetches, how often, and where it writes it."""

    exchange: PublishedExchange
    symbols: tuple[str, ...]
    timeframes: tuple[str, ...]
    poll_interval_ms: int
    depth: int
    history_bars: int
    redis: RedisSettings
    port: int
    config_hash: str


def _exchange(raw: Mapping[str, Any]) -> PublishedExchange:
    path = "exchange"
    block = read_object(raw.get(path), path=path)
    return PublishedExchange(
        exchange=read_text(block, "id", path=path),
        market=read_enum(block, "market", path=path, kind=MarketKind, default="spot"),
        base_url=read_optional_text(block, "baseUrl", path=path),
        request_interval_ms=read_optional_integer(
            block, "requestIntervalMs", path=path, low=1, high=3_600_000
        ),
    )


def _names(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """``raw[key]``: a non-empty list of distinct non-empty strings."""
    items = raw.get(key)
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{key} must be a non-empty list, got {items!r}")
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise ConfigError(f"{key}[{index}] must be a non-empty string, got {item!r}")
    names = tuple(items)
    if len(set(names)) != len(names):
        raise ConfigError(f"{key} must be distinct, got {list(names)}")
    return names


def _symbols(raw: Mapping[str, Any]) -> tuple[str, ...]:
    symbols = _names(raw, "symbols")
    for index, symbol in enumerate(symbols):
        base, slash, quote = symbol.partition("/")
        if not (base and slash and quote):
            raise ConfigError(f"symbols[{index}] must look like BASE/QUOTE, got {symbol!r}")
    return symbols


def _timeframes(raw: Mapping[str, Any]) -> tuple[str, ...]:
    timeframes = _names(raw, "timeframes")
    for index, timeframe in enumerate(timeframes):
        if timeframe not in TIMEFRAME_SECONDS:
            raise ConfigError(
                f"timeframes[{index}] must be one of {', '.join(TIMEFRAME_SECONDS)}, "
                f"got {timeframe!r}"
            )
    return timeframes


def parse_market_data_config(document: Mapping[str, Any]) -> MarketDataConfig:
    """A MarketDataConfig document → :class:`MarketDataConfig`; ConfigError naming the key."""
    raw = read_object(document, path="config")
    check_kind(raw, kind="MarketDataConfig")
    api = read_optional_object(raw, "api", path="")
    return MarketDataConfig(
        exchange=_exchange(raw),
        symbols=_symbols(raw),
        timeframes=_timeframes(raw),
        # The bounds of the bot's own marketData block.
        poll_interval_ms=read_integer(
            raw, "pollIntervalMs", path="", default=1_000, low=10, high=3_600_000
        ),
        depth=read_integer(raw, "depth", path="", default=20, low=5, high=1_000),
        history_bars=read_integer(raw, "historyBars", path="", default=1_200, low=30, high=1_500),
        redis=redis_settings(raw, with_prefix=True),
        port=read_integer(api, "port", path="api", default=8080, low=0, high=65_535),
        config_hash=content_hash(raw),
    )


def load_market_data_config(path: Path) -> MarketDataConfig:
    return parse_market_data_config(read_config_document(path))
