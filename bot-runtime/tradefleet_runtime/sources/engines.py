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
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import httpx
import redis.asyncio as aioredis

from tradefleet_runtime.config import SourceConfig
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.signals.errors import SignalError, SignalSourceError
from tradefleet_runtime.signals.feeds import is_http_location, read_document
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
    default_thresholds,
)
from tradefleet_runtime.sources.engine_base import (
    FEED_TIMEOUT_S,
    SourceEngine,
    coin_of,
    header_files,
    read_all,
    source_reading,
)
from tradefleet_runtime.sources.macro_source import MacroEngine
from tradefleet_runtime.sources.stream import SourceReading

# Set by the operator from the spec's Secret and ConfigMap references (operator render.py).
ENV_LLM_API_KEY = "TRADEFLEET_LLM_API_KEY"
ENV_HTTP_HEADERS_DIR = "TRADEFLEET_HTTP_HEADERS_DIR"
ENV_MACRO_EVENTS_DIR = "TRADEFLEET_MACRO_EVENTS_DIR"
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
        llm_api_key: str | None = None,
    ) -> None:
        super().__init__()
        self._timeout_s = feed_timeout_s
        self._notes: list[str] = []
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
            if llm_spec.get("apiKeySecretRef") and not llm_api_key:
                self._notes.append(
                    f"llm.apiKeySecretRef is set but {ENV_LLM_API_KEY} is empty: "
                    "the LLM is called without a key"
                )
            llm = LlmConfig(
                base_url=str(llm_spec.get("endpoint")),
                model=str(llm_spec.get("model")),
                api_key=llm_api_key or None,
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
        # Every coin known by name, not only the source's: news about another coin is not
        # market-wide news.
        coins = {**COIN_NAMES, **{coin_of(s): COIN_NAMES.get(coin_of(s), ()) for s in symbols}}
        articles: list[Article] = []
        urls = [url for url, _ in self._feeds]
        documents = await read_all(locations=urls, timeout_s=self._timeout_s, client=self._client)
        for url, payload in zip(urls, documents, strict=True):
            try:
                if isinstance(payload, SignalSourceError):
                    raise payload
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
        self._problems = list(self._notes)
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
    """Transfers from ``feedUrl`` (a JSON list or a whale-transaction API, sent the headers of
    ``headersSecretRef`` read from ``headers_dir`` every round) or ``redisStream``;
    ``exchangeAddresses`` (exchange -> addresses) tell inflows from outflows, with the addresses
    an API marks as an exchange's; ``thresholds`` override the built-in ones per asset."""

    def __init__(
        self, *, spec: Mapping[str, object], redis: aioredis.Redis, client: httpx.AsyncClient,
        feed_timeout_s: float = FEED_TIMEOUT_S, headers_dir: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self._notes: list[str] = []
        self._headers_dir = Path(headers_dir) if headers_dir else None
        if spec.get("headersSecretRef") and self._headers_dir is None:
            self._notes.append("headersSecretRef is set but no header directory was mounted")
        source: WhaleSource
        if isinstance(spec.get("feedUrl"), str):
            self._location = str(spec["feedUrl"])
            source = JsonFeedWhaleSource(
                location=self._location, client=client, timeout_s=feed_timeout_s,
                headers=self._headers,
            )  # fmt: skip
        elif isinstance(spec.get("redisStream"), str):
            self._location = f"redis stream {spec['redisStream']}"
            source = RedisStreamWhaleSource(redis=redis, stream=str(spec["redisStream"]))
        else:
            raise ConfigError("spec.whale needs feedUrl or redisStream")
        thresholds = spec.get("thresholds") or []
        try:
            config = WhaleConfig(
                thresholds={
                    **default_thresholds(),
                    **{
                        str(t["asset"]): WhaleThreshold(min_usd=float(t["minUsd"]))
                        for t in (thresholds if isinstance(thresholds, list) else [])
                        if isinstance(t, Mapping)
                    },
                },
                exchange_addresses=_exchange_addresses(spec.get("exchangeAddresses")),
            )
        except (SignalError, KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"spec.whale: {error}") from None
        self._monitor = WhaleMonitor(config=config, source=source)
        if not config.exchange_addresses:
            self._notes.append(
                "no exchange addresses are configured: only transfers the feed marks as an "
                "exchange's are exchange inflows or outflows"
            )

    def _headers(self) -> dict[str, str]:
        if self._headers_dir is None:
            return {}
        try:
            return header_files(self._headers_dir)
        except OSError as error:
            self._problems.append(f"cannot read the headers Secret: {error}")
            return {}

    async def readings(self, *, symbols: Sequence[str], now_ms: int) -> list[SourceReading]:
        self._problems = list(self._notes)
        try:
            await self._monitor.refresh()
        except SignalSourceError as error:
            self._problems.append(f"{self._location}: {error}")
        return [
            source_reading(symbol=symbol, reading=signal.as_reading(), kind="whale")
            for symbol in symbols
            for signal in (self._monitor.signal(coin=coin_of(symbol), now_ms=now_ms),)
        ]


def _exchange_addresses(raw: object) -> dict[str, str]:
    """``[{"exchange": name, "addresses": [...]}, ...]`` -> address -> exchange name."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ConfigError("spec.whale.exchangeAddresses must be a list")
    addresses: dict[str, str] = {}
    for index, item in enumerate(raw):
        listed = item.get("addresses") if isinstance(item, Mapping) else None
        if (
            not isinstance(item, Mapping)
            or not isinstance(item.get("exchange"), str)
            or not (isinstance(listed, list) and all(isinstance(a, str) and a for a in listed))
        ):
            raise ConfigError(
                f"spec.whale.exchangeAddresses[{index}] needs an exchange and its addresses"
            )
        addresses.update({address: str(item["exchange"]) for address in listed})
    return addresses


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
    """GET ``url`` and publish the number at ``jsonPath``. A URL with ``{symbol}`` (the symbol,
    URL-encoded) or ``{base}`` (its base asset) is fetched once per symbol, else once for all.
    The files of ``headers_dir`` (the mounted ``headersSecretRef``: file name = header, content
    = value) are sent as headers, read every round so a rotated Secret is used at once."""

    def __init__(
        self, *, spec: Mapping[str, object], client: httpx.AsyncClient, headers_dir: str | None
    ) -> None:
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
        self._headers_dir = Path(headers_dir) if headers_dir else None
        if spec.get("headersSecretRef") and self._headers_dir is None:
            self._notes = ["headersSecretRef is set but no header directory was mounted"]
        else:
            self._notes = []
        self._per_symbol = "{symbol}" in self._url or "{base}" in self._url

    def _headers(self) -> dict[str, str]:
        if self._headers_dir is None:
            return {}
        try:
            return header_files(self._headers_dir)
        except OSError as error:
            self._problems.append(f"cannot read the headers Secret: {error}")
            return {}

    def _url_for(self, symbol: str) -> str:
        return self._url.replace("{symbol}", quote(symbol, safe="")).replace(
            "{base}", quote(coin_of(symbol), safe="")
        )

    async def _fetch(self, *, url: str, headers: Mapping[str, str]) -> bytes | None:
        try:
            if not is_http_location(url):  # a file stands in for the endpoint (tests, replays)
                return await read_document(location=url, timeout_s=self._timeout_s)
            response = await self._client.get(url, headers=headers, timeout=self._timeout_s)
        except SignalSourceError as error:
            self._problems.append(f"{url}: {error}")
            return None
        except httpx.TimeoutException:
            self._problems.append(f"{url}: timeout: no answer within {self._timeout_s:g} s")
            return None
        except httpx.RemoteProtocolError as error:
            self._problems.append(f"{url}: truncated: {error}")
            return None
        except httpx.HTTPError as error:
            self._problems.append(f"{url}: unreachable: {error!r}")
            return None
        if response.status_code != httpx.codes.OK:
            self._problems.append(f"{url}: http status: answered HTTP {response.status_code}")
            return None
        return response.content

    async def _value(self, *, url: str, headers: Mapping[str, str]) -> float | None:
        payload = await self._fetch(url=url, headers=headers)
        if payload is None:
            return None
        try:
            value = extract_json_path(json.loads(payload), self._path)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            self._problems.append(f"{url} did not answer JSON: {error}")
            return None
        except KeyError:
            self._problems.append(f"{self._path} is not in the answer of {url}")
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self._problems.append(f"{self._path} is {value!r}, not a number")
            return None
        return clamp_unit(float(value))

    async def readings(self, *, symbols: Sequence[str], now_ms: int) -> list[SourceReading]:
        self._problems = list(self._notes)
        headers = self._headers()
        if not self._per_symbol:
            value = await self._value(url=self._url, headers=headers)
            values = {symbol: value for symbol in symbols}
        else:
            values = {
                symbol: await self._value(url=self._url_for(symbol), headers=headers)
                for symbol in symbols
            }
        return [
            SourceReading(
                symbol=symbol, value=value, confidence=1.0, as_of_ms=now_ms, kind=self._kind
            )
            for symbol, value in values.items()
            if value is not None
        ]


def build_engine(
    *,
    config: SourceConfig,
    redis: aioredis.Redis,
    client: httpx.AsyncClient,
    env: Mapping[str, str] | None = None,
) -> SourceEngine:
    """The engine of ``config``'s kind; ``env`` (the process environment unless given) holds
    what the operator delivered from the spec's references (``ENV_*``)."""
    env = os.environ if env is None else env
    block = config.spec.get(config.kind) or {}
    if not isinstance(block, Mapping):
        raise ConfigError(f"spec.{config.kind} must be an object")
    if config.kind == "sentiment":
        return SentimentEngine(spec=block, client=client, llm_api_key=env.get(ENV_LLM_API_KEY))
    if config.kind == "macro":
        return MacroEngine(
            spec=block, symbols=config.symbols, interval_s=config.interval_s, client=client,
            events_dir=env.get(ENV_MACRO_EVENTS_DIR),
        )  # fmt: skip
    if config.kind == "whale":
        return WhaleEngine(
            spec=block, redis=redis, client=client, headers_dir=env.get(ENV_HTTP_HEADERS_DIR)
        )
    return HttpEngine(spec=block, client=client, headers_dir=env.get(ENV_HTTP_HEADERS_DIR))
