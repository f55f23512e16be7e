"""SignalSource streams recorded from a real Redis and replayed in a backtest: at every moment
the recording hands fusion what the live reader read from Redis at that moment, and the backtest
CLI trades on it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis import Redis
from tradefleet_devtools.redis_server import RedisAccess
from tradefleet_runtime.backtest.__main__ import main
from tradefleet_runtime.backtest.data import synthetic_bars
from tradefleet_runtime.config import SourceRef
from tradefleet_runtime.signals.fusion import default_max_age_ms
from tradefleet_runtime.sources.reader import SourceReader
from tradefleet_runtime.sources.recording import SignalRecording, record_signals
from tradefleet_runtime.sources.stream import SourceReading

pytestmark = pytest.mark.integration

SYMBOL = "BTC/USDT:USDT"
AGES = default_max_age_ms()


def _refs(prefix: str) -> list[SourceRef]:
    return [
        SourceRef(name="news", weight=1.0, redis_stream=f"{prefix}:news"),
        SourceRef(name="whales", weight=0.5, redis_stream=f"{prefix}:whales"),
        SourceRef(name="fed", weight=1.0, redis_stream=f"{prefix}:fed"),
    ]


async def test_the_recording_reads_what_the_live_reader_read_at_each_moment(
    redis_server: RedisAccess,
) -> None:
    prefix = f"tradefleet:signals:test:{uuid.uuid4().hex[:8]}"
    refs = _refs(prefix)
    redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    live = SourceReader.of_redis(redis=redis, refs=refs, symbol=SYMBOL, max_age_ms=AGES)
    seen_live: list[tuple[int, list[object]]] = []
    try:
        start = 1_700_000_000_000
        for step in range(40):
            at_ms = start + step * 60_000
            ref = refs[step % 3]
            kind = ("sentiment", "whale", "macro")[step % 3]
            symbol = SYMBOL if step % 4 == 0 else "BTC/USDT"
            fields = SourceReading(
                symbol=symbol,
                value=((step * 37) % 19 - 9) / 10,
                confidence=0.0 if step % 7 == 0 else 0.7,
                as_of_ms=at_ms,
                kind=kind,
            ).to_fields()
            await redis.xadd(ref.redis_stream, fields, id=f"{at_ms}-0")
            if step % 5 == 4:
                # A malformed entry, skipped by both and named.
                await redis.xadd(ref.redis_stream, {"symbol": SYMBOL}, id=f"{at_ms}-1")
            await live.refresh()
            seen_live.append((at_ms, live.readings(now_ms=at_ms + 30_000)))
        recording = await record_signals(redis=redis, sources=refs)
    finally:
        await redis.aclose()
    for now_ms, readings in seen_live:
        replayed = recording.readings(symbol=SYMBOL, now_ms=now_ms + 30_000, max_age_ms=AGES)
        assert replayed == readings, now_ms
    assert sum(len(recording.entries(ref.name)) for ref in refs) == 48


def _bot_config(*, path: Path, refs: list[SourceRef]) -> Path:
    document = {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "RuntimeConfig",
        "bot": {"name": "fused", "namespace": "test"},
        "exchange": {
            "id": "binance",
            "market": "futures",
            "symbol": SYMBOL,
            "mode": "paper",
            "liveTradingOptIn": False,
            "baseUrl": None,
            "credentials": None,
        },
        "strategy": {"name": "ema_rsi", "timeframe": "1m"},
        "risk": {},
        "signalSources": [
            {"name": ref.name, "weight": ref.weight, "redisStream": ref.redis_stream}
            for ref in refs
        ],
        "redis": {"url": "redis://unused:6379/0", "keyPrefix": "tradefleet:bot:test:fused"},
        "api": {"port": 8080, "controlTokenEnv": "TRADEFLEET_CONTROL_TOKEN"},
        "heartbeatTimeoutSeconds": 30,
    }
    path.write_text(json.dumps(document))
    return path


def test_record_signals_then_a_backtest_fuses_them(
    redis_server: RedisAccess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"tradefleet:signals:test:{uuid.uuid4().hex[:8]}"
    refs = _refs(prefix)
    bars = synthetic_bars(seed=3, n_bars=1_500, bar_seconds=60)
    # A bullish sentiment source publishing every 30 bars over the whole backtest.
    with Redis.from_url(redis_server.url, decode_responses=True) as redis:
        for index in range(0, len(bars), 30):
            at_ms = int(bars.timestamp_ms[index])
            reading = SourceReading(
                symbol="BTC/USDT", value=0.9, confidence=0.9, as_of_ms=at_ms, kind="sentiment"
            )
            redis.xadd(refs[0].redis_stream, reading.to_fields(), id=f"{at_ms}-0")
    config = _bot_config(path=tmp_path / "config.json", refs=refs)
    out = tmp_path / "signals.jsonl"
    command = ["record-signals", "--config", str(config), "--redis-url", redis_server.url]
    assert main([*command, "--out", str(out)]) == 0
    assert "entries by source: news 50, whales 0, fed 0" in capsys.readouterr().out
    assert len(SignalRecording.load(out).entries("news")) == 50

    def backtest(*extra: str) -> list[dict[str, object]]:
        report = tmp_path / ("with" if extra else "without")
        code = main(
            ["backtest", "--synthetic", "3", "--bars", "1500", "--strategy", "ema_rsi",
             "--symbol", SYMBOL, "--fusion-weight", "strategy=0.5",
             "--fusion-weight", "sentiment=0.5", "--out", str(report), "--no-progress",
             *extra]
        )  # fmt: skip
        assert code == 0
        trades: list[dict[str, object]] = json.loads((report / "result.json").read_text())[
            "backtest"
        ]["trades"]
        return trades

    # Without the recording, fusion has only the plugin's signal; with it, the bullish
    # sentiment the sources published, as of each bar's close.
    without = backtest()
    fused = backtest("--signals", str(out))
    assert fused
    assert any(
        "sentiment from SignalSources: +0.90" in str(trade["entryReason"]) for trade in fused
    )
    assert not any("from SignalSources" in str(trade["entryReason"]) for trade in without)
    assert all("sentiment: missing" in str(trade["entryReason"]) for trade in without)
