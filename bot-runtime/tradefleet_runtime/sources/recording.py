"""Recorded SignalSource streams: what a bot's sources published, kept in a file and read back as
the bot would have read it, so a backtest runs on the bot's real outside inputs.

:func:`record_signals` (the backtest CLI's ``record-signals``) reads the Redis streams of the
sources a bot references (``XRANGE``, oldest first) into a :class:`SignalRecording`, which
:meth:`SignalRecording.dump` writes as JSON lines: first one line naming the sources (name,
weight, stream), then one line per entry (the source, the entry's stream id, its fields). The
bar backtester (:mod:`tradefleet_runtime.backtest.engine`) asks :meth:`SignalRecording.readings`
at each bar's close; the replay of a bot through its live decision loop
(:mod:`tradefleet_runtime.service.replay`) reads through :meth:`SignalRecording.reader`, the live
:class:`~tradefleet_runtime.sources.reader.SourceReader` fed the recorded entries. Both take, per
source, the entries published at or before that time (the milliseconds of their stream ids),
newest first, judged by the live reader's own code
(:func:`~tradefleet_runtime.sources.reader.snapshot_at`,
:func:`~tradefleet_runtime.sources.reader.combine_readings`). An entry published later is never
seen, so a recording cannot leak the future into a backtest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tradefleet_runtime.config import SourceRef
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.sources.reader import (
    EntryWindow,
    RecordedEntry,
    SourceReader,
    StreamIdError,
    combine_readings,
    published_ms,
    snapshot_at,
)

FORMAT = "tradefleet-signal-recording/1"


class RecordingError(ValueError):
    """A recording cannot be made or read; the message says which stream, file or line."""


def _published_ms(stream_id: str) -> int:
    try:
        return published_ms(stream_id)
    except StreamIdError as error:
        raise RecordingError(str(error)) from None


class SignalRecording:
    """The entries of each recorded source, in publication order."""

    def __init__(
        self, *, sources: Sequence[SourceRef], entries: Mapping[str, Sequence[RecordedEntry]]
    ) -> None:
        self.sources = tuple(sources)
        unknown = sorted(set(entries) - {ref.name for ref in self.sources})
        if unknown:
            raise RecordingError(f"entries of unknown source(s): {', '.join(unknown)}")
        self._windows = {
            ref.name: EntryWindow(
                entries=sorted(entries.get(ref.name, ()), key=lambda entry: entry.published_ms)
            )
            for ref in self.sources
        }

    def entries(self, name: str) -> Sequence[RecordedEntry]:
        return self._windows[name].entries

    def reader(self, *, symbol: str, max_age_ms: Mapping[str, int]) -> SourceReader:
        """A bot's source reader over this recording: the live reader's code, fed the recorded
        entries instead of the streams (a backtest through the live bot,
        :mod:`tradefleet_runtime.service.replay`)."""
        windows = self._windows

        async def fetch(ref: SourceRef) -> EntryWindow:
            return windows.get(ref.name) or EntryWindow(problem="not in the recording")

        return SourceReader(fetch=fetch, refs=self.sources, symbol=symbol, max_age_ms=max_age_ms)

    def readings(
        self, *, symbol: str, now_ms: int, max_age_ms: Mapping[str, int]
    ) -> list[SignalReading]:
        """The fusion inputs the live reader would have handed on at ``now_ms``."""
        snapshots = [
            snapshot_at(ref=ref, symbol=symbol, window=self._windows[ref.name], now_ms=now_ms)
            for ref in self.sources
        ]
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
        for name, window in self._windows.items():
            lines.extend(
                {"source": name, "id": entry.stream_id, "fields": dict(entry.fields)}
                for entry in window.entries
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
