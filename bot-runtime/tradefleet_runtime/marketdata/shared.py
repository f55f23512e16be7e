"""Shared market data: the Redis keys a market-data publisher writes, and how bots read them.

One publisher per exchange (:mod:`tradefleet_runtime.publisher.service`, run by
``python -m tradefleet_runtime market-data``) fetches each symbol's book and candles once and
writes them under its key prefix ``P``, for every bot of that exchange to read:

* ``P:book:SYM``, a stream with one entry per poll (``XADD MAXLEN ~ 200``): ``ts`` (the
  exchange's time of the book in ms, or the publisher's clock when the book has none), ``bids``
  and ``asks`` (JSON arrays of ``[price, amount]``, best first);
* ``P:candles:SYM:TF``, a string: the JSON array of the last ``historyBars`` closed candles
  ``[timestamp_ms, open, high, low, close, volume]`` of timeframe ``TF``, oldest first,
  rewritten after each bar of ``TF`` closes;
* ``P:regime:SYM:TF``, a string: the regime model the publisher fitted on those candles, as
  JSON ``{"fittedAtMs": ..., "model": RegimeModel.to_dict()}``, written once a fit succeeds and
  again after each bar closes. A bot on shared data runs it instead of fitting one of its own:
  the model of a symbol is fitted once, not in every bot.

``SYM`` is the ccxt unified symbol as written (``BTC/USDT:USDT``), ``TF`` a ccxt timeframe
(``1m``). The publisher writes through :func:`book_entry` and :func:`candles_document`. A bot
with ``marketData.source: shared`` (built by
:func:`tradefleet_runtime.service.build.build_venue_and_feed`) reads its ticks and bars through
:class:`SharedMarketFeed`; a paper bot's account also fills against the whole published book,
through :class:`SharedBookVenue`, so that bot has no exchange client at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from tradefleet_runtime.execution.errors import TemporaryExchangeError
from tradefleet_runtime.execution.model import BookLevel, Candle, OrderBook
from tradefleet_runtime.marketdata.feeds import (
    MarketDataError,
    MarketDataOnlyVenue,
    MarketFeed,
    closed_candles,
    exchange_timeframe,
    top_of_book,
    wall_clock_ms,
)
from tradefleet_runtime.marketdata.ticks import BookTick
from tradefleet_runtime.signals.regime_model import RegimeModel

BOOK_STREAM_MAXLEN = 200
# A stream entry's fields as redis-py types them (the runtime's clients decode to str).
StreamFields = Mapping[bytes | str, bytes | str]
# Said with every "no data" refusal: the usual cause is on the publisher's side.
_ASK_THE_PUBLISHER = "is the market-data publisher running?"


def book_stream_key(*, prefix: str, symbol: str) -> str:
    return f"{prefix}:book:{symbol}"


def candles_key(*, prefix: str, symbol: str, timeframe: str) -> str:
    return f"{prefix}:candles:{symbol}:{timeframe}"


def regime_key(*, prefix: str, symbol: str, timeframe: str) -> str:
    return f"{prefix}:regime:{symbol}:{timeframe}"


@dataclass(frozen=True, kw_only=True, slots=True)
class PublishedRegime:
    """A regime model as the publisher fitted it, and when (the close of its last bar)."""

    fitted_at_ms: int
    model: RegimeModel


def regime_document(published: PublishedRegime) -> str:
    return json.dumps({"fittedAtMs": published.fitted_at_ms, "model": published.model.to_dict()})


def regime_from_document(text: str | bytes, *, where: str) -> PublishedRegime:
    """The model of a value written by :func:`regime_document`; MarketDataError when malformed."""
    try:
        raw = json.loads(text)
        return PublishedRegime(
            fitted_at_ms=int(raw["fittedAtMs"]), model=RegimeModel.from_dict(raw["model"])
        )
    except KeyError as error:
        raise MarketDataError(f"{where}: the regime document lacks {error}") from None
    except (ValueError, TypeError) as error:
        raise MarketDataError(f"{where}: malformed regime model: {error}") from None


def book_entry(book: OrderBook, *, depth: int, now_ms: int) -> dict[FieldT, EncodableT]:
    """The stream entry of one polled book: at most ``depth`` levels a side, stamped ``now_ms``
    when the book has no time of its own."""

    def levels(side: Sequence[BookLevel]) -> str:
        return json.dumps([[level.price, level.amount] for level in side[:depth]])

    stamp = book.timestamp_ms if book.timestamp_ms is not None else now_ms
    return {"ts": str(stamp), "bids": levels(book.bids), "asks": levels(book.asks)}


def _levels(raw: Any) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(price=float(price), amount=float(amount)) for price, amount in raw)


def book_from_entry(fields: StreamFields, *, symbol: str, where: str) -> OrderBook:
    """The book of a stream entry written by :func:`book_entry`; MarketDataError when malformed."""
    try:
        return OrderBook(
            symbol=symbol,
            bids=_levels(json.loads(fields["bids"])),
            asks=_levels(json.loads(fields["asks"])),
            timestamp_ms=int(fields["ts"]),
        )
    except KeyError as error:
        raise MarketDataError(f"{where}: the book entry lacks field {error}") from None
    except (ValueError, TypeError) as error:
        raise MarketDataError(f"{where}: malformed book entry: {error}") from None


def candles_document(candles: Sequence[Candle]) -> str:
    """The value of a candles key: ``candles`` as a JSON array of OHLCV rows."""
    return json.dumps([[c.timestamp_ms, c.open, c.high, c.low, c.close, c.volume] for c in candles])


def candles_from_document(text: str | bytes, *, where: str) -> list[Candle]:
    """The candles of a value written by :func:`candles_document`; MarketDataError when
    malformed."""
    try:
        return [
            Candle(
                timestamp_ms=int(t), open=float(o), high=float(h), low=float(lo),
                close=float(c), volume=float(v),
            )
            for t, o, h, lo, c, v in json.loads(text)
        ]  # fmt: skip
    except (ValueError, TypeError) as error:
        raise MarketDataError(f"{where}: malformed candles: {error}") from None


class SharedMarketFeed(MarketFeed):
    """One symbol's ticks and bars as a publisher left them in Redis; its clock is wall time.

    Each tick is the newest entry of the book stream. None at all, or one older than
    ``max_tick_age_ms``, is no tick but a MarketDataError naming the key and the age: the
    publisher has stopped or lost its exchange, and the bot must not trade on the last book it
    wrote. The limit is the configuration's at start (a hot reload does not change it).
    """

    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        key_prefix: str,
        symbol: str,
        max_tick_age_ms: int,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        super().__init__(symbol=symbol)
        self.book_key = book_stream_key(prefix=key_prefix, symbol=symbol)
        self._key_prefix = key_prefix
        self._redis = redis
        self._max_age_ms = max_tick_age_ms
        self._clock = clock

    def now_ms(self) -> int:
        return self._clock()

    async def latest_book(self) -> OrderBook:
        """The newest published book, every published level of it."""
        key = self.book_key
        try:
            entries = await self._redis.xrevrange(key, count=1)
        except (RedisError, OSError) as error:
            raise MarketDataError(f"{key} cannot be read: {error}") from None
        if not entries:
            raise MarketDataError(f"{key} holds no book: {_ASK_THE_PUBLISHER}")
        _, fields = entries[0]
        book = book_from_entry(fields or {}, symbol=self.symbol, where=key)
        published_ms = book.timestamp_ms
        assert published_ms is not None, "book_from_entry stamps every book"
        age_ms = self._clock() - published_ms
        if age_ms > self._max_age_ms:
            raise MarketDataError(
                f"the newest book in {key} is {age_ms} ms old (limit {self._max_age_ms} ms): "
                f"{_ASK_THE_PUBLISHER}"
            )
        return book

    async def next_book(self) -> BookTick:
        return top_of_book(await self.latest_book(), now_ms=self._clock())

    async def candles(self, *, timeframe: str) -> list[Candle]:
        """The published closed candles of ``timeframe``, oldest first."""
        key = candles_key(prefix=self._key_prefix, symbol=self.symbol, timeframe=timeframe)
        try:
            text = await self._redis.get(key)
        except (RedisError, OSError) as error:
            raise MarketDataError(f"{key} cannot be read: {error}") from None
        if text is None:
            raise MarketDataError(
                f"{key} holds no candles: {_ASK_THE_PUBLISHER} Does it publish {timeframe}?"
            )
        return candles_from_document(text, where=key)

    async def regime(self, *, bar_seconds: int) -> PublishedRegime | None:
        """The regime model published for the bot's bars, None while there is none yet."""
        key = regime_key(
            prefix=self._key_prefix, symbol=self.symbol, timeframe=exchange_timeframe(bar_seconds)
        )
        try:
            text = await self._redis.get(key)
        except (RedisError, OSError) as error:
            raise MarketDataError(f"{key} cannot be read: {error}") from None
        return None if text is None else regime_from_document(text, where=key)

    async def _closed(self, *, bar_seconds: int) -> list[Candle]:
        candles = await self.candles(timeframe=exchange_timeframe(bar_seconds))
        # The publisher writes closed bars only; the clock check keeps that true whatever it wrote.
        return closed_candles(candles, bar_seconds=bar_seconds, now_ms=self._clock())

    async def history(self, *, bar_seconds: int, limit: int) -> list[Candle]:
        return (await self._closed(bar_seconds=bar_seconds))[-limit:]

    async def closed_bars(self, *, bar_seconds: int, after_ms: int) -> list[Candle]:
        return [c for c in await self._closed(bar_seconds=bar_seconds) if c.timestamp_ms > after_ms]


class SharedBookVenue(MarketDataOnlyVenue):
    """The newest book of a :class:`SharedMarketFeed`, with every published level, for a
    ``PaperVenue`` to fill against (and walk, as it walks an exchange's book).

    Market data that is missing or stale is a temporary exchange error here, as an exchange
    client's failed read would be: the paper account's callers retry it, and nothing fills
    against an old book.
    """

    def __init__(self, *, feed: SharedMarketFeed) -> None:
        super().__init__(symbol=feed.symbol)
        self._feed = feed

    @property
    def name(self) -> str:
        return "shared"

    async def fetch_order_book(self, *, symbol: str, depth: int = 20) -> OrderBook:
        try:
            book = await self._feed.latest_book()
        except MarketDataError as error:
            raise TemporaryExchangeError(str(error)) from None
        return replace(book, bids=book.bids[:depth], asks=book.asks[:depth])

    async def fetch_ohlcv(
        self, *, symbol: str, timeframe: str = "1m", limit: int = 100
    ) -> list[Candle]:
        try:
            candles = await self._feed.candles(timeframe=timeframe)
        except MarketDataError as error:
            raise TemporaryExchangeError(str(error)) from None
        return candles[-limit:]
