"""Reconcile pass slots: a new bot's first pass does not queue behind routine passes."""

from __future__ import annotations

import asyncio

import pytest
from tradefleet_operator.slots import PassSlots

pytestmark = pytest.mark.unit


async def _run_queue(*, slots: PassSlots, size: int, passes: list[tuple[str, bool]]) -> list[str]:
    """Each pass holds its slot for one loop turn; return the order the passes got in."""
    order: list[str] = []
    running = 0
    most = 0

    async def one(name: str, urgent: bool) -> None:
        nonlocal running, most
        await slots.acquire(urgent=urgent)
        running += 1
        most = max(most, running)
        order.append(name)
        await asyncio.sleep(0)
        running -= 1
        slots.release()

    await asyncio.gather(*(one(name, urgent) for name, urgent in passes))
    assert most <= size
    return order


def test_urgent_passes_go_before_routine_ones_waiting_longer() -> None:
    slots = PassSlots(size=2)
    order = asyncio.run(
        _run_queue(
            slots=slots,
            size=2,
            passes=[
                ("refresh-a", False),
                ("refresh-b", False),
                ("refresh-c", False),
                ("refresh-d", False),
                ("new-bot-1", True),
                ("new-bot-2", True),
            ],
        )
    )
    # Two routine passes held the slots; every waiting urgent one ran before the routine ones.
    assert order[:2] == ["refresh-a", "refresh-b"]
    assert order[2:4] == ["new-bot-1", "new-bot-2"]
    assert order[4:] == ["refresh-c", "refresh-d"]


def test_a_cancelled_waiter_leaves_its_place_and_no_slot_is_lost() -> None:
    async def scenario() -> list[str]:
        slots = PassSlots(size=1)
        await slots.acquire(urgent=False)
        waiter = asyncio.create_task(slots.acquire(urgent=True))
        await asyncio.sleep(0)
        assert slots.waiting == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert slots.waiting == 0
        slots.release()
        # The one slot is free again: two passes in turn still get it.
        return await _run_queue(slots=slots, size=1, passes=[("a", False), ("b", True)])

    assert sorted(asyncio.run(scenario())) == ["a", "b"]


def test_a_pool_without_slots_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one pass"):
        PassSlots(size=0)


async def test_the_slots_tell_while_a_pass_on_an_unreconciled_spec_waits() -> None:
    """What paces status writes in a burst (:func:`tradefleet_operator.status_pacing.hold_s`)."""
    slots = PassSlots(size=1)
    await slots.acquire(urgent=False)
    routine = asyncio.ensure_future(slots.acquire(urgent=False))
    await asyncio.sleep(0)
    assert not slots.urgent_waiting, "a routine pass waiting is no burst"
    urgent = asyncio.ensure_future(slots.acquire(urgent=True))
    await asyncio.sleep(0)
    assert slots.urgent_waiting
    slots.release()  # the urgent pass goes next
    await urgent
    assert not slots.urgent_waiting
    slots.release()
    await routine
    slots.release()
