"""A symbol's regime model is fitted once, by the market-data publisher, and run by the bots.

Real processes: the publisher reads a local exchange whose BTC history switches regimes (one
step a minute, 1,300 minutes of it), fits the model on the 1,200 closed 1m candles it publishes
and writes it to Redis; a paper bot on the shared data runs that model, fitting none of its own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from conftest import API_KEY, API_SECRET, NO_EXCHANGE
from runtime_support import BTC, RuntimeProcess, eventually
from test_shared_market_data import publisher_config, publisher_process, started
from tradefleet_devtools.controlplane import free_port
from tradefleet_devtools.exchange import (
    EngineConfig,
    LocalExchange,
    LocalExchangeOptions,
    SyntheticReplayPriceSource,
)
from tradefleet_devtools.redis_server import RedisAccess

pytestmark = pytest.mark.integration

MINUTE_MS = 60_000
SUMMARY = "/api/advanced/regime/summary"


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    """BTC replays a regime-switching market, one bar a minute (a step is a minute)."""
    options = LocalExchangeOptions(
        symbols=(BTC,),
        api_key=API_KEY,
        api_secret=API_SECRET,
        history_steps=1_300,
        engine=EngineConfig(step_ms=MINUTE_MS),
        price_sources={BTC: SyntheticReplayPriceSource(seed=3, regime_bars=150)},
    )
    async with LocalExchange(options) as running:
        yield running


@pytest.fixture
def publisher(
    tmp_path: Path, exchange: LocalExchange, redis_server: RedisAccess, market_prefix: str
) -> Iterator[RuntimeProcess]:
    config = publisher_config(
        base_url=exchange.base_url,
        redis_url=redis_server.url,
        prefix=market_prefix,
        port=free_port(),
        symbols=(BTC,),
    )
    config |= {"timeframes": ["1m"], "historyBars": 1_200}
    process = publisher_process(workdir=tmp_path / "publisher", config=config)
    yield process
    process.kill()


@pytest.fixture
def market_prefix() -> str:
    return "tradefleet:market:test:regime"


async def test_the_publisher_fits_the_model_once_and_the_bot_runs_it(
    tmp_path: Path,
    publisher: RuntimeProcess,
    redis_server: RedisAccess,
    key_prefix: str,
    market_prefix: str,
) -> None:
    redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    await redis.delete(f"{market_prefix}:regime:{BTC}:1m")
    await started(publisher)

    async def published() -> bool:
        return bool(await redis.exists(f"{market_prefix}:regime:{BTC}:1m"))

    await eventually(published, what="the published regime model", seconds=60, runtime=publisher)
    document = json.loads(await redis.get(f"{market_prefix}:regime:{BTC}:1m") or "{}")
    await redis.aclose()
    model = document["model"]
    assert sorted(model["labels"]) == ["bearish_volatile", "bullish_calm", "squeeze"]
    assert model["nBars"] >= 1_000
    assert document["fittedAtMs"] % MINUTE_MS == 0

    bot = RuntimeProcess.paper(
        workdir=tmp_path / "bot",
        bot="regimebot",
        base_url=NO_EXCHANGE,
        redis_url=redis_server.url,
        key_prefix=key_prefix,
    )
    bot.config["marketData"] |= {"source": "shared", "sharedKeyPrefix": market_prefix}
    try:
        bot.start()
        await bot.wait_for("/readyz", timeout_s=60)

        async def summary() -> dict[str, Any]:
            answer: dict[str, Any] = (await bot.get(SUMMARY)).json()
            return answer

        async def runs_it() -> bool:
            return (await summary())["model"]["fitted_at_ms"] == document["fittedAtMs"]

        await eventually(runs_it, what="the bot to run the published model", runtime=bot)
        answer = await summary()
        assert answer["model"]["state"] == "ready"
        assert answer["model"]["reason"].startswith("fitted by the market-data workload on ")

        # The regime of the next bar that closes (a bar is a minute here) is the model's.
        async def named() -> bool:
            regime = (await summary())["symbols"][BTC] or {}
            return regime.get("regime") in ("bullish_calm", "bearish_volatile", "squeeze")

        await eventually(named, what="a regime named by the model", seconds=90, runtime=bot)
        print(json.dumps(await summary(), indent=1)[:1500])
        # It fitted nothing itself, nor loaded the fitting kernels.
        assert "regime refit:" not in bot.log()
    finally:
        bot.kill()
    assert "Traceback" not in publisher.log()
