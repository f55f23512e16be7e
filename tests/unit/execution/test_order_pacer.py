"""A bot's share of its account's orders per second: each order it sends waits its turn, and an
order that waited is not sent when the bot halted meanwhile."""

from __future__ import annotations

import asyncio

import pytest
from tradefleet_runtime.execution.errors import SendRefused
from tradefleet_runtime.execution.executor import OrderExecutor
from tradefleet_runtime.execution.model import (
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from tradefleet_runtime.execution.order_pacer import OrderPacer
from tradefleet_runtime.execution.signing import SendGate

pytestmark = pytest.mark.unit


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class _Venue:
    """Records when each order reached it."""

    name = "venue"
    submission_window_s = 1.0

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.sent: list[tuple[str, float]] = []

    async def create_order(self, request: OrderRequest, *, may_send: SendGate | None) -> Order:
        # Never asks may_send itself: what is refused here is the executor's doing.
        self.sent.append((request.client_order_id, self.clock.now))
        return Order(
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            status=OrderStatus.FILLED,
            exchange_order_id=str(len(self.sent)),
            client_order_id=request.client_order_id,
            amount=request.amount,
            filled=request.amount or 0.0,
            average_price=100.0,
            price=None,
            trigger_price=None,
            reduce_only=False,
            fee_cost=None,
            timestamp_ms=int(self.clock.now * 1000),
        )


def _request(client_order_id: str) -> OrderRequest:
    return OrderRequest(
        symbol="BTC/USDT:USDT",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        client_order_id=client_order_id,
        amount=0.01,
    )


async def test_orders_are_spaced_by_the_interval_and_a_quiet_bot_sends_at_once() -> None:
    clock = _Clock()
    pacer = OrderPacer(interval_s=0.5, clock=clock, sleep=clock.sleep)
    assert await pacer.wait() == 0.0  # the first order never waits
    assert await pacer.wait() == pytest.approx(0.5)
    assert await pacer.wait() == pytest.approx(0.5)
    clock.now += 10.0  # a quiet spell: the next order goes at once, without a burst after it
    assert await pacer.wait() == 0.0
    assert await pacer.wait() == pytest.approx(0.5)
    assert clock.slept == pytest.approx([0.5, 0.5, 0.5])


async def test_orders_sent_together_queue_in_turn() -> None:
    clock = _Clock()
    pacer = OrderPacer(interval_s=0.25, clock=clock, sleep=clock.sleep)
    waits = await asyncio.gather(*(pacer.wait() for _ in range(4)))
    assert sorted(waits) == pytest.approx([0.0, 0.25, 0.25, 0.25])
    assert clock.now == pytest.approx(100.75)


async def test_an_order_that_waited_its_turn_is_not_sent_once_the_bot_halted() -> None:
    clock = _Clock()
    venue = _Venue(clock)
    executor = OrderExecutor(
        venue=venue,  # type: ignore[arg-type]
        clock=clock,
        sleep=clock.sleep,
        pacer=OrderPacer(interval_s=2.0, clock=clock, sleep=clock.sleep),
    )
    await executor.place(_request("tf-entry"), fresh=True)
    await executor.place(_request("tf-stop"), fresh=True, may_send=lambda: None)
    assert venue.sent == [("tf-entry", 100.0), ("tf-stop", 102.0)]
    with pytest.raises(SendRefused, match="tf-late not sent: kill switch"):
        await executor.place(_request("tf-late"), fresh=True, may_send=lambda: "kill switch")
    assert [sent for sent, _ in venue.sent] == ["tf-entry", "tf-stop"]


def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s must be positive"):
        OrderPacer(interval_s=0)
