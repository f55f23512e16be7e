"""The lease counts as fresh from when its confirmation was asked for, not from when the answer
came, and sending stops early enough that a signed request dies before the lease can lapse.

Redis extends the lease when it runs the renewal, which is after the request left. An answer
that arrives late (a runtime stopped, SIGSTOP, while the reply sat in its socket) must not make
the lease look younger than it is in Redis: by then another runtime may already hold it.
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


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class _SlowLeases:
    """A lease store whose answers arrive ``delay_s`` after the request."""

    def __init__(self, clock: _Clock, *, delay_s: float = REPLY_DELAY_S) -> None:
        self.clock = clock
        self.delay_s = delay_s

    async def acquire(self, *, holder: str, ttl_ms: int, now_ms: int) -> int | LeaseHeld:
        self.clock.now += self.delay_s
        return 4

    async def renew(self, *, holder: str, token: int, ttl_ms: int) -> RenewOutcome:
        self.clock.now += self.delay_s
        return RenewOutcome.HELD


def _keeper(
    *, delay_s: float, ttl_s: float = TTL_S, request_lifetime_s: float | None = None
) -> LeaseKeeper:
    clock = _Clock()
    return LeaseKeeper(
        leases=_SlowLeases(clock, delay_s=delay_s),  # type: ignore[arg-type]
        holder="bot-0/abc",
        on_wait=lambda: None,
        ttl_s=ttl_s,
        request_lifetime_s=request_lifetime_s,
        clock=clock,
    )


async def test_a_renewal_answered_late_leaves_the_lease_as_old_as_its_request() -> None:
    keeper = _keeper(delay_s=REPLY_DELAY_S)
    keeper.token = 4
    await keeper.renew()
    assert keeper.send_refusal() == (
        "the lease was last confirmed 1.5s ago (Redis unreachable, or this process stalled?)"
    )


async def test_an_acquisition_answered_late_leaves_the_lease_as_old_as_its_request() -> None:
    keeper = _keeper(delay_s=REPLY_DELAY_S)
    assert await keeper.acquire(stop=asyncio.Event()) == 4
    assert keeper.send_refusal() is not None


async def test_a_prompt_renewal_keeps_sending_open() -> None:
    keeper = _keeper(delay_s=0.001)
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
    keeper = _keeper(
        delay_s=REPLY_DELAY_S,
        ttl_s=7.5,
        request_lifetime_s=signed_request_lifetime_s(exchange_id=exchange_id, recv_window_ms=5_000),
    )
    keeper.token = 4
    await keeper.renew()  # confirmed 1.5 s ago
    assert (keeper.send_refusal() is not None) is refused
