"""Fan-out of live events (decisions, fills, metrics, heartbeats) to ``/ws/stream`` clients.

The bot service publishes; each WebSocket connection subscribes a bounded queue. A slow client
loses its oldest events rather than slowing the decision loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

QUEUE_SIZE = 256


class EventHub:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, object]]] = set()

    def publish(self, *, kind: str, data: dict[str, object]) -> None:
        event = {"type": kind, "at": time.time(), "data": data}
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[dict[str, object]]]:
        queue: asyncio.Queue[dict[str, object]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
