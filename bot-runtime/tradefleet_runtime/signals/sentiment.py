"""News sentiment: a keyword baseline, optionally scored by an LLM, aggregated per coin.

The runtime (or a sentiment ``SignalSource`` workload) hands a :class:`SentimentAnalyzer`
the recent :class:`Article` items for a coin. Each article gets a score in [-1, 1] —
from bullish/bearish keyword counts, or from an OpenAI-compatible
``/v1/chat/completions`` endpoint when :attr:`SentimentConfig.llm` is set — and a weight
= source credibility × 0.5^(age / half-life). The aggregate is the weighted mean
score; its confidence grows with the total weight and with how much the articles
agree. If the LLM call fails in any way the keyword scores are used and the result
says why (``fallback_reason``).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import httpx

from tradefleet_runtime.signals.errors import LlmScoringError, SignalConfigError, SignalSourceError
from tradefleet_runtime.signals.reading import SignalReading, clamp_unit
from tradefleet_runtime.signals.validation import (
    require_in_range,
    require_int_at_least,
    require_positive,
)

SIGNAL_NAME = "sentiment"
HOUR_MS = 3_600_000
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")

DEFAULT_BULLISH_WORDS = frozenset(
    {
        "surge", "surges", "rally", "rallies", "breakthrough", "ath", "moon", "soar", "soars",
        "bullish", "breakout", "adoption", "approval", "approved", "record", "gain", "gains",
        "upgrade", "inflows", "accumulation", "partnership", "institutional",
    }
)  # fmt: skip
DEFAULT_BEARISH_WORDS = frozenset(
    {
        "crash", "crashes", "dump", "dumps", "regulation", "ban", "banned", "hack", "hacked",
        "bearish", "plunge", "plunges", "selloff", "lawsuit", "fraud", "outflows", "liquidation",
        "liquidations", "exploit", "delisting", "bankruptcy", "crackdown",
    }
)  # fmt: skip
DEFAULT_TOPIC_WORDS = frozenset(
    {
        "adoption", "institutional", "breakout", "etf", "regulation", "hack", "halving",
        "upgrade", "lawsuit", "inflation", "rates", "stablecoin", "mining", "defi", "exchange",
        "liquidation", "partnership", "ban",
    }
)  # fmt: skip


@dataclass(frozen=True, kw_only=True, slots=True)
class LlmConfig:
    """An OpenAI-compatible chat-completions endpoint used to score headlines."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise SignalConfigError(f"llm base_url must be an http(s) URL, got {self.base_url!r}")
        if not self.model:
            raise SignalConfigError("llm model must not be empty")
        require_positive(name="llm timeout_s", value=self.timeout_s)


@dataclass(frozen=True, kw_only=True, slots=True)
class SentimentConfig:
    """Word lists, source credibility, decay, and the thresholds for labels.

    ``evidence_half_weight`` is the total article weight at which the evidence part of
    the confidence reaches one half. ``neutral_band``: |score| below it is neutral;
    ``recommendation_threshold``: |score| at or above it recommends buy/sell.
    """

    bullish_words: frozenset[str] = DEFAULT_BULLISH_WORDS
    bearish_words: frozenset[str] = DEFAULT_BEARISH_WORDS
    topic_words: frozenset[str] = DEFAULT_TOPIC_WORDS
    source_credibility: Mapping[str, float] = field(default_factory=dict)
    default_credibility: float = 0.5
    half_life_ms: int = 6 * HOUR_MS
    max_age_ms: int = 48 * HOUR_MS
    evidence_half_weight: float = 1.0
    neutral_band: float = 0.1
    recommendation_threshold: float = 0.2
    key_topic_count: int = 3
    llm: LlmConfig | None = None

    def __post_init__(self) -> None:
        overlap = self.bullish_words & self.bearish_words
        if overlap:
            raise SignalConfigError(f"words are both bullish and bearish: {sorted(overlap)}")
        for words, name in ((self.bullish_words, "bullish"), (self.bearish_words, "bearish")):
            if not words or any(word != word.lower() for word in words):
                raise SignalConfigError(f"{name}_words must be a non-empty set of lower-case words")
        for source, credibility in self.source_credibility.items():
            require_in_range(
                name=f"source_credibility[{source!r}]", value=credibility, low=0.0, high=1.0
            )
        require_in_range(
            name="default_credibility", value=self.default_credibility, low=0.0, high=1.0
        )
        require_int_at_least(name="half_life_ms", value=self.half_life_ms, minimum=1)
        require_int_at_least(name="max_age_ms", value=self.max_age_ms, minimum=1)
        require_positive(name="evidence_half_weight", value=self.evidence_half_weight)
        require_in_range(name="neutral_band", value=self.neutral_band, low=0.0, high=1.0)
        require_in_range(
            name="recommendation_threshold",
            value=self.recommendation_threshold,
            low=self.neutral_band,
            high=1.0,
        )
        require_int_at_least(name="key_topic_count", value=self.key_topic_count, minimum=0)


