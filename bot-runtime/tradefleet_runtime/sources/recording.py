"""Recorded SignalSource streams: what a bot's sources published, kept in a file and read back as
the bot would have read it, so a backtest runs on the bot's real outside inputs.

:func:`record_signals` (the backtest CLI's ``record-signals``) reads the Redis streams of the
sources a bot references (``XRANGE``, oldest first) into a :class:`SignalRecording`, which
:meth:`SignalRecording.dump` writes as JSON lines: first one line naming the sources (name,
weight, stream), then one line per entry (the source, the entry's stream id, its fields). The
backtester (:mod:`tradefleet_runtime.backtest.engine`) asks :meth:`SignalRecording.readings` at
each bar's close: per source the entries published at or before that time (the milliseconds of
their stream ids), newest first, judged by the live reader's own code
(:func:`~tradefleet_runtime.sources.reader.snapshot_of`,
:func:`~tradefleet_runtime.sources.reader.combine_readings`). An entry published later is never
seen, so a recording cannot leak the future into a backtest.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tradefleet_runtime.config import SourceRef
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.sources.reader import ENTRIES_SCANNED, combine_readings, snapshot_of

FORMAT = "tradefleet-signal-recording/1"


class RecordingError(ValueError):
    """A recording cannot be made or read; the message says which stream, file or line."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedEntry:
    """One stream entry: when it was published (its id's milliseconds) and its fields."""

    stream_id: str
    published_ms: int
    fields: Mapping[str, str]


def _published_ms(stream_id: str) -> int:
    head, _, _ = stream_id.partition("-")
    try:
        return int(head)
    except ValueError:
        raise RecordingError(f"stream id {stream_id!r} is not <milliseconds>-<sequence>") from None


class SignalRecording:
    """The entries of each recorded source, in publication order."""

    def __init__(
        self, *, sources: Sequence[SourceRef], entries: Mapping[str, Sequence[RecordedEntry]]
    ) -> None:
        self.sources = tuple(sources)
        unknown = sorted(set(entries) - {ref.name for ref in self.sources})
        if unknown:
            raise RecordingError(f"entries of unknown source(s): {', '.join(unknown)}")
        self._entries = {
            ref.name: sorted(entries.get(ref.name, ()), key=lambda entry: entry.published_ms)
            for ref in self.sources
        }
        self._times = {
            name: [entry.published_ms for entry in items] for name, items in self._entries.items()
        }

    def entries(self, name: str) -> Sequence[RecordedEntry]:
        return self._entries[name]

    def readings(
        self, *, symbol: str, now_ms: int, max_age_ms: Mapping[str, int]
    ) -> list[SignalReading]:
        """The fusion inputs the live reader would have handed on at ``now_ms``."""
        snapshots = []
        for ref in self.sources:
            entries = self._entries[ref.name]
            known = bisect.bisect_right(self._times[ref.name], now_ms)
            newest_first = [
                entries[index].fields
                for index in range(known - 1, max(-1, known - 1 - ENTRIES_SCANNED), -1)
            ]
            snapshots.append(snapshot_of(ref=ref, symbol=symbol, entries=newest_first))
        return combine_readings(snapshots=snapshots, now_ms=now_ms, max_age_ms=max_age_ms)

    def dump(self, path: Path) -> None:
        lines: list[dict[str, object]] = [
            {
                "format": FORMAT,
                "sources": [
                    {"name": ref.name, "weight": ref.weight, "stream": ref.redis_stream}
                    for ref in self.sources
                ],
            }
        ]
        for name, entries in self._entries.items():
            lines.extend(
                {"source": name, "id": entry.stream_id, "fields": dict(entry.fields)}
                for entry in entries
            )
        path.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))

    @classmethod
    def load(cls, path: Path) -> SignalRecording:
        try:
            text = path.read_text()
        except OSError as error:
            raise RecordingError(f"cannot read {path}: {error}") from None
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise RecordingError(f"{path} is empty")
        try:
            header = json.loads(lines[0])
            if header.get("format") != FORMAT:
                raise RecordingError(f"{path}:1: not a {FORMAT} file")
            sources = [
                SourceRef(name=str(s["name"]), weight=float(s["weight"]), redis_stream=s["stream"])
                for s in header["sources"]
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise RecordingError(f"{path}:1: malformed header: {error}") from None
        entries: dict[str, list[RecordedEntry]] = {}
        for number, line in enumerate(lines[1:], start=2):
            try:
                item = json.loads(line)
                fields = {str(k): str(v) for k, v in dict(item["fields"]).items()}
                entry = RecordedEntry(
                    stream_id=str(item["id"]),
                    published_ms=_published_ms(str(item["id"])),
                    fields=fields,
                )
                entries.setdefault(str(item["source"]), []).append(entry)
            except (ValueError, KeyError, TypeError) as error:
                raise RecordingError(f"{path}:{number}: malformed entry: {error}") from None
        return cls(sources=sources, entries=entries)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def record_signals(
    *, redis: aioredis.Redis, sources: Sequence[SourceRef], since_ms: int | None = None
) -> SignalRecording:
    """What each source's stream holds (published at or after ``since_ms``), oldest first."""
    entries: dict[str, list[RecordedEntry]] = {}
    for ref in sources:
        try:
            raw = await redis.xrange(ref.redis_stream, min="-" if since_ms is None else since_ms)
        except (RedisError, OSError) as error:
            raise RecordingError(f"cannot read stream {ref.redis_stream}: {error}") from None
        entries[ref.name] = [
            RecordedEntry(
                stream_id=_text(stream_id),
                published_ms=_published_ms(_text(stream_id)),
                fields={_text(k): _text(v) for k, v in (fields or {}).items()},
            )
            for stream_id, fields in raw or []
        ]
    return SignalRecording(sources=sources, entries=entries)
