"""One soak trial: a bot on its own local exchange and Redis, its plan carried out, the bot
left to settle, and everything the invariants judge collected.

Called by the soak runner (``tradefleet_devtools.soak.runner``), several trials at once in one
event loop (each trial has its own exchange, Redis server, bot name, key prefix and ports).
The phases: start the bot's runtime and wait until it is ready; the active phase (the price
pushed so the bot trades both ways, the plan's steps at their offsets); settling (faults
cleared, the price frozen, hung runtimes resumed, Redis up, a runtime running, until the lease
holder reports ``phase: trading`` with ``ordersBlocked`` null and the exchange has nothing in
flight for an account-loop pass, at most ``SETTLE_BOUND_S``); a balance refresh that begins
after the ledger was read, the lease holder's status, then the ledger and Redis read again —
all of it again if the exchange saw any trading meanwhile (the price is frozen, but the bot
may still act once on the order flow it saw), so the final status describes the final ledger;
then the logs are read and everything stops.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from tradefleet_devtools.exchange import LocalExchange, LocalExchangeOptions
from tradefleet_devtools.soak import steps
from tradefleet_devtools.soak.evidence import FinalState, TrialObservation
from tradefleet_devtools.soak.market import EXCHANGE_SYMBOL, FreezablePrice, drive_prices
from tradefleet_devtools.soak.plan import TrialPlan
from tradefleet_devtools.soak.processes import (
    API_KEY,
    API_SECRET,
    SYMBOL,
    CrashableRedis,
    SoakRuntime,
    now_ms,
    runtime_config,
)
from tradefleet_devtools.soak.world import TrialWorld

READY_BOUND_S = 90.0
SETTLE_BOUND_S = 60.0
# The runtime's account loop runs every 2 s: one pass after settling cancels stale stops.
ACCOUNT_PASS_S = 2.5
REFRESH_BOUND_S = 15.0
EXCHANGE_ID = "binanceusdm"


class TrialError(RuntimeError):
    """The harness could not carry the trial out (not a finding about the bot)."""


def bot_name(plan: TrialPlan) -> str:
    return f"soak{plan.trial}"


async def run_trial(*, plan: TrialPlan, workdir: Path) -> TrialObservation:
    """Carry ``plan`` out and return what the invariants judge."""
    workdir.mkdir(parents=True, exist_ok=True)
    # The exchange's history is drawn from the walk when it is built: it must move (the bot's
    # ATR and volatility come from it); the walk is frozen until the active phase.
    price = FreezablePrice(seed=plan.seed, start_price=30_000.0)
    options = LocalExchangeOptions(
        symbols=(SYMBOL,),
        api_key=API_KEY,
        api_secret=API_SECRET,
        history_steps=13_000,
        price_sources={SYMBOL: price},
    )
    redis = CrashableRedis(workdir=workdir / "redis")
    await redis.start()
    try:
        async with LocalExchange(options) as exchange, httpx.AsyncClient() as client:
            price.frozen = True
            config = runtime_config(
                bot=bot_name(plan),
                base_url=exchange.base_url,
                redis_url=redis.url,
                key_prefix=f"tradefleet:bot:soak:{bot_name(plan)}",
                port=0,
            )
            world = TrialWorld(
                workdir=workdir, config=config, exchange=exchange, redis=redis, client=client
            )
            try:
                return await _run(world=world, plan=plan, price=price)
            finally:
                world.closing = True
                await asyncio.gather(*(runtime.terminate() for runtime in world.runtimes))
    finally:
        await redis.stop()


async def _run(*, world: TrialWorld, plan: TrialPlan, price: FreezablePrice) -> TrialObservation:
    started = now_ms()
    first = world.start_runtime(slot="primary")
    await _ready(world, runtime=first)
    background = [
        asyncio.create_task(world.watch(), name="watch"),
        asyncio.create_task(world.sample(), name="sample"),
        asyncio.create_task(world.sample_redis_file(), name="aof"),
    ]
    try:
        await _active_phase(world=world, plan=plan, price=price)
        cleared = await _calm_down(world, price=price)
        final, books = await _settle(world)
        return await _observe(
            world=world, plan=plan, started=started, cleared=cleared, final=final, books=books
        )
    finally:
        world.closing = True
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)


async def _ready(world: TrialWorld, *, runtime: SoakRuntime) -> None:
    deadline = time.monotonic() + READY_BOUND_S
    while time.monotonic() < deadline:
        if runtime.exited():
            raise TrialError(f"the first runtime exited:\n{runtime.log_text()[-3000:]}")
        try:
            reply = await world.client.get(f"{runtime.url}/readyz", timeout=2.0)
            if reply.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise TrialError(
        f"the first runtime was not ready in {READY_BOUND_S}s:\n{runtime.log_text()[-3000:]}"
    )


async def _active_phase(*, world: TrialWorld, plan: TrialPlan, price: FreezablePrice) -> None:
    world.active_started = time.monotonic()
    jobs: list[Coroutine[Any, Any, Any]] = [
        drive_prices(
            admin=world.admin,
            price=price,
            step=plan.price_step,
            period_s=plan.price_period_s,
            first_direction=plan.first_direction,
            until=lambda: world.active_over,
        ),
        _end_of_active_phase(world, active_s=plan.active_s),
    ]
    jobs += [steps.exchange_fault(world, step=step) for step in plan.exchange_faults]
    jobs += [steps.runtime_kill(world, step=step) for step in plan.kills]
    jobs += [steps.redis_kill(world, step=step) for step in plan.redis_kills]
    if plan.second_runtime is not None:
        jobs.append(steps.second_runtime(world, step=plan.second_runtime))
    async with asyncio.TaskGroup() as group:
        for job in jobs:
            group.create_task(job)


async def _end_of_active_phase(world: TrialWorld, *, active_s: float) -> None:
    await world.at(active_s)
    world.active_over = True


async def _calm_down(world: TrialWorld, *, price: FreezablePrice) -> int:
    """Faults cleared, the price frozen, nobody hung, Redis up; when faults were cleared."""
    price.frozen = True
    await world.admin.clear_faults()
    cleared = now_ms()
    for runtime in world.runtimes:
        runtime.resume()
    if world.redis.is_down:
        await world.redis.start()
    return cleared


async def _holder_status(
    world: TrialWorld,
) -> tuple[SoakRuntime | None, dict[str, Any] | None]:
    """The live runtime with the highest fencing token (a fenced one not yet gone still
    believes it holds the lease, with an older token) and its status."""
    runtimes = world.alive()
    statuses = await asyncio.gather(*(r.status(world.client) for r in runtimes))
    holding = [
        (int(status["lease"]["token"]), runtime, status)
        for runtime, status in zip(runtimes, statuses, strict=True)
        if status is not None
        and status.get("phase") != "standby"
        and (status.get("lease") or {}).get("token") is not None
    ]
    if not holding:
        return None, None
    _, runtime, status = max(holding, key=lambda entry: entry[0])
    return runtime, status


async def _calm_exchange(world: TrialWorld) -> bool:
    ledger = await world.admin.ledger()
    resting = [
        o
        for o in ledger["orders"]
        if o["status"] in ("NEW", "PARTIALLY_FILLED", "HELD") and o.get("algo_id") is None
    ]
    return not resting


@dataclass(frozen=True, kw_only=True, slots=True)
class Books:
    """The exchange's ledger and the bot's Redis records, read together."""

    ledger: dict[str, Any]
    orders: dict[str, Any]
    unresolved: frozenset[str]
    position: dict[str, Any] | None
    balance: dict[str, Any] | None


async def _read_books(world: TrialWorld) -> Books:
    """Redis first, then the ledger (so the ledger is never older than the records)."""
    client = aioredis.Redis.from_url(world.redis.url, decode_responses=True)
    prefix = world.config["redis"]["keyPrefix"]
    try:
        raw_orders = await client.hgetall(f"{prefix}:orders")
        unresolved = await client.smembers(f"{prefix}:orders:unresolved")
        position = json.loads(await client.get(f"{prefix}:position") or "null")
        balance = json.loads(await client.get(f"{prefix}:balance") or "null")
    finally:
        await client.aclose()
    return Books(
        ledger=await world.admin.ledger(),
        orders={str(cid): json.loads(raw) for cid, raw in raw_orders.items()},
        unresolved=frozenset(str(cid) for cid in unresolved),
        position=position,
        balance=balance,
    )


def _activity(ledger: dict[str, Any]) -> tuple[object, ...]:
    """What changes in a ledger when the bot trades (not the clock)."""
    return (
        tuple((o["order_id"], o["status"], o["executed_quantity"]) for o in ledger["orders"]),
        len(ledger["fills"]),
        tuple((a["algo_id"], a["status"]) for a in ledger["algo_orders"]),
    )


async def _settle(world: TrialWorld) -> tuple[FinalState, Books | None]:
    deadline = time.monotonic() + SETTLE_BOUND_S
    calm_since: float | None = None
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        world.ensure_running()
        holder, status = await _holder_status(world)
        last = status or last
        settled = (
            status is not None
            and status.get("phase") == "trading"
            and status.get("ordersBlocked") is None
            and await _calm_exchange(world)
        )
        if not settled:
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= ACCOUNT_PASS_S and holder is not None:
            at_rest = await _at_rest(world, holder=holder)
            if at_rest is not None:
                return at_rest
            # The bot traded meanwhile (a signal it still had): settle again.
            calm_since = None
        await asyncio.sleep(0.25)
    brief = {k: (last or {}).get(k) for k in ("phase", "ordersBlocked", "position", "protection")}
    return FinalState(
        settled=False,
        note=f"not settled {SETTLE_BOUND_S:.0f}s after the faults were cleared; last status "
        f"of a lease holder: {brief if last else 'none answered'}",
        status=None,
        redis_position=None,
    ), None


async def _at_rest(world: TrialWorld, *, holder: SoakRuntime) -> tuple[FinalState, Books] | None:
    """The lease holder's status after a balance refresh that began after the ledger was
    read, with the books read after it; None when the exchange saw any trading meanwhile
    (the status would not describe the ledger it is compared with)."""
    before = await world.admin.ledger()
    deadline = time.monotonic() + REFRESH_BOUND_S
    while time.monotonic() < deadline:
        books = await _read_books(world)
        refreshed = books.balance is not None and int(books.balance.get("asOfMs", 0)) > int(
            before["time_ms"]
        )
        if refreshed:
            status = await holder.status(world.client)
            books = await _read_books(world)
            if status is None or _activity(books.ledger) != _activity(before):
                return None
            final = FinalState(settled=True, note="", status=status, redis_position=books.position)
            return final, books
        await asyncio.sleep(0.2)
    return FinalState(
        settled=False,
        note=f"no balance refresh within {REFRESH_BOUND_S:.0f}s of the bot settling",
        status=None,
        redis_position=None,
    ), await _read_books(world)


async def _observe(
    *,
    world: TrialWorld,
    plan: TrialPlan,
    started: int,
    cleared: int,
    final: FinalState,
    books: Books | None,
) -> TrialObservation:
    books = books or await _read_books(world)
    return TrialObservation(
        trial=plan.trial,
        seed=plan.seed,
        bot_name=bot_name(plan),
        exchange_id=EXCHANGE_ID,
        symbol=EXCHANGE_SYMBOL,
        started_ms=started,
        ended_ms=int(books.ledger["time_ms"]),
        ledger=books.ledger,
        redis_orders=books.orders,
        redis_unresolved=books.unresolved,
        incarnations=tuple(r.incarnation() for r in world.runtimes),
        samples=tuple(world.samples),
        fault_hits=tuple(world.tap.hits),
        faults_cleared_ms=cleared,
        redis_down=tuple(world.redis.down),
        final=final,
        actions=tuple(world.actions),
    )
