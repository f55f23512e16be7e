"""Where the bot's ticks and bars come from: REST polling through the venue, a replay file, or
the synthetic generator.

The decision loop holds one :class:`MarketFeed` (built by :func:`build_feed` from the
``marketData`` config block) and calls :meth:`MarketFeed.next_book` once per poll interval,
:meth:`MarketFeed.history` once at start-up (indicator and regime warm-up) and
:meth:`MarketFeed.closed_bars` whenever a bar of the strategy's timeframe has closed.

* :class:`VenueMarketFeed` polls the exchange's order book and OHLCV over ccxt (through any
  ``Venue``; the feed's clock is the wall clock).
* :class:`ReplayMarketFeed` reads book ticks from a CSV or JSONL file with the columns
  ``timestamp_ms, bid_price, bid_size, ask_price, ask_size``; its clock is the replayed time.
  The file is opened at the first tick (an open that failed is tried again at the next).
* :class:`SyntheticMarketFeed` draws ticks from ``generate_book`` and warm-up bars from
  ``generate_market``; its clock is the simulated time.
* :class:`~tradefleet_runtime.marketdata.shared.SharedMarketFeed` (its own module) reads what a
  market-data publisher put in Redis.

Replay and synthetic feeds build their bars from the mid prices of the ticks they emit
(skipping ticks that are not even positive and uncrossed), and can serve as the order book of
a paper account through :class:`FeedBookVenue`. The paper account is read at start-up, before
the decision loop's first poll; the venue then draws the stream's first tick itself.
:class:`MarketDataOnlyVenue` is what such book-serving venues share: they refuse to trade.
"""

from __future__ import annotations

import abc
import csv
import io
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from tradefleet_runtime.execution.errors import VenueConfigurationError
from tradefleet_runtime.execution.model import (
    Balance,
    BookLevel,
    Candle,
    MarketInfo,
    Order,
    OrderBook,
    OrderRequest,
    Ticker,
    VenuePosition,
)
from tradefleet_runtime.execution.signing import SendGate
from tradefleet_runtime.execution.venue import Venue
from tradefleet_runtime.marketdata.synthetic import generate_book, generate_market
from tradefleet_runtime.marketdata.ticks import BookTick

REPLAY_COLUMNS = ("timestamp_ms", "bid_price", "bid_size", "ask_price", "ask_size")
_TIMEFRAME_BY_SECONDS = {60: "1m", 300: "5m", 900: "15m", 3_600: "1h", 14_400: "4h", 86_400: "1d"}
_SYNTHETIC_CHUNK = 50_000
_MAX_OHLCV_LIMIT = 1_500


class MarketDataError(Exception):
    """Market data could not be read (bad replay file, exhausted replay, empty book)."""


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class MarketFeed(abc.ABC):
    """One symbol's book ticks and bars."""

    def __init__(self, *, symbol: str) -> None:
        self.symbol = symbol

    @abc.abstractmethod
    def now_ms(self) -> int:
        """The feed's clock: wall time for live data, the replayed time otherwise."""

    @abc.abstractmethod
    async def next_book(self) -> BookTick:
        """The next book snapshot (MarketDataError or an ExchangeError when unavailable)."""

    @abc.abstractmethod
    async def history(self, *, bar_seconds: int, limit: int) -> list[Candle]:
        """Up to ``limit`` closed bars before now, oldest first (for warm-up)."""

    @abc.abstractmethod
    async def closed_bars(self, *, bar_seconds: int, after_ms: int) -> list[Candle]:
        """Closed bars that opened after ``after_ms``, oldest first."""


def closed_candles(candles: Sequence[Candle], *, bar_seconds: int, now_ms: int) -> list[Candle]:
    """The candles of ``candles`` whose bar has ended by ``now_ms``."""
    return [c for c in candles if c.timestamp_ms + bar_seconds * 1000 <= now_ms]


def exchange_timeframe(bar_seconds: int) -> str:
    """The exchange's name of a ``bar_seconds`` bar ("1m", "1h"…); MarketDataError if none."""
    timeframe = _TIMEFRAME_BY_SECONDS.get(bar_seconds)
    if timeframe is None:
        raise MarketDataError(f"no exchange timeframe of {bar_seconds} s")
    return timeframe


