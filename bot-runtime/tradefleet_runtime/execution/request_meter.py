"""How many requests a bot's exchange client made in the last minute.

Made by the bot's exchange link (:mod:`tradefleet_runtime.service.exchange_link`), which hands it
to every exchange client it builds (:class:`~tradefleet_runtime.execution.venue.CcxtVenue`
records each HTTP request in it), so a rebuilt client keeps counting. The runtime's ``/status``
reports :meth:`RequestMeter.per_minute`; the operator adds up the bots of an ExchangeAccount
against the account's request budget.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

WINDOW_S = 60.0


class RequestMeter:
    """Request times of the last :data:`WINDOW_S` seconds."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._times: deque[float] = deque()

    def record(self) -> None:
        """One request is being made now."""
        now = self._clock()
        self._times.append(now)
        self._forget(now)

    def count(self, exchange: Any) -> None:
        """Record every HTTP request of a ccxt ``exchange`` (ccxt sends each through its
        ``fetch``)."""
        fetch = exchange.fetch

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.record()
            return await fetch(*args, **kwargs)

        exchange.fetch = counted

    def per_minute(self) -> int:
        """Requests made in the last minute."""
        self._forget(self._clock())
        return len(self._times)

    def _forget(self, now: float) -> None:
        while self._times and self._times[0] <= now - WINDOW_S:
            self._times.popleft()
