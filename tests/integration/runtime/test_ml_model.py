"""The ML fusion input end to end: the optimizer Job trains the ensemble on the exchange's candles
and stores it in Redis; the bot's runtime loads it, shows its version and validation score, and
fuses its prediction; a newly trained version replaces it at the next bar, and a model built
for another scikit-learn is refused while the one in use stays."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from runtime_support import BTC, RuntimeProcess, bot_status, eventually
from tradefleet_devtools.exchange import (
    EngineConfig,
    LocalExchange,
    LocalExchangeOptions,
)
from tradefleet_devtools.exchange.prices import CyclePriceSource
from tradefleet_devtools.redis_server import RedisAccess
from tradefleet_runtime.config import RuntimeConfig, parse_runtime_config
from tradefleet_runtime.execution.model import Candle
from tradefleet_runtime.jobs.optimize import fetch_bars, train_ml_ensemble
from tradefleet_runtime.persistence.ml_models import MlModelStore
from tradefleet_runtime.service.ml_signal import FEATURE_WINDOW_BARS, MlSignal, MlState
from tradefleet_runtime.signals.ml_ensemble import MlConfig

pytestmark = pytest.mark.integration

ML_WEIGHTS = {"regime": 0.2, "ofi": 0.2, "whale": 0.0, "sentiment": 0.0, "macro": 0.0, "ml": 0.6}
JOB = {"TRADEFLEET_OPTIMIZER_JOB": "mlbot-opt-1"}


@pytest.fixture
async def minute_exchange() -> AsyncIterator[LocalExchange]:
    """A two-hour price cycle with noise, one step a minute: 1,500 one-minute candles of history
    whose direction technical features foretell (so the ensemble has skill), and a book that
    stays put while the test runs."""
    cycle = CyclePriceSource(seed=11, start_price=30_000.0, period_steps=120, noise=0.002)
    options = LocalExchangeOptions(
        symbols=(BTC,),
        history_steps=1_500,
        engine=EngineConfig(step_ms=60_000),
        price_sources={BTC: cycle},
    )
    async with LocalExchange(options) as running:
        yield running


def _ml_runtime(
    *, workdir: Path, exchange: LocalExchange, redis: RedisAccess, key_prefix: str
) -> RuntimeProcess:
    process = RuntimeProcess.paper(
        workdir=workdir,
        bot="mlbot",
        base_url=exchange.base_url,
        redis_url=redis.url,
        key_prefix=key_prefix,
    )
    process.config["strategy"] = {
        "name": "fusion",
        "timeframe": "1m",
        "fusionWeights": ML_WEIGHTS,
    }
    process.config["marketData"]["historyBars"] = 1_000
    return process


async def test_the_jobs_model_is_loaded_shown_and_fused_by_the_runtime(
    tmp_path: Path, minute_exchange: LocalExchange, redis_server: RedisAccess, key_prefix: str
) -> None:
    runtime = _ml_runtime(
        workdir=tmp_path, exchange=minute_exchange, redis=redis_server, key_prefix=key_prefix
    )
    runtime.start()
    try:
        await runtime.wait_for("/readyz", timeout_s=60)
        waiting = (await bot_status(runtime))["ml"]
        assert waiting["state"] == "WaitingForModel"
        assert "optimizer Job" in waiting["reason"]
        assert waiting["model"] is None and waiting["prediction"] is None
        await runtime.stop()

        config: RuntimeConfig = parse_runtime_config(runtime.config)
        bars = await fetch_bars(config=config, bars=1_200)
        version = await train_ml_ensemble(config=config, bars=bars, environ=JOB)
        assert version == 1

        runtime.start()
        await runtime.wait_for("/readyz", timeout_s=60)
        ml: dict[str, object] = {}

        async def loaded() -> bool:
            nonlocal ml
            ml = (await bot_status(runtime))["ml"]
            return ml["state"] == "Ready"

        await eventually(loaded, what="the stored model in use", seconds=30, runtime=runtime)
        model = ml["model"]
        assert isinstance(model, dict)
        assert model["version"] == 1 and model["trainedBy"] == "mlbot-opt-1"
        accuracy = model["walkForwardAccuracy"]
        # On a cycle the features foretell, the ensemble beats a coin flip out of sample.
        assert isinstance(accuracy, float) and 0.6 < accuracy <= 1.0
        prediction = ml["prediction"]
        assert isinstance(prediction, dict) and 0.0 <= prediction["probability_up"] <= 1.0
        status = await bot_status(runtime)
        assert status["fusionWeights"]["ml"] == pytest.approx(0.6)
        fused: dict[str, object] = {}

        async def fused_with_ml() -> bool:
            nonlocal fused
            fused = (await runtime.get("/signals")).json()["fusion"] or {}
            return "ml" in (fused.get("component_scores") or {})  # type: ignore[operator]

        await eventually(fused_with_ml, what="a decision fusing the ML input", runtime=runtime)
        assert fused["weights_used"]["ml"] > 0.0, fused  # type: ignore[index]
        assert any("ML ensemble" in line for line in fused["reasoning"]), fused  # type: ignore[attr-defined]
    finally:
        runtime.kill()


async def test_a_new_version_replaces_the_model_and_a_foreign_one_is_refused(
    minute_exchange: LocalExchange, redis_server: RedisAccess, key_prefix: str
) -> None:
    process = _ml_runtime(
        workdir=Path("/nonexistent"),
        exchange=minute_exchange,
        redis=redis_server,
        key_prefix=key_prefix,
    )
    config = parse_runtime_config(process.config)
    bars = await fetch_bars(config=config, bars=1_200)
    redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    store = MlModelStore(redis=redis, prefix=key_prefix)
    try:
        candles = await _candles(config=config)
        window = deque(candles, maxlen=FEATURE_WINDOW_BARS)
        signal = MlSignal(store=store, bar_seconds=60, config=MlConfig(), bars=window)
        await _bar_closed(signal)
        assert signal.status()["state"] == MlState.WAITING.value
        assert signal.reading() is None

        await train_ml_ensemble(config=config, bars=bars, environ=JOB)
        await _bar_closed(signal)
        first = signal.status()
        assert first["state"] == MlState.READY.value
        assert first["model"]["version"] == 1  # type: ignore[index]
        reading = signal.reading()
        assert reading is not None and reading.name == "ml"
        assert reading.as_of_ms == candles[-1].timestamp_ms + 60_000

        await train_ml_ensemble(
            config=config, bars=bars, environ={"TRADEFLEET_OPTIMIZER_JOB": "mlbot-opt-2"}
        )
        await _bar_closed(signal)
        second = signal.status()
        assert second["model"]["version"] == 2  # type: ignore[index]
        assert second["model"]["trainedBy"] == "mlbot-opt-2"  # type: ignore[index]

        # A third version whose metadata says another scikit-learn built it.
        await train_ml_ensemble(config=config, bars=bars, environ=JOB)
        metadata = json.loads(await redis.get(f"{key_prefix}:ml:meta"))
        await redis.set(f"{key_prefix}:ml:meta", json.dumps({**metadata, "sklearn_version": "0.1"}))
        await _bar_closed(signal)
        refused = signal.status()
        assert refused["state"] == MlState.REFUSED.value
        assert "sklearn_version '0.1'" in str(refused["reason"])
        assert "keeping v2" in str(refused["reason"])
        assert refused["model"]["version"] == 2  # type: ignore[index]
        assert signal.reading() is not None
    finally:
        await redis.aclose()


async def _bar_closed(signal: MlSignal) -> None:
    """What the market view does once closed bars came in: look for a new model, predict."""
    await signal.refresh()
    signal.predict()


async def _candles(*, config: RuntimeConfig) -> list[Candle]:
    """The last 400 closed one-minute candles, as the runtime's market view receives them."""
    bars = await fetch_bars(config=config, bars=400)
    return [
        Candle(
            timestamp_ms=int(bars.timestamp_ms[i]),
            open=float(bars.open[i]),
            high=float(bars.high[i]),
            low=float(bars.low[i]),
            close=float(bars.close[i]),
            volume=float(bars.volume[i]),
        )
        for i in range(len(bars.close))
    ]
