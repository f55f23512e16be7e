"""The signal engine behind each SignalSource kind: feeds in, one reading per symbol out.

:func:`build_engine` turns a :class:`~tradefleet_runtime.config.SourceConfig` into a
:class:`SourceEngine`; the SignalSource service calls :meth:`SourceEngine.readings` every
``intervalSeconds``. Kinds:

* ``sentiment``: every feed (RSS 2.0, Atom, or a JSON list of articles) is read; each article is
  scored on its own, counts for the coins it names (every coin when it names none) and is
  weighted by its feed's credibility; keywords extend the word lists; an LLM scores headlines
  when enabled.
* ``macro`` (:mod:`~.macro_source`): economic calendars (ICS, JSON), JSON macro events and RSS
  headlines, recognised by content, plus the configured ``assetBiases`` as standing events.
* ``whale``: transfers from ``feedUrl`` (JSON) or ``redisStream``, thresholds by asset in USD.
* ``http``: ``url`` answers JSON; ``jsonPath`` (``$.a.b[0]``) selects a number in [-1, 1] (clamped),
  published as the ``fusionInput`` kind with confidence 1.

A feed that fails keeps the engine running; the failure is listed in :meth:`SourceEngine.problems`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

import httpx
import redis.asyncio as aioredis

from tradefleet_runtime.config import ConfigError, SourceConfig
from tradefleet_runtime.signals.errors import SignalError, SignalSourceError
from tradefleet_runtime.signals.feeds import read_document
from tradefleet_runtime.signals.news_feeds import read_news_feed
from tradefleet_runtime.signals.reading import clamp_unit
from tradefleet_runtime.signals.sentiment import (
    DEFAULT_BEARISH_WORDS,
    DEFAULT_BULLISH_WORDS,
    Article,
    LlmConfig,
    SentimentAnalyzer,
    SentimentConfig,
)
from tradefleet_runtime.signals.whale import (
    JsonFeedWhaleSource,
    RedisStreamWhaleSource,
    WhaleConfig,
    WhaleMonitor,
    WhaleSource,
    WhaleThreshold,
)
from tradefleet_runtime.sources.engine_base import (
    FEED_TIMEOUT_S,
    SourceEngine,
    coin_of,
    source_reading,
)
from tradefleet_runtime.sources.macro_source import MacroEngine
from tradefleet_runtime.sources.stream import SourceReading

_JSON_PATH_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[([0-9]+)\]")
# Names an article may use for a coin besides its ticker (matched as whole words).
COIN_NAMES: Mapping[str, tuple[str, ...]] = {
    "BTC": ("bitcoin",), "ETH": ("ethereum", "ether"), "SOL": ("solana",), "XRP": ("ripple",),
    "ADA": ("cardano",), "DOGE": ("dogecoin",), "AVAX": ("avalanche",), "DOT": ("polkadot",),
    "LTC": ("litecoin",), "LINK": ("chainlink",), "BNB": ("binance coin",), "TRX": ("tron",),
}  # fmt: skip


class SentimentEngine(SourceEngine):
    def __init__(
        self,
        *,
        spec: Mapping[str, object],
        client: httpx.AsyncClient,
        feed_timeout_s: float = FEED_TIMEOUT_S,
    ) -> None:
        super().__init__()
        self._timeout_s = feed_timeout_s
        feeds = spec.get("feeds")
        if not isinstance(feeds, list) or not feeds:
            raise ConfigError("spec.sentiment.feeds must be a non-empty list")
        self._feeds: list[tuple[str, float]] = []
        for index, feed in enumerate(feeds):
            if not isinstance(feed, Mapping) or not isinstance(feed.get("url"), str):
                raise ConfigError(f"spec.sentiment.feeds[{index}].url must be a URL")
            credibility = feed.get("credibility", 1.0)
            if isinstance(credibility, bool) or not isinstance(credibility, int | float):
                raise ConfigError(f"spec.sentiment.feeds[{index}].credibility must be a number")
            self._feeds.append((feed["url"], float(credibility)))
        keywords = spec.get("keywords") or {}
        if not isinstance(keywords, Mapping):
            raise ConfigError("spec.sentiment.keywords must be an object")
        llm_spec = spec.get("llm") or {}
        llm = None
        if isinstance(llm_spec, Mapping) and llm_spec.get("enabled"):
            llm = LlmConfig(
                base_url=str(llm_spec.get("endpoint")), model=str(llm_spec.get("model"))
            )
        try:
            config = SentimentConfig(
                bullish_words=DEFAULT_BULLISH_WORDS | _words(keywords.get("bullish")),
                bearish_words=DEFAULT_BEARISH_WORDS | _words(keywords.get("bearish")),
                source_credibility={url: credibility for url, credibility in self._feeds},
                llm=llm,
            )
        except SignalError as error:
            raise ConfigError(f"spec.sentiment: {error}") from None
        self._analyzer = SentimentAnalyzer(config=config, client=client)
        self._client = client

    async def _articles(self, *, symbols: Sequence[str]) -> list[Article]:
        coins = {coin_of(s): COIN_NAMES.get(coin_of(s), ()) for s in symbols}
        articles: list[Article] = []
        for url, _ in self._feeds:
            try:
                payload = await read_document(
                    location=url, timeout_s=self._timeout_s, client=self._client
                )
                feed = read_news_feed(payload=payload, source=url, coins=coins)
            except SignalSourceError as error:
                self._problems.append(f"{url}: {error}")
                continue
            if feed.recovered_from is not None:
                self._problems.append(
                    f"{url}: malformed: {feed.recovered_from} "
                    f"({len(feed.articles)} entries recovered by a lenient parse)"
                )
            if feed.undated:
                self._problems.append(f"{url}: {feed.undated} entries without a date were skipped")
            # Credibility belongs to the feed, so every article carries its feed's name.
            articles.extend(replace(article, source=url) for article in feed.articles)
        return articles

    async def readings(self, *, symbols: Sequence[str], now_ms: int) -> list[SourceReading]:
        self._problems = []
        articles = await self._articles(symbols=symbols)
        results = []
        for symbol in symbols:
            result = await self._analyzer.analyze(
                coin=coin_of(symbol), articles=articles, now_ms=now_ms
            )
            if result.fallback_reason:
                self._problems.append(result.fallback_reason)
            results.append(
                source_reading(symbol=symbol, reading=result.as_reading(), kind="sentiment")
            )
        return results


def _words(raw: object) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(isinstance(word, str) for word in raw):
        raise ConfigError("spec.sentiment.keywords lists must hold words")
    return frozenset(word.lower() for word in raw)


class WhaleEngine(SourceEngine):
    def __init__(
        self, *, spec: Mapping[str, object], redis: aioredis.Redis, client: httpx.AsyncClient
    ) -> None:
        super().__init__()
        source: WhaleSource
        if isinstance(spec.get("feedUrl"), str):
            source = JsonFeedWhaleSource(location=str(spec["feedUrl"]), client=client)
        elif isinstance(spec.get("redisStream"), str):
            source = RedisStreamWhaleSource(redis=redis, stream=str(spec["redisStream"]))
        else:
            raise ConfigError("spec.whale needs feedUrl or redisStream")
        thresholds = spec.get("thresholds")
        try:
            config = (
                WhaleConfig(
                    thresholds={
                        str(t["asset"]): WhaleThreshold(min_usd=float(t["minUsd"]))
                        for t in thresholds
                        if isinstance(t, Mapping)
                    }
                )
                if isinstance(thresholds, list) and thresholds
                else WhaleConfig()
            )
        except (SignalError, KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"spec.whale.thresholds: {error}") from None
        self._monitor = WhaleMonitor(config=config, source=source)
        if not config.exchange_addresses:
            self._problems.append(
                "no exchange addresses are configured: transfers cannot be classified as "
                "exchange inflows or outflows, so readings stay neutral"
            )

    async def readings(self, *, symbols: Sequence[str], now_ms: int) -> list[SourceReading]:
        problems = [p for p in self._problems if p.startswith("no exchange addresses")]
        try:
            await self._monitor.refresh()
        except SignalSourceError as error:
            problems.append(str(error))
        self._problems = problems
        return [
            source_reading(symbol=symbol, reading=signal.as_reading(), kind="whale")
            for symbol in symbols
            for signal in (self._monitor.signal(coin=coin_of(symbol), now_ms=now_ms),)
        ]


def extract_json_path(document: object, path: str) -> object:
    """The value at ``path`` (``$`` then ``.key`` / ``[index]`` steps); KeyError if absent."""
    if not path.startswith("$"):
        raise KeyError(path)
    rest = path[1:]
    value = document
    position = 0
    while position < len(rest):
        match = _JSON_PATH_STEP.match(rest, position)
        if match is None:
            raise KeyError(path)
        key, index = match.groups()
        if key is not None:
            if not isinstance(value, Mapping) or key not in value:
                raise KeyError(path)
            value = value[key]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(path)
            value = value[int(index)]
        position = match.end()
    return value


class HttpEngine(SourceEngine):
    def __init__(self, *, spec: Mapping[str, object], client: httpx.AsyncClient) -> None:
        super().__init__()
        if not isinstance(spec.get("url"), str) or not isinstance(spec.get("jsonPath"), str):
            raise ConfigError("spec.http needs url and jsonPath")
        self._url = str(spec["url"])
        self._path = str(spec["jsonPath"])
        self._kind = str(spec.get("fusionInput", "sentiment"))
        if self._kind not in ("sentiment", "macro", "whale"):
            raise ConfigError(f"spec.http.fusionInput {self._kind!r} is not a fusion input")
        timeout = spec.get("timeoutSeconds", 10)
        self._timeout_s = float(timeout) if isinstance(timeout, int | float) else 10.0
        self._client = client

    async def readings(self, *, symbols: Sequence[str], now_ms: int) -> list[SourceReading]:
        self._problems = []
        try:
            payload = await read_document(
                location=self._url, timeout_s=self._timeout_s, client=self._client
            )
            value = extract_json_path(json.loads(payload), self._path)
        except SignalSourceError as error:
            self._problems.append(str(error))
            return []
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            self._problems.append(f"{self._url} did not answer JSON: {error}")
            return []
        except KeyError:
            self._problems.append(f"{self._path} is not in the answer of {self._url}")
            return []
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self._problems.append(f"{self._path} is {value!r}, not a number")
            return []
        return [
            SourceReading(
                symbol=symbol,
                value=clamp_unit(float(value)),
                confidence=1.0,
                as_of_ms=now_ms,
                kind=self._kind,
            )
            for symbol in symbols
        ]


def build_engine(
    *, config: SourceConfig, redis: aioredis.Redis, client: httpx.AsyncClient
) -> SourceEngine:
    block = config.spec.get(config.kind) or {}
    if not isinstance(block, Mapping):
        raise ConfigError(f"spec.{config.kind} must be an object")
    if config.kind == "sentiment":
        return SentimentEngine(spec=block, client=client)
    if config.kind == "macro":
        return MacroEngine(
            spec=block, symbols=config.symbols, interval_s=config.interval_s, client=client
        )
    if config.kind == "whale":
        return WhaleEngine(spec=block, redis=redis, client=client)
    return HttpEngine(spec=block, client=client)
