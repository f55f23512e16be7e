"""Parsing spec dicts into the typed models, and the helpers the operator calls with them.

A dict the apiserver accepted always parses; a raw dict with the wrong shape raises a
``SpecError`` naming the offending field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tradefleet_operator.spec import (
    DEFAULT_EXCHANGE_REGIONS,
    BearishVolatileParameters,
    CredentialsRef,
    Exchange,
    RegionUnresolvedError,
    SignalSourceKind,
    SpecError,
    SqueezeParameters,
    StrategyName,
    cron_expression_error,
    parse_quantity,
    parse_signal_source_spec,
    parse_trading_bot_spec,
    property_name,
    resolve_region,
    source_covers_symbol,
    split_symbol,
)

pytestmark = pytest.mark.unit

MINIMAL_BOT: dict[str, Any] = {"exchange": "binance", "symbol": "BTC/USDT"}


def test_minimal_bot_gets_the_documented_defaults() -> None:
    spec = parse_trading_bot_spec(MINIMAL_BOT)
    assert (spec.market, spec.mode, spec.region, spec.live_trading_opt_in) == (
        "spot",
        "paper",
        "auto",
        False,
    )
    assert spec.strategy.name is StrategyName.FUSION
    assert sum(spec.strategy.fusion_weights.model_dump().values()) == pytest.approx(1.0)
    assert spec.risk.kelly_fraction == 0.25
    assert spec.risk.breaker_cooldown_seconds == 0
    assert spec.self_healing.rollback_on_failure is True
    assert spec.credentials is None
    assert spec.resources is None
    assert spec.optimizer.enabled is False


def test_a_partly_given_regime_keeps_that_regimes_own_defaults() -> None:
    spec = parse_trading_bot_spec(
        {**MINIMAL_BOT, "strategy": {"regimeParameters": {"bearishVolatile": {"stopLossPct": 4}}}}
    )
    regimes = spec.strategy.regime_parameters
    assert regimes.bearish_volatile == BearishVolatileParameters(
        size_multiplier=0.5, stop_loss_pct=4.0, take_profit_pct=3.0
    )
    assert regimes.squeeze == SqueezeParameters(
        size_multiplier=0.7, stop_loss_pct=1.5, take_profit_pct=2.5
    )


def test_credentials_keep_default_data_keys() -> None:
    spec = parse_trading_bot_spec(
        {**MINIMAL_BOT, "credentials": {"secretRef": {"name": "keys", "passphraseKey": "pass"}}}
    )
    assert spec.credentials is not None
    assert spec.credentials.secret_ref == CredentialsRef(
        name="keys", api_key_key="apiKey", api_secret_key="apiSecret", passphrase_key="pass"
    )


def test_apiserver_shapes_parse_quantities_integral_floats_nulls_and_unknown_keys() -> None:
    spec = parse_trading_bot_spec(
        {
            **MINIMAL_BOT,
            "resources": {"limits": {"cpu": 2, "memory": "1Gi"}},
            "risk": {"maxConsecutiveLosses": 7.0, "maxLeverage": 1},
            "image": None,
            "fieldFromANewerCrd": True,
        }
    )
    assert spec.resources is not None and spec.resources.limits is not None
    assert (spec.resources.limits.cpu, spec.resources.limits.memory) == ("2", "1Gi")
    assert spec.risk.max_consecutive_losses == 7
    assert isinstance(spec.risk.max_leverage, float)
    assert spec.image is None


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"symbol": "BTC/USDT"}, "spec.exchange"),
        ({**MINIMAL_BOT, "exchange": "ftx"}, "spec.exchange"),
        ({**MINIMAL_BOT, "symbol": "BTC-USDT"}, "spec.symbol"),
        ({**MINIMAL_BOT, "paused": "yes"}, "spec.paused"),
        ({**MINIMAL_BOT, "risk": "high"}, "spec.risk"),
        ({**MINIMAL_BOT, "risk": {"kellyFraction": "0.25"}}, "spec.risk.kellyFraction"),
        ({**MINIMAL_BOT, "risk": {"maxConsecutiveLosses": 2.5}}, "spec.risk.maxConsecutiveLosses"),
        ({**MINIMAL_BOT, "risk": {"flattenOnTrip": 1}}, "spec.risk.flattenOnTrip"),
        (
            {**MINIMAL_BOT, "strategy": {"signalSources": {"name": "news"}}},
            "spec.strategy.signalSources",
        ),
        (
            {**MINIMAL_BOT, "strategy": {"signalSources": [{"name": "a"}, {"weight": 1}]}},
            "spec.strategy.signalSources[1].name",
        ),
        (
            {**MINIMAL_BOT, "resources": {"requests": {"cpu": "two"}}},
            "spec.resources.requests.cpu",
        ),
        ({**MINIMAL_BOT, "credentials": {"secretRef": {}}}, "spec.credentials.secretRef.name"),
        (
            {**MINIMAL_BOT, "credentials": {"secretRef": {"name": "k"}, "apiKey": "inline"}},
            "spec.credentials.apiKey",
        ),
        ({**MINIMAL_BOT, "apiSecret": "inline"}, "spec.apiSecret"),
    ],
)
def test_malformed_raw_bot_dicts_raise_spec_error_at_the_field(
    spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(SpecError) as raised:
        parse_trading_bot_spec(spec)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


def test_signal_source_parses_its_kind_block() -> None:
    spec = parse_signal_source_spec(
        {
            "kind": "http",
            "symbols": ["BTC/USDT", "ETH/USDT"],
            "http": {"url": "https://signals.example.com/{base}", "jsonPath": "$.data[0].score"},
        }
    )
    assert spec.kind is SignalSourceKind.HTTP
    assert spec.symbols == ("BTC/USDT", "ETH/USDT")
    assert spec.http is not None
    assert (spec.http.fusion_input, spec.http.timeout_seconds) == ("sentiment", 10)
    assert spec.interval_seconds == 60
    assert spec.sentiment is None


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"symbols": ["BTC/USDT"]}, "spec.kind"),
        ({"kind": "macro", "symbols": ["BTC/USDT", "eth"]}, "spec.symbols[1]"),
        ({"kind": "sentiment", "symbols": ["BTC/USDT"], "sentiment": {}}, "spec.sentiment.feeds"),
        (
            {
                "kind": "sentiment",
                "symbols": ["BTC/USDT"],
                "sentiment": {"feeds": [{"url": "https://a.example"}], "llm": {"apiKey": "x"}},
            },
            "spec.sentiment.llm.apiKey",
        ),
    ],
)
def test_malformed_raw_source_dicts_raise_spec_error_at_the_field(
    spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(SpecError) as raised:
        parse_signal_source_spec(spec)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("field_name", "property"),
    [
        ("max_daily_var_pct", "maxDailyVarPct"),
        ("live_trading_opt_in", "liveTradingOptIn"),
        ("ofi", "ofi"),
    ],
)
def test_property_name_is_camel_case(field_name: str, property: str) -> None:
    assert property_name(field_name) == property


@pytest.mark.parametrize(
    ("exchange", "region"),
    [
        ("binance", "ap-northeast-1"),
        ("binanceusdm", "ap-northeast-1"),
        ("okx", "ap-southeast-1"),
        ("bybit", "ap-southeast-1"),
        ("bitget", "ap-southeast-1"),
        ("kucoin", "ap-southeast-1"),
        ("gateio", "ap-southeast-1"),
        ("htx", "ap-southeast-1"),
        ("kraken", "eu-central-1"),
        ("deribit", "eu-west-1"),
        ("coinbase", "us-east-1"),
    ],
)
def test_auto_region_follows_the_default_exchange_map(exchange: str, region: str) -> None:
    spec = parse_trading_bot_spec({**MINIMAL_BOT, "exchange": exchange})
    assert resolve_region(spec=spec, exchange_region_map=DEFAULT_EXCHANGE_REGIONS) == region


def test_every_exchange_has_a_default_region() -> None:
    assert set(DEFAULT_EXCHANGE_REGIONS) == set(Exchange)


def test_explicit_region_and_overridden_map_win() -> None:
    explicit = parse_trading_bot_spec({**MINIMAL_BOT, "region": "us-east-1"})
    assert resolve_region(spec=explicit, exchange_region_map={}) == "us-east-1"
    auto = parse_trading_bot_spec(MINIMAL_BOT)
    overrides = {**DEFAULT_EXCHANGE_REGIONS, "binance": "eu-central-1"}
    assert resolve_region(spec=auto, exchange_region_map=overrides) == "eu-central-1"


def test_auto_region_without_a_mapping_is_a_typed_error() -> None:
    with pytest.raises(RegionUnresolvedError, match="binance") as raised:
        resolve_region(spec=parse_trading_bot_spec(MINIMAL_BOT), exchange_region_map={})
    assert raised.value.exchange == "binance"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", Decimal("0.25")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        ("512Mi", Decimal(512 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        ("100k", Decimal(100_000)),
    ],
)
def test_quantities_parse_to_exact_values(text: str, value: Decimal) -> None:
    assert parse_quantity(text=text, field="f") == value


@pytest.mark.parametrize("text", ["", "two", "1 Gi", "1gi", "Mi"])
def test_malformed_quantities_raise(text: str) -> None:
    with pytest.raises(SpecError):
        parse_quantity(text=text, field="spec.resources.limits.memory")


@pytest.mark.parametrize(
    "expression", ["0 */6 * * *", "*/15 9-17 * * 1-5", "0 0 1,15 * *", "@daily", "5 4 * * 7"]
)
def test_valid_cron_schedules(expression: str) -> None:
    assert cron_expression_error(expression) is None


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("75 * * * *", "minute 75 is outside 0-59"),
        ("0 24 * * *", "hour 24 is outside 0-23"),
        ("0 0 0 * *", "day of month 0 is outside 1-31"),
        ("0 0 * 13 *", "month 13 is outside 1-12"),
        ("*/0 * * * *", "step of 0"),
        ("0 5-2 * * *", "runs backwards"),
        ("0 * * *", "has 4"),
        ("0 1--2 * * *", "is not N, N-M"),
    ],
)
def test_invalid_cron_schedules_say_why(expression: str, complaint: str) -> None:
    error = cron_expression_error(expression)
    assert error is not None and complaint in error


def test_symbols_split_and_match_sources_by_spot_symbol() -> None:
    parts = split_symbol(symbol="BTC/USDT:USDT", field="spec.symbol")
    assert (parts.base, parts.quote, parts.settle, parts.spot_symbol) == (
        "BTC",
        "USDT",
        "USDT",
        "BTC/USDT",
    )
    source = parse_signal_source_spec(
        {"kind": "macro", "symbols": ["BTC/USDT"], "macro": {"feeds": ["https://a.example"]}}
    )
    assert source_covers_symbol(source=source, symbol="BTC/USDT")
    assert source_covers_symbol(source=source, symbol="BTC/USDT:USDT")
    assert not source_covers_symbol(source=source, symbol="BTC/USD")
    assert not source_covers_symbol(source=source, symbol="ETH/USDT")
