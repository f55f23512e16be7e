"""Paper bots on the runtime's own market data (``marketData.source`` synthetic or replay), run
as real runtime processes with a real Redis and no exchange at all.

Documented behaviour (docs/runtime-api.md): such a bot starts, reconciles its paper account
against the feed's first tick and trades; a replay file that cannot be read keeps it in phase
``starting`` with the reason in the health report (``market_data``) until the file is there —
the process never exits with a traceback.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from runtime_support import RuntimeProcess
from tradefleet_devtools.redis_server import RedisAccess

pytestmark = pytest.mark.integration

REPLAY_TICKS = 3_000


async def eventually(
    check: Callable[[], Awaitable[bool]], *, runtime: RuntimeProcess, what: str, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert runtime.alive(), f"the runtime exited:\n{runtime.log()[-3000:]}"
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{runtime.log()[-3000:]}")


async def status(runtime: RuntimeProcess) -> dict[str, Any]:
    payload: dict[str, Any] = (await runtime.get("/status")).json()
    return payload


async def health(runtime: RuntimeProcess) -> dict[str, Any]:
    payload: dict[str, Any] = (await runtime.get("/api/advanced/self-healing/health")).json()
    return payload


def write_replay(path: Path) -> None:
    """A gently oscillating book, one tick per 100 ms of replayed time."""
    rows = ["timestamp_ms,bid_price,bid_size,ask_price,ask_size"]
    for number in range(REPLAY_TICKS):
        mid = 30_000.0 + 20.0 * ((number // 10) % 2) + 0.5 * (number % 10)
        bid_size, ask_size = (5.0, 1.0) if (number // 10) % 2 else (1.0, 5.0)
        rows.append(
            f"{1_700_000_000_000 + 100 * number},{mid - 0.5},{bid_size},{mid + 0.5},{ask_size}"
        )
    path.write_text("\n".join(rows) + "\n")


async def test_a_paper_bot_on_synthetic_market_data_starts_and_trades(
    feed_runtime: RuntimeProcess, redis_server: RedisAccess, key_prefix: str
) -> None:
    feed_runtime.config["marketData"] |= {"source": "synthetic", "syntheticSeed": 7}
    feed_runtime.start()

    await feed_runtime.wait_for("/readyz", timeout_s=60)
    first = await status(feed_runtime)
    assert (first["phase"], first["mode"], first["reconciled"]) == ("trading", "paper", True)
    assert first["marketDataFlowing"] is True

    async def traded() -> bool:
        return (await status(feed_runtime))["lastSignal"]["action"] in ("buy", "sell")

    await eventually(traded, runtime=feed_runtime, what="a trade decision", seconds=60)
    raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        orders = await raw.hgetall(f"{key_prefix}:paper:orders")
        account = json.loads(await raw.get(f"{key_prefix}:paper"))
    finally:
        await raw.aclose()
    assert orders, "the paper account recorded no order"
    assert account["quoteCurrency"] == "USDT"
    assert account["nextOrderNumber"] == len(orders) + 1
    assert (await health(feed_runtime))["component_health"]["market_data"]["healthy"] is True
    assert "Traceback" not in feed_runtime.log()
    assert await feed_runtime.stop() == 0


async def test_a_replay_file_that_is_not_there_yet_keeps_the_bot_starting_until_it_is(
    feed_runtime: RuntimeProcess, tmp_path: Path
) -> None:
    replay = tmp_path / "ticks" / "book.csv"
    feed_runtime.config["marketData"] |= {"source": "replay", "replayPath": str(replay)}
    feed_runtime.start()
    await feed_runtime.wait_for("/healthz")

    async def waiting_for_the_file() -> bool:
        market_data = (await health(feed_runtime))["component_health"].get("market_data")
        return market_data is not None and "cannot read replay file" in market_data["detail"]

    await eventually(
        waiting_for_the_file, runtime=feed_runtime, what="the reason in the health", seconds=30
    )
    report = await health(feed_runtime)
    assert report["overall_status"] == "degraded"
    assert report["component_health"]["market_data"]["healthy"] is False
    assert any(
        a["error_class"] == "market_data" and a["action"] == "retry"
        for a in report["recent_healing_attempts"]
    )
    waiting = await status(feed_runtime)
    assert (waiting["phase"], waiting["reconciled"], waiting["halted"]) == (
        "starting",
        False,
        False,
    )
    assert (await feed_runtime.get("/readyz")).status_code == 503

    replay.parent.mkdir()
    write_replay(replay)
    await feed_runtime.wait_for("/readyz", timeout_s=60)
    assert (await status(feed_runtime))["phase"] == "trading"
    assert (await health(feed_runtime))["component_health"]["market_data"]["healthy"] is True
    assert "Traceback" not in feed_runtime.log()
    assert await feed_runtime.stop() == 0
