"""Semantic validation: the cross-field rules the CRD schema cannot express.

tests/unit/api/test_api_malformed.py proves each reason fires on its own; these tests pin
the boundaries (what is still allowed), the messages a user reads, and specs that break
several rules at once.
"""

from __future__ import annotations

from typing import Any

import pytest
from tradefleet_operator.spec import (
    ProblemReason,
    ValidationProblem,
    parse_signal_source_spec,
    parse_trading_bot_spec,
    validate_signal_source_spec,
    validate_trading_bot_spec,
)

pytestmark = pytest.mark.unit

BOT: dict[str, Any] = {"exchange": "binance", "symbol": "BTC/USDT"}
KEYS: dict[str, Any] = {"secretRef": {"name": "exchange-keys"}}


def _problems(spec: dict[str, Any]) -> list[ValidationProblem]:
    return validate_trading_bot_spec(parse_trading_bot_spec(spec))


def _reasons(spec: dict[str, Any]) -> list[ProblemReason]:
    return [problem.reason for problem in _problems(spec)]


def test_defaults_are_valid() -> None:
    assert _problems(BOT) == []


def test_hand_typed_weights_summing_to_one_are_accepted() -> None:
    weights = {"regime": 0.3, "ofi": 0.3, "whale": 0.2, "sentiment": 0.1, "macro": 0.1}
    assert _problems({**BOT, "strategy": {"fusionWeights": weights}}) == []


def test_weights_off_by_a_hundredth_are_refused_with_their_sum() -> None:
    (problem,) = _problems({**BOT, "strategy": {"fusionWeights": {"macro": 0.16}}})
    assert problem == ValidationProblem(
        field="spec.strategy.fusionWeights",
        reason=ProblemReason.FUSION_WEIGHTS_INVALID,
        message="fusion weights must sum to 1, they sum to 1.01",
    )


def test_stop_equal_to_take_profit_is_allowed() -> None:
    # The bearish_volatile defaults are 3% / 3%.
    regime = {"stopLossPct": 2.5, "takeProfitPct": 2.5}
    spec = {**BOT, "strategy": {"regimeParameters": {"bullishCalm": regime}}}
    assert _problems(spec) == []


def test_stop_above_take_profit_names_the_regime_field() -> None:
    regime = {"stopLossPct": 6}
    (problem,) = _problems({**BOT, "strategy": {"regimeParameters": {"bullishCalm": regime}}})
    assert problem.field == "spec.strategy.regimeParameters.bullishCalm.stopLossPct"
    assert problem.message.startswith("stopLossPct (6) is above takeProfitPct (5)")


def test_futures_symbol_mismatch_suggests_the_settled_symbol() -> None:
    (problem,) = _problems({**BOT, "market": "futures"})
    assert problem.reason is ProblemReason.SYMBOL_MARKET_MISMATCH
    assert "BTC/USDT:USDT" in problem.message


def test_live_with_consent_and_keys_is_valid() -> None:
    spec = {**BOT, "mode": "live", "liveTradingOptIn": True, "credentials": KEYS}
    assert _problems(spec) == []


def test_live_without_consent_or_keys_reports_both() -> None:
    assert _reasons({**BOT, "mode": "live"}) == [
        ProblemReason.LIVE_MODE_NOT_OPTED_IN,
        ProblemReason.LIVE_MODE_NEEDS_CREDENTIALS,
    ]


def test_paper_mode_needs_no_keys_even_on_a_passphrase_exchange() -> None:
    assert _problems({**BOT, "exchange": "okx"}) == []


def test_passphrase_exchange_with_passphrase_key_is_valid() -> None:
    keys = {"secretRef": {"name": "okx-keys", "passphraseKey": "passphrase"}}
    assert _problems({**BOT, "exchange": "okx", "mode": "testnet", "credentials": keys}) == []


def test_testnet_on_an_exchange_without_one_and_without_keys_reports_both() -> None:
    assert _reasons({**BOT, "exchange": "coinbase", "mode": "testnet"}) == [
        ProblemReason.TESTNET_NOT_SUPPORTED,
        ProblemReason.TESTNET_MODE_NEEDS_CREDENTIALS,
    ]


def test_binanceusdm_is_futures_only() -> None:
    assert _reasons({**BOT, "exchange": "binanceusdm"}) == [ProblemReason.MARKET_NOT_SUPPORTED]
    futures = {**BOT, "exchange": "binanceusdm", "market": "futures", "symbol": "BTC/USDT:USDT"}
    assert _problems(futures) == []


def test_leverage_is_allowed_on_futures() -> None:
    spec = {**BOT, "market": "futures", "symbol": "BTC/USDT:USDT", "risk": {"maxLeverage": 10}}
    assert _problems(spec) == []


