"""The end of a Redis outage is noticed within a second, however long the outage was.

Every order's intent is written to Redis before the order is sent: while a write waits out an
outage, nothing is sent, a filled entry whose stop has fired included. A soak trial (seed 10292)
saw the write retried 3.2 s after its previous try, so the bot went on waiting 2.8 s after Redis
was back, with a long position and no stop on the exchange for 3.06 s.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tradefleet_runtime.persistence.lease import LeaseError, RenewOutcome
from tradefleet_runtime.persistence.store import StateStoreError
from tradefleet_runtime.service.fencing import RENEW_EVERY_S, LeaseKeeper
from tradefleet_runtime.service.healing import HealingLog
from tradefleet_runtime.service.store_access import GuardedStore

pytestmark = pytest.mark.unit


async def test_a_write_during_a_long_outage_is_retried_at_least_every_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded(delay: float, *args: Any) -> None:
        waits.append(delay)
        await real_sleep(0)

    monkeypatch.setattr("tradefleet_runtime.service.store_access.asyncio.sleep", recorded)
    guarded = GuardedStore(
        store=None,  # type: ignore[arg-type]
        healing=HealingLog(),
        stop_event=asyncio.Event(),
        on_wait=lambda: None,
    )
    failures = 12  # about 10 s of outage

    async def write() -> str:
        nonlocal failures
        if failures:
            failures -= 1
            raise StateStoreError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return "written"

    assert await guarded.call(write, what="recording an order intent") == "written"
    assert sum(waits) >= 8.0, f"the retries gave up waiting early: {waits}"
    assert max(waits) <= 1.0, f"a retry came {max(waits):.1f}s after the one before: {waits}"


class _FlakyLeases:
    """A lease store that Redis answers only while ``up``."""

    def __init__(self) -> None:
        self.up = True

    async def renew(self, *, holder: str, token: int, ttl_ms: int) -> RenewOutcome:
        if not self.up:
            raise LeaseError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return RenewOutcome.HELD


async def test_the_lease_is_confirmed_within_half_a_second_of_redis_being_back() -> None:
    leases = _FlakyLeases()
    keeper = LeaseKeeper(leases=leases, holder="bot-0/abc", on_wait=lambda: None)  # type: ignore[arg-type]
    keeper.token = 7
    await keeper.renew()
    assert keeper.next_renewal_s == RENEW_EVERY_S
    leases.up = False
    await keeper.renew()
    assert keeper.next_renewal_s <= 0.5, "a failed renewal waits the whole renewal interval"
    leases.up = True
    await keeper.renew()
    assert keeper.next_renewal_s == RENEW_EVERY_S
    assert keeper.send_refusal() is None