@dataclass(frozen=True, kw_only=True, slots=True)
class Article:
    """A news item. ``coins`` empty means market-wide news, relevant to every coin."""

    title: str
    source: str
    published_ms: int
    body: str = ""
    coins: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return f"{self.title} {self.body}"


def parse_articles(payload: bytes) -> list[Article]:
    """Articles from a JSON document: a list, or ``{"articles": [...]}``, of objects with
    ``title``, ``source``, ``published_ms`` and optional ``body`` and ``coins``."""
    try:
        document = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SignalSourceError(f"news feed is not valid JSON: {error}") from error
    records = document.get("articles") if isinstance(document, dict) else document
    if not isinstance(records, list):
        raise SignalSourceError("news feed must be a list of articles or {'articles': [...]}")
    articles = []
    for record in records:
        if not isinstance(record, dict):
            raise SignalSourceError("an article must be a JSON object")
        title, source = record.get("title"), record.get("source")
        published, body = record.get("published_ms"), record.get("body", "")
        coins = record.get("coins", [])
        if not (isinstance(title, str) and title and isinstance(source, str) and source):
            raise SignalSourceError("an article needs a non-empty 'title' and 'source'")
        if isinstance(published, bool) or not isinstance(published, int):
            raise SignalSourceError(f"article {title!r}: 'published_ms' must be an integer")
        if not isinstance(body, str) or not (
            isinstance(coins, list) and all(isinstance(coin, str) for coin in coins)
        ):
            raise SignalSourceError(f"article {title!r}: 'body' must be text, 'coins' a list")
        articles.append(
            Article(
                title=title, source=source, published_ms=published, body=body, coins=tuple(coins)
            )
        )
    return articles


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def keyword_score(*, text: str, bullish: frozenset[str], bearish: frozenset[str]) -> float:
    """(bullish hits − bearish hits) / (all hits), 0 without hits."""
    words = words_of(text)
    up = sum(1 for word in words if word in bullish)
    down = sum(1 for word in words if word in bearish)
    return (up - down) / (up + down) if up + down else 0.0


class SentimentLabel(StrEnum):
    BULLISH = "bullish"
    BEARISH = "bearish"
    NEUTRAL = "neutral"


class SentimentMethod(StrEnum):
    KEYWORD = "keyword"
    LLM = "llm"


@dataclass(frozen=True, kw_only=True, slots=True)
class SentimentResult:
    coin: str
    sentiment: SentimentLabel
    score: float
    confidence: float
    article_count: int
    key_topics: tuple[str, ...]
    recommendation: str
    method: SentimentMethod
    fallback_reason: str | None
    as_of_ms: int

    def to_dict(self) -> dict[str, object]:
        return {
            "coin": self.coin,
            "sentiment": self.sentiment.value,
            "score": self.score,
            "confidence": self.confidence,
            "article_count": self.article_count,
            "key_topics": list(self.key_topics),
            "recommendation": self.recommendation,
            "method": self.method.value,
            "fallback_reason": self.fallback_reason,
            "as_of_ms": self.as_of_ms,
        }

    def as_reading(self) -> SignalReading:
        return SignalReading(
            name=SIGNAL_NAME,
            value=self.score,
            confidence=self.confidence,
            as_of_ms=self.as_of_ms,
            detail=f"sentiment {self.sentiment.value} ({self.article_count} articles)",
        )


_SYSTEM_PROMPT = (
    "You rate crypto-market news headlines. For each numbered headline give a sentiment "
    "score from -1 (very bearish) to 1 (very bullish). Answer with JSON only: "
    '{"scores": [<one number per headline, in order>]}'
)


class LlmSentimentScorer:
    """Scores articles through ``POST {base_url}/v1/chat/completions``."""

    def __init__(self, *, config: LlmConfig, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._client = client

    async def score(self, articles: Sequence[Article]) -> list[float]:
        """One score in [-1, 1] per article; LlmScoringError with the reason otherwise."""
        config = self._config
        headlines = "\n".join(f"{i + 1}. {article.title}" for i, article in enumerate(articles))
        request = {
            "model": config.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": _SYSTEM_PROMPT},
                {"role": "user", "content": headlines},
            ],
        }
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        url = config.base_url.rstrip("/") + "/v1/chat/completions"
        try:
            if self._client is None:
                async with httpx.AsyncClient(timeout=config.timeout_s) as client:
                    response = await client.post(url, json=request, headers=headers)
            else:
                response = await self._client.post(
                    url, json=request, headers=headers, timeout=config.timeout_s
                )
        except httpx.HTTPError as error:
            raise LlmScoringError(f"LLM endpoint unreachable: {error!r}") from error
        if response.status_code != httpx.codes.OK:
            raise LlmScoringError(f"LLM endpoint answered HTTP {response.status_code}")
        return _parse_scores(body=response.content, expected=len(articles))


