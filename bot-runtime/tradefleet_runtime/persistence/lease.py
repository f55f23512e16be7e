"""The per-bot lease in Redis, with a fencing token that only grows.

At most one runtime of a bot may trade. Each runtime process acquires ``<p>:lease`` before it
reconciles or sends anything, renews it while it runs and releases it on a clean stop. Each
acquisition draws a new fencing token and stores it in ``<p>:fence``; the token is
``max(previous token + 1, now in ms)``, so it grows even when Redis lost the counter (a crash
under ``appendfsync everysec``), and the runtime's decision ids (``<base36 token>-<seq>``) never
repeat. Every state write of :class:`~tradefleet_runtime.persistence.store.StateStore` checks
the token in the same transaction (WATCH/MULTI): a runtime whose token was superseded cannot
write, and :class:`FencedError` tells it to stop.

The scripts run atomically in Redis; durations are measured by the runtime with its monotonic
clock, only the token's floor uses wall-clock time. Called by
:class:`~tradefleet_runtime.service.fencing.LeaseKeeper`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import redis.asyncio as aioredis
from redis.exceptions import RedisError

# KEYS: lease hash, fence counter. ARGV: holder, ttl ms, now ms.
# Returns {1, token} when acquired, {0, token of the holder, holder, remaining ttl ms} when not.
_ACQUIRE = """
local holder = redis.call('HGET', KEYS[1], 'holder')
if holder and holder ~= ARGV[1] then
  return {0, tonumber(redis.call('HGET', KEYS[1], 'token') or '0'), holder,
          redis.call('PTTL', KEYS[1])}
end
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
local token = math.max(fence + 1, tonumber(ARGV[3]))
local text = string.format('%d', token)
redis.call('SET', KEYS[2], text)
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', text)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, token}
"""

# KEYS: lease hash, fence counter. ARGV: holder, token, ttl ms.
# Renews (or re-claims after the key expired during an outage) only while the fence is still
# this holder's token: nobody else acquired meanwhile.
_RENEW = """
local fence = redis.call('GET', KEYS[2])
if not fence then return -1 end
if fence ~= ARGV[2] then return 0 end
local holder = redis.call('HGET', KEYS[1], 'holder')
if holder and holder ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: lease hash. ARGV: holder.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class LeaseError(Exception):
    """Redis could not be asked about the lease (the outcome is unknown)."""


class FencedError(Exception):
    """This runtime's fencing token was superseded: another runtime of the bot holds the lease."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LeaseHeld:
    """Someone else holds the lease."""

    holder: str
    token: int
    remaining_ms: int


class RenewOutcome(StrEnum):
    HELD = "held"
    # Another runtime acquired the lease (the fence holds a newer token).
    TAKEN_OVER = "taken_over"
    # The fence key is gone: Redis lost its latest writes (restarted from an older state)
    # or was wiped. Nobody can prove this runtime is the only one, so it is fenced too.
    FENCE_LOST = "fence_lost"


class LeaseStore:
    """The lease and fence keys of one bot (one key prefix)."""

    def __init__(self, *, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self.lease_key = f"{prefix}:lease"
        self.fence_key = f"{prefix}:fence"

    async def acquire(self, *, holder: str, ttl_ms: int, now_ms: int) -> int | LeaseHeld:
        """The new fencing token, or who holds the lease now."""
        try:
            reply = await self._redis.eval(
                _ACQUIRE, 2, self.lease_key, self.fence_key, holder, ttl_ms, now_ms
            )
        except (RedisError, OSError) as error:
            raise LeaseError(f"acquiring the lease failed: {error}") from None
        if int(reply[0]) == 1:
            return int(reply[1])
        return LeaseHeld(holder=str(reply[2]), token=int(reply[1]), remaining_ms=int(reply[3]))

    async def renew(self, *, holder: str, token: int, ttl_ms: int) -> RenewOutcome:
        """Whether the lease is still this holder's, and if not, why."""
        try:
            reply = await self._redis.eval(
                _RENEW, 2, self.lease_key, self.fence_key, holder, str(token), ttl_ms
            )
        except (RedisError, OSError) as error:
            raise LeaseError(f"renewing the lease failed: {error}") from None
        return {1: RenewOutcome.HELD, -1: RenewOutcome.FENCE_LOST}.get(
            int(reply), RenewOutcome.TAKEN_OVER
        )

    async def release(self, *, holder: str) -> None:
        try:
            await self._redis.eval(_RELEASE, 1, self.lease_key, holder)
        except (RedisError, OSError) as error:
            raise LeaseError(f"releasing the lease failed: {error}") from None
