"""SignalSource stream entries and the JSON path of HTTP sources."""

from __future__ import annotations

import pytest
from tradefleet_runtime.sources.engines import extract_json_path
from tradefleet_runtime.sources.stream import SourceReading, StreamEntryError

pytestmark = pytest.mark.unit


def test_a_reading_round_trips_through_stream_fields() -> None:
    reading = SourceReading(
        symbol="BTC/USDT", value=-0.25, confidence=0.8, as_of_ms=123, kind="macro"
    )
    assert SourceReading.from_fields(reading.to_fields()) == reading


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {
                "symbol": "BTC/USDT",
                "value": "2",
                "confidence": "1",
                "as_of_ms": "1",
                "kind": "macro",
            },
            "outside",
        ),
        (
            {
                "symbol": "BTC/USDT",
                "value": "x",
                "confidence": "1",
                "as_of_ms": "1",
                "kind": "macro",
            },
            "bad number",
        ),
        (
            {"symbol": "BTC/USDT", "value": "0", "confidence": "1", "as_of_ms": "1", "kind": "ofi"},
            "fusion input",
        ),
        ({"symbol": "BTC/USDT"}, "lacks field"),
    ],
)
def test_malformed_entries_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(StreamEntryError, match=message):
        SourceReading.from_fields(fields)


def test_json_path_walks_keys_and_indexes() -> None:
    document = {"data": {"scores": [{"v": 0.4}, {"v": -0.2}]}}
    assert extract_json_path(document, "$.data.scores[1].v") == -0.2
    with pytest.raises(KeyError):
        extract_json_path(document, "$.data.missing")
    with pytest.raises(KeyError):
        extract_json_path(document, "$.data.scores[5]")
