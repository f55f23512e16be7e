"""Order books kept current by the exchange's websocket stream, for the market-data publisher.

Made by :meth:`~tradefleet_runtime.publisher.service.MarketDataPublisher.build` when ccxt.pro
has streams for the exchange. One task per symbol waits on ccxt.pro's ``watch_order_book``,
which subscribes to the exchange's diff stream, takes one REST snapshot and applies the diffs
in sequence. Each round the publisher publishes :meth:`StreamedBooks.current`'s book of every
symbol that has one and fetches the others over REST, as it does for an exchange without
streams: a symbol not yet synchronised, one resubscribing after a gap in the diffs (ccxt sees
a ``pu`` that is not the last ``u``) or a dropped connection, and one whose stream has been
silent for longer than ``silence_s``. A stalled stream cannot be told from a quiet book, so a
quiet book is fetched over REST rather than published stale. A stream error never stops the
publisher: the symbol is fetched over REST until its stream is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from tradefleet_runtime.execution.errors import ExchangeError, VenueConfigurationError
from tradefleet_runtime.execution.model import OrderBook
from tradefleet_runtime.execution.venue import CcxtVenue

LOG = logging.getLogger("tradefleet_runtime.publisher.streams")
# After a stream error, resubscribe after this long, doubled per failure up to the maximum.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
STREAMING = "streaming"


class StreamedBooks:
    """The latest streamed book of each symbol, and how each symbol's stream is doing."""

    def __init__(
        self,
        *,
        venue: CcxtVenue,
        symbols: Sequence[str],
        depth: int,
        silence_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._venue = venue
        self._symbols = tuple(symbols)
        self._depth = depth
        self._silence_s = silence_s
        self._clock = clock
        # Each symbol's last streamed book and when it came (monotonic seconds).
        self._books: dict[str, tuple[OrderBook, float]] = {}
        # STREAMING, or why the symbol's book comes over REST.
        self.states: dict[str, str] = dict.fromkeys(self._symbols, "subscribing")

    def current(self, symbol: str) -> OrderBook | None:
        """``symbol``'s streamed book if its stream is synchronised and has spoken within
        ``silence_s``; None when the book must be fetched over REST."""
        held = self._books.get(symbol)
        if held is None or self.states.get(symbol) != STREAMING:
            return None
        book, received_s = held
        return book if self._clock() - received_s <= self._silence_s else None

    async def run(self, stop: asyncio.Event) -> None:
        """Watch every symbol's stream until ``stop`` (which it waits for even when no symbol
        can be streamed: the publisher ends when one of its loops does)."""
        await asyncio.gather(*(self._watch(symbol, stop) for symbol in self._symbols))
        await stop.wait()

    async def _watch(self, symbol: str, stop: asyncio.Event) -> None:
        delay_s = RETRY_FIRST_S
        while not stop.is_set():
            try:
                book = await self._venue.watch_order_book(symbol=symbol, depth=self._depth)
            except VenueConfigurationError as error:
                # The exchange has no such stream in ccxt: REST for good, said once.
                self._set_state(symbol, f"no stream ({error}): fetched over REST")
                return
            except ExchangeError as error:
                self._books.pop(symbol, None)
                self._set_state(symbol, f"stream failed ({error}): fetched over REST meanwhile")
            except Exception as error:
                # A fault inside ccxt.pro's stream handling must not end the publisher: the
                # book comes over REST, as for an exchange without streams.
                LOG.exception("%s: the order-book stream failed", symbol)
                self._books.pop(symbol, None)
                self._set_state(symbol, f"stream failed ({error!r}): fetched over REST meanwhile")
            else:
                self._books[symbol] = (book, self._clock())
                self._set_state(symbol, STREAMING)
                delay_s = RETRY_FIRST_S
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay_s)
            delay_s = min(delay_s * 2, RETRY_MAX_S)

    def _set_state(self, symbol: str, state: str) -> None:
        """Remember how ``symbol``'s stream is doing; said in the log when it changes."""
        previous = self.states.get(symbol)
        if state == previous:
            return
        self.states[symbol] = state
        if state == STREAMING:
            LOG.info("%s: order book streamed", symbol)
        else:
            LOG.warning("%s: %s", symbol, state)
