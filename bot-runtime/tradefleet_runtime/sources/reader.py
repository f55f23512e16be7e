"""How a bot reads the SignalSources it references: the latest reading per source, per symbol.

The bot service calls :meth:`SourceReader.refresh` every few seconds (the newest entries of each
source's Redis stream) and hands :meth:`SourceReader.readings` to fusion at every decision. A
decision at time t uses, per source, the newest entry published at or before t (the
milliseconds of its stream id): never one from after its tick, the rule a backtest over a
recording follows too (:mod:`tradefleet_runtime.sources.recording`, whose replay is a
``SourceReader`` over the recorded entries). Sources of one fusion input (sentiment, macro,
whale) are averaged by their weights into one reading of that input; a source whose stream is
missing, unreadable, at zero confidence or older than the input's staleness limit is left out
(fusion renormalises the weights) and shown in :meth:`SourceReader.status` — never an error for
the bot.

Sources publish per base/quote pair: a futures bot (``BTC/USDT:USDT``) reads the entries of its
spot pair (``BTC/USDT``) and prefers entries for its exact symbol when a source publishes both.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tradefleet_runtime.config import SourceRef
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.sources.stream import SourceReading, StreamEntryError

ENTRIES_SCANNED = 200


class StreamIdError(ValueError):
    """A stream id that is not ``<milliseconds>-<sequence>``."""


def published_ms(stream_id: str) -> int:
    """When an entry was published: the milliseconds of its Redis stream id."""
    head, _, _ = stream_id.partition("-")
    try:
        return int(head)
    except ValueError:
        raise StreamIdError(f"stream id {stream_id!r} is not <milliseconds>-<sequence>") from None


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedEntry:
    """One stream entry: when it was published (its id's milliseconds) and its fields."""

    stream_id: str
    published_ms: int
    fields: Mapping[str, str]


@dataclass(frozen=True, kw_only=True, slots=True)
class EntryWindow:
    """Entries of one stream, oldest first, and why the last read failed (if it did)."""

    entries: Sequence[RecordedEntry] = ()
    problem: str = ""
    times: Sequence[int] = field(default=(), init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "times", [entry.published_ms for entry in self.entries])

    def known(self, now_ms: int) -> int:
        """How many entries were published at or before ``now_ms``."""
        return bisect.bisect_right(self.times, now_ms)

    def newest_first(self, *, known: int) -> list[Mapping[str, str]]:
        """The fields of up to ``ENTRIES_SCANNED`` of the first ``known`` entries, newest first."""
        entries = self.entries
        return [
            entries[i].fields for i in range(known - 1, max(-1, known - 1 - ENTRIES_SCANNED), -1)
        ]


# Reads a source's entries: from its Redis stream (live) or from a recording (a backtest).
EntryFetch = Callable[[SourceRef], Awaitable[EntryWindow]]


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


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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


def snapshot_at(*, ref: SourceRef, symbol: str, window: EntryWindow, now_ms: int) -> SourceSnapshot:
    """What ``ref``'s stream said for ``symbol`` at ``now_ms`` (see :func:`snapshot_of`)."""
    return _snapshot_of_known(ref=ref, symbol=symbol, window=window, known=window.known(now_ms))


def _snapshot_of_known(
    *, ref: SourceRef, symbol: str, window: EntryWindow, known: int
) -> SourceSnapshot:
    snapshot = snapshot_of(ref=ref, symbol=symbol, entries=window.newest_first(known=known))
    if window.problem:
        return SourceSnapshot(
            name=ref.name, weight=ref.weight, reading=snapshot.reading, problem=window.problem
        )
    return snapshot


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


def redis_fetch(redis: aioredis.Redis) -> EntryFetch:
    """The live fetch: the newest ``ENTRIES_SCANNED`` entries of a source's stream."""

    async def fetch(ref: SourceRef) -> EntryWindow:
        entries = await redis.xrevrange(ref.redis_stream, count=ENTRIES_SCANNED)
        return EntryWindow(
            entries=[
                RecordedEntry(
                    stream_id=_text(stream_id),
                    published_ms=published_ms(_text(stream_id)),
                    fields={_text(k): _text(v) for k, v in (raw or {}).items()},
                )
                for stream_id, raw in reversed(entries or [])
            ]
        )

    return fetch


class SourceReader:
    """Readings of the referenced sources for one symbol, as of each decision's time."""

    def __init__(
        self,
        *,
        fetch: EntryFetch,
        refs: Sequence[SourceRef],
        symbol: str,
        max_age_ms: Mapping[str, int],
    ) -> None:
        self._fetch = fetch
        self._symbol = symbol
        self._max_age_ms = max_age_ms
        self._refs = tuple(refs)
        self._windows: dict[str, EntryWindow] = {ref.name: EntryWindow() for ref in refs}
        self._snapshots: dict[str, SourceSnapshot] = {}
        # What each snapshot was judged from: its window and how many of its entries it saw.
        # A decision runs at every tick; the entries change only at a refresh or a publication.
        self._judged: dict[str, tuple[EntryWindow, int]] = {}

    @classmethod
    def of_redis(
        cls,
        *,
        redis: aioredis.Redis,
        refs: Sequence[SourceRef],
        symbol: str,
        max_age_ms: Mapping[str, int],
    ) -> SourceReader:
        return cls(fetch=redis_fetch(redis), refs=refs, symbol=symbol, max_age_ms=max_age_ms)

    def reconfigure(self, *, refs: Sequence[SourceRef], max_age_ms: Mapping[str, int]) -> None:
        self._refs = tuple(refs)
        self._max_age_ms = max_age_ms
        self._windows = {ref.name: self._windows.get(ref.name) or EntryWindow() for ref in refs}
        self._snapshots = {}
        self._judged = {}

    async def refresh(self) -> None:
        for ref in self._refs:
            try:
                self._windows[ref.name] = await self._fetch(ref)
            except (RedisError, OSError, StreamIdError) as error:
                kept = self._windows.get(ref.name) or EntryWindow()
                self._windows[ref.name] = EntryWindow(
                    entries=kept.entries, problem=f"stream unreadable: {error}"
                )

    def _snapshots_at(self, now_ms: int) -> dict[str, SourceSnapshot]:
        snapshots: dict[str, SourceSnapshot] = {}
        for ref in self._refs:
            window = self._windows[ref.name]
            known = window.known(now_ms)
            cached = self._snapshots.get(ref.name)
            judged = self._judged.get(ref.name)
            if cached is None or judged is None or judged[0] is not window or judged[1] != known:
                cached = _snapshot_of_known(
                    ref=ref, symbol=self._symbol, window=window, known=known
                )
                self._judged[ref.name] = (window, known)
            snapshots[ref.name] = cached
        self._snapshots = snapshots
        return snapshots

    def readings(self, *, now_ms: int) -> list[SignalReading]:
        """One reading per fusion input: the weighted mean of its fresh sources at ``now_ms``."""
        return combine_readings(
            snapshots=self._snapshots_at(now_ms).values(),
            now_ms=now_ms,
            max_age_ms=self._max_age_ms,
        )

    def status(self, *, now_ms: int) -> list[dict[str, object]]:
        return [
            snapshot.to_dict(now_ms=now_ms, max_age_ms=self._max_age_ms)
            for snapshot in self._snapshots_at(now_ms).values()
        ]

    def latest(self, *, kind: str) -> list[SourceSnapshot]:
        """The snapshots of the last decision (or status) whose reading is of ``kind``."""
        return [
            s for s in self._snapshots.values() if s.reading is not None and s.reading.kind == kind
        ]
