"""The runtime's config parsing: the operator's rendered document in, clear errors out."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from tradefleet_api import content_hash
from tradefleet_runtime.config import (
    RECV_WINDOW_MAX_MS,
    MarketDataSource,
    TradingMode,
    load_runtime_config,
    parse_runtime_config,
    parse_source_config,
    restart_only_changes,
)
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.execution.signing import signed_request_lifetime_s
from tradefleet_runtime.service.build import request_lifetime_s
from tradefleet_runtime.service.fencing import LEASE_TTL_S, RENEW_EVERY_S
from tradefleet_runtime.signals.regime_config import RegimeLabel

pytestmark = pytest.mark.unit

RENDERED: dict[str, Any] = {
    "apiVersion": "tradefleet.io/v1alpha1",
    "kind": "RuntimeConfig",
    "bot": {"name": "btc-fusion", "namespace": "trading"},
    "exchange": {
        "id": "binance",
        "market": "futures",
        "symbol": "BTC/USDT:USDT",
        "mode": "testnet",
        "liveTradingOptIn": False,
        "baseUrl": None,
        "credentials": {"apiKeyEnv": "TRADEFLEET_API_KEY", "apiSecretEnv": "TRADEFLEET_API_SECRET"},
    },
    "strategy": {
        "name": "fusion",
        "timeframe": "5m",
        "regimeParameters": {"squeeze": {"stopLossPct": 1.0}},
    },
    "risk": {"kellyFraction": 0.5, "maxDrawdownPct": 15},
    "signalSources": [
        {"name": "news", "weight": 0.5, "redisStream": "tradefleet:signals:trading:news"}
    ],
    "redis": {"url": "redis://redis:6379/0", "keyPrefix": "tradefleet:bot:trading:btc-fusion"},
    "api": {"port": 8080, "controlTokenEnv": "TRADEFLEET_CONTROL_TOKEN"},
    "heartbeatTimeoutSeconds": 30,
}


def rendered(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(RENDERED)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = document
        for part in path:
            target = target[part]
        target[last] = value
    return document


def test_the_operators_document_parses_with_defaults_filled_in() -> None:
    config = parse_runtime_config(RENDERED)
    assert config.bot_name == "btc-fusion"
    assert config.exchange.mode is TradingMode.TESTNET
    assert config.strategy.bar_seconds == 300
    assert config.strategy.fusion_weights["regime"] == 0.25
    assert config.strategy.thresholds.sell == -0.2
    assert config.strategy.regime_params[RegimeLabel.SQUEEZE].stop_loss_pct == 1.0
    assert config.strategy.regime_params[RegimeLabel.SQUEEZE].take_profit_pct == 2.5
    assert config.risk.kelly_fraction == 0.5
    assert config.signal_sources[0].weight == 0.5
    assert config.market_data.source is MarketDataSource.EXCHANGE
    assert config.market_data.poll_interval_ms == 1_000
    assert config.exchange.request_interval_ms is None
    spaced = parse_runtime_config(rendered(exchange__requestIntervalMs=250))
    assert spaced.exchange.request_interval_ms == 250


def test_the_ml_input_is_fused_only_with_a_weight() -> None:
    assert "ml" not in parse_runtime_config(RENDERED).strategy.fusion_weights
    weighted = rendered(strategy__fusionWeights={"regime": 0.05, "ml": 0.2})
    assert parse_runtime_config(weighted).strategy.fusion_weights["ml"] == 0.2


def test_the_config_hash_is_the_operators_revision_hash() -> None:
    # render.content_hash: sha256 of the canonical JSON, first 10 hex digits.
    assert parse_runtime_config(RENDERED).config_hash == content_hash(RENDERED)
    assert len(content_hash(RENDERED)) == 10


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "SignalSourceConfig"}, "kind RuntimeConfig"),
        ({"exchange__credentials": None}, "credentials are required in testnet"),
        ({"exchange__mode": "live"}, "liveTradingOptIn"),
        ({"exchange__symbol": "BTCUSDT"}, "BASE/QUOTE"),
        ({"exchange__requestIntervalMs": 0}, r"exchange\.requestIntervalMs must be an integer"),
        ({"strategy__timeframe": "2m"}, "strategy.timeframe"),
        ({"strategy__fusionWeights": {"regime": 0.9}}, "must sum to 1"),
        ({"strategy__fusionWeights": {"ml": 0.2}}, "must sum to 1, they sum to 1.2"),
        (
            {
                "strategy__name": "ema_rsi",
                "strategy__fusionWeights": {"regime": 0.05, "ml": 0.2},
                "strategy__fusionLearning": {"enabled": True, "floor": 0.16},
            },
            r"floor 0.16 x 7 weighted inputs exceeds 1: lower it to at most 0.143",
        ),
        (
            {"strategy__thresholds": {"buy": 0.6, "strongBuy": 0.5}},
            r"strategy\.thresholds\.strongBuy: strongBuy \(0\.5\) must be above buy \(0\.6\)",
        ),
        ({"risk__kellyFraction": 2}, "spec.risk.kellyFraction"),
        ({"redis__url": "http://redis"}, "redis.url"),
        ({"marketData": {"source": "replay"}}, "replayPath"),
        # A longer window would outlive too much of the lease for the bot to send at all.
        (
            {"venue": {"recvWindowMs": 10_000}},
            r"venue\.recvWindowMs must be an integer in \[100, 5000\]",
        ),
        (
            {
                "signalSources": [
                    {"name": "a", "redisStream": "s"},
                    {"name": "a", "redisStream": "t"},
                ]
            },
            "unique",
        ),
    ],
)
def test_bad_documents_are_refused_naming_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_runtime_config(rendered(**changes))


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        load_runtime_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_runtime_config(tmp_path / "missing.json")


def test_restart_only_blocks_are_named() -> None:
    old = parse_runtime_config(RENDERED)
    new = parse_runtime_config(rendered(exchange__symbol="ETH/USDT:USDT", risk__kellyFraction=0.1))
    assert restart_only_changes(old=old, new=new) == ["exchange"]


def test_a_signal_source_config_parses() -> None:
    document = {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "SignalSourceConfig",
        "source": {"name": "news", "namespace": "trading"},
        "spec": {
            "kind": "http",
            "symbols": ["BTC/USDT"],
            "http": {"url": "http://x/y", "jsonPath": "$.v"},
        },
        "redis": {"url": "redis://r:6379/0", "stream": "tradefleet:signals:trading:news"},
        "api": {"port": 8080},
    }
    config = parse_source_config(document)
    assert (config.kind, config.symbols, config.interval_s) == ("http", ("BTC/USDT",), 60)
    with pytest.raises(ConfigError, match=r"spec\.http is required"):
        parse_source_config({**document, "spec": {"kind": "http", "symbols": ["BTC/USDT"]}})


@pytest.mark.parametrize(
    ("changes", "lifetime_s"),
    [
        # Binance futures refuses a signed request recvWindow + 1 s after its stamp (+0.25 s).
        ({}, 6.25),
        ({"venue": {"recvWindowMs": 1_000}}, 2.25),
        ({"exchange__id": "okx"}, None),  # nothing on OKX's side bounds a late request
        ({"exchange__mode": "paper", "exchange__credentials": None}, None),  # signs nothing
    ],
)
def test_the_lease_margin_covers_what_the_bots_exchange_lets_a_signed_request_live(
    changes: dict[str, Any], lifetime_s: float | None
) -> None:
    assert request_lifetime_s(parse_runtime_config(rendered(**changes))) == lifetime_s


def test_the_longest_receive_window_leaves_the_lease_time_to_send_between_renewals() -> None:
    lifetime = signed_request_lifetime_s(exchange_id="binance", recv_window_ms=RECV_WINDOW_MAX_MS)
    assert lifetime is not None
    assert LEASE_TTL_S - lifetime >= RENEW_EVERY_S + 1.0