def top_of_book(book: OrderBook, *, now_ms: int) -> BookTick:
    """The best bid and ask of ``book`` as a tick, stamped ``now_ms`` when the book has no time
    of its own; MarketDataError when a side is empty."""
    if not book.bids or not book.asks:
        raise MarketDataError(f"{book.symbol}: the order book has an empty side")
    return BookTick(
        symbol=book.symbol,
        bid_price=book.bids[0].price,
        bid_size=book.bids[0].amount,
        ask_price=book.asks[0].price,
        ask_size=book.asks[0].amount,
        timestamp_ms=book.timestamp_ms if book.timestamp_ms is not None else now_ms,
    )


class VenueMarketFeed(MarketFeed):
    """REST polling of the order book and OHLCV through a venue (ccxt or paper)."""

    def __init__(
        self, *, venue: Venue, symbol: str, depth: int, clock: Callable[[], int] = wall_clock_ms
    ) -> None:
        super().__init__(symbol=symbol)
        self.venue = venue
        self._depth = depth
        self._clock = clock

    def now_ms(self) -> int:
        return self._clock()

    async def next_book(self) -> BookTick:
        book = await self.venue.fetch_order_book(symbol=self.symbol, depth=self._depth)
        return top_of_book(book, now_ms=self._clock())

    async def _ohlcv(self, *, bar_seconds: int, limit: int) -> list[Candle]:
        candles = await self.venue.fetch_ohlcv(
            symbol=self.symbol,
            timeframe=exchange_timeframe(bar_seconds),
            limit=min(limit, _MAX_OHLCV_LIMIT),
        )
        return closed_candles(candles, bar_seconds=bar_seconds, now_ms=self._clock())

    async def history(self, *, bar_seconds: int, limit: int) -> list[Candle]:
        return await self._ohlcv(bar_seconds=bar_seconds, limit=limit + 1)

    async def closed_bars(self, *, bar_seconds: int, after_ms: int) -> list[Candle]:
        missed = (self._clock() - after_ms) // (bar_seconds * 1000) + 2
        candles = await self._ohlcv(bar_seconds=bar_seconds, limit=max(3, missed))
        return [c for c in candles if c.timestamp_ms > after_ms]


class BarBuilder:
    """Aggregates tick mids into OHLC bars of one length (volume counts ticks)."""

    def __init__(self, *, bar_seconds: int) -> None:
        self._bar_ms = bar_seconds * 1000
        self._open_ms: int | None = None
        self._ohlc = (0.0, 0.0, 0.0, 0.0)
        self._count = 0
        self.closed: list[Candle] = []

    def add(self, tick: BookTick) -> None:
        if not (tick.bid_price > 0 and tick.ask_price > tick.bid_price):
            return
        start = tick.timestamp_ms - tick.timestamp_ms % self._bar_ms
        mid = tick.mid
        if self._open_ms is None or start > self._open_ms:
            if self._open_ms is not None:
                o, h, lo, c = self._ohlc
                self.closed.append(
                    Candle(
                        timestamp_ms=self._open_ms, open=o, high=h, low=lo, close=c,
                        volume=float(self._count),
                    )
                )  # fmt: skip
                del self.closed[:-_MAX_OHLCV_LIMIT]
            self._open_ms, self._ohlc, self._count = start, (mid, mid, mid, mid), 0
        elif start == self._open_ms:
            o, h, lo, _ = self._ohlc
            self._ohlc = (o, max(h, mid), min(lo, mid), mid)
        self._count += 1


class _TickStreamFeed(MarketFeed):
    """Shared clock, bar building and history handling of the replay and synthetic feeds."""

    def __init__(self, *, symbol: str, bar_seconds: int) -> None:
        super().__init__(symbol=symbol)
        self._bars = BarBuilder(bar_seconds=bar_seconds)
        self._bar_seconds = bar_seconds
        self._now_ms = 0
        self.last_tick: BookTick | None = None

    def now_ms(self) -> int:
        return self._now_ms

    @property
    def built_bars(self) -> list[Candle]:
        """Bars closed so far, oldest first (at most the OHLCV limit)."""
        return self._bars.closed

    def _emit(self, tick: BookTick) -> BookTick:
        self._now_ms = max(self._now_ms, tick.timestamp_ms)
        self._bars.add(tick)
        self.last_tick = tick
        return tick

    async def closed_bars(self, *, bar_seconds: int, after_ms: int) -> list[Candle]:
        if bar_seconds != self._bar_seconds:
            raise MarketDataError(
                f"this feed builds {self._bar_seconds} s bars, not {bar_seconds} s"
            )
        return [c for c in self._bars.closed if c.timestamp_ms > after_ms]


