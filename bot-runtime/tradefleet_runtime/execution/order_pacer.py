"""Spaces a bot's orders by its share of its ExchangeAccount's orders-per-second budget.

Made by the bot's exchange link (:mod:`tradefleet_runtime.service.exchange_link`) from
``exchange.orderIntervalMs`` and handed to every :class:`~tradefleet_runtime.execution.executor.
OrderExecutor` it builds, so a rebuilt client keeps the spacing. The executor waits here before it
sends each order, a resend included (the exchange counts every order it is sent); cancels and
reads are not orders and are spaced only by the request budget (ccxt's ``rateLimit``).

The operator gives each of an account's N bots ``N / ordersPerSecond`` seconds between orders, so
in any window of W seconds the fleet sends at most ``ordersPerSecond * W`` orders plus one per
bot (each bot's first may leave at once): the budget holds over windows long against
``N / ordersPerSecond``, which is how exchanges count orders (Binance: per 10 s and per minute).
An entry that waited its turn is asked again whether it may leave
(:class:`~tradefleet_runtime.service.order_sender.OrderSender`): not if the bot halted, paused
or its breaker opened meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class OrderPacer:
    """The least time between two orders one bot sends."""

    def __init__(
        self,
        *,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._next_s = float("-inf")
        # Two orders at once (an entry's stop and a close, say) queue in turn, not together.
        self._turn = asyncio.Lock()

    async def wait(self) -> float:
        """Return when the next order may be sent; the seconds it waited."""
        async with self._turn:
            now = self._clock()
            delay = max(0.0, self._next_s - now)
            if delay > 0:
                await self._sleep(delay)
            self._next_s = now + delay + self.interval_s
            return delay
