"""Crash safety: SIGKILL the runtime around order placement, restart it, and audit the account.

The runtime trades in testnet mode (real ccxt, signed requests) against the local exchange,
polling every 100 ms with tiny thresholds while the test pushes the price around, so it places
orders every second or so. Each round waits for an ``order intent recorded`` log line and kills
the process at a random moment shortly after (intent written, request in flight, answer being
recorded), or at a random moment without waiting. After every restart, at rest (the price walk
frozen), the exchange and Redis must agree: no client order id used twice, every open order on
the exchange tracked in Redis, and the position and balance in Redis equal to the exchange's.
``TRADEFLEET_FULL=1`` runs 100 rounds instead of the CI's 8.

The same in paper mode, shorter: the simulated account lives in Redis, so a killed paper bot
comes back with the same balance, position and resting stop; every order the log shows as
placed is in the stored account; the next orders never reuse an id; and the service's records
agree with the stored account after every restart. ``TRADEFLEET_FULL=1``: 20 rounds, else 4.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from conftest import API_KEY, API_SECRET, FreezableWalk
from runtime_support import BTC, RuntimeProcess
from tradefleet_devtools.exchange import ExchangeAdminClient, LocalExchange
from tradefleet_runtime.execution.client_order_id import owns
from tradefleet_runtime.execution.model import OrderStatus
from tradefleet_runtime.execution.paper import PaperVenue
from tradefleet_runtime.execution.venue import (
    ApiCredentials,
    CcxtVenue,
    VenueMode,
    ccxt_exchange_id,
)
from tradefleet_runtime.persistence.store import StateStore

pytestmark = pytest.mark.integration

ROUNDS = 100 if os.environ.get("TRADEFLEET_FULL") == "1" else 8
PAPER_ROUNDS = 20 if os.environ.get("TRADEFLEET_FULL") == "1" else 4
INTENT_LINE = "order intent recorded"
# The executor's line once the venue answered an order (the paper venue saved it before that).
PLACED_LINE = re.compile(r"placed \S+ \S+ (\S+) on paper\(")


def is_the_bots(runtime: RuntimeProcess, client_id: str) -> bool:
    exchange = runtime.config["exchange"]
    return owns(
        exchange=ccxt_exchange_id(exchange=exchange["id"], market=exchange["market"]),
        bot_name=runtime.config["bot"]["name"],
        client_order_id=client_id,
    )


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
    untracked = [cid for cid in regular + algo if is_the_bots(runtime, cid) and cid not in tracked]
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


async def stored_paper_orders(runtime: RuntimeProcess) -> list[dict[str, Any]]:
    """The paper account's orders as Redis holds them, oldest first."""
    prefix = runtime.config["redis"]["keyPrefix"]
    client = aioredis.Redis.from_url(runtime.config["redis"]["url"], decode_responses=True)
    try:
        raw = await client.hgetall(f"{prefix}:paper:orders")
    finally:
        await client.aclose()
    return [json.loads(raw[key]) for key in sorted(raw, key=lambda k: int(k.split("-")[1]))]


