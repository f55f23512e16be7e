"""Sentiment: keyword scores, credibility and age weighting by hand, and the LLM fallback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from tradefleet_runtime.signals.errors import SignalConfigError, SignalSourceError
from tradefleet_runtime.signals.sentiment import (
    HOUR_MS,
    Article,
    LlmConfig,
    SentimentAnalyzer,
    SentimentConfig,
    SentimentLabel,
    SentimentMethod,
    keyword_score,
    parse_articles,
)

pytestmark = pytest.mark.unit

NOW_MS = 1_700_000_000_000
CREDIBILITY = {"reuters": 1.0, "randomblog": 0.2}
ARTICLES = [
    # bullish: approval, rally -> +1; weight 1.0 (credibility 1, age 0)
    Article(
        title="Bitcoin ETF approval sparks rally",
        source="reuters",
        published_ms=NOW_MS,
        coins=("BTC",),
    ),
    # bearish: hack, crash, selloff -> -1; weight 0.2 * 0.5 (one half-life old)
    Article(
        title="Exchange hack triggers crash and selloff",
        source="randomblog",
        published_ms=NOW_MS - 6 * HOUR_MS,
    ),
    # rally vs regulation -> 0; weight 0.5 (default credibility) * 0.25 (two half-lives)
    Article(
        title="Markets mixed: rally fades amid regulation fears",
        source="unknown-site",
        published_ms=NOW_MS - 12 * HOUR_MS,
    ),
    # another coin, and too old: both left out for BTC
    Article(title="ETH upgrade ships", source="reuters", published_ms=NOW_MS, coins=("ETH",)),
    Article(title="Bitcoin surge", source="reuters", published_ms=NOW_MS - 50 * HOUR_MS),
]
TOTAL_WEIGHT = 1.0 + 0.1 + 0.125


def test_keyword_score_is_the_balance_of_hits() -> None:
    config = SentimentConfig()
    score = keyword_score(
        text="Rally! Rally? then a CRASH",
        bullish=config.bullish_words,
        bearish=config.bearish_words,
    )
    assert score == pytest.approx((2 - 1) / 3)
    assert keyword_score(text="nothing here", bullish=frozenset({"up"}), bearish=frozenset()) == 0


def test_keyword_aggregate_matches_the_hand_computation() -> None:
    analyzer = SentimentAnalyzer(config=SentimentConfig(source_credibility=CREDIBILITY))
    result = analyzer.analyze_keywords(coin="BTC", articles=ARTICLES, now_ms=NOW_MS)
    weighted = 1.0 * 1 + 0.1 * -1 + 0.125 * 0
    assert result.article_count == 3
    assert result.score == pytest.approx(weighted / TOTAL_WEIGHT)
    evidence = TOTAL_WEIGHT / (TOTAL_WEIGHT + 1.0)
    agreement = weighted / (1.0 + 0.1)
    assert result.confidence == pytest.approx(evidence * agreement)
    assert result.sentiment is SentimentLabel.BULLISH
    assert result.recommendation == "buy"
    # etf 1.0, regulation 0.125, then exchange and hack tie at 0.1 (alphabetical)
    assert result.key_topics == ("etf", "regulation", "exchange")
    assert result.method is SentimentMethod.KEYWORD
    assert result.fallback_reason is None
    payload = result.to_dict()
    assert payload["sentiment"] == "bullish" and payload["article_count"] == 3


def test_no_articles_is_neutral_with_no_confidence() -> None:
    analyzer = SentimentAnalyzer(config=SentimentConfig())
    result = analyzer.analyze_keywords(coin="BTC", articles=[], now_ms=NOW_MS)
    assert (result.score, result.confidence, result.sentiment) == (0.0, 0.0, SentimentLabel.NEUTRAL)
    assert result.recommendation == "hold"


def _completion(content: str) -> dict[str, object]:
    return {"choices": [{"message": {"role": "assistant", "content": content}}]}


@pytest.fixture
async def llm_server() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        body = await request.json()
        assert body["messages"][1]["content"].startswith("1. Bitcoin ETF approval")
        assert request.headers["Authorization"] == "Bearer test-key"
        return web.json_response(_completion('```json\n{"scores": [0.5, -0.5, 0.0]}\n```'))

    async def fail(_: web.Request) -> web.Response:
        return web.Response(status=500, text="upstream exploded")

    async def garbage(_: web.Request) -> web.Response:
        return web.Response(text="<html>definitely not json</html>")

    async def wrong_count(_: web.Request) -> web.Response:
        return web.json_response(_completion(json.dumps({"scores": [0.1]})))

    app = web.Application()
    for prefix, handler in (
        ("ok", ok),
        ("fail", fail),
        ("garbage", garbage),
        ("short", wrong_count),
    ):
        app.router.add_post(f"/{prefix}/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _analyzer(base_url: str) -> SentimentAnalyzer:
    llm = LlmConfig(base_url=base_url, model="test-model", api_key="test-key", timeout_s=5.0)
    return SentimentAnalyzer(config=SentimentConfig(source_credibility=CREDIBILITY, llm=llm))


async def test_llm_scores_replace_keyword_scores(llm_server: str) -> None:
    result = await _analyzer(f"{llm_server}/ok").analyze(
        coin="BTC", articles=ARTICLES, now_ms=NOW_MS
    )
    assert result.method is SentimentMethod.LLM
    assert result.fallback_reason is None
    assert result.score == pytest.approx((1.0 * 0.5 + 0.1 * -0.5) / TOTAL_WEIGHT)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("fail", "HTTP 500"),
        ("garbage", "not a chat completion"),
        ("short", "1 scores for 3 headlines"),
    ],
)
async def test_llm_failure_falls_back_to_keywords_with_a_reason(
    llm_server: str, path: str, reason: str
) -> None:
    analyzer = _analyzer(f"{llm_server}/{path}")
    result = await analyzer.analyze(coin="BTC", articles=ARTICLES, now_ms=NOW_MS)
    baseline = analyzer.analyze_keywords(coin="BTC", articles=ARTICLES, now_ms=NOW_MS)
    assert result.method is SentimentMethod.KEYWORD
    assert result.score == baseline.score
    assert result.fallback_reason is not None and reason in result.fallback_reason


async def test_unreachable_llm_falls_back() -> None:
    analyzer = _analyzer("http://127.0.0.1:9")  # discard port: nothing listens
    result = await analyzer.analyze(coin="BTC", articles=ARTICLES, now_ms=NOW_MS)
    assert result.method is SentimentMethod.KEYWORD
    assert result.fallback_reason is not None and "unreachable" in result.fallback_reason


def test_articles_parse_from_json() -> None:
    payload = (
        b'{"articles": [{"title": "BTC rally", "source": "reuters", "published_ms": 5, '
        b'"coins": ["BTC"]}, {"title": "Crash", "source": "blog", "published_ms": 6}]}'
    )
    articles = parse_articles(payload)
    assert articles[0] == Article(
        title="BTC rally", source="reuters", published_ms=5, coins=("BTC",)
    )
    assert articles[1].coins == () and articles[1].body == ""
    with pytest.raises(SignalSourceError, match="published_ms"):
        parse_articles(b'[{"title": "x", "source": "y"}]')
    with pytest.raises(SignalSourceError, match="not valid JSON"):
        parse_articles(b"{")


def test_config_is_validated() -> None:
    with pytest.raises(SignalConfigError, match="both bullish and bearish"):
        SentimentConfig(bullish_words=frozenset({"moon"}), bearish_words=frozenset({"moon"}))
    with pytest.raises(SignalConfigError, match="credibility"):
        SentimentConfig(source_credibility={"x": 2.0})
    with pytest.raises(SignalConfigError, match="base_url"):
        LlmConfig(base_url="ftp://x", model="m")
