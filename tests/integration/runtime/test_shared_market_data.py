"""Shared market data, with real processes: a market-data publisher reading the local exchange
over real HTTP and a real websocket into a real Redis, and paper bots trading on what it
publishes.

Documented behaviour (:mod:`tradefleet_runtime.marketdata.shared`,
:mod:`tradefleet_runtime.publisher.service`, :mod:`tradefleet_runtime.publisher.streamed_books`):
the publisher keeps every symbol's book from the exchange's diff stream (ccxt.pro), reading a
book over REST only to resynchronise after a gap or while the stream is down, and from an
exchange without streams once per poll; it fetches candles once per closed bar, and names a
symbol it cannot fetch without ending; a paper bot on ``marketData.source: shared`` trades on
the published books without ever loading ccxt; while the publisher is away the bot says its
market data is stale, naming the key and the age, and does not decide on the last book; it
trades again once the publisher is back.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from conftest import API_KEY, API_SECRET, NO_EXCHANGE, FreezableWalk
from runtime_support import BTC, RuntimeProcess, bot_status, eventually
from test_runtime_market_data import health
from tradefleet_devtools.controlplane import free_port
from tradefleet_devtools.exchange import ExchangeAdminClient, LocalExchange, LocalExchangeOptions
from tradefleet_devtools.exchange.records import EngineConfig
from tradefleet_devtools.redis_server import RedisAccess
from tradefleet_runtime.config import TIMEFRAME_SECONDS

pytestmark = pytest.mark.integration

ETH = "ETH/USDT:USDT"
SYMBOLS = (BTC, ETH)
# Not listed on the local exchange: its book can never be fetched.
UNLISTED = "SOL/USDT:USDT"
TIMEFRAMES = ("1m", "5m")
POLL_MS = 200
DEPTH = 20
HISTORY_BARS = 100
DEPTH_REQUESTS = "GET /fapi/v1/depth"
KLINE_REQUESTS = "GET /fapi/v1/klines"
COUNTED_S = 4.0
STALE_AFTER_MS = 1_500


@pytest.fixture
async def exchange(walk: FreezableWalk) -> AsyncIterator[LocalExchange]:
    """The local exchange quoting two symbols (BTC on the test's walk)."""
    options = LocalExchangeOptions(
        symbols=SYMBOLS,
        api_key=API_KEY,
        api_secret=API_SECRET,
        history_steps=40_000,  # 10000 s of 250 ms steps: over 100 one-minute bars
        price_sources={BTC: walk},
        # A step every 250 ms: a streamed book changes well within the publisher's silence
        # limit at this poll interval (1 s).
        engine=EngineConfig(step_ms=250),
    )
    async with LocalExchange(options) as running:
        yield running


@pytest.fixture
def market_prefix() -> str:
    return f"tradefleet:market:test:{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def redis(redis_server: RedisAccess) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


def publisher_config(
    *, base_url: str, redis_url: str, prefix: str, port: int, symbols: tuple[str, ...]
) -> dict[str, Any]:
    """A MarketDataConfig as the operator renders it."""
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "MarketDataConfig",
        "exchange": {
            "id": "binance",
            "market": "futures",
            "baseUrl": base_url,
            "requestIntervalMs": None,
        },
        "symbols": list(symbols),
        "timeframes": list(TIMEFRAMES),
        "pollIntervalMs": POLL_MS,
        "depth": DEPTH,
        "historyBars": HISTORY_BARS,
        "redis": {"url": redis_url, "keyPrefix": prefix},
        "api": {"port": port},
    }


def publisher_process(*, workdir: Path, config: dict[str, Any]) -> RuntimeProcess:
    """``python -m tradefleet_runtime market-data`` with ``config`` (not started)."""
    return RuntimeProcess(
        workdir=workdir, config=config, api_key="", api_secret="", args=("market-data",)
    )


@pytest.fixture
def publisher(
    tmp_path: Path, exchange: LocalExchange, redis_server: RedisAccess, market_prefix: str
) -> Iterator[RuntimeProcess]:
    """The publisher of both symbols (not started)."""
    config = publisher_config(
        base_url=exchange.base_url,
        redis_url=redis_server.url,
        prefix=market_prefix,
        port=free_port(),
        symbols=SYMBOLS,
    )
    process = publisher_process(workdir=tmp_path / "publisher", config=config)
    yield process
    process.kill()