def _jsonl_rows(*, path: Path, text: str) -> Iterator[Mapping[str, object]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise MarketDataError(f"{path}:{number}: not JSON: {error}") from None
        if not isinstance(row, dict):
            raise MarketDataError(f"{path}:{number}: each line must be a JSON object")
        yield row


def replay_rows(path: Path) -> Iterator[Mapping[str, object]]:
    """The rows of a replay file; the file and a CSV header are read now (MarketDataError when
    they cannot be), JSONL lines as they are reached."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise MarketDataError(
            f"cannot read replay file {path}: {error.strerror or error}"
        ) from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _jsonl_rows(path=path, text=text)
    reader = csv.DictReader(io.StringIO(text))
    missing = set(REPLAY_COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise MarketDataError(f"{path}: CSV lacks column(s) {', '.join(sorted(missing))}")
    return reader


def _replay_tick(*, row: Mapping[str, object], symbol: str, where: str) -> BookTick:
    try:
        values = [float(str(row[column])) for column in REPLAY_COLUMNS]
    except (KeyError, ValueError) as error:
        raise MarketDataError(f"{where}: bad or missing field {error}") from None
    return BookTick(
        symbol=symbol,
        timestamp_ms=int(values[0]),
        bid_price=values[1],
        bid_size=values[2],
        ask_price=values[3],
        ask_size=values[4],
    )


class ReplayMarketFeed(_TickStreamFeed):
    """Book ticks from a CSV or JSONL file, in file order (the validator judges the order)."""

    def __init__(self, *, path: Path, symbol: str, bar_seconds: int) -> None:
        super().__init__(symbol=symbol, bar_seconds=bar_seconds)
        self._path = path
        # Opened at the first tick, and again after an open that failed, so that a file that
        # is not there yet (a volume mounted late) is replayed once it is.
        self._rows: Iterator[tuple[int, Mapping[str, object]]] | None = None
        self.exhausted = False  # every row of the file has been read
        self.rows_read = 0  # rows read so far, malformed ones included

    async def next_book(self) -> BookTick:
        if self._rows is None:
            self._rows = enumerate(replay_rows(self._path), start=1)
        try:
            number, row = next(self._rows)
        except StopIteration:
            self.exhausted = True
            raise MarketDataError(f"replay file {self._path} is exhausted") from None
        self.rows_read = number
        return self._emit(
            _replay_tick(row=row, symbol=self.symbol, where=f"{self._path} row {number}")
        )

    async def history(self, *, bar_seconds: int, limit: int) -> list[Candle]:
        # A replay starts cold: its bars are built from its own ticks.
        return []


class SyntheticMarketFeed(_TickStreamFeed):
    """Seeded synthetic book ticks (``generate_book``), ``snapshot_ms`` apart."""

    def __init__(
        self,
        *,
        symbol: str,
        bar_seconds: int,
        seed: int,
        snapshot_ms: int,
        start_price: float = 30_000.0,
    ) -> None:
        super().__init__(symbol=symbol, bar_seconds=bar_seconds)
        self._seed = seed
        self._snapshot_ms = snapshot_ms
        self._start_price = start_price
        self._start_ms = wall_clock_ms() - wall_clock_ms() % (bar_seconds * 1000)
        self._chunk = 0
        self._ticks: Iterator[BookTick] = iter(())

    def _next_chunk(self) -> Iterator[BookTick]:
        last = self.last_tick
        book = generate_book(
            seed=self._seed + self._chunk,
            n_snapshots=_SYNTHETIC_CHUNK,
            start_price=last.bid_price if last else self._start_price,
            snapshot_ms=self._snapshot_ms,
            start_ms=(last.timestamp_ms + self._snapshot_ms) if last else self._start_ms,
        )
        self._chunk += 1
        return (
            BookTick(
                symbol=self.symbol, timestamp_ms=t, bid_price=bp, bid_size=bs, ask_price=ap,
                ask_size=a_s,
            )
            for t, bp, bs, ap, a_s in zip(
                book.timestamp_ms.tolist(), book.bid_price.tolist(), book.bid_size.tolist(),
                book.ask_price.tolist(), book.ask_size.tolist(), strict=True,
            )
        )  # fmt: skip

    async def next_book(self) -> BookTick:
        tick = next(self._ticks, None)
        if tick is None:
            self._ticks = self._next_chunk()
            tick = next(self._ticks)
        return self._emit(tick)

    async def history(self, *, bar_seconds: int, limit: int) -> list[Candle]:
        market = generate_market(
            seed=self._seed,
            n_bars=limit,
            start_price=self._start_price,
            bar_seconds=bar_seconds,
            start_ms=self._start_ms - limit * bar_seconds * 1000,
        )
        # Rescale so the warm-up ends where the live ticks start.
        scale = self._start_price / float(market.close[-1])
        return [
            Candle(timestamp_ms=t, open=o * scale, high=h * scale, low=lo * scale,
                   close=c * scale, volume=v)
            for t, o, h, lo, c, v in zip(
                market.timestamp_ms.tolist(), market.open.tolist(), market.high.tolist(),
                market.low.tolist(), market.close.tolist(), market.volume.tolist(), strict=True,
            )
        ]  # fmt: skip


class MarketDataOnlyVenue(Venue):
    """A venue serving one symbol's book and bars and nothing else: the market a ``PaperVenue``
    fills against when it does not come from an exchange client. It knows no lot sizes, and
    refuses every call that would trade or read an account."""

    def __init__(self, *, symbol: str) -> None:
        self._symbol = symbol

    @property
    def supports_exchange_stops(self) -> bool:
        return False

    @property
    def submission_window_s(self) -> float:
        return 0.0

    async def load_markets(self) -> dict[str, MarketInfo]:
        symbol = self._symbol
        return {
            symbol: MarketInfo(
                symbol=symbol, amount_step=None, price_tick=None, min_amount=None, min_notional=None
            )
        }

    async def fetch_ticker(self, *, symbol: str) -> Ticker:
        book = await self.fetch_order_book(symbol=symbol, depth=1)
        return Ticker(
            symbol=symbol,
            last=book.mid,
            bid=book.bids[0].price if book.bids else None,
            ask=book.asks[0].price if book.asks else None,
            timestamp_ms=book.timestamp_ms,
        )

    def _market_data_only(self) -> VenueConfigurationError:
        return VenueConfigurationError(f"{self.name} serves market data only")

    async def set_leverage(self, *, symbol: str, leverage: int) -> None:
        raise self._market_data_only()

    async def create_order(
        self, request: OrderRequest, *, may_send: SendGate | None = None
    ) -> Order:
        raise self._market_data_only()

    async def fetch_order(
        self, *, symbol: str, client_order_id: str, conditional: bool = False
    ) -> Order:
        raise self._market_data_only()

    async def cancel_order(
        self,
        *,
        symbol: str,
        client_order_id: str,
        conditional: bool = False,
        may_send: SendGate | None = None,
    ) -> Order:
        raise self._market_data_only()

    async def fetch_open_orders(self, *, symbol: str) -> list[Order]:
        raise self._market_data_only()

    async def fetch_positions(self, *, symbols: Sequence[str]) -> list[VenuePosition]:
        raise self._market_data_only()

    async def fetch_balances(self) -> dict[str, Balance]:
        raise self._market_data_only()

    async def close(self) -> None:
        return None


class FeedBookVenue(MarketDataOnlyVenue):
    """The latest tick of a replay or synthetic feed as a one-level order book.

    It lets a ``PaperVenue`` fill against replayed or synthetic books. Read before the feed has
    emitted a tick, it emits the first one (a MarketDataError when the feed has none to give,
    e.g. a replay file that cannot be read).
    """

    def __init__(self, *, feed: _TickStreamFeed) -> None:
        super().__init__(symbol=feed.symbol)
        self._feed = feed

    @property
    def name(self) -> str:
        return f"feed:{type(self._feed).__name__}"

    async def _tick(self) -> BookTick:
        tick = self._feed.last_tick
        if tick is None:
            # A stream's book exists from its first tick on, and only the stream can produce
            # it: the runtime reconciles the paper account before it polls the feed.
            tick = await self._feed.next_book()
        return tick

    async def fetch_order_book(self, *, symbol: str, depth: int = 20) -> OrderBook:
        tick = await self._tick()
        return OrderBook(
            symbol=symbol,
            bids=(BookLevel(price=tick.bid_price, amount=tick.bid_size),),
            asks=(BookLevel(price=tick.ask_price, amount=tick.ask_size),),
            timestamp_ms=tick.timestamp_ms,
        )

    async def fetch_ohlcv(
        self, *, symbol: str, timeframe: str = "1m", limit: int = 100
    ) -> list[Candle]:
        return self._feed.built_bars[-limit:]
