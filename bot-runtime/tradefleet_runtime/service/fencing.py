"""This runtime's hold on its bot: the lease it acquires, renews and releases.

Built by :class:`~tradefleet_runtime.service.bot.BotService`. Start-up waits in
:meth:`LeaseKeeper.acquire` until no other runtime of the bot holds the lease (a replacement
started next to a runtime that is still terminating waits here, visibly, instead of trading
next to it). The renewal loop keeps it; the order path asks :meth:`LeaseKeeper.send_refusal`
before every order and cancel, and the venue asks it again once the request is signed. A
runtime stops sending as soon as its last confirmation is older than ``ttl - margin`` (so it has
stopped before any other runtime can acquire), and ends with :class:`LeaseLostError` when Redis
says another runtime took over. A confirmation counts from when it was asked for: Redis extends
the lease when it runs the request, never before it left, and a late answer (a process stopped
while the reply waited) must not make the lease look younger than Redis has it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from tradefleet_runtime.persistence.lease import LeaseError, LeaseHeld, LeaseStore, RenewOutcome
from tradefleet_runtime.service.supervisor import FatalError

LOG = logging.getLogger("tradefleet_runtime.bot")
LEASE_TTL_S = 10.0
# Often enough that a runtime on an exchange with the longest receive window (sending stops
# 6.25 s before the 10 s lease could lapse) still sends when a renewal takes over a second.
RENEW_EVERY_S = 1.0
# After a renewal that could not reach Redis: soon after Redis is back the lease is confirmed
# again, and a runtime whose sending stopped may protect its position (within 2 s).
RENEW_RETRY_S = 0.5
# Sending stops at least this long before the lease could expire in Redis: it covers the time
# between the check and the order reaching the exchange. Where the exchange refuses a signed
# request once its receive window has passed, the margin is that window at least (a request
# signed just before the check can still execute for that long).
SEND_MARGIN_S = 3.0


class LeaseLostError(FatalError):
    """Another runtime of this bot holds the lease now: this one must stop."""


class LeaseKeeper:
    """Acquire, renew and release the lease; say whether an order may be sent now."""

    def __init__(
        self,
        *,
        leases: LeaseStore,
        holder: str,
        on_wait: Callable[[], None],
        ttl_s: float = LEASE_TTL_S,
        request_lifetime_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``request_lifetime_s``: how long a signed request can still execute on the exchange
        (``signed_request_lifetime_s``), None where nothing bounds it there."""
        self.holder = holder
        self.token: int | None = None
        self.waiting_for: LeaseHeld | None = None
        self._leases = leases
        self._on_wait = on_wait
        self._ttl_ms = int(ttl_s * 1000)
        self._send_margin_s = max(SEND_MARGIN_S, request_lifetime_s or 0.0)
        self._clock = clock
        self._confirmed_at = 0.0
        self._renewal_failed = False
        self.lost: str | None = None

    @property
    def next_renewal_s(self) -> float:
        """How long until the next renewal: sooner while the last one could not reach Redis."""
        return RENEW_RETRY_S if self._renewal_failed else RENEW_EVERY_S

    async def acquire(self, *, stop: asyncio.Event) -> int | None:
        """The fencing token once acquired; None if the process stops first."""
        announced: str | None = None
        while not stop.is_set():
            self._on_wait()
            asked_at = self._clock()
            try:
                outcome = await self._leases.acquire(
                    holder=self.holder, ttl_ms=self._ttl_ms, now_ms=int(time.time() * 1000)
                )
            except LeaseError as error:
                LOG.warning("%s; retrying", error)
                await asyncio.sleep(1.0)
                continue
            if isinstance(outcome, int):
                self.token, self.waiting_for = outcome, None
                self._confirmed_at = asked_at
                LOG.info("lease acquired: fencing token %d", outcome)
                return outcome
            self.waiting_for = outcome
            if announced != outcome.holder:
                announced = outcome.holder
                LOG.warning(
                    "another runtime of this bot (%s, token %d) holds the lease for %.1fs more: "
                    "waiting, nothing is sent meanwhile",
                    outcome.holder,
                    outcome.token,
                    outcome.remaining_ms / 1000,
                )
            await asyncio.sleep(min(1.0, max(0.05, outcome.remaining_ms / 1000)))
        return None

    def send_refusal(self) -> str | None:
        """Why no order may be sent now (None: it may)."""
        if self.lost is not None:
            return self.lost
        if self.token is None:
            return "this runtime holds no lease"
        age = self._clock() - self._confirmed_at
        if age > self._ttl_ms / 1000 - self._send_margin_s:
            return (
                f"the lease was last confirmed {age:.1f}s ago (Redis unreachable, or this "
                "process stalled?)"
            )
        return None

    async def renew(self) -> None:
        """Confirm the lease once; raise :class:`LeaseLostError` when another runtime holds it."""
        assert self.token is not None
        asked_at = self._clock()
        try:
            held = await self._leases.renew(
                holder=self.holder, token=self.token, ttl_ms=self._ttl_ms
            )
        except LeaseError as error:
            if not self._renewal_failed:
                LOG.warning(
                    "%s (sending stops %.2fs before the lease could expire; retrying every %.1fs)",
                    error,
                    self._send_margin_s,
                    RENEW_RETRY_S,
                )
            self._renewal_failed = True
            return
        self._renewal_failed = False
        if held is RenewOutcome.TAKEN_OVER:
            self.lost = (
                f"lease lost: another runtime of this bot took over (this runtime held fencing "
                f"token {self.token}); stopping so that only one runtime trades"
            )
            raise LeaseLostError(self.lost)
        if held is RenewOutcome.FENCE_LOST:
            self.lost = (
                f"lease lost: Redis no longer has this bot's fencing token (it restarted without "
                f"its latest writes, or was wiped; this runtime held token {self.token}); "
                "stopping so that the next runtime starts from a fresh token"
            )
            raise LeaseLostError(self.lost)
        self._confirmed_at = asked_at

    async def release(self) -> None:
        if self.token is None:
            return
        try:
            await self._leases.release(holder=self.holder)
        except LeaseError as error:
            LOG.warning("%s: the next runtime waits for the lease to expire", error)
