"""An order or a cancel leaves only while the runtime's lease still covers it on the exchange.

A real ``CcxtVenue`` on the local exchange, and a real lease in a real Redis. The hold-up
between the runtime's last check and the request leaving is ccxt's own rate limiter, spacing
requests 2 s apart: a request waits there, inside ccxt, as one of a stalled process would. The
lease lives 4 s; a signed request lives 2.25 s on this exchange (recvWindow 1 s, 1 s of forward
skew, 0.25 s of margin), less than the 3 s send margin, so sending stops 1 s after the lease's
last confirmation.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from tradefleet_devtools.exchange import ExchangeAdminClient, LocalExchange
from tradefleet_devtools.redis_server import RedisAccess
from tradefleet_runtime.execution.errors import SendRefused
from tradefleet_runtime.execution.executor import OrderExecutor, RetryPolicy
from tradefleet_runtime.execution.model import OrderRequest, OrderSide, OrderStatus, OrderType
from tradefleet_runtime.execution.signing import signed_request_lifetime_s
from tradefleet_runtime.execution.venue import ApiCredentials, CcxtVenue, VenueMode
from tradefleet_runtime.persistence.lease import LeaseStore
from tradefleet_runtime.service.fencing import LeaseKeeper

pytestmark = pytest.mark.integration

BTC = "BTC/USDT:USDT"
RECV_WINDOW_MS = 1_000
SPACING_MS = 2_000
LEASE_TTL_S = 4.0


@pytest.fixture
async def spaced_venue(
    exchange: LocalExchange, api_key: str, api_secret: str
) -> AsyncIterator[CcxtVenue]:
    """A venue whose ccxt client spaces its requests ``SPACING_MS`` apart."""
    venue = CcxtVenue(
        exchange_id="binanceusdm",
        mode=VenueMode.TESTNET,
        credentials=ApiCredentials(api_key=api_key, api_secret=api_secret),
        base_url_override=exchange.base_url,
        timeout_s=0.5,
        recv_window_ms=RECV_WINDOW_MS,
        request_interval_ms=SPACING_MS,
    )
    await venue.load_markets()
    try:
        yield venue
    finally:
        await venue.close()


@pytest.fixture
async def leases(redis_server: RedisAccess) -> AsyncIterator[LeaseStore]:
    """One bot's lease keys in a real Redis."""
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        yield LeaseStore(redis=redis, prefix=f"fenced-{uuid.uuid4().hex[:8]}")
    finally:
        await redis.aclose()


async def acquired(leases: LeaseStore, *, ttl_s: float = LEASE_TTL_S) -> LeaseKeeper:
    """This runtime's lease, just acquired."""
    keeper = LeaseKeeper(
        leases=leases,
        holder="bot-0/first",
        on_wait=lambda: None,
        ttl_s=ttl_s,
        request_lifetime_s=signed_request_lifetime_s(
            exchange_id="binanceusdm", recv_window_ms=RECV_WINDOW_MS
        ),
    )
    assert await keeper.acquire(stop=asyncio.Event()) is not None
    assert keeper.send_refusal() is None
    return keeper


def executor_for(venue: CcxtVenue) -> OrderExecutor:
    return OrderExecutor(
        venue=venue,
        retry=RetryPolicy(max_attempts=2, base_delay_s=0.05, max_delay_s=0.5),
        rng=random.Random(3),
    )


def market_buy(client_order_id: str) -> OrderRequest:
    return OrderRequest(
        symbol=BTC,
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        client_order_id=client_order_id,
        amount=0.01,
    )


async def statuses_on_exchange(admin: ExchangeAdminClient) -> dict[str, str]:
    """Every order the exchange ever received, by client order id."""
    ledger = await admin.ledger()
    return {str(order["client_order_id"]): str(order["status"]) for order in ledger["orders"]}


async def test_an_order_held_in_the_client_past_its_lease_never_reaches_the_exchange(
    spaced_venue: CcxtVenue, leases: LeaseStore, admin: ExchangeAdminClient
) -> None:
    lease = await acquired(leases)
    asked: list[str | None] = []

    def may_send() -> str | None:
        asked.append(lease.send_refusal())
        return asked[-1]

    with pytest.raises(SendRefused, match="lease was last confirmed") as refused:
        await executor_for(spaced_venue).place(
            market_buy("held-past-lease"), may_send=may_send, fresh=True
        )
    assert "held-past-lease" not in await statuses_on_exchange(admin)
    # Asked once, as the request left after its wait, and neither retried nor looked up: the
    # runtime knows it was never sent.
    assert len(asked) == 1 and not refused.value.sent_before


async def test_an_order_the_lease_covers_is_placed_after_the_same_hold_up(
    spaced_venue: CcxtVenue, leases: LeaseStore, admin: ExchangeAdminClient
) -> None:
    lease = await acquired(leases, ttl_s=10.0)
    order = await executor_for(spaced_venue).place(
        market_buy("covered"), may_send=lease.send_refusal, fresh=True
    )
    assert order.status is OrderStatus.FILLED
    assert (await statuses_on_exchange(admin))["covered"] == "FILLED"


async def test_a_cancel_held_past_its_lease_is_not_sent(
    spaced_venue: CcxtVenue, leases: LeaseStore, admin: ExchangeAdminClient
) -> None:
    price = (await spaced_venue.fetch_ticker(symbol=BTC)).last
    assert price is not None
    await spaced_venue.create_order(
        OrderRequest(
            symbol=BTC,
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            client_order_id="resting",
            amount=0.01,
            price=round(price * 0.5, 1),
        )
    )
    lease = await acquired(leases)
    with pytest.raises(SendRefused, match="lease was last confirmed"):
        await executor_for(spaced_venue).cancel(
            symbol=BTC, client_order_id="resting", may_send=lease.send_refusal
        )
    assert (await statuses_on_exchange(admin))["resting"] == "NEW"
