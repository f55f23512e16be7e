"""Which stream entries a bot's SourceReader takes for its symbol (issue 18, item 1).

A futures bot (``BTC/USDT:USDT``) reads what a source publishes for its spot symbol
(``BTC/USDT``): sources publish per base/quote pair. An entry for the bot's exact symbol wins
over the spot one. The stream is an in-memory stand-in answering ``XREVRANGE`` newest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from tradefleet_runtime.config import SourceRef
from tradefleet_runtime.sources.reader import SourceReader
from tradefleet_runtime.sources.stream import SourceReading

pytestmark = pytest.mark.unit

NOW_MS = 1_700_000_000_000


class StreamStandIn:
    """Streams by name, entries appended oldest first; ``xrevrange`` answers newest first."""

    def __init__(self, streams: Mapping[str, Sequence[SourceReading]]) -> None:
        self._streams = {
            name: [reading.to_fields() for reading in entries] for name, entries in streams.items()
        }

    async def xrevrange(self, name: str, count: int) -> list[tuple[str, dict[str, str]]]:
        entries = self._streams.get(name, [])
        # Ids as Redis gives them: the milliseconds of publication, growing.
        with_ids = [(f"{NOW_MS - len(entries) + i}-0", fields) for i, fields in enumerate(entries)]
        return list(reversed(with_ids))[:count]


def _reading(*, symbol: str, value: float, confidence: float = 0.8) -> SourceReading:
    return SourceReading(
        symbol=symbol, value=value, confidence=confidence, as_of_ms=NOW_MS, kind="sentiment"
    )


async def _read(*, bot_symbol: str, entries: Sequence[SourceReading]) -> list[Any]:
    reader = SourceReader.of_redis(
        redis=cast(aioredis.Redis, StreamStandIn({"news": entries})),
        refs=[SourceRef(name="news", weight=1.0, redis_stream="news")],
        symbol=bot_symbol,
        max_age_ms={"sentiment": 60_000},
    )
    await reader.refresh()
    return reader.readings(now_ms=NOW_MS)


async def test_a_futures_bot_reads_the_source_published_for_its_spot_symbol() -> None:
    (reading,) = await _read(
        bot_symbol="BTC/USDT:USDT",
        entries=[_reading(symbol="ETH/USDT", value=-0.9), _reading(symbol="BTC/USDT", value=0.4)],
    )
    assert reading.name == "sentiment"
    assert reading.value == pytest.approx(0.4)


async def test_the_bot_symbol_itself_wins_over_its_spot_pair() -> None:
    (reading,) = await _read(
        bot_symbol="BTC/USDT:USDT",
        entries=[
            _reading(symbol="BTC/USDT:USDT", value=-0.3),
            _reading(symbol="BTC/USDT", value=0.4),
        ],
    )
    assert reading.value == pytest.approx(-0.3)


@pytest.mark.parametrize(
    ("bot_symbol", "published"),
    [
        ("BTC/USDT", "BTC/USDT:USDT"),  # a spot bot does not read a futures-only value
        ("BTC/USDT:USDT", "BTC/USDC"),  # another quote is another market
        ("BTC/USDT:USDT", "ETH/USDT"),
    ],
)
async def test_other_markets_are_not_read(bot_symbol: str, published: str) -> None:
    assert await _read(bot_symbol=bot_symbol, entries=[_reading(symbol=published, value=0.5)]) == []


@pytest.mark.parametrize(
    ("bot_symbol", "published"),
    [
        ("BTC/USDT", "BTC/USDT"),
        ("BTC/USDT:USDT", "BTC/USDT:USDT"),
        ("ETH/BTC:BTC", "ETH/BTC"),
        ("SOL/USDT:USDT", "SOL/USDT"),
    ],
)
async def test_same_base_and_quote_is_read(bot_symbol: str, published: str) -> None:
    (reading,) = await _read(bot_symbol=bot_symbol, entries=[_reading(symbol=published, value=0.5)])
    assert reading.value == pytest.approx(0.5)


async def test_a_zero_confidence_source_is_left_out_of_its_input() -> None:
    streams = {
        "news": [_reading(symbol="BTC/USDT", value=0.6)],
        "silent": [_reading(symbol="BTC/USDT", value=0.0, confidence=0.0)],
    }
    reader = SourceReader.of_redis(
        redis=cast(aioredis.Redis, StreamStandIn(streams)),
        refs=[
            SourceRef(name="news", weight=0.5, redis_stream="news"),
            SourceRef(name="silent", weight=0.5, redis_stream="silent"),
        ],
        symbol="BTC/USDT:USDT",
        max_age_ms={"sentiment": 60_000},
    )
    await reader.refresh()
    (reading,) = reader.readings(now_ms=NOW_MS)
    # Not (0.5 × 0.6 + 0.5 × 0) / 1: the silent source says nothing and weighs nothing.
    assert (reading.value, reading.confidence) == (pytest.approx(0.6), pytest.approx(0.8))
    states = {s["name"]: s for s in reader.status(now_ms=NOW_MS)}
    assert states["silent"]["ready"] is False and states["silent"]["weightApplied"] == 0.0
    assert states["silent"]["problem"] == "zero confidence"
    assert states["news"]["ready"] is True


async def test_a_decision_reads_only_what_was_published_before_its_tick() -> None:
    # Two entries; the later one was published 30 s after the first (stream ids in ms).
    early = _reading(symbol="BTC/USDT", value=0.4).to_fields()
    late = _reading(symbol="BTC/USDT", value=-0.7).to_fields()

    class Stream:
        async def xrevrange(self, name: str, count: int) -> list[tuple[str, dict[str, str]]]:
            return [(f"{NOW_MS + 30_000}-0", late), (f"{NOW_MS}-0", early)][:count]

    reader = SourceReader.of_redis(
        redis=cast(aioredis.Redis, Stream()),
        refs=[SourceRef(name="news", weight=1.0, redis_stream="news")],
        symbol="BTC/USDT",
        max_age_ms={"sentiment": 120_000},
    )
    await reader.refresh()
    assert reader.readings(now_ms=NOW_MS - 1) == []  # nothing published yet
    (before,) = reader.readings(now_ms=NOW_MS + 29_999)
    (after,) = reader.readings(now_ms=NOW_MS + 30_000)
    assert (before.value, after.value) == (pytest.approx(0.4), pytest.approx(-0.7))