@pytest.fixture
def shared_bot(
    tmp_path: Path, redis_server: RedisAccess, key_prefix: str, market_prefix: str
) -> Iterator[RuntimeProcess]:
    """A paper bot on the publisher's BTC data, with no exchange to reach (not started)."""
    process = RuntimeProcess.paper(
        workdir=tmp_path / "bot",
        bot="sharedbot",
        base_url=NO_EXCHANGE,
        redis_url=redis_server.url,
        key_prefix=key_prefix,
    )
    process.config["marketData"] |= {"source": "shared", "sharedKeyPrefix": market_prefix}
    # Python logs every module it imports, whenever it does: the log says whether ccxt was.
    process.env["PYTHONPROFILEIMPORTTIME"] = "1"
    yield process
    process.kill()


# The contract's key names written out, not the runtime's helpers: a change there fails here.
def book_key(prefix: str, symbol: str) -> str:
    return f"{prefix}:book:{symbol}"


def candles_key(prefix: str, symbol: str, timeframe: str) -> str:
    return f"{prefix}:candles:{symbol}:{timeframe}"


def newest_closed_open_ms(*, timeframe: str, now_ms: int) -> int:
    bar_ms = TIMEFRAME_SECONDS[timeframe] * 1000
    return now_ms - now_ms % bar_ms - bar_ms


def check_book(fields: dict[str, str], *, now_ms: int) -> None:
    assert set(fields) == {"ts", "bids", "asks"}, fields
    assert abs(now_ms - int(fields["ts"])) < 5_000
    bids, asks = json.loads(fields["bids"]), json.loads(fields["asks"])
    for side in (bids, asks):
        assert 0 < len(side) <= DEPTH
        assert all(len(level) == 2 and level[0] > 0 and level[1] > 0 for level in side)
    assert [price for price, _ in bids] == sorted((price for price, _ in bids), reverse=True)
    assert [price for price, _ in asks] == sorted(price for price, _ in asks)
    assert bids[0][0] < asks[0][0]


def check_candles(rows: list[list[float]], *, timeframe: str, now_ms: int) -> None:
    bar_ms = TIMEFRAME_SECONDS[timeframe] * 1000
    assert 0 < len(rows) <= HISTORY_BARS
    assert all(len(row) == 6 for row in rows)
    opens = [int(row[0]) for row in rows]
    assert all(later - earlier == bar_ms for earlier, later in itertools.pairwise(opens))
    # Closed bars only.
    assert opens[-1] + bar_ms <= now_ms
    for _, open_, high, low, close, volume in rows:
        assert low <= min(open_, close) <= max(open_, close) <= high
        assert volume >= 0


async def written_up_to_the_last_close(
    redis: aioredis.Redis, *, prefix: str, symbols: tuple[str, ...]
) -> bool:
    """Every candles key ends with the bar that closed last (the publisher rewrote it)."""
    now_ms = int(time.time() * 1000)
    for symbol in symbols:
        for timeframe in TIMEFRAMES:
            raw = await redis.get(candles_key(prefix, symbol, timeframe))
            if raw is None:
                return False
            newest = int(json.loads(raw)[-1][0])
            if newest != newest_closed_open_ms(timeframe=timeframe, now_ms=now_ms):
                return False
    return True


def bar_closes(*, timeframe: str, began_ms: int, ended_ms: int) -> int:
    bar_ms = TIMEFRAME_SECONDS[timeframe] * 1000
    return ended_ms // bar_ms - began_ms // bar_ms


