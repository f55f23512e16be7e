"""Order books kept current by the exchange's websocket stream, for the market-data publisher.

Made by :meth:`~tradefleet_runtime.publisher.service.MarketDataPublisher.build` when ccxt.pro
has streams for the exchange. One task per symbol waits on ccxt.pro's ``watch_order_book``,
which subscribes to the exchange's diff stream, takes one REST snapshot and applies the diffs
in sequence. Each round the publisher publishes :meth:`StreamedBooks.current`'s book of every
symbol that has one and reads the others over REST, as it does for an exchange without
streams: a symbol not yet synchronised, one resubscribing after a gap in the diffs (ccxt sees
a ``pu`` that is not the last ``u``) or a dropped connection, and one whose stream has been
silent for longer than ``silence_s``. A stalled stream cannot be told from a quiet book, so a
quiet book is read over REST rather than published stale. A streamed book is stamped with the
time its last update arrived, so its age in Redis never exceeds ``silence_s`` plus a poll. A
stream error never stops the publisher: the symbol is read over REST until its stream is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence

from tradefleet_runtime.execution.errors import ExchangeError, VenueConfigurationError
from tradefleet_runtime.execution.model import OrderBook
from tradefleet_runtime.execution.venue import CcxtVenue
from tradefleet_runtime.marketdata.feeds import wall_clock_ms

LOG = logging.getLogger(__name__)
# After a stream error, resubscribe after this long, doubled per failure up to the maximum; the
# delay starts again from the first only once a stream has stayed in sync for STABLE_S, so a
# stream that keeps breaking costs a REST snapshot every RETRY_MAX_S at most.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
STABLE_S = 60.0
STREAMED = "streamed"


class StreamedBooks:
    """The latest streamed book of each symbol, and how each symbol's book arrives."""

    def __init__(
        self, *, venue: CcxtVenue, symbols: Sequence[str], depth: int, silence_s: float
    ) -> None:
        self._venue = venue
        self._symbols = tuple(symbols)
        self._depth = depth
        self._silence_s = silence_s
        # Each symbol's last streamed book, stamped with its arrival, and when it arrived
        # (monotonic seconds).
        self._books: dict[str, tuple[OrderBook, float]] = {}
        # STREAMED once in sync, else why the book is read over REST.
        self._states: dict[str, str] = dict.fromkeys(self._symbols, "subscribing: read over REST")

    def current(self, *, symbol: str) -> OrderBook | None:
        """``symbol``'s streamed book if its stream is in sync and has spoken within
        ``silence_s``; None when the book must be read over REST."""
        held = self._books.get(symbol)
        if held is None or self._states.get(symbol) != STREAMED:
            return None
        book, received_s = held
        return book if time.monotonic() - received_s <= self._silence_s else None

    def sources(self) -> dict[str, str]:
        """How each symbol's book arrives now: ``streamed``, or why it is read over REST."""
        now = time.monotonic()
        sources = dict(self._states)
        for symbol, (_, received_s) in self._books.items():
            silent_s = now - received_s
            if sources.get(symbol) == STREAMED and silent_s > self._silence_s:
                sources[symbol] = f"stream silent for {silent_s:.0f} s: read over REST"
        return sources

    async def run(self, stop: asyncio.Event) -> None:
        """Watch every symbol's stream until ``stop`` (which it waits for even when no symbol
        can be streamed: the publisher ends when one of its loops does)."""
        await asyncio.gather(*(self._watch(symbol=symbol, stop=stop) for symbol in self._symbols))
        await stop.wait()

    async def _watch(self, *, symbol: str, stop: asyncio.Event) -> None:
        delay_s, in_sync_since = RETRY_FIRST_S, None
        while not stop.is_set():
            try:
                book = await self._venue.watch_order_book(symbol=symbol, depth=self._depth)
            except VenueConfigurationError as error:
                # The exchange has no such stream in ccxt: REST for good, said once.
                self._set_state(symbol=symbol, state=f"no stream ({error}): read over REST")
                return
            except ExchangeError as error:
                self._set_state(
                    symbol=symbol, state=f"stream failed ({error}): read over REST meanwhile"
                )
            except Exception as error:
                # A fault inside ccxt.pro's stream handling must not end the publisher: the
                # book comes over REST, as for an exchange without streams. Its traceback once.
                state = f"stream failed ({error!r}): read over REST meanwhile"
                if state != self._states.get(symbol):
                    LOG.exception("%s: the order-book stream failed", symbol)
                self._states[symbol] = state
            else:
                received = dataclasses.replace(book, timestamp_ms=wall_clock_ms())
                self._books[symbol] = (received, time.monotonic())
                in_sync_since = in_sync_since or time.monotonic()
                self._set_state(symbol=symbol, state=STREAMED)
                continue
            self._books.pop(symbol, None)
            if in_sync_since is not None and time.monotonic() - in_sync_since >= STABLE_S:
                delay_s = RETRY_FIRST_S
            in_sync_since = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay_s)
            delay_s = min(delay_s * 2, RETRY_MAX_S)

    def _set_state(self, *, symbol: str, state: str) -> None:
        """Remember how ``symbol``'s book arrives; said in the log when it changes."""
        if state == self._states.get(symbol):
            return
        self._states[symbol] = state
        if state == STREAMED:
            LOG.info("%s: order book streamed", symbol)
        else:
            LOG.warning("%s: %s", symbol, state)
