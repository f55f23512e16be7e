"""Carrying out the steps of a trial plan on a running trial (exchange faults, runtime kills,
Redis crashes, a second runtime).

Called by the trial runner (``tradefleet_devtools.soak.trial``), one task per step, during the
active phase; each step waits for its offset (``TrialWorld.at``) and notes what it did in the
world's actions, which the summary counts as faults injected by kind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tradefleet_devtools.exchange.faults import FaultKind, FaultRule
from tradefleet_devtools.soak.evidence import INTENT_LINE
from tradefleet_devtools.soak.plan import (
    ExchangeFault,
    KillPoint,
    RedisKill,
    RuntimeKill,
    SecondRuntime,
    SecondRuntimeThen,
)
from tradefleet_devtools.soak.processes import SoakRuntime, now_ms
from tradefleet_devtools.soak.world import TrialWorld

POLL_S = 0.02


async def exchange_fault(world: TrialWorld, *, step: ExchangeFault) -> None:
    await world.at(step.at_s)
    await world.admin.add_faults([step.rule])


async def _wait(world: TrialWorld, *, found: Callable[[], object]) -> bool:
    """Poll ``found()`` until true or the active phase is over."""
    while not world.active_over:
        if found():
            return True
        await asyncio.sleep(POLL_S)
    return bool(found())


async def runtime_kill(world: TrialWorld, *, step: RuntimeKill) -> None:
    await world.at(step.at_s)
    point, detail = step.point, ""
    target = world.holder()
    if step.point is KillPoint.AFTER_INTENT:
        if target is not None and await _intent_after(world, runtime=target):
            await asyncio.sleep(step.delay_s)
            detail = f"{step.delay_s * 1000:.0f} ms after an order intent line"
        else:
            point = KillPoint.ANY_TIME
    elif step.point is KillPoint.ACCEPTED_NOT_RECORDED:
        point, detail = await _in_accept_window(world, step=step)
    if target is None or not target.alive or point is not KillPoint.AFTER_INTENT:
        # Only the lease holder sends orders: the one whose request the exchange accepted.
        target = world.holder()
    if target is None:
        return
    await world.kill(
        target,
        kind=f"runtime kill ({point.value})",
        restart_after_s=step.restart_after_s,
        detail=detail,
    )


async def _intent_after(world: TrialWorld, *, runtime: SoakRuntime) -> bool:
    """Wait for ``runtime``'s next ``order intent recorded`` line."""
    seen = len(runtime.log_text())
    return await _wait(
        world, found=lambda: INTENT_LINE.search(runtime.log_text()[seen:]) is not None
    )


async def _in_accept_window(world: TrialWorld, *, step: RuntimeKill) -> tuple[KillPoint, str]:
    """Hold the reply of the next ``POST <window>`` after the exchange executed it; return
    once the kill is due, inside that window."""
    mark = now_ms()
    await world.admin.add_faults(
        [
            FaultRule(
                kind=FaultKind.ACCEPT_THEN_TIMEOUT,
                method="POST",
                path=step.window,
                hold_seconds=step.hold_s,
            )
        ]
    )
    kind = FaultKind.ACCEPT_THEN_TIMEOUT.value
    if not await _wait(
        world, found=lambda: world.tap.hits_since(mark, kind=kind, path=step.window)
    ):
        return KillPoint.ANY_TIME, ""
    hit = world.tap.hits_since(mark, kind=kind, path=step.window)[0]
    await asyncio.sleep(max(0.0, hit.at_ms / 1000 + step.delay_s - time.time()))
    ledger = await world.admin.ledger()
    booked = [
        o["client_order_id"] for o in ledger["orders"] if abs(o["received_ms"] - hit.at_ms) < 100
    ]
    booked += [
        a["client_algo_id"] for a in ledger["algo_orders"] if abs(a["created_ms"] - hit.at_ms) < 100
    ]
    return KillPoint.ACCEPTED_NOT_RECORDED, (
        f"{now_ms() - hit.at_ms} ms after the exchange executed POST {step.window} "
        f"{', '.join(booked) or '(not found in the ledger)'}, its reply held {step.hold_s}s"
    )


async def redis_kill(world: TrialWorld, *, step: RedisKill) -> None:
    await world.at(step.at_s)
    detail = await world.redis.crash(lose_unsynced=step.lose_unsynced)
    lost = "bytes lost" in detail
    world.note("redis kill (last second of writes lost)" if lost else "redis kill", detail=detail)
    await asyncio.sleep(step.down_s)
    await world.redis.start()


async def second_runtime(world: TrialWorld, *, step: SecondRuntime) -> None:
    await world.at(step.at_s)
    first = world.holder()
    second = world.start_runtime(slot="second")
    world.note("second runtime", detail=f"{second.name} next to {first.name if first else 'none'}")
    await asyncio.sleep(step.after_s)
    if step.then is SecondRuntimeThen.SECOND_KILLED:
        await world.kill(second, kind="runtime kill (the second runtime)", restart_after_s=0.0)
        return
    holder = world.holder()
    target = holder if holder is not None and holder is not second else first
    if target is None or not target.alive:
        return
    if step.then is SecondRuntimeThen.FIRST_KILLED:
        await world.kill(
            target, kind="runtime kill (the first of two runtimes)", restart_after_s=1.0
        )
    elif step.then is SecondRuntimeThen.FIRST_HUNG:
        target.hang()
        world.note("runtime hang (SIGSTOP)", detail=f"{target.name} for {step.hang_s}s")
        await asyncio.sleep(step.hang_s)
        target.resume()
