"""The paper account in the real Redis: a paper venue killed and rebuilt from what it saved has
the same balance, position, leverage and resting orders and stops; a failed save undoes the call;
a damaged account halts the runtime with a reason instead of starting over or crash-looping.

The venues read the local exchange's book through real ccxt (market-data mode) with the price
walk frozen, so fills are the same on both sides of a restart; prices move only through the
exchange's admin endpoint.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from conftest import FreezableWalk
from runtime_support import BTC, RuntimeProcess
from tradefleet_devtools.controlplane import free_port
from tradefleet_devtools.exchange import ExchangeAdminClient, LocalExchange
from tradefleet_devtools.redis_server import RedisAccess
from tradefleet_runtime.execution.executor import OrderExecutor
from tradefleet_runtime.execution.model import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    VenuePositionSide,
)
from tradefleet_runtime.execution.paper import PaperAccountSaveError, PaperVenue
from tradefleet_runtime.execution.venue import CcxtVenue, VenueMode
from tradefleet_runtime.persistence.store import StateStore, StorePaperJournal

pytestmark = pytest.mark.integration


@pytest.fixture
async def stores(redis_server: RedisAccess, key_prefix: str) -> AsyncIterator[list[StateStore]]:
    """Stores opened by the test (one per simulated process), closed at the end."""
    opened: list[StateStore] = []
    yield opened
    for store in opened:
        await store.close()


@pytest.fixture
async def venues() -> AsyncIterator[list[PaperVenue]]:
    opened: list[PaperVenue] = []
    yield opened
    for venue in opened:
        await venue.close()


async def start_process(
    *,
    exchange: LocalExchange,
    redis_server: RedisAccess,
    key_prefix: str,
    stores: list[StateStore],
    venues: list[PaperVenue],
) -> PaperVenue:
    """What a starting runtime does: a new Redis connection, load, continue the account."""
    store = StateStore(url=redis_server.url, prefix=key_prefix)
    stores.append(store)
    persisted = await store.load()
    assert persisted.paper_account_problem is None
    venue = PaperVenue(
        market_data=CcxtVenue(
            exchange_id="binanceusdm",
            mode=VenueMode.MARKET_DATA,
            base_url_override=exchange.base_url,
        ),
        starting_balance=10_000.0,
        default_leverage=5,
        account=persisted.paper_account,
        journal=StorePaperJournal(store=store),
    )
    venues.append(venue)
    return venue


def request(
    client_order_id: str,
    *,
    side: OrderSide = OrderSide.BUY,
    order_type: OrderType = OrderType.MARKET,
    amount: float | None = 0.5,
    price: float | None = None,
) -> OrderRequest:
    return OrderRequest(
        symbol=BTC,
        side=side,
        order_type=order_type,
        client_order_id=client_order_id,
        amount=amount,
        price=price,
    )


async def test_a_rebuilt_paper_venue_has_the_same_balance_position_and_stops(
    exchange: LocalExchange,
    admin: ExchangeAdminClient,
    walk: FreezableWalk,
    redis_server: RedisAccess,
    key_prefix: str,
    stores: list[StateStore],
    venues: list[PaperVenue],
) -> None:
    walk.frozen = True
    await admin.set_price(symbol=BTC, price=30_000.0)
    process = {"exchange": exchange, "redis_server": redis_server, "key_prefix": key_prefix}
    first = await start_process(**process, stores=stores, venues=venues)
    executor = OrderExecutor(venue=first)
    await first.set_leverage(symbol=BTC, leverage=4)
    entry = await executor.place(request("tf-paper-entry"))
    stop = await executor.place_stop_loss(
        symbol=BTC,
        position_side=VenuePositionSide.LONG,
        trigger_price=29_000.0,
        client_order_id="tf-paper-sl",
    )
    limit = await first.create_order(
        request("tf-paper-limit", order_type=OrderType.LIMIT, amount=0.1, price=29_500.0)
    )
    assert entry.status is OrderStatus.FILLED
    assert stop is not None and stop.status is OrderStatus.OPEN
    assert limit.status is OrderStatus.OPEN
    balances = await first.fetch_balances()
    positions = await first.fetch_positions(symbols=[BTC])
    open_orders = await first.fetch_open_orders(symbol=BTC)
    assert positions[0].leverage == 4.0

    # The first process dies without any shutdown: only what each call saved remains.
    second = await start_process(**process, stores=stores, venues=venues)
    assert await second.fetch_balances() == balances
    assert await second.fetch_positions(symbols=[BTC]) == positions
    assert await second.fetch_open_orders(symbol=BTC) == open_orders

    # A decision replayed after the restart finds its order instead of placing a second one;
    # the next new order is numbered after every earlier one.
    replayed = await OrderExecutor(venue=second).place(request("tf-paper-entry"))
    assert replayed == entry
    more = await second.create_order(request("tf-paper-more", amount=0.1))
    assert more.exchange_order_id == "paper-4"

    # The restored limit and stop still work: the limit fills as maker, the stop closes all.
    await admin.set_price(symbol=BTC, price=29_400.0)
    filled = await second.fetch_order(symbol=BTC, client_order_id="tf-paper-limit")
    assert (filled.status, filled.average_price) == (OrderStatus.FILLED, 29_500.0)
    await admin.set_price(symbol=BTC, price=28_800.0)
    assert await second.fetch_positions(symbols=[BTC]) == []
    fired = await second.fetch_order(symbol=BTC, client_order_id="tf-paper-sl")
    assert fired.status is OrderStatus.FILLED
    after_stop = await second.fetch_balances()

    third = await start_process(**process, stores=stores, venues=venues)
    assert await third.fetch_positions(symbols=[BTC]) == []
    assert await third.fetch_open_orders(symbol=BTC) == []
    assert await third.fetch_balances() == after_stop

    raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        account = json.loads(await raw.get(f"{key_prefix}:paper"))
        orders = await raw.hgetall(f"{key_prefix}:paper:orders")
    finally:
        await raw.aclose()
    assert account["wallet"] == pytest.approx(after_stop["USDT"].total)
    assert account["nextOrderNumber"] == 5
    assert sorted(orders) == ["paper-1", "paper-2", "paper-3", "paper-4"]
    assert {json.loads(o)["clientOrderId"] for o in orders.values()} == {
        "tf-paper-entry",
        "tf-paper-sl",
        "tf-paper-limit",
        "tf-paper-more",
    }


async def test_a_save_that_fails_undoes_the_order(
    exchange: LocalExchange,
    walk: FreezableWalk,
    venues: list[PaperVenue],
) -> None:
    walk.frozen = True
    unreachable = StateStore(url=f"redis://127.0.0.1:{free_port()}/0", prefix="p", timeout_s=0.5)
    venue = PaperVenue(
        market_data=CcxtVenue(
            exchange_id="binanceusdm",
            mode=VenueMode.MARKET_DATA,
            base_url_override=exchange.base_url,
        ),
        starting_balance=10_000.0,
        journal=StorePaperJournal(store=unreachable),
    )
    venues.append(venue)
    before = venue.account
    try:
        with pytest.raises(PaperAccountSaveError, match="saving the paper account failed"):
            await venue.create_order(request("tf-paper-lost", amount=0.1))
    finally:
        await unreachable.close()
    assert venue.account == before
    assert venue.account.orders == ()


async def halted_status(runtime: RuntimeProcess, *, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status: dict[str, Any] = (await runtime.get("/status")).json()
        if status["halted"]:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"the runtime did not halt:\n{runtime.log()[-3000:]}")


async def test_a_damaged_paper_account_halts_the_runtime_until_a_human_acknowledges(
    paper_runtime: RuntimeProcess,
    walk: FreezableWalk,
    redis_server: RedisAccess,
    key_prefix: str,
) -> None:
    walk.frozen = True
    damaged = {
        "format": 1,
        "quoteCurrency": "USDT",
        "wallet": "lots",
        "exposures": {},
        "leverage": {},
        "nextOrderNumber": 1,
    }
    raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        await raw.set(f"{key_prefix}:paper", json.dumps(damaged))
        paper_runtime.start()
        await paper_runtime.wait_for("/healthz")
        status = await halted_status(paper_runtime)
        assert status["phase"] == "halted"
        assert f"{key_prefix}:paper: field 'wallet' must be a finite number" in status["haltReason"]
        assert (await paper_runtime.get("/readyz")).status_code == 503
        health = (await paper_runtime.get("/api/advanced/self-healing/health")).json()
        assert health["needs_human"] is True
        assert "paper account" in health["human_reason"]
        # The damaged account is left for a human to look at.
        assert json.loads(await raw.get(f"{key_prefix}:paper")) == damaged
        assert paper_runtime.alive()
        assert "Traceback" not in paper_runtime.log()

        # A human discards it and acknowledges: a new account opens and the bot trades again.
        await raw.delete(f"{key_prefix}:paper")
        assert (await paper_runtime.post("/control/acknowledge")).status_code == 200
        await paper_runtime.wait_for("/readyz", timeout_s=60)
        account = json.loads(await raw.get(f"{key_prefix}:paper"))
        assert account["wallet"] == 10_000.0
        assert (await paper_runtime.get("/status")).json()["phase"] == "trading"
    finally:
        await raw.aclose()
    assert await paper_runtime.stop() == 0
