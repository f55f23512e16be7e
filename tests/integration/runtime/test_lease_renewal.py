"""The lease's renewal against a real Redis says why a runtime is fenced: another runtime took
over, or Redis lost the fencing token (restarted without its latest writes, or wiped)."""

from __future__ import annotations

import time
import uuid

import pytest
import redis.asyncio as aioredis
from tradefleet_devtools.redis_server import RedisAccess
from tradefleet_runtime.persistence.lease import LeaseHeld, LeaseStore, RenewOutcome

pytestmark = pytest.mark.integration


async def test_renewal_tells_a_take_over_from_a_lost_fencing_token(
    redis_server: RedisAccess,
) -> None:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    leases = LeaseStore(redis=client, prefix=f"tradefleet:bot:test:{uuid.uuid4().hex[:8]}")
    try:
        token = await leases.acquire(holder="a", ttl_ms=10_000, now_ms=int(time.time() * 1000))
        assert isinstance(token, int)
        assert await leases.renew(holder="a", token=token, ttl_ms=10_000) is RenewOutcome.HELD
        held = await leases.acquire(holder="b", ttl_ms=10_000, now_ms=int(time.time() * 1000))
        assert isinstance(held, LeaseHeld) and held.holder == "a"

        await client.delete(leases.fence_key)
        lost = await leases.renew(holder="a", token=token, ttl_ms=10_000)
        assert lost is RenewOutcome.FENCE_LOST

        await client.delete(leases.lease_key)
        newer = await leases.acquire(holder="b", ttl_ms=10_000, now_ms=int(time.time() * 1000))
        assert isinstance(newer, int) and newer > token
        taken = await leases.renew(holder="a", token=token, ttl_ms=10_000)
        assert taken is RenewOutcome.TAKEN_OVER
    finally:
        await client.aclose()