def test_position_limit_above_single_asset_limit_is_refused() -> None:
    (problem,) = _problems({**BOT, "risk": {"maxPositionPct": 60}})
    assert problem.reason is ProblemReason.EXPOSURE_LIMITS_INVALID
    assert problem.field == "spec.risk.maxPositionPct"


@pytest.mark.parametrize(
    ("requests", "limits", "refused"),
    [
        ({"cpu": "500m"}, {"cpu": "1"}, False),
        ({"cpu": "1"}, {"cpu": "1000m"}, False),
        ({"cpu": 2}, {"cpu": "1500m"}, True),
        ({"memory": "600M"}, {"memory": "512Mi"}, True),
        ({"memory": "512Mi"}, {"cpu": "1"}, False),
    ],
)
def test_requests_may_not_exceed_limits(
    requests: dict[str, Any], limits: dict[str, Any], refused: bool
) -> None:
    reasons = _reasons({**BOT, "resources": {"requests": requests, "limits": limits}})
    assert reasons == ([ProblemReason.RESOURCES_INVALID] if refused else [])


def test_many_broken_rules_are_all_reported_at_once() -> None:
    spec = {
        **BOT,
        "mode": "live",
        "liveTradingOptIn": True,
        "credentials": KEYS,
        "strategy": {
            "fusionWeights": {"regime": 0.5},
            "thresholds": {"sell": -0.6},
            "parameters": {"emaFast": 30, "emaSlow": 30},
        },
        "selfHealing": {"backoffSeconds": 400},
        "optimizer": {"schedule": "0 0 32 * *"},
    }
    assert _reasons(spec) == [
        ProblemReason.FUSION_WEIGHTS_INVALID,
        ProblemReason.THRESHOLDS_INVALID,
        ProblemReason.EMA_PERIODS_INVALID,
        ProblemReason.BACKOFF_INVALID,
        ProblemReason.SCHEDULE_INVALID,
    ]


SENTIMENT: dict[str, Any] = {
    "kind": "sentiment",
    "symbols": ["BTC/USDT"],
    "sentiment": {"feeds": [{"url": "https://news.example.com/rss"}]},
}


def _source_reasons(spec: dict[str, Any]) -> list[ProblemReason]:
    return [
        problem.reason for problem in validate_signal_source_spec(parse_signal_source_spec(spec))
    ]


@pytest.mark.parametrize(
    "spec",
    [
        SENTIMENT,
        {
            **SENTIMENT,
            "sentiment": {
                **SENTIMENT["sentiment"],
                "llm": {
                    "enabled": True,
                    "endpoint": "https://llm.example.com/v1",
                    "model": "small",
                },
            },
        },
        {"kind": "macro", "symbols": ["BTC/USDT"], "macro": {"eventsConfigMap": "calendar"}},
        {"kind": "whale", "symbols": ["BTC/USDT"], "whale": {"redisStream": "whales"}},
        {
            "kind": "http",
            "symbols": ["BTC/USDT"],
            "http": {"url": "https://signals.example.com", "jsonPath": "$.score"},
        },
    ],
)
def test_complete_sources_of_every_kind_are_valid(spec: dict[str, Any]) -> None:
    assert _source_reasons(spec) == []


def test_empty_macro_and_whale_blocks_are_missing_config() -> None:
    assert _source_reasons({"kind": "macro", "symbols": ["BTC/USDT"], "macro": {}}) == [
        ProblemReason.SOURCE_CONFIG_MISSING
    ]
    assert _source_reasons({"kind": "whale", "symbols": ["BTC/USDT"], "whale": {}}) == [
        ProblemReason.SOURCE_CONFIG_MISSING
    ]


@pytest.mark.parametrize(
    "stream",
    ["tradefleet:bot:desk:alpha:orders", "tradefleet:signals:desk:news", "tradefleet:source:x"],
)
def test_a_whale_source_may_not_read_tradefleets_own_keys(stream: str) -> None:
    spec = {"kind": "whale", "symbols": ["BTC/USDT"], "whale": {"redisStream": stream}}
    (problem,) = validate_signal_source_spec(parse_signal_source_spec(spec))
    assert (problem.field, problem.reason) == (
        "spec.whale.redisStream",
        ProblemReason.SOURCE_CONFIG_INVALID,
    )
    assert "name the stream your transfer service writes" in problem.message


def test_wrong_block_reports_both_the_stray_and_the_missing_block() -> None:
    problems = validate_signal_source_spec(
        parse_signal_source_spec(
            {"kind": "macro", "symbols": ["BTC/USDT"], "sentiment": SENTIMENT["sentiment"]}
        )
    )
    assert [(problem.field, problem.reason) for problem in problems] == [
        ("spec.sentiment", ProblemReason.SOURCE_CONFIG_FOR_OTHER_KIND),
        ("spec.macro", ProblemReason.SOURCE_CONFIG_MISSING),
    ]
