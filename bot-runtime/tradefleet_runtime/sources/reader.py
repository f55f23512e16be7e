"""How a bot reads the SignalSources it references: the latest reading per source, per symbol.

The bot service calls :meth:`SourceReader.refresh` every few seconds and hands
:meth:`SourceReader.readings` to fusion. Sources of one fusion input (sentiment, macro, whale)
are averaged by their weights into one reading of that input; a source whose stream is missing,
unreadable, at zero confidence or older than the input's staleness limit is left out (fusion
renormalises the weights) and shown in :meth:`SourceReader.status` — never an error for the bot.

Sources publish per base/quote pair: a futures bot (``BTC/USDT:USDT``) reads the entries of its
spot pair (``BTC/USDT``) and prefers entries for its exact symbol when a source publishes both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tradefleet_runtime.config import SourceRef
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.sources.stream import SourceReading, StreamEntryError

ENTRIES_SCANNED = 200


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceSnapshot:
    """What the bot knows about one referenced source."""

    name: str
    weight: float
    reading: SourceReading | None
    problem: str

    def to_dict(self, *, now_ms: int, max_age_ms: Mapping[str, int]) -> dict[str, object]:
        reading = self.reading
        fresh = reading is not None and now_ms - reading.as_of_ms <= max_age_ms.get(reading.kind, 0)
        says = reading is not None and reading.confidence > 0.0
        quiet = None if reading is None else ("zero confidence" if fresh else "stale")
        return {
            "name": self.name,
            "weight": self.weight,
            "found": reading is not None,
            "ready": fresh and says,
            "weightApplied": self.weight if fresh and says else 0.0,
            "reading": reading.to_dict() if reading else None,
            "problem": self.problem or (None if fresh and says else quiet),
        }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def spot_pair(symbol: str) -> str:
    """The base/quote pair of a ccxt symbol: ``BTC/USDT:USDT`` → ``BTC/USDT``."""
    return symbol.partition(":")[0]


def snapshot_of(
    *, ref: SourceRef, symbol: str, entries: Sequence[Mapping[str, str]]
) -> SourceSnapshot:
    """What ``ref``'s stream says for ``symbol``, from its entries newest first: the newest entry
    for the symbol itself, else the newest for its spot pair; a malformed entry is skipped and
    named. Used by the live reader and by a backtest over a recording
    (:mod:`tradefleet_runtime.sources.recording`)."""
    if not entries:
        return SourceSnapshot(
            name=ref.name, weight=ref.weight, reading=None, problem="no readings published"
        )
    problem = ""
    spot = spot_pair(symbol)
    fallback: SourceReading | None = None
    for fields in entries:
        published = fields.get("symbol")
        if published != symbol and (published != spot or fallback is not None):
            continue
        try:
            reading = SourceReading.from_fields(fields)
        except StreamEntryError as error:
            problem = f"malformed entry skipped: {error}"
            continue
        if published != symbol:
            # The spot pair's newest entry, unless one for the exact symbol turns up.
            fallback = reading
            continue
        return SourceSnapshot(name=ref.name, weight=ref.weight, reading=reading, problem=problem)
    if fallback is not None:
        return SourceSnapshot(name=ref.name, weight=ref.weight, reading=fallback, problem=problem)
    wanted = symbol if spot == symbol else f"{symbol} or {spot}"
    return SourceSnapshot(
        name=ref.name,
        weight=ref.weight,
        reading=None,
        problem=problem or f"no reading for {wanted} in the last {len(entries)} entries",
    )


def combine_readings(
    *, snapshots: Iterable[SourceSnapshot], now_ms: int, max_age_ms: Mapping[str, int]
) -> list[SignalReading]:
    """One reading per fusion input: the weighted mean of its sources that are fresh at
    ``now_ms`` and say something (confidence above 0)."""
    sums: dict[str, list[float]] = {}
    for snapshot in snapshots:
        reading = snapshot.reading
        if reading is None or snapshot.weight <= 0.0 or reading.confidence <= 0.0:
            continue
        if now_ms - reading.as_of_ms > max_age_ms.get(reading.kind, 0):
            continue
        total = sums.setdefault(reading.kind, [0.0, 0.0, 0.0, float(reading.as_of_ms)])
        total[0] += snapshot.weight * reading.value
        total[1] += snapshot.weight * reading.confidence
        total[2] += snapshot.weight
        total[3] = min(total[3], float(reading.as_of_ms))
    return [
        SignalReading(
            name=kind,
            value=max(-1.0, min(1.0, value / weight)),
            confidence=max(0.0, min(1.0, confidence / weight)),
            as_of_ms=int(oldest),
            detail=f"{kind} from SignalSources",
        )
        for kind, (value, confidence, weight, oldest) in sums.items()
    ]


class SourceReader:
    """Latest readings of the referenced sources for one symbol."""

    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        refs: Sequence[SourceRef],
        symbol: str,
        max_age_ms: Mapping[str, int],
    ) -> None:
        self._redis = redis
        self._symbol = symbol
        self._max_age_ms = max_age_ms
        self._refs = tuple(refs)
        self._snapshots = {
            ref.name: SourceSnapshot(name=ref.name, weight=ref.weight, reading=None, problem="")
            for ref in refs
        }

    def reconfigure(self, *, refs: Sequence[SourceRef], max_age_ms: Mapping[str, int]) -> None:
        self._refs = tuple(refs)
        self._max_age_ms = max_age_ms
        self._snapshots = {
            ref.name: self._snapshots.get(ref.name)
            or SourceSnapshot(name=ref.name, weight=ref.weight, reading=None, problem="")
            for ref in refs
        }

    async def refresh(self) -> None:
        for ref in self._refs:
            self._snapshots[ref.name] = await self._latest(ref)

    async def _latest(self, ref: SourceRef) -> SourceSnapshot:
        previous = self._snapshots.get(ref.name)
        kept = previous.reading if previous else None
        try:
            entries = await self._redis.xrevrange(ref.redis_stream, count=ENTRIES_SCANNED)
        except (RedisError, OSError) as error:
            return SourceSnapshot(
                name=ref.name,
                weight=ref.weight,
                reading=kept,
                problem=f"stream unreadable: {error}",
            )
        fields = [{_text(k): _text(v) for k, v in (raw or {}).items()} for _, raw in entries or []]
        return snapshot_of(ref=ref, symbol=self._symbol, entries=fields)

    def readings(self, *, now_ms: int) -> list[SignalReading]:
        """One reading per fusion input: the weighted mean of its fresh sources."""
        return combine_readings(
            snapshots=self._snapshots.values(), now_ms=now_ms, max_age_ms=self._max_age_ms
        )

    def status(self, *, now_ms: int) -> list[dict[str, object]]:
        return [
            snapshot.to_dict(now_ms=now_ms, max_age_ms=self._max_age_ms)
            for snapshot in self._snapshots.values()
        ]

    def latest(self, *, kind: str) -> list[SourceSnapshot]:
        return [
            s for s in self._snapshots.values() if s.reading is not None and s.reading.kind == kind
        ]
