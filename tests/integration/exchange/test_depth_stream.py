"""The order book over the exchange's diff stream: ccxt.pro's own ``binanceusdm`` client on a
real websocket to the local exchange, through ``CcxtVenue.watch_order_book``.

Documented behaviour (:mod:`tradefleet_devtools.exchange.depth_stream`,
``CcxtVenue.watch_order_book``): the streamed book, built from one REST snapshot and the diffs
after it, is the exchange's book at the same update id, including levels that leave the window;
a lost diff is a gap ccxt detects (``pu`` is not the last ``u``), reported as a temporary error,
and the next watch resynchronises from a new snapshot; an exchange without the stream is an
error too, never a hang; a subscription to a stream the exchange does not have is refused; the
stream's faults are checked when posted and cleared by a reset.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from tradefleet_devtools.exchange import ExchangeAdminClient, LocalExchange, LocalExchangeOptions
from tradefleet_devtools.exchange.depth_stream import BOOK_LEVELS
from tradefleet_devtools.exchange.records import EngineConfig
from tradefleet_runtime.execution.errors import TemporaryExchangeError
from tradefleet_runtime.execution.model import OrderBook
from tradefleet_runtime.execution.venue import CcxtVenue, VenueMode

pytestmark = pytest.mark.integration

BTC = "BTC/USDT:USDT"
DEPTH = 20


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    """A market that moves ten times a second, enough to shift every level of the book."""
    options = LocalExchangeOptions(
        symbols=(BTC, "ETH/USDT:USDT"),
        volatility=0.002,
        history_steps=600,
        engine=EngineConfig(step_ms=100),
    )
    async with LocalExchange(options) as running:
        yield running


@pytest.fixture
async def venue(exchange: LocalExchange) -> AsyncIterator[CcxtVenue]:
    streaming = CcxtVenue(
        exchange_id="binanceusdm",
        mode=VenueMode.MARKET_DATA,
        base_url_override=exchange.base_url,
        timeout_s=5.0,
        streaming=True,
    )
    yield streaming
    await streaming.close()


def _levels(book: OrderBook) -> dict[str, list[tuple[float, float]]]:
    return {
        "bids": [(level.price, level.amount) for level in book.bids],
        "asks": [(level.price, level.amount) for level in book.asks],
    }


async def _snapshot(exchange: LocalExchange) -> tuple[int, dict[str, list[tuple[float, float]]]]:
    async with httpx.AsyncClient(base_url=exchange.base_url) as client:
        raw = (
            await client.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": DEPTH})
        ).json()
    levels = {side: [(float(p), float(q)) for p, q in raw[side]] for side in ("bids", "asks")}
    return int(raw["lastUpdateId"]), levels


async def test_the_streamed_book_is_the_exchanges_book_at_the_same_update_id(
    exchange: LocalExchange, venue: CcxtVenue
) -> None:
    compared, updates, first_mid = 0, 0, None
    deadline = time.monotonic() + 6.0
    while time.monotonic() < deadline:
        book = await venue.watch_order_book(symbol=BTC, depth=DEPTH)
        updates += 1
        # The update id ccxt has applied the diffs up to.
        streamed_id = venue._exchange.orderbooks[BTC]["nonce"]
        first_mid = first_mid or (book.bids[0].price + book.asks[0].price) / 2
        snapshot_id, levels = await _snapshot(exchange)
        if snapshot_id == streamed_id:
            assert _levels(book) == levels
            compared += 1
    last_mid = (book.bids[0].price + book.asks[0].price) / 2
    print(f"{updates} streamed updates, {compared} compared at the same id")
    assert updates >= 20
    assert compared >= 3
    # The book moved over the run: levels left it and the streamed book dropped them (else the
    # comparisons above would have failed).
    assert last_mid != first_mid
    # ccxt keeps the whole book, not the 20 levels asked for: a diff names only the levels that
    # changed, so a level resting below the 20th must be known when the price comes to it.
    kept = venue._exchange.orderbooks[BTC]
    assert len(kept["bids"]) == len(kept["asks"]) == BOOK_LEVELS
    assert len(book.bids) == len(book.asks) == DEPTH
    # ccxt took one REST snapshot for all of it (the others are the test's own, one per update).
    assert exchange.request_counts["GET /fapi/v1/depth"] - updates == 1


async def test_a_lost_diff_is_a_temporary_error_and_the_next_watch_resynchronises(
    exchange: LocalExchange, venue: CcxtVenue
) -> None:
    admin = ExchangeAdminClient(base_url=exchange.base_url)
    for _ in range(3):
        await venue.watch_order_book(symbol=BTC, depth=DEPTH)
    snapshots = exchange.request_counts["GET /fapi/v1/depth"]
    await admin.stream_fault(drop=1)
    with pytest.raises(TemporaryExchangeError, match="checksum"):
        for _ in range(50):
            await venue.watch_order_book(symbol=BTC, depth=DEPTH)
    book = await venue.watch_order_book(symbol=BTC, depth=DEPTH)
    assert exchange.request_counts["GET /fapi/v1/depth"] == snapshots + 1
    assert len(book.bids) == DEPTH and book.bids[0].price < book.asks[0].price


async def test_an_exchange_without_the_stream_is_an_error_not_a_hang(
    exchange: LocalExchange, venue: CcxtVenue
) -> None:
    await ExchangeAdminClient(base_url=exchange.base_url).stream_fault(enabled=False)
    with pytest.raises(TemporaryExchangeError):
        await asyncio.wait_for(venue.watch_order_book(symbol=BTC, depth=DEPTH), timeout=10)


async def test_a_subscription_to_a_stream_the_exchange_lacks_is_refused(
    exchange: LocalExchange,
) -> None:
    url = exchange.base_url.replace("http", "ws") + "/public/ws/0"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        await socket.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 7})
        refused = await socket.receive_json(timeout=5)
        await socket.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 8})
        accepted = await socket.receive_json(timeout=5)
    assert refused["id"] == 7 and "btcusdt@kline_1m" in refused["error"]["msg"]
    assert accepted == {"result": None, "id": 8}


async def test_stream_faults_are_checked_and_a_reset_clears_them(exchange: LocalExchange) -> None:
    async with httpx.AsyncClient(base_url=exchange.base_url) as client:
        for bad in ({"drop": -1}, {"drop": "2"}, {"enabled": "false"}, {"replay": True}):
            answer = await client.post("/_admin/stream", json=bad)
            assert answer.status_code == 400 and "expected" in answer.json()["error"], bad
        faulty = (await client.post("/_admin/stream", json={"drop": 3, "enabled": False})).json()
        assert (faulty["dropPending"], faulty["enabled"]) == (3, False)
        await client.post("/_admin/reset", json={})
        cleared = (await client.post("/_admin/stream", json={})).json()
    assert (cleared["dropPending"], cleared["enabled"]) == (0, True)
