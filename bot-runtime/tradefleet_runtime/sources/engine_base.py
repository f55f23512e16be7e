"""What every SignalSource engine shares: the engine interface and how a reading is published."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from pathlib import Path

import httpx

from tradefleet_runtime.signals.errors import SignalSourceError
from tradefleet_runtime.signals.feeds import read_document
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.sources.stream import SourceReading

FEED_TIMEOUT_S = 10.0


def coin_of(symbol: str) -> str:
    return symbol.partition("/")[0]


def source_reading(*, symbol: str, reading: SignalReading, kind: str) -> SourceReading:
    return SourceReading(
        symbol=symbol,
        value=reading.value,
        confidence=reading.confidence,
        as_of_ms=reading.as_of_ms,
        kind=kind,
    )


class SourceEngine(abc.ABC):
    """Computes one kind of reading for the source's symbols."""

    def __init__(self) -> None:
        self._problems: list[str] = []

    def problems(self) -> list[str]:
        return list(self._problems)

    @abc.abstractmethod
    async def readings(self, *, symbols: Sequence[str], now_ms: int) -> list[SourceReading]: ...


def header_files(directory: Path) -> dict[str, str]:
    """A mounted header Secret: file name = header, content = value (OSError if unreadable).
    A mounted Secret also holds its own ``..data`` links; a header name has no leading dot."""
    files = sorted(directory.iterdir())
    return {f.name: f.read_text().strip() for f in files if not f.name.startswith(".")}


async def read_all(
    *, locations: Sequence[str], timeout_s: float, client: httpx.AsyncClient
) -> list[bytes | SignalSourceError]:
    """Every location's document, or why it could not be read, in order. The feeds are read
    together, so a round with slow feeds lasts one timeout, not one per feed (a round longer
    than the liveness window would get the pod restarted)."""

    async def one(location: str) -> bytes | SignalSourceError:
        try:
            return await read_document(location=location, timeout_s=timeout_s, client=client)
        except SignalSourceError as error:
            return error

    return list(await asyncio.gather(*(one(location) for location in locations)))
