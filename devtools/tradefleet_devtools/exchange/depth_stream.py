"""The local exchange's diff-depth stream: Binance USDⓈ-M's ``<symbol>@depth@100ms`` over a
websocket, and the update ids its REST depth snapshot must agree with.

Dev/test tooling only. The HTTP front (``tradefleet_devtools.exchange.server``) hands websocket
upgrades on ``/public/ws/<n>`` (where ccxt.pro's binanceusdm connects) to
:meth:`DepthStream.serve`, and asks :meth:`DepthStream.snapshot` for ``GET /fapi/v1/depth``.

The book shows :data:`BOOK_LEVELS` levels a side (a deeper REST request gets those) and is
versioned as Binance's is: each change takes the next update id; every 100 ms the changes since
the last event go out as one ``depthUpdate`` with ``U`` (its first update id), ``u`` (its last)
and ``pu`` (the previous event's ``u``), a level that left the book with quantity 0. A client
that buffers events, applies a snapshot with ``lastUpdateId`` and then the events from the one
covering it keeps the exact book, which is what ccxt.pro does.

Faults, for tests and the demo (``POST /_admin/stream``; ``/_admin/reset`` clears them): drop
the next N events (the client sees a gap in ``pu`` and must resynchronise), close every
connection, or refuse new ones (an exchange without the stream). A client that does not read
its events within :data:`SEND_TIMEOUT_S` is disconnected, so it cannot hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from tradefleet_devtools.exchange.engine import MatchingEngine
from tradefleet_devtools.exchange.market import SimulatedMarket
from tradefleet_devtools.exchange.rest import now_ms

LOG = logging.getLogger(__name__)
# Levels a side of every book, REST and streamed (Binance's REST limits are 5 … 1000).
BOOK_LEVELS = 100
PUSH_INTERVAL_S = 0.1
SEND_TIMEOUT_S = 2.0
_DEPTH_SUFFIXES = ("@depth@100ms", "@depth@250ms", "@depth@500ms", "@depth")


@dataclass(kw_only=True, slots=True)
class _VersionedBook:
    """One symbol's tracked levels (formatted price → formatted quantity) and update ids."""

    update_id: int
    # The mid the levels were computed at: the ladder is a function of it, so an unchanged mid
    # spares recomputing a hundred levels a side ten times a second.
    mid: Decimal | None = None
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)
    # Changes not yet sent: side → price → quantity ("0" for a level that went away).
    pending: dict[str, dict[str, str]] = field(default_factory=lambda: {"b": {}, "a": {}})
    first_pending_id: int | None = None
    last_sent_id: int = 0


@dataclass(kw_only=True, slots=True)
class _Connection:
    socket: web.WebSocketResponse
    # Its request, whose transport can be aborted: closing a socket politely waits for a client
    # that reads nothing forever.
    request: web.Request
    symbols: set[str] = field(default_factory=set)


