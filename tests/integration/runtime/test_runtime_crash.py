"""Crash safety: SIGKILL the runtime around order placement, restart it, and audit the account.

The runtime trades in testnet mode (real ccxt, signed requests) against the local exchange,
polling every 100 ms with tiny thresholds while the test pushes the price around, so it places
orders every second or so. Each round waits for an ``order intent recorded`` log line and kills
the process at a random moment shortly after (intent written, request in flight, answer being
recorded), or at a random moment without waiting. After every restart, at rest (the price walk
frozen), the exchange and Redis must agree: no client order id used twice, every open order on
the exchange tracked in Redis, and the position and balance in Redis equal to the exchange's.
``TRADEFLEET_FULL=1`` runs 100 rounds instead of the CI's 8.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from typing import Any

import pytest
import redis.asyncio as aioredis
from conftest import API_KEY, API_SECRET, FreezableWalk
from runtime_support import BTC, RuntimeProcess
from tradefleet_devtools.exchange import ExchangeAdminClient, LocalExchange
from tradefleet_runtime.execution.venue import ApiCredentials, CcxtVenue, VenueMode

pytestmark = pytest.mark.integration

ROUNDS = 100 if os.environ.get("TRADEFLEET_FULL") == "1" else 8
INTENT_LINE = "order intent recorded"


async def audit(
    *, runtime: RuntimeProcess, venue: CcxtVenue, admin: ExchangeAdminClient
) -> dict[str, Any]:
    """Compare the exchange with the runtime's Redis state; returns what was compared."""
    state = await admin.state()
    regular = [o["clientOrderId"] for o in state["orders"]]
    algo = [o["clientAlgoId"] for o in state["algo_orders"]]
    duplicates = [cid for cid, n in Counter(regular + algo).items() if n > 1]
    assert not duplicates, f"client order ids used twice on the exchange: {duplicates}"

    open_orders = await venue.fetch_open_orders(symbol=BTC)
    positions = await venue.fetch_positions(symbols=[BTC])
    balances = await venue.fetch_balances()
    prefix = runtime.config["redis"]["keyPrefix"]
    client = aioredis.Redis.from_url(runtime.config["redis"]["url"], decode_responses=True)
    try:
        tracked = {
            cid: json.loads(raw) for cid, raw in (await client.hgetall(f"{prefix}:orders")).items()
        }
        unresolved = await client.smembers(f"{prefix}:orders:unresolved")
        position = json.loads(await client.get(f"{prefix}:position") or "null")
        balance = json.loads(await client.get(f"{prefix}:balance") or "null")
    finally:
        await client.aclose()

    orphans = [o.client_order_id for o in open_orders if o.client_order_id not in unresolved]
    assert not orphans, f"open on the exchange but not tracked as open in Redis: {orphans}"
    untracked = [cid for cid in regular + algo if cid.startswith("tf-") and cid not in tracked]
    assert not untracked, f"orders on the exchange Redis never recorded: {untracked}"

    exchange_size = sum(p.signed_contracts for p in positions)
    assert position is not None
    redis_size = position["size"] * {"long": 1.0, "short": -1.0, "flat": 0.0}[position["side"]]
    assert redis_size == pytest.approx(exchange_size, abs=1e-12)
    if positions:
        assert position["entryPrice"] == pytest.approx(positions[0].entry_price, rel=1e-9)
    assert balance is not None
    assert balance["total"] == pytest.approx(balances["USDT"].total, rel=1e-9, abs=1e-9)
    return {"orders": len(regular) + len(algo), "open": len(open_orders), "position": exchange_size}


async def wait_for_intent(*, runtime: RuntimeProcess, offset: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if INTENT_LINE in runtime.log()[offset:]:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_sigkill_around_orders_never_duplicates_orphans_or_diverges(
    runtime: RuntimeProcess,
    exchange: LocalExchange,
    admin: ExchangeAdminClient,
    walk: FreezableWalk,
) -> None:
    rng = random.Random(20_251_121)
    venue = CcxtVenue(
        exchange_id="binanceusdm",
        mode=VenueMode.TESTNET,
        credentials=ApiCredentials(api_key=API_KEY, api_secret=API_SECRET),
        base_url_override=exchange.base_url,
    )
    await venue.load_markets()
    kills_after_intent = 0
    try:
        walk.frozen = True
        runtime.start()
        for _ in range(ROUNDS):
            await runtime.wait_for("/readyz", timeout_s=90)
            await audit(runtime=runtime, venue=venue, admin=admin)
            offset = len(runtime.log())
            walk.frozen = False
            price = float((await admin.state())["prices"]["BTCUSDT"])
            direction = rng.choice((-1.0, 1.0))
            waited = False
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if rng.random() < 0.3:
                    direction = -direction
                price *= 1.0 + direction * 0.002
                await admin.set_price(symbol=BTC, price=price)
                if await wait_for_intent(runtime=runtime, offset=offset, seconds=0.3):
                    waited = True
                    break
            if waited and rng.random() < 0.75:
                kills_after_intent += 1
                await asyncio.sleep(rng.uniform(0.0, 0.3))
            else:
                await asyncio.sleep(rng.uniform(0.0, 1.0))
            runtime.kill()
            walk.frozen = True
            runtime.start()
        await runtime.wait_for("/readyz", timeout_s=90)
        summary = await audit(runtime=runtime, venue=venue, admin=admin)
        assert await runtime.stop() == 0
    finally:
        await venue.close()
    assert kills_after_intent >= ROUNDS // 2, "too few kills landed around an order placement"
    assert summary["orders"] >= ROUNDS // 2, (
        f"the bot placed too few orders to test anything: {summary}"
    )
