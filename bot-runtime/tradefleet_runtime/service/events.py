"""Fan-out of live events (decisions, fills, metrics, heartbeats) to ``/ws/stream`` clients.

The bot service publishes; each WebSocket connection subscribes a bounded queue. A slow client
loses its oldest events rather than slowing the decision loop, and at most
``MAX_SUBSCRIBERS`` clients are served at once: publishing costs the decision loop one queue
put per client, so the number of clients must not grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

QUEUE_SIZE = 256
MAX_SUBSCRIBERS = 32


class TooManySubscribersError(Exception):
    """Every stream slot is taken; the client is turned away."""


class EventHub:
    def __init__(self, *, max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, object]]] = set()
        self._max_subscribers = max_subscribers

    def publish(self, *, kind: str, data: dict[str, object]) -> None:
        event = {"type": kind, "at": time.time(), "data": data}
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def subscribe(self) -> contextlib.AbstractContextManager[asyncio.Queue[dict[str, object]]]:
        """A queue of the events from now on, while the context lasts; refused (at once, not
        on entering) when every slot is taken."""
        if len(self._subscribers) >= self._max_subscribers:
            raise TooManySubscribersError(
                f"at most {self._max_subscribers} stream clients at once; try again later"
            )
        return self._subscription()

    @contextlib.contextmanager
    def _subscription(self) -> Iterator[asyncio.Queue[dict[str, object]]]:
        queue: asyncio.Queue[dict[str, object]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
