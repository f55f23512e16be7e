"""The lease counts as fresh from when its confirmation was asked for, not from when the answer came.

Redis extends the lease when it runs the renewal, which is after the request left. An answer that
arrives late (a runtime stopped, SIGSTOP, while the reply sat in its socket) must not make the
lease look younger than it is in Redis: by then another runtime may already hold it.
"""

from __future__ import annotations

import asyncio

import pytest
from tradefleet_runtime.execution.signing import signed_request_lifetime_s
from tradefleet_runtime.persistence.lease import LeaseHeld, RenewOutcome
from tradefleet_runtime.service.fencing import SEND_MARGIN_S, LeaseKeeper

pytestmark = pytest.mark.unit

TTL_S = SEND_MARGIN_S + 1.0  # sending stops 1 s after the last confirmation
REPLY_DELAY_S = 1.5


class _SlowLeases:
    """A lease store whose answers arrive ``REPLY_DELAY_S`` after the request."""

    async def acquire(self, *, holder: str, ttl_ms: int, now_ms: int) -> int | LeaseHeld:
        await asyncio.sleep(REPLY_DELAY_S)
        return 4

    async def renew(self, *, holder: str, token: int, ttl_ms: int) -> RenewOutcome:
        await asyncio.sleep(REPLY_DELAY_S)
        return RenewOutcome.HELD


class _PromptLeases(_SlowLeases):
    async def renew(self, *, holder: str, token: int, ttl_ms: int) -> RenewOutcome:
        return RenewOutcome.HELD


def _keeper(leases: _SlowLeases) -> LeaseKeeper:
    return LeaseKeeper(leases=leases, holder="bot-0/abc", on_wait=lambda: None, ttl_s=TTL_S)  # type: ignore[arg-type]


async def test_a_renewal_answered_late_leaves_the_lease_as_old_as_its_request() -> None:
    keeper = _keeper(_SlowLeases())
    keeper.token = 4
    await keeper.renew()
    refusal = keeper.send_refusal()
    assert refusal is not None and "last confirmed 1.5s ago" in refusal


async def test_an_acquisition_answered_late_leaves_the_lease_as_old_as_its_request() -> None:
    keeper = _keeper(_SlowLeases())
    assert await keeper.acquire(stop=asyncio.Event()) == 4
    assert keeper.send_refusal() is not None


async def test_a_prompt_renewal_keeps_sending_open() -> None:
    keeper = _keeper(_PromptLeases())
    keeper.token = 4
    await keeper.renew()
    assert keeper.send_refusal() is None


@pytest.mark.parametrize(
    ("exchange_id", "refused"),
    # binanceusdm refuses a signed request 5 s (its recvWindow) + 1.25 s after it was signed:
    # that must end before the lease can lapse. okx bounds nothing; the 3 s margin stands.
    [("binanceusdm", True), ("okx", False)],
)
async def test_sending_stops_a_signed_requests_lifetime_before_the_lease_can_lapse(
    exchange_id: str, refused: bool
) -> None:
    lifetime = signed_request_lifetime_s(exchange_id=exchange_id, recv_window_ms=5_000)
    keeper = LeaseKeeper(
        leases=_SlowLeases(),  # type: ignore[arg-type]
        holder="bot-0/abc",
        on_wait=lambda: None,
        ttl_s=7.5,
        request_lifetime_s=lifetime,
    )
    keeper.token = 4
    await keeper.renew()  # confirmed 1.5 s ago
    assert (keeper.send_refusal() is not None) is refused