class DepthStream:
    """Versioned books of every listed symbol and the websocket clients subscribed to them."""

    def __init__(self, *, engine: MatchingEngine, clock_ms: Callable[[], int] = now_ms) -> None:
        self.engine = engine
        # False: new connections are refused (a fault, or the exchange stopping).
        self.enabled = True
        self._clock_ms = clock_ms
        self._books: dict[str, _VersionedBook] = {}
        self._connections: list[_Connection] = []
        self._drop_events = 0
        self._pusher: asyncio.Task[None] | None = None
        self.events_sent = 0

    # -- the versioned book ---------------------------------------------------------------

    def _refresh(self, symbol: str) -> _VersionedBook:
        """Bring ``symbol``'s tracked levels to the market's, as one update if they changed."""
        market = self.engine.market(symbol)
        book = self._books.get(symbol)
        if book is None:
            # Ids start high and unrelated to the clock, as Binance's do.
            book = self._books[symbol] = _VersionedBook(
                update_id=1_000_000 * (1 + len(self._books))
            )
            book.last_sent_id = book.update_id
        if market.mid == book.mid:
            return book
        book.mid = market.mid
        bids, asks = _ladder(market=market, side="bid"), _ladder(market=market, side="ask")
        changes = {"b": _diff(old=book.bids, new=bids), "a": _diff(old=book.asks, new=asks)}
        if changes["b"] or changes["a"]:
            book.update_id += 1
            if book.first_pending_id is None:
                book.first_pending_id = book.update_id
            for side, changed in changes.items():
                book.pending[side].update(changed)
            book.bids, book.asks = bids, asks
        if not any(symbol in c.symbols for c in self._connections):
            # Nobody to tell: the next subscriber starts from a snapshot taken after it
            # subscribed, so the changes need not wait (a REST-only symbol would hoard them).
            book.pending = {"b": {}, "a": {}}
            book.first_pending_id = None
            book.last_sent_id = book.update_id
        return book

    def snapshot(self, *, symbol: str, limit: int) -> dict[str, Any]:
        """``GET /fapi/v1/depth``: the top ``limit`` levels and the update id they are at."""
        self.engine.advance(now_ms=self._clock_ms())
        book = self._refresh(symbol)
        bids, asks = list(book.bids.items())[:limit], list(book.asks.items())[:limit]
        now = self._clock_ms()
        return {
            "lastUpdateId": book.update_id,
            "E": now,
            "T": now,
            "bids": [list(level) for level in bids],
            "asks": [list(level) for level in asks],
        }

    def _event(self, symbol: str) -> dict[str, Any] | None:
        """The ``depthUpdate`` of ``symbol``'s changes since the last one, if any."""
        book = self._refresh(symbol)
        if book.first_pending_id is None:
            return None
        now = self._clock_ms()
        event = {
            "e": "depthUpdate",
            "E": now,
            "T": now,
            "s": symbol,
            "U": book.first_pending_id,
            "u": book.update_id,
            "pu": book.last_sent_id,
            "b": [list(level) for level in book.pending["b"].items()],
            "a": [list(level) for level in book.pending["a"].items()],
        }
        book.pending = {"b": {}, "a": {}}
        book.first_pending_id = None
        book.last_sent_id = book.update_id
        return event

    # -- faults ---------------------------------------------------------------------------

    async def apply_fault(
        self, *, drop: int = 0, disconnect: bool = False, enabled: bool | None = None
    ) -> dict[str, Any]:
        """``POST /_admin/stream``: drop the next ``drop`` events, close every connection,
        refuse new ones (``enabled=False``) or accept them again; the stream's state."""
        self._drop_events += drop
        if enabled is not None:
            self.enabled = enabled
        if disconnect:
            await self._disconnect_all()
        return self.state()

    def clear_faults(self) -> None:
        """``POST /_admin/reset``: no events to drop, connections accepted."""
        self._drop_events = 0
        self.enabled = True

    def state(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "connections": len(self._connections),
            "dropPending": self._drop_events,
            "eventsSent": self.events_sent,
        }

    # -- websocket clients ----------------------------------------------------------------

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """One websocket client: SUBSCRIBE / UNSUBSCRIBE requests, then its events."""
        if not self.enabled:
            return web.json_response({"code": -1, "msg": "streams are unavailable"}, status=404)
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        connection = _Connection(socket=socket, request=request)
        self._connections.append(connection)
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.create_task(self._push(), name="depth-stream")
        try:
            async for message in socket:
                if message.type is not WSMsgType.TEXT:
                    continue
                await socket.send_json(self._answer(connection=connection, text=message.data))
        finally:
            self._connections.remove(connection)
        return socket

    def _answer(self, *, connection: _Connection, text: str) -> dict[str, Any]:
        try:
            request = json.loads(text)
            method, params, request_id = request["method"], request.get("params", []), request["id"]
        except (ValueError, KeyError, TypeError):
            return {"error": {"code": 3, "msg": "Invalid JSON: expected method, params and id"}}
        symbols = [_depth_symbol(param) for param in params]
        unknown = [p for p, s in zip(params, symbols, strict=True) if s not in self.engine.markets]
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or unknown:
            what = f"unknown stream(s) {unknown}" if unknown else f"unknown method {method!r}"
            return {"error": {"code": 2, "msg": f"Invalid request: {what}"}, "id": request_id}
        for symbol in symbols:
            if method == "SUBSCRIBE":
                connection.symbols.add(str(symbol))
            else:
                connection.symbols.discard(str(symbol))
        return {"result": None, "id": request_id}

    async def _push(self) -> None:
        """Every 100 ms while anyone is connected: each subscribed symbol's changes."""
        failure = None
        while self._connections:
            await asyncio.sleep(PUSH_INTERVAL_S)
            try:
                await self._push_once()
            except Exception as error:
                # A test exchange whose stream stops silently would look like a stalled
                # exchange: say why (once per distinct error), and keep pushing.
                if repr(error) != failure:
                    LOG.exception("the depth stream failed to push")
                failure = repr(error)
            else:
                failure = None

    async def _push_once(self) -> None:
        self.engine.advance(now_ms=self._clock_ms())
        subscribed = sorted({s for c in self._connections for s in c.symbols})
        for symbol in subscribed:
            event = self._event(symbol)
            if event is None:
                continue
            if self._drop_events > 0:
                self._drop_events -= 1
                continue
            readers = [c for c in self._connections if symbol in c.symbols and not c.socket.closed]
            await asyncio.gather(*(self._send(connection=c, event=event) for c in readers))
            self.events_sent += 1

    async def _send(self, *, connection: _Connection, event: dict[str, Any]) -> None:
        try:
            await asyncio.wait_for(connection.socket.send_json(event), timeout=SEND_TIMEOUT_S)
        except TimeoutError:
            LOG.warning("a depth-stream client took no data for %.0f s: dropped", SEND_TIMEOUT_S)
            _abort(connection)
        except (ConnectionError, RuntimeError):
            pass  # it went away: its handler forgets it

    async def _disconnect_all(self) -> None:
        await asyncio.gather(*(_close(c) for c in list(self._connections)))

    async def close(self) -> None:
        """Refuse new connections, close the open ones and stop pushing."""
        self.enabled = False
        await self._disconnect_all()
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher


def _depth_symbol(param: Any) -> str | None:
    """``BTCUSDT`` of ``btcusdt@depth@100ms``; None for any other stream."""
    text = str(param)
    for suffix in _DEPTH_SUFFIXES:
        if text.endswith(suffix):
            return text[: -len(suffix)].upper()
    return None


async def _close(connection: _Connection) -> None:
    """Close politely if the client answers within :data:`SEND_TIMEOUT_S`, else abort."""
    try:
        await asyncio.wait_for(connection.socket.close(), timeout=SEND_TIMEOUT_S)
    except TimeoutError:
        _abort(connection)


def _abort(connection: _Connection) -> None:
    """Cut the connection at once: its handler's read loop ends and forgets it."""
    connection.symbols.clear()
    transport = connection.request.transport
    if transport is not None:
        transport.abort()


def _ladder(*, market: SimulatedMarket, side: str) -> dict[str, str]:
    spec = market.spec
    return {
        spec.format_price(level.price): spec.format_qty(level.qty)
        for level in market.ladder(side=side, depth=BOOK_LEVELS)
    }


def _diff(*, old: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    """The levels to send for ``old`` to become ``new``: changed or new ones, and 0 for gone."""
    changed = {price: qty for price, qty in new.items() if old.get(price) != qty}
    changed.update({price: "0" for price in old if price not in new})
    return changed
