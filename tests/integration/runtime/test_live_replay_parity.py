"""A backtest through the live bot decides as the live bot did (issue 18, item 7).

A fusion bot runs for real — the runtime process, paper mode, its decision loop on a replay file
of book ticks in wall time, its SignalSources' streams on the session's redis-server — and its
decisions are read back from its signal history. Then the sources are recorded from Redis
(``record-signals``) and ``python -m tradefleet_runtime replay`` runs the same config over the
same ticks and the recording, in replayed time. Every order the live bot decided, the replay
decides at the same tick, with the same action, score and component scores, and the same size.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from runtime_support import REPO, RuntimeProcess, eventually
from tradefleet_devtools.redis_server import RedisAccess
from tradefleet_runtime.config import SourceRef, load_runtime_config
from tradefleet_runtime.service.replay import replay_bot
from tradefleet_runtime.sources.recording import record_signals
from tradefleet_runtime.sources.stream import SourceReading

pytestmark = pytest.mark.integration

START_MS = 1_790_000_040_000 - 1_790_000_040_000 % 60_000
TICK_MS = 5_000
TICKS = 900  # 75 minutes of replayed time
SPOT = "BTC/USDT"


def write_ticks(path: Path, *, ticks: int = TICKS) -> None:
    """A random walk of the mid with a 1-dollar spread and book sizes that lean with it."""
    rng = random.Random(18)
    rows = ["timestamp_ms,bid_price,bid_size,ask_price,ask_size"]
    mid = 30_000.0
    for number in range(ticks):
        step = rng.gauss(0.0, 6.0)
        mid += step
        lean = math.tanh(step / 6.0)
        bid_size, ask_size = 2.0 + 1.5 * lean + rng.random(), 2.0 - 1.5 * lean + rng.random()
        at = START_MS + number * TICK_MS
        rows.append(f"{at},{mid - 0.5:.2f},{bid_size:.4f},{mid + 0.5:.2f},{ask_size:.4f}")
    path.write_text("\n".join(rows) + "\n")


async def publish_sources(redis: aioredis.Redis, refs: list[SourceRef]) -> None:
    """Sentiment turning every 8 minutes, whales every 11, macro every 30 (replayed time),
    each entry's stream id the moment it was published."""
    rng = random.Random(7)
    periods = {"sentiment": 8, "whale": 11, "macro": 30}
    for ref, kind in zip(refs, periods, strict=True):
        minute = 2 + rng.randrange(3)
        sign = 1.0
        while minute * 60_000 < TICKS * TICK_MS:
            at = START_MS + minute * 60_000 + rng.randrange(60_000)
            reading = SourceReading(
                symbol=SPOT,
                value=sign * (0.6 + 0.3 * rng.random()),
                confidence=0.7 + 0.2 * rng.random(),
                as_of_ms=at,
                kind=kind,
            )
            await redis.xadd(ref.redis_stream, reading.to_fields(), id=f"{at}-0")  # type: ignore[arg-type]
            sign = -sign
            minute += periods[kind]


def bot_config(runtime: RuntimeProcess, *, ticks: Path, refs: list[SourceRef]) -> dict[str, Any]:
    config = dict(runtime.config)
    config["strategy"] = {
        "name": "fusion",
        "timeframe": "1m",
        "fusionWeights": {
            "regime": 0.0,
            "ofi": 0.15,
            "whale": 0.2,
            "sentiment": 0.45,
            "macro": 0.2,
        },
        "thresholds": {"buy": 0.25, "strongBuy": 0.6, "sell": -0.25, "strongSell": -0.6},
    }
    config["risk"] = {**config["risk"], "recentWindowBars": 2}
    config["signalSources"] = [
        {"name": ref.name, "weight": ref.weight, "redisStream": ref.redis_stream} for ref in refs
    ]
    config["marketData"] = {
        **config["marketData"],
        "source": "replay",
        "replayPath": str(ticks),
        "pollIntervalMs": 40,
    }
    return config