async def audit_paper(*, runtime: RuntimeProcess, market_data: CcxtVenue) -> None:
    """The service's records in Redis against the stored paper account (the paper exchange)."""
    store = StateStore(
        url=runtime.config["redis"]["url"], prefix=runtime.config["redis"]["keyPrefix"]
    )
    try:
        persisted = await store.load()
        tracked = {o.client_order_id for o in await store.tracked_orders()}
    finally:
        await store.close()
    account = persisted.paper_account
    assert persisted.paper_account_problem is None and account is not None
    ids = [o.client_order_id for o in account.orders]
    duplicates = [cid for cid, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"client order ids used twice on the paper account: {duplicates}"
    untracked = [cid for cid in ids if cid not in tracked]
    assert not untracked, f"paper orders Redis never recorded: {untracked}"
    unresolved = {o.client_order_id for o in persisted.unresolved}
    orphans = [o.client_order_id for o in account.orders if o.status is OrderStatus.OPEN]
    orphans = [cid for cid in orphans if cid not in unresolved]
    assert not orphans, f"open on the paper account but not tracked as open: {orphans}"
    exposure = account.exposures.get(BTC)
    assert persisted.position is not None
    assert persisted.position.signed_size == pytest.approx(
        exposure.amount if exposure else 0.0, abs=1e-12
    )
    if exposure is not None:
        assert persisted.position.entry_price == pytest.approx(exposure.entry_price, rel=1e-9)
    # A journal-less venue over the stored account values it at the (frozen) book.
    valued = PaperVenue(market_data=market_data, starting_balance=0.0, account=account)
    total = (await valued.fetch_balances())["USDT"].total
    assert persisted.balance is not None
    assert persisted.balance.total == pytest.approx(total, rel=1e-9)


async def audit_paper_at_rest(*, runtime: RuntimeProcess, market_data: CcxtVenue) -> None:
    """``audit_paper`` once the service is done writing (its account loop may still be)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            await audit_paper(runtime=runtime, market_data=market_data)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


async def settled_status(runtime: RuntimeProcess, *, quiet_s: float = 1.5) -> dict[str, Any]:
    """``/status`` once position, open orders and equity stayed the same for ``quiet_s``."""
    deadline = time.monotonic() + 30
    last: tuple[Any, ...] | None = None
    since = time.monotonic()
    while time.monotonic() < deadline:
        status: dict[str, Any] = (await runtime.get("/status")).json()
        now = (status["position"], status["openOrders"], status["equity"])
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"the bot did not come to rest: {last}")


async def push_until(
    *,
    runtime: RuntimeProcess,
    admin: ExchangeAdminClient,
    direction: float,
    what: str,
    reached: Callable[[], Awaitable[bool]],
) -> None:
    """Move the price 0.2 % per 0.3 s in ``direction`` until ``reached`` (``what``) holds."""
    price = float((await admin.state())["prices"]["BTCUSDT"])
    deadline = time.monotonic() + 60
    while not await reached():
        if time.monotonic() > deadline:
            raise AssertionError(f"never {what}:\n{runtime.log()[-3000:]}")
        price *= 1.0 + direction * 0.002
        await admin.set_price(symbol=BTC, price=price)
        await asyncio.sleep(0.3)


async def wait_for_line(
    *, runtime: RuntimeProcess, offset: int, line: re.Pattern[str], seconds: float
) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if line.search(runtime.log()[offset:]):
            return True
        await asyncio.sleep(0.005)
    return False


async def test_sigkill_keeps_the_paper_account_and_never_reuses_an_order_id(
    paper_runtime: RuntimeProcess,
    exchange: LocalExchange,
    admin: ExchangeAdminClient,
    walk: FreezableWalk,
) -> None:
    runtime = paper_runtime
    rng = random.Random(20_251_122)
    market_data = CcxtVenue(
        exchange_id="binanceusdm",
        mode=VenueMode.MARKET_DATA,
        base_url_override=exchange.base_url,
    )
    try:
        walk.frozen = True
        await admin.set_price(symbol=BTC, price=30_000.0)
        runtime.start()
        await runtime.wait_for("/readyz", timeout_s=90)

        # A position with its stop resting; the bot is killed at rest and comes back with it.
        async def protected_position() -> bool:
            status = (await runtime.get("/status")).json()
            return status["position"]["side"] != "flat" and bool(status["openOrders"])

        await push_until(
            runtime=runtime,
            admin=admin,
            direction=1.0,
            what="a position with its stop",
            reached=protected_position,
        )
        before = await settled_status(runtime)
        earlier = await stored_paper_orders(runtime)
        runtime.kill()
        runtime.start()
        await runtime.wait_for("/readyz", timeout_s=90)
        after = await settled_status(runtime)
        assert after["position"] == before["position"]
        assert after["openOrders"] == before["openOrders"] != []
        assert after["equity"] == pytest.approx(before["equity"], rel=1e-9)
        await audit_paper_at_rest(runtime=runtime, market_data=market_data)

        # The next orders after the restart carry new client and exchange order ids.
        async def ordered_again() -> bool:
            return len(await stored_paper_orders(runtime)) > len(earlier)

        await push_until(
            runtime=runtime,
            admin=admin,
            direction=-1.0,
            what="an order after the restart",
            reached=ordered_again,
        )
        later = await stored_paper_orders(runtime)
        new = later[len(earlier) :]
        assert not {o["clientOrderId"] for o in new} & {o["clientOrderId"] for o in earlier}
        assert [o["exchangeOrderId"] for o in later[: len(earlier)]] == [
            o["exchangeOrderId"] for o in earlier
        ]

        # Kills around order placement, alternately right after the venue answered an order
        # and at a random moment after its intent: whatever was answered is in the account.
        kills = Counter[str]()
        for round_number in range(PAPER_ROUNDS):
            after_answer = round_number % 2 == 0
            offset = len(runtime.log())
            price = float((await admin.state())["prices"]["BTCUSDT"])
            direction = rng.choice((-1.0, 1.0))
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if rng.random() < 0.3:
                    direction = -direction
                price *= 1.0 + direction * 0.002
                await admin.set_price(symbol=BTC, price=price)
                if await wait_for_line(
                    runtime=runtime,
                    offset=offset,
                    line=PLACED_LINE if after_answer else re.compile(INTENT_LINE),
                    seconds=0.3,
                ):
                    kills["after answer" if after_answer else "after intent"] += 1
                    break
            await asyncio.sleep(rng.uniform(0.0, 0.02 if after_answer else 0.3))
            runtime.kill()
            stored = {o["clientOrderId"] for o in await stored_paper_orders(runtime)}
            answered = set(PLACED_LINE.findall(runtime.log()))
            assert answered <= stored, f"answered, then lost: {answered - stored}"
            runtime.start()
            await runtime.wait_for("/readyz", timeout_s=90)
            await audit_paper_at_rest(runtime=runtime, market_data=market_data)
        assert kills["after answer"] >= PAPER_ROUNDS // 4, kills
        assert kills["after intent"] >= PAPER_ROUNDS // 4, kills
        assert await runtime.stop() == 0
    finally:
        await market_data.close()
