"""How many reconcile passes run at once, and which waiting pass goes next.

Used by the pass loop (:mod:`tradefleet_operator.passes`): every pass holds a slot while it runs. Passes that
act on a spec not yet reconciled (a new bot, an edited one) are urgent and go before routine ones
(a child's status changed, a health poll): in a burst of new bots, each bot's first pass, the one
that creates its workload, would otherwise queue behind refreshes of the bots already running.
"""

from __future__ import annotations

import asyncio
from collections import deque


class PassSlots:
    """At most ``size`` passes at once; urgent waiters first, each kind in arrival order."""

    def __init__(self, *, size: int) -> None:
        if size < 1:
            raise ValueError(f"at least one pass must be able to run, not {size}")
        self._free = size
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._routine: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._routine)

    @property
    def urgent_waiting(self) -> bool:
        """Whether a pass on a spec not yet reconciled waits for a slot."""
        return any(not granted.done() for granted in self._urgent)

    async def acquire(self, *, urgent: bool) -> None:
        if self._free > 0 and not self.waiting:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._routine
        queue.append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release()  # handed a slot just as it was cancelled: pass it on
            elif granted in queue:
                queue.remove(granted)
            raise

    def release(self) -> None:
        """Hand the slot to the next waiter, urgent ones first, or return it to the pool."""
        for queue in (self._urgent, self._routine):
            while queue:
                granted = queue.popleft()
                if not granted.done():
                    granted.set_result(None)
                    return
        self._free += 1