def order_decisions(decisions: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            d["at_ms"],
            d["action"],
            round(d["score"], 9),
            {k: round(v, 9) for k, v in d["componentScores"].items()},
            d["risk"]["quantity"] if d["risk"] else None,
        )
        for d in decisions
        if d["clientOrderId"] is not None
    ]


async def test_the_replay_decides_every_order_as_the_live_bot_did(
    tmp_path: Path, feed_runtime: RuntimeProcess, redis_server: RedisAccess, key_prefix: str
) -> None:
    ticks = tmp_path / "book.csv"
    write_ticks(ticks)
    refs = [
        SourceRef(name="news", weight=1.0, redis_stream=f"{key_prefix}:src:news"),
        SourceRef(name="whales", weight=1.0, redis_stream=f"{key_prefix}:src:whales"),
        SourceRef(name="fed", weight=1.0, redis_stream=f"{key_prefix}:src:fed"),
    ]
    redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        await publish_sources(redis, refs)
        feed_runtime.config = bot_config(feed_runtime, ticks=ticks, refs=refs)
        feed_runtime.start()
        await feed_runtime.wait_for("/api/advanced/self-healing/health")

        async def exhausted() -> bool:
            return (
                "is exhausted" in (await feed_runtime.get("/api/advanced/self-healing/health")).text
            )

        await eventually(exhausted, runtime=feed_runtime, what="every tick decided", seconds=240)
        await feed_runtime.stop()
        history = await redis.lrange(f"{key_prefix}:signals", 0, -1)
        live = order_decisions([json.loads(line) for line in reversed(history)])
        recording = await record_signals(redis=redis, sources=refs)
    finally:
        await redis.aclose()
    recording_path = tmp_path / "signals.jsonl"
    recording.dump(recording_path)
    decisions_path = tmp_path / "replayed.jsonl"
    replay = subprocess.run(
        [sys.executable, "-m", "tradefleet_runtime", "replay", str(feed_runtime.config_path),
         "--signals", str(recording_path), "--out", str(decisions_path)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            str(REPO / part) for part in ("operator", "bot-runtime"))},
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr[-3000:]
    replayed_lines = [json.loads(line) for line in decisions_path.read_text().splitlines()]
    assert [d["notSent"] for d in replayed_lines if d["notSent"]] == []
    replayed = order_decisions(replayed_lines)
    print(replay.stdout)
    entries = [d for d in live if d[1] in ("open_long", "open_short")]
    exits = [d for d in live if d[1] == "close"]
    assert len(entries) >= 3 and len(exits) >= 2, live
    assert replayed == live


async def test_a_replay_longer_than_the_lease_still_sends_its_orders(
    tmp_path: Path, feed_runtime: RuntimeProcess, redis_server: RedisAccess
) -> None:
    # About 15 s of wall time: longer than the lease lives unless it is renewed.
    ticks_path = tmp_path / "long.csv"
    write_ticks(ticks_path, ticks=8_000)
    config = dict(feed_runtime.config)
    config["strategy"] = {
        "name": "fusion",
        "timeframe": "1m",
        "fusionWeights": {"regime": 0.0, "ofi": 1.0, "whale": 0.0, "sentiment": 0.0, "macro": 0.0},
        "thresholds": {"buy": 0.1, "strongBuy": 0.6, "sell": -0.1, "strongSell": -0.6},
    }
    # A prior of many trades keeps Kelly's edge: the bot trades to the end of the file.
    config["risk"] = {**config["risk"], "recentWindowBars": 2, "kellyPriorTrades": 100_000}
    config["marketData"] = {"source": "replay", "replayPath": str(ticks_path)}
    document = tmp_path / "long.json"
    document.write_text(json.dumps(config))
    outcome = await replay_bot(
        config=load_runtime_config(document), signals=None, environ=os.environ
    )
    assert outcome.ticks == 7_999
    last_order_ms = max(d.at_ms for d in outcome.orders)
    assert last_order_ms > START_MS + 7_000 * TICK_MS  # orders until the end of the replay
    assert [(d.at_ms, why) for d, why in outcome.unsent] == []
