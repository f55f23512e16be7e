"""The market-data publisher at work: fetch each symbol's book and candles once, write them to
Redis for every bot of the exchange.

Run by ``python -m tradefleet_runtime market-data`` (:meth:`MarketDataPublisher.build`, then
:meth:`MarketDataPublisher.run`). Every ``pollIntervalMs`` it appends every symbol's order book
to the symbol's book stream: the book the exchange's websocket stream keeps current where
ccxt.pro has one (:mod:`tradefleet_runtime.publisher.streamed_books`), else, or while that
stream is down, one read over REST (the symbols concurrently). It writes each symbol's closed
candles of every timeframe at start, and again after each bar of that timeframe closes,
fetching only the bars since (once per symbol per closed bar, not per poll), and fits each
series' regime model on them when due, for the bots to run (fitted once here, not in every
bot). Keys and formats are :mod:`tradefleet_runtime.marketdata.shared`'s. An exchange or Redis
error is logged once per distinct message and shown in ``/status``, and what failed is fetched
again in the next round: the process never ends for one. API: ``/healthz`` (200 once every
symbol's book has been published, 503 naming those still missing) and ``/status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from tradefleet_runtime.config import TIMEFRAME_SECONDS
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.execution.errors import ExchangeError, VenueConfigurationError
from tradefleet_runtime.execution.model import Candle, OrderBook
from tradefleet_runtime.execution.request_meter import RequestMeter
from tradefleet_runtime.execution.venue import CcxtVenue, Venue, VenueMode, ccxt_exchange_id
from tradefleet_runtime.marketdata.feeds import closed_candles, wall_clock_ms
from tradefleet_runtime.marketdata.shared import (
    BOOK_STREAM_MAXLEN,
    PublishedRegime,
    book_entry,
    book_stream_key,
    candles_document,
    candles_key,
    regime_document,
    regime_key,
)
from tradefleet_runtime.persistence.store import RedisLogin, redis_client
from tradefleet_runtime.publisher.config import MarketDataConfig
from tradefleet_runtime.publisher.streamed_books import StreamedBooks
from tradefleet_runtime.signals.errors import SignalDataError
from tradefleet_runtime.signals.regime import RegimeDetector
from tradefleet_runtime.signals.regime_config import RegimeConfig

LOG = logging.getLogger("tradefleet_runtime.publisher")
REDIS_TIMEOUT_S = 2.0
# The bot's default exchange timeout (venue.timeoutMs): a symbol whose book hangs is given up on
# within a few rounds, the others are polled meanwhile.
EXCHANGE_TIMEOUT_S = 5.0
# A streamed book silent for longer than 3 poll intervals (within these bounds) is read over
# REST: a liquid book changes every 100 ms; the bound keeps a stalled stream's book from being
# published for longer than a bot's default tick age (10 s) allows.
STREAM_SILENCE_MIN_S = 1.0
STREAM_SILENCE_MAX_S = 5.0


class MarketDataPublisher:
    """One exchange's books and candles, fetched once and published to Redis."""

    def __init__(
        self,
        *,
        config: MarketDataConfig,
        venue: Venue,
        redis: aioredis.Redis,
        requests: RequestMeter,
        streams: StreamedBooks | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.config = config
        self.stop_event = asyncio.Event()
        self.requests = requests
        # Epoch seconds of each symbol's last published book (None: not yet).
        self.last_published: dict[str, float | None] = dict.fromkeys(config.symbols)
        # The last error of each book ("SYM") and candle series ("SYM TF"), None once it works.
        self.errors: dict[str, str | None] = {}
        self._venue = venue
        self._streams = streams
        self._redis = redis
        self._clock = clock
        # The closed candles written last per (symbol, timeframe): after a bar closes, only the
        # bars since are fetched.
        self._candles: dict[tuple[str, str], list[Candle]] = {}
        # The regime model of each (symbol, timeframe), fitted here once for all the bots.
        self._regimes: dict[tuple[str, str], RegimeDetector] = {}

    @classmethod
    def build(cls, *, config: MarketDataConfig, login: RedisLogin | None) -> MarketDataPublisher:
        """The publisher with its exchange and Redis clients; ConfigError naming the key when
        the exchange, or one of the timeframes there, cannot be used."""
        requests = RequestMeter()
        venue, streaming = _exchange_venue(config=config, requests=requests)
        for index, timeframe in enumerate(config.timeframes):
            try:
                venue.timeframe_ms(timeframe)
            except VenueConfigurationError as error:
                raise ConfigError(f"timeframes[{index}]: {error}") from None
        redis = redis_client(url=config.redis.url, login=login, timeout_s=REDIS_TIMEOUT_S)
        streams = None
        if streaming:
            streams = StreamedBooks(
                venue=venue,
                symbols=config.symbols,
                depth=config.depth,
                silence_s=min(
                    STREAM_SILENCE_MAX_S,
                    max(STREAM_SILENCE_MIN_S, 3 * config.poll_interval_ms / 1000),
                ),
            )
        return cls(config=config, venue=venue, redis=redis, requests=requests, streams=streams)

    @property
    def missing(self) -> list[str]:
        """The symbols whose book has not been published yet."""
        return [symbol for symbol, at in self.last_published.items() if at is None]

    def status(self) -> dict[str, object]:
        return {
            "exchange": self._venue.name,
            "keyPrefix": self.config.redis.key_prefix,
            "symbols": list(self.config.symbols),
            "timeframes": list(self.config.timeframes),
            "lastPublished": self.last_published,
            "errors": {what: error for what, error in self.errors.items() if error is not None},
            "requestsPerMinute": self.requests.per_minute(),
            # How each book arrives: "streamed", or why it is read over REST.
            "bookSources": (
                self._streams.sources()
                if self._streams is not None
                else dict.fromkeys(self.config.symbols, "no stream: read over REST")
            ),
            "regimeModels": {
                f"{symbol} {timeframe}": detector.status.reason
                for (symbol, timeframe), detector in self._regimes.items()
            },
            "configHash": self.config.config_hash,
        }

    def _outcome(self, what: str, *, error: str | None) -> None:
        """Remember how fetching and writing ``what`` went; said in the log when it changes, so
        a failure repeated every round is one line."""
        previous = self.errors.get(what)
        if error is not None and error != previous:
            LOG.warning("%s: %s; trying again next round", what, error)
        elif error is None and previous is not None:
            LOG.info("%s: published again", what)
        self.errors[what] = error

    async def _book(self, symbol: str) -> OrderBook | None:
        streamed = self._streams.current(symbol=symbol) if self._streams is not None else None
        if streamed is not None:
            return streamed
        try:
            return await self._venue.fetch_order_book(symbol=symbol, depth=self.config.depth)
        except ExchangeError as error:
            self._outcome(symbol, error=f"order book: {error}")
            return None

    async def publish_books(self) -> None:
        """One round: every symbol's book, fetched concurrently, appended to its stream."""
        symbols = self.config.symbols
        books = await asyncio.gather(*(self._book(symbol) for symbol in symbols))
        fetched = [(s, book) for s, book in zip(symbols, books, strict=True) if book is not None]
        if not fetched:
            return
        now_ms = self._clock()
        prefix = self.config.redis.key_prefix
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for symbol, book in fetched:
                    pipe.xadd(
                        book_stream_key(prefix=prefix, symbol=symbol),
                        book_entry(book, depth=self.config.depth, now_ms=now_ms),
                        maxlen=BOOK_STREAM_MAXLEN,
                        approximate=True,
                    )
                await pipe.execute()
        except (RedisError, OSError) as error:
            for symbol, _ in fetched:
                self._outcome(symbol, error=f"Redis: {error}")
            return
        for symbol, _ in fetched:
            self.last_published[symbol] = now_ms / 1000
            self._outcome(symbol, error=None)

    async def publish_candles(self, *, symbol: str, timeframe: str) -> None:
        """Write the closed candles of ``symbol`` and ``timeframe`` if a bar has closed since
        they were last written (the first time: the last ``historyBars``)."""
        series = (symbol, timeframe)
        what = f"{symbol} {timeframe}"
        bar_ms = TIMEFRAME_SECONDS[timeframe] * 1000
        now_ms = self._clock()
        newest_closed_ms = now_ms - now_ms % bar_ms - bar_ms
        held = self._candles.get(series, [])
        if held and held[-1].timestamp_ms >= newest_closed_ms:
            return
        history = self.config.history_bars
        missing = (newest_closed_ms - held[-1].timestamp_ms) // bar_ms if held else history
        try:
            # One more than missing: the exchange also answers the bar still forming.
            fetched = await self._venue.fetch_ohlcv(
                symbol=symbol, timeframe=timeframe, limit=min(history, missing) + 1
            )
        except ExchangeError as error:
            self._outcome(what, error=f"candles: {error}")
            return
        closed = closed_candles(fetched, bar_seconds=bar_ms // 1000, now_ms=now_ms)
        by_open = {candle.timestamp_ms: candle for candle in [*held, *closed]}
        candles = [by_open[opened] for opened in sorted(by_open)][-history:]
        if not candles:
            self._outcome(what, error="the exchange answered no closed candles")
            return
        if candles == held:
            # The exchange has not closed the bar yet: asked again next round.
            return
        key = candles_key(prefix=self.config.redis.key_prefix, symbol=symbol, timeframe=timeframe)
        try:
            await self._redis.set(key, candles_document(candles))
        except (RedisError, OSError) as error:
            self._outcome(what, error=f"Redis: {error}")
            return
        self._candles[series] = candles
        self._outcome(what, error=None)
        newer = [c for c in candles if not held or c.timestamp_ms > held[-1].timestamp_ms]
        await self.publish_regime(symbol=symbol, timeframe=timeframe, closed=newer)

    async def publish_regime(self, *, symbol: str, timeframe: str, closed: list[Candle]) -> None:
        """Fold the newly closed candles into the series' regime model, refit it when due (off
        the event loop) and write it for the bots, once it has one."""
        series, what = (symbol, timeframe), f"{symbol} {timeframe} regime"
        detector = self._regimes.get(series)
        if detector is None:
            detector = self._regimes[series] = RegimeDetector(symbol=symbol, config=RegimeConfig())
        try:
            for candle in closed:
                detector.update(close=candle.close, timestamp_ms=candle.timestamp_ms)
            if detector.refit_due:
                outcome = await asyncio.to_thread(detector.refit)
                LOG.info("%s: %s", what, outcome.reason)
        except SignalDataError as error:
            self._outcome(what, error=str(error))
            return
        except Exception as error:
            # A numerical failure of one series' fit must not stop the books and candles every
            # bot of the account reads: that series keeps its previous model, if any.
            LOG.exception("%s: the fit failed", what)
            self._outcome(what, error=f"fit failed: {error!r}")
            return
        model, fitted_at_ms = detector.model, detector.status.fitted_at_ms
        if model is None or fitted_at_ms is None:
            return
        key = regime_key(prefix=self.config.redis.key_prefix, symbol=symbol, timeframe=timeframe)
        document = regime_document(PublishedRegime(fitted_at_ms=fitted_at_ms, model=model))
        try:
            await self._redis.set(key, document)
        except (RedisError, OSError) as error:
            self._outcome(what, error=f"Redis: {error}")
            return
        self._outcome(what, error=None)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), timeout=max(0.0, seconds))

    async def _books_loop(self) -> None:
        interval_s = self.config.poll_interval_ms / 1000
        while not self.stop_event.is_set():
            begun = time.monotonic()
            await self.publish_books()
            await self._sleep(interval_s - (time.monotonic() - begun))

    async def _candles_loop(self) -> None:
        # Looked at every poll interval; the exchange is asked only once a bar has closed.
        while not self.stop_event.is_set():
            await asyncio.gather(
                *(
                    self.publish_candles(symbol=symbol, timeframe=timeframe)
                    for symbol in self.config.symbols
                    for timeframe in self.config.timeframes
                )
            )
            await self._sleep(self.config.poll_interval_ms / 1000)

    async def run(self, *, serve: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Serve the API and publish until ``stop_event``; a loop that fails for another reason
        than the exchange or Redis (a bug) ends the run with its error, not silently."""
        server = asyncio.create_task(serve(), name="api")
        loops = [
            asyncio.create_task(self._books_loop(), name="books"),
            asyncio.create_task(self._candles_loop(), name="candles"),
        ]
        if self._streams is not None:
            loops.append(asyncio.create_task(self._streams.run(self.stop_event), name="streams"))
        stopped = asyncio.create_task(self.stop_event.wait(), name="stop")
        try:
            await asyncio.wait([stopped, *loops], return_when=asyncio.FIRST_COMPLETED)
            for loop in loops:
                if loop.done():
                    loop.result()
        finally:
            self.stop_event.set()
            for task in (*loops, stopped):
                task.cancel()
            await asyncio.gather(*loops, stopped, return_exceptions=True)
            await asyncio.wait_for(server, timeout=10)
            await self._venue.close()
            await self._redis.aclose()


def _exchange_venue(*, config: MarketDataConfig, requests: RequestMeter) -> tuple[CcxtVenue, bool]:
    """The exchange client, with ccxt.pro's streams where ccxt.pro has the exchange (then
    ``True``); ConfigError naming the key when ccxt cannot use the exchange at all."""
    exchange = config.exchange

    def venue(*, streaming: bool) -> CcxtVenue:
        return CcxtVenue(
            exchange_id=ccxt_exchange_id(exchange=exchange.exchange, market=exchange.market.value),
            mode=VenueMode.MARKET_DATA,
            base_url_override=exchange.base_url,
            timeout_s=EXCHANGE_TIMEOUT_S,
            request_interval_ms=exchange.request_interval_ms,
            request_meter=requests,
            streaming=streaming,
        )

    try:
        return venue(streaming=True), True
    except VenueConfigurationError as error:
        no_streams = error
    try:
        rest_only = venue(streaming=False)
    except VenueConfigurationError as error:
        raise ConfigError(f"exchange.id: {error}") from None
    # Said only once the REST client is built: an exchange ccxt lacks altogether is one error.
    LOG.info("%s: books are read over REST", no_streams)
    return rest_only, False


def build_publisher_app(publisher: MarketDataPublisher) -> FastAPI:
    app = FastAPI(
        title="Tradefleet market-data publisher", docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        missing = publisher.missing
        return JSONResponse(
            {"status": "waiting" if missing else "ok", "missing": missing},
            status_code=503 if missing else 200,
        )

    @app.get("/status")
    async def status() -> JSONResponse:
        return JSONResponse(publisher.status())

    return app
