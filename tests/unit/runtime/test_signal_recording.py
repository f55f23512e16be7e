"""A recording of a bot's SignalSources, read back as the bot read them: never ahead of time."""

from __future__ import annotations

from pathlib import Path

import pytest
from tradefleet_runtime.config import SourceRef
from tradefleet_runtime.signals.fusion import default_max_age_ms
from tradefleet_runtime.sources.recording import RecordedEntry, RecordingError, SignalRecording
from tradefleet_runtime.sources.stream import SourceReading

pytestmark = pytest.mark.unit

NEWS = SourceRef(name="news", weight=1.0, redis_stream="tradefleet:signals:desk:news")
WHALES = SourceRef(name="whales", weight=0.5, redis_stream="tradefleet:signals:desk:whales")
AGES = default_max_age_ms()


def _entry(*, at_ms: int, symbol: str, value: float, kind: str = "sentiment") -> RecordedEntry:
    reading = SourceReading(symbol=symbol, value=value, confidence=0.8, as_of_ms=at_ms, kind=kind)
    return RecordedEntry(stream_id=f"{at_ms}-0", published_ms=at_ms, fields=reading.to_fields())


def _recording() -> SignalRecording:
    return SignalRecording(
        sources=[NEWS, WHALES],
        entries={
            "news": [
                _entry(at_ms=5_000, symbol="BTC/USDT", value=-0.8),
                _entry(at_ms=1_000, symbol="BTC/USDT", value=0.5),
            ],
            "whales": [
                _entry(at_ms=2_000, symbol="BTC/USDT", value=0.2, kind="whale"),
                _entry(at_ms=2_500, symbol="BTC/USDT:USDT", value=0.9, kind="whale"),
            ],
        },
    )


def _values(recording: SignalRecording, *, symbol: str, now_ms: int) -> dict[str, float]:
    readings = recording.readings(symbol=symbol, now_ms=now_ms, max_age_ms=AGES)
    return {reading.name: reading.value for reading in readings}


def test_an_entry_counts_only_from_when_it_was_published() -> None:
    recording = _recording()
    assert _values(recording, symbol="BTC/USDT", now_ms=500) == {}
    assert _values(recording, symbol="BTC/USDT", now_ms=3_000)["sentiment"] == 0.5
    assert _values(recording, symbol="BTC/USDT", now_ms=5_000)["sentiment"] == -0.8


def test_a_futures_bot_reads_its_own_symbol_first_then_the_spot_pair() -> None:
    recording = _recording()
    assert _values(recording, symbol="BTC/USDT:USDT", now_ms=2_200)["whale"] == 0.2
    assert _values(recording, symbol="BTC/USDT:USDT", now_ms=3_000)["whale"] == 0.9
    assert _values(recording, symbol="BTC/USDT", now_ms=3_000)["whale"] == 0.2


def test_a_stale_reading_is_left_out_as_live() -> None:
    newest = 5_000
    fresh = _values(_recording(), symbol="BTC/USDT", now_ms=newest + AGES["sentiment"])
    assert fresh["sentiment"] == -0.8
    late = _values(_recording(), symbol="BTC/USDT", now_ms=newest + AGES["sentiment"] + 1)
    assert "sentiment" not in late


def test_a_recording_survives_its_file_and_a_bad_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "signals.jsonl"
    _recording().dump(path)
    loaded = SignalRecording.load(path)
    for now_ms in (500, 2_200, 3_000, 6_000):
        assert _values(loaded, symbol="BTC/USDT:USDT", now_ms=now_ms) == _values(
            _recording(), symbol="BTC/USDT:USDT", now_ms=now_ms
        )
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], '{"source": "news", "fields": {}}', *lines[2:]]))
    with pytest.raises(RecordingError, match=r"signals.jsonl:3: malformed entry"):
        SignalRecording.load(path)
    path.write_text('{"format": "something else"}\n')
    with pytest.raises(RecordingError, match="not a tradefleet-signal-recording/1 file"):
        SignalRecording.load(path)