def _parse_scores(*, body: bytes, expected: int) -> list[float]:
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError) as error:
        raise LlmScoringError(f"LLM response is not a chat completion: {error!r}") from error
    if not isinstance(content, str):
        raise LlmScoringError("LLM message content is not text")
    # Models often wrap JSON in a Markdown code fence.
    content = content.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
    try:
        scores = json.loads(content)["scores"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise LlmScoringError(f"LLM answer is not the requested JSON: {error!r}") from error
    if not isinstance(scores, list) or len(scores) != expected:
        raise LlmScoringError(
            f"LLM returned {len(scores) if isinstance(scores, list) else 'no'} "
            f"scores for {expected} headlines"
        )
    result: list[float] = []
    for value in scores:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise LlmScoringError(f"LLM score {value!r} is not a number")
        if not (math.isfinite(value) and -1.0 <= value <= 1.0):
            raise LlmScoringError(f"LLM score {value!r} is outside [-1, 1]")
        result.append(float(value))
    return result


class SentimentAnalyzer:
    """Aggregates article sentiment for a coin (keyword baseline, optional LLM)."""

    def __init__(self, *, config: SentimentConfig, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._llm = LlmSentimentScorer(config=config.llm, client=client) if config.llm else None

    def _relevant(self, *, coin: str, articles: Sequence[Article], now_ms: int) -> list[Article]:
        coin = coin.upper()
        return [
            article
            for article in articles
            if (not article.coins or coin in (c.upper() for c in article.coins))
            and 0 <= now_ms - article.published_ms <= self._config.max_age_ms
        ]

    def analyze_keywords(
        self, *, coin: str, articles: Sequence[Article], now_ms: int
    ) -> SentimentResult:
        """Keyword baseline only."""
        relevant = self._relevant(coin=coin, articles=articles, now_ms=now_ms)
        config = self._config
        scores = [
            keyword_score(text=a.text, bullish=config.bullish_words, bearish=config.bearish_words)
            for a in relevant
        ]
        return self._aggregate(
            coin=coin,
            articles=relevant,
            scores=scores,
            now_ms=now_ms,
            method=SentimentMethod.KEYWORD,
            fallback_reason=None,
        )

    async def analyze(
        self, *, coin: str, articles: Sequence[Article], now_ms: int
    ) -> SentimentResult:
        """LLM scores when configured and working, else the keyword baseline."""
        if self._llm is None:
            return self.analyze_keywords(coin=coin, articles=articles, now_ms=now_ms)
        relevant = self._relevant(coin=coin, articles=articles, now_ms=now_ms)
        if not relevant:
            return self.analyze_keywords(coin=coin, articles=relevant, now_ms=now_ms)
        try:
            scores = await self._llm.score(relevant)
        except LlmScoringError as error:
            baseline = self.analyze_keywords(coin=coin, articles=relevant, now_ms=now_ms)
            return replace(baseline, fallback_reason=f"LLM scoring failed: {error}")
        return self._aggregate(
            coin=coin,
            articles=relevant,
            scores=scores,
            now_ms=now_ms,
            method=SentimentMethod.LLM,
            fallback_reason=None,
        )

    def _aggregate(
        self,
        *,
        coin: str,
        articles: Sequence[Article],
        scores: Sequence[float],
        now_ms: int,
        method: SentimentMethod,
        fallback_reason: str | None,
    ) -> SentimentResult:
        config = self._config
        total_weight = weighted_score = weighted_magnitude = 0.0
        topics: Counter[str] = Counter()
        vocabulary = config.topic_words
        for article, score in zip(articles, scores, strict=True):
            credibility = config.source_credibility.get(article.source, config.default_credibility)
            weight = credibility * 0.5 ** ((now_ms - article.published_ms) / config.half_life_ms)
            total_weight += weight
            weighted_score += weight * score
            weighted_magnitude += weight * abs(score)
            for word in set(words_of(article.text)) & vocabulary:
                topics[word] += weight
        score = clamp_unit(weighted_score / total_weight) if total_weight > 0 else 0.0
        evidence = total_weight / (total_weight + config.evidence_half_weight)
        agreement = abs(weighted_score) / weighted_magnitude if weighted_magnitude > 0 else 0.0
        if score >= config.neutral_band:
            label = SentimentLabel.BULLISH
        elif score <= -config.neutral_band:
            label = SentimentLabel.BEARISH
        else:
            label = SentimentLabel.NEUTRAL
        if score >= config.recommendation_threshold:
            recommendation = "buy"
        elif score <= -config.recommendation_threshold:
            recommendation = "sell"
        else:
            recommendation = "hold"
        ranked = sorted(topics.items(), key=lambda item: (-item[1], item[0]))
        return SentimentResult(
            coin=coin.upper(),
            sentiment=label,
            score=score,
            confidence=evidence * agreement,
            article_count=len(articles),
            key_topics=tuple(word for word, _ in ranked[: config.key_topic_count]),
            recommendation=recommendation,
            method=method,
            fallback_reason=fallback_reason,
            as_of_ms=now_ms,
        )
