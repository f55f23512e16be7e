"""A SignalSource publishes to its Redis stream and a bot's reader turns it into fusion input.

In-process with a real redis-server: an ``http`` source reads a JSON document from a local
HTTP server, publishes one reading per symbol, and the bot side averages two
sources of the same kind by weight, drops a stale one, and reports a missing stream.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis.asyncio as aioredis
from support.feed_server import FeedServer, Route, feed_server
from tradefleet_devtools.redis_server import RedisAccess
from tradefleet_runtime.config import SourceRef, parse_source_config
from tradefleet_runtime.sources.reader import SourceReader
from tradefleet_runtime.sources.service import SourceService
from tradefleet_runtime.sources.stream import SourceReading

pytestmark = pytest.mark.integration


def source_document(*, stream: str, redis_url: str, url: str) -> dict[str, object]:
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "SignalSourceConfig",
        "source": {"name": "score-api", "namespace": "test"},
        "spec": {
            "kind": "http",
            "symbols": ["BTC/USDT", "ETH/USDT"],
            "intervalSeconds": 1,
            "http": {"url": url, "jsonPath": "$.data.score", "fusionInput": "macro"},
        },
        "redis": {"url": redis_url, "stream": stream},
        "api": {"port": 0},
    }


def _json(document: object) -> Route:
    return Route(body=json.dumps(document).encode(), content_type="application/json")


async def test_published_readings_reach_fusion_averaged_by_weight(
    redis_server: RedisAccess,
) -> None:
    stream = f"tradefleet:signals:test:{uuid.uuid4().hex[:8]}"
    other = f"{stream}-other"
    async with feed_server({"/score": _json({"data": {"score": 0.6}})}) as server:
        service = SourceService(
            config=parse_source_config(
                source_document(stream=stream, redis_url=redis_server.url, url=server.url("/score"))
            ),
            login=None,
        )
        await _publish_and_read(service=service, server=server, stream=stream, other=other)


async def _publish_and_read(
    *, service: SourceService, server: FeedServer, stream: str, other: str
) -> None:
    client = aioredis.Redis.from_url(service.config.redis_url, decode_responses=True)
    try:
        published = await service.publish_once()
        assert [(r.symbol, r.value, r.kind) for r in published] == [
            ("BTC/USDT", 0.6, "macro"),
            ("ETH/USDT", 0.6, "macro"),
        ]
        assert service.status()["lastValues"]["BTC/USDT"]["value"] == 0.6  # type: ignore[index]
        published_ms = int(time.time() * 1000)
        await client.xadd(
            other,
            SourceReading(
                symbol="BTC/USDT", value=-0.4, confidence=0.5, as_of_ms=published_ms, kind="macro"
            ).to_fields(),  # type: ignore[arg-type]
        )
        # A decision made now, after both were published (a decision reads only entries
        # published at or before its time: the stream id's milliseconds).
        now_ms = int(time.time() * 1000)
        reader = SourceReader.of_redis(
            redis=client,
            refs=[
                SourceRef(name="score-api", weight=0.75, redis_stream=stream),
                SourceRef(name="other", weight=0.25, redis_stream=other),
                SourceRef(name="gone", weight=1.0, redis_stream=f"{stream}-missing"),
            ],
            symbol="BTC/USDT",
            max_age_ms={"macro": 60_000},
        )
        await reader.refresh()
        (reading,) = reader.readings(now_ms=now_ms)
        # (0.75 × 0.6 + 0.25 × −0.4) / 1.0 = 0.35; confidence (0.75 × 1 + 0.25 × 0.5) = 0.875.
        assert reading.name == "macro"
        assert reading.value == pytest.approx(0.35)
        assert reading.confidence == pytest.approx(0.875)
        states = {s["name"]: s for s in reader.status(now_ms=now_ms)}
        assert (
            states["gone"]["found"] is False
            and states["gone"]["problem"] == "no readings published"
        )
        # An hour later every reading is stale: fusion gets nothing, the status says why.
        assert reader.readings(now_ms=now_ms + 3_600_000) == []
        assert reader.status(now_ms=now_ms + 3_600_000)[0]["problem"] == "stale"

        server.routes["/score"] = _json({"data": {"other": 1}})
        assert await service.publish_once() == []
        assert "$.data.score" in (service.status()["lastError"] or "")  # type: ignore[operator]
    finally:
        await client.delete(stream, other)
        await client.aclose()
        await service.redis.aclose()