def imported_modules(log: str) -> set[str]:
    """The modules of the ``import time:`` lines Python wrote to the log."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in log.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def rss_mb(process: RuntimeProcess) -> float:
    assert process.process is not None
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


async def started(publisher: RuntimeProcess) -> None:
    publisher.start()
    await publisher.wait_for("/healthz", timeout_s=30)


async def test_the_publisher_fetches_each_book_once_a_poll_and_candles_once_a_bar(
    publisher: RuntimeProcess,
    admin: ExchangeAdminClient,
    redis: aioredis.Redis,
    market_prefix: str,
) -> None:
    # An exchange without the stream dialect: every book is read over REST.
    await admin.stream_fault(enabled=False)
    # A symbol the exchange does not list is named, retried and never ends the process.
    publisher.config["symbols"].append(UNLISTED)
    publisher.start()

    async def both_published() -> bool:
        try:
            reply = await publisher.get("/healthz")
        except httpx.HTTPError:
            return False  # not listening yet
        return reply.status_code == 503 and reply.json()["missing"] == [UNLISTED]

    await eventually(both_published, what="both listed books published", runtime=publisher)
    await eventually(
        lambda: written_up_to_the_last_close(redis, prefix=market_prefix, symbols=SYMBOLS),
        what="the candles of both listed symbols",
        runtime=publisher,
    )

    before = (await admin.state())["requests"]
    lengths = [await redis.xlen(book_key(market_prefix, symbol)) for symbol in SYMBOLS]
    began, began_ms = time.monotonic(), int(time.time() * 1000)
    await asyncio.sleep(COUNTED_S)
    after = (await admin.state())["requests"]
    grown = [
        await redis.xlen(book_key(market_prefix, s)) - n
        for s, n in zip(SYMBOLS, lengths, strict=True)
    ]
    elapsed, ended_ms = time.monotonic() - began, int(time.time() * 1000)

    books_served = after[DEPTH_REQUESTS] - before[DEPTH_REQUESTS]
    polls = elapsed * 1000 / POLL_MS
    print(f"{books_served} book requests, {grown} entries, in {elapsed:.1f} s ({polls:.0f} polls)")
    # One request per entry published (a round may be in flight as the figures are read), one
    # entry per symbol and poll.
    assert abs(books_served - sum(grown)) <= len(SYMBOLS), (books_served, grown)
    assert all(0.7 * polls <= entries <= polls + 1 for entries in grown), (grown, polls)
    closes = sum(
        bar_closes(timeframe=timeframe, began_ms=began_ms - POLL_MS, ended_ms=ended_ms)
        for timeframe in TIMEFRAMES
    )
    # Candles are fetched after a bar closes only (once per symbol; a lagging bar once more).
    klines_served = after.get(KLINE_REQUESTS, 0) - before.get(KLINE_REQUESTS, 0)
    assert klines_served <= 2 * len(SYMBOLS) * closes, (klines_served, closes)

    now_ms = int(time.time() * 1000)
    for symbol in SYMBOLS:
        [(_, fields)] = await redis.xrevrange(book_key(market_prefix, symbol), count=1)
        check_book(fields, now_ms=now_ms)
        for timeframe in TIMEFRAMES:
            raw = await redis.get(candles_key(market_prefix, symbol, timeframe))
            check_candles(json.loads(raw), timeframe=timeframe, now_ms=now_ms)
        one_minute = json.loads(await redis.get(candles_key(market_prefix, symbol, "1m")))
        assert len(one_minute) == HISTORY_BARS
    assert await redis.exists(book_key(market_prefix, UNLISTED)) == 0

    status = (await publisher.get("/status")).json()
    served = sum((await admin.state())["requests"].values())
    assert status["symbols"] == [*SYMBOLS, UNLISTED]
    assert status["timeframes"] == list(TIMEFRAMES)
    assert all(status["lastPublished"][symbol] for symbol in SYMBOLS)
    assert status["lastPublished"][UNLISTED] is None
    assert UNLISTED in status["errors"][UNLISTED]
    # Every request it made in its first minute, as the exchange counted them.
    assert abs(status["requestsPerMinute"] - served) <= 2 * len(SYMBOLS), (status, served)
    assert all("read over REST" in status["bookSources"][symbol] for symbol in SYMBOLS)
    assert publisher.alive()
    assert await publisher.stop() == 0
    assert "Traceback" not in publisher.log()


async def test_a_paper_bot_on_shared_market_data_trades_without_loading_ccxt(
    publisher: RuntimeProcess,
    shared_bot: RuntimeProcess,
    redis: aioredis.Redis,
    key_prefix: str,
    market_prefix: str,
) -> None:
    await started(publisher)
    shared_bot.start()
    await shared_bot.wait_for("/readyz", timeout_s=60)
    first = await bot_status(shared_bot)
    assert (first["phase"], first["mode"], first["reconciled"]) == ("trading", "paper", True)
    assert first["marketDataFlowing"] is True
    # No exchange client: it made no request of its own.
    assert first["requestsPerMinute"] == 0

    async def traded() -> bool:
        return (await bot_status(shared_bot))["lastSignal"]["action"] in ("buy", "sell")

    await eventually(traded, what="a trade decision", seconds=40, runtime=shared_bot)
    orders = [
        json.loads(raw) for raw in (await redis.hgetall(f"{key_prefix}:paper:orders")).values()
    ]
    filled = [order for order in orders if order["filled"] > 0]
    assert filled, f"the paper account filled no order: {orders}"
    # Filled at prices of the published book.
    published = [
        level[0]
        for _, fields in await redis.xrange(book_key(market_prefix, BTC))
        for side in ("bids", "asks")
        for level in json.loads(fields[side])
    ]
    assert all(min(published) <= order["averagePrice"] <= max(published) for order in filled)

    modules = imported_modules(shared_bot.log())
    assert "tradefleet_runtime.marketdata.shared" in modules, "the import log is missing"
    assert not {m for m in modules if m == "ccxt" or m.startswith("ccxt.")}
    print(f"paper bot on shared market data: {rss_mb(shared_bot):.0f} MB RSS")
    await eventually(
        lambda: written_up_to_the_last_close(redis, prefix=market_prefix, symbols=SYMBOLS),
        what="the candles of the last closed bar",
        seconds=10,
    )
    assert "Traceback" not in shared_bot.log()
    assert await shared_bot.stop() == 0


async def test_a_bot_reports_stale_market_data_while_the_publisher_is_away_and_recovers(
    publisher: RuntimeProcess, shared_bot: RuntimeProcess, market_prefix: str
) -> None:
    shared_bot.config["marketData"]["maxTickAgeMs"] = STALE_AFTER_MS
    await started(publisher)
    shared_bot.start()
    await shared_bot.wait_for("/readyz", timeout_s=60)
    # SIGTERM: the publisher ends cleanly.
    assert await publisher.stop() == 0
    key = book_key(market_prefix, BTC)

    async def stale() -> bool:
        market_data = (await health(shared_bot))["component_health"].get("market_data", {})
        detail = str(market_data.get("detail"))
        status = await bot_status(shared_bot)
        trading = status["trading"]
        return (
            market_data.get("healthy") is False
            and key in detail
            and "ms old" in detail
            and (status["phase"], status["marketDataFlowing"]) == ("degraded", False)
            and trading["status"] == "False"
            # With a position, that it cannot be read (from the stale book) comes first.
            and (trading["reason"] == "MarketDataStale" or key in trading["message"])
        )

    await eventually(stale, what="stale market data reported", seconds=20, runtime=shared_bot)
    waiting = await bot_status(shared_bot)
    assert (await shared_bot.get("/readyz")).status_code == 503
    # No decision on the last book while the publisher is away.
    await asyncio.sleep(2.0)
    assert (await bot_status(shared_bot))["lastSignal"] == waiting["lastSignal"]

    publisher.start()
    await shared_bot.wait_for("/readyz", timeout_s=30)

    async def trading_again() -> bool:
        back = await bot_status(shared_bot)
        return (back["phase"], back["trading"]["reason"]) == ("trading", "Trading")

    await eventually(trading_again, what="trading again", seconds=20, runtime=shared_bot)
    assert (await health(shared_bot))["component_health"]["market_data"]["healthy"] is True
    assert "Traceback" not in shared_bot.log()
    assert await shared_bot.stop() == 0
    assert await publisher.stop() == 0


async def test_a_publisher_with_a_bad_config_exits_with_code_2_naming_the_key(
    publisher: RuntimeProcess,
) -> None:
    publisher.config["timeframes"] = ["1m", "2m"]
    publisher.start()
    assert publisher.process is not None
    code = await asyncio.to_thread(publisher.process.wait, 30)
    assert code == 2
    [line] = publisher.log().splitlines()
    assert "cannot start: timeframes[1] must be one of" in line, line
    assert "timeframes[1]" in publisher.termination_message()


async def _published_book(redis: aioredis.Redis, prefix: str, symbol: str) -> dict[str, Any]:
    [(_, fields)] = await redis.xrevrange(book_key(prefix, symbol), count=1)
    return {"bids": json.loads(fields["bids"]), "asks": json.loads(fields["asks"])}


async def _exchange_book(exchange: LocalExchange) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=exchange.base_url) as client:
        reply = await client.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": DEPTH})
    raw = reply.json()
    return {
        side: [[float(price), float(qty)] for price, qty in raw[side]] for side in ("bids", "asks")
    }


async def _sources(publisher: RuntimeProcess) -> dict[str, str]:
    sources: dict[str, str] = (await publisher.get("/status")).json()["bookSources"]
    return sources


async def _depth_requests(admin: ExchangeAdminClient) -> int:
    return int((await admin.state())["requests"].get(DEPTH_REQUESTS, 0))


async def _quiet(admin: ExchangeAdminClient) -> None:
    """Until the publisher has asked for no book over REST for a second (start-up and
    resynchronisation requests may still be queued in ccxt's throttle)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        before = await _depth_requests(admin)
        await asyncio.sleep(1.0)
        if await _depth_requests(admin) == before:
            return
    raise AssertionError("the publisher kept reading books over REST for 20 s")


async def _streamed_book_is_the_exchanges(
    *,
    redis: aioredis.Redis,
    exchange: LocalExchange,
    admin: ExchangeAdminClient,
    prefix: str,
    walk: FreezableWalk,
) -> bool:
    """With BTC's price held still, its latest published book, streamed (no book was read over
    REST meanwhile), is the exchange's book."""
    before = await _depth_requests(admin)
    walk.frozen = True
    try:
        # The last step's diff is pushed within 100 ms and published within a poll (200 ms);
        # the stream stays well within the publisher's silence limit (1 s).
        await asyncio.sleep(0.4)
        published = await _published_book(redis, prefix, BTC)
        assert await _depth_requests(admin) == before, "a book was read over REST"
        return published == await _exchange_book(exchange)
    finally:
        walk.frozen = False


async def test_the_publisher_streams_books_and_reads_them_over_rest_only_to_resynchronise(
    publisher: RuntimeProcess,
    exchange: LocalExchange,
    admin: ExchangeAdminClient,
    redis: aioredis.Redis,
    market_prefix: str,
    walk: FreezableWalk,
) -> None:
    async def streamed() -> bool:
        return set((await _sources(publisher)).values()) == {"streamed"}

    async def read_over_rest() -> bool:
        return all("read over REST" in s for s in (await _sources(publisher)).values())

    await started(publisher)
    await eventually(streamed, what="both books streamed", runtime=publisher)
    await _quiet(admin)

    # Streamed: a book per symbol and poll, and no book read over REST.
    before = await _depth_requests(admin)
    lengths = [await redis.xlen(book_key(market_prefix, symbol)) for symbol in SYMBOLS]
    began = time.monotonic()
    await asyncio.sleep(COUNTED_S)
    polls = (time.monotonic() - began) * 1000 / POLL_MS
    grown = [
        await redis.xlen(book_key(market_prefix, s)) - n
        for s, n in zip(SYMBOLS, lengths, strict=True)
    ]
    served = await _depth_requests(admin) - before
    print(f"streamed: {served} book requests, {grown} entries in {polls:.0f} polls")
    assert served == 0
    assert all(0.7 * polls <= entries <= polls + 1 for entries in grown), (grown, polls)
    # Fresh: stamped when the stream last spoke, not when the book last changed.
    [(_, fields)] = await redis.xrevrange(book_key(market_prefix, BTC), count=1)
    check_book(fields, now_ms=int(time.time() * 1000))
    assert int(time.time() * 1000) - int(fields["ts"]) < 1_500
    # Diffs applied over many steps of the walk still make the exchange's book.
    book_matches = functools.partial(
        _streamed_book_is_the_exchanges,
        redis=redis,
        exchange=exchange,
        admin=admin,
        prefix=market_prefix,
        walk=walk,
    )
    assert await book_matches()

    # A quiet book (BTC held still for 2.5 s): read over REST once its stream has been silent
    # for the limit, streamed again once it moves.
    walk.frozen = True
    try:
        reads = await _depth_requests(admin)
        await asyncio.sleep(2.5)
        assert (await _sources(publisher))[BTC].startswith("stream silent for")
        assert await _depth_requests(admin) - reads >= 3
    finally:
        walk.frozen = False
    await eventually(streamed, what="BTC streamed again", runtime=publisher)
    await _quiet(admin)

    # A gap in the diffs: the publisher resubscribes (a new snapshot), then streams again.
    snapshots = await _depth_requests(admin)
    await admin.stream_fault(drop=2)
    await eventually(lambda: _more_than(admin, snapshots), what="a new snapshot", runtime=publisher)
    await eventually(streamed, what="streaming again", runtime=publisher)
    await _quiet(admin)
    assert await book_matches()

    # The stream down: the books come over REST, each poll, until it is back.
    await admin.stream_fault(enabled=False, disconnect=True)
    await eventually(read_over_rest, what="the books over REST", runtime=publisher)
    rest_before = await _depth_requests(admin)
    length = await redis.xlen(book_key(market_prefix, BTC))
    await asyncio.sleep(2.0)
    assert await _depth_requests(admin) - rest_before >= 2 * len(SYMBOLS)
    assert await redis.xlen(book_key(market_prefix, BTC)) - length >= 5
    [(_, fields)] = await redis.xrevrange(book_key(market_prefix, BTC), count=1)
    check_book(fields, now_ms=int(time.time() * 1000))
    await admin.stream_fault(enabled=True)
    await eventually(streamed, what="streaming once back", runtime=publisher)
    await _quiet(admin)
    assert await book_matches()
    assert publisher.alive()
    assert await publisher.stop() == 0
    assert "Traceback" not in publisher.log()


async def _more_than(admin: ExchangeAdminClient, count: int) -> bool:
    return await _depth_requests(admin) > count
