"""A spot position is protected too: a software stop, checked on every tick, closes it.

A paper spot bot replays a scripted market (no exchange): quiet bars, a rally it buys into, then
a 10 % fall while the order flow stays bullish, so only a stop can close the position. Its
thresholds make a signal exit impossible (``sell`` at -0.99).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from runtime_support import RuntimeProcess, bot_status, eventually

pytestmark = pytest.mark.integration

START_MS = 1_700_000_000_000
# Six seconds of market per replayed row: a 1-minute bar closes every ten rows.
ROW_MS = 6_000


def scripted_market(path: Path) -> None:
    rows = ["timestamp_ms,bid_price,bid_size,ask_price,ask_size"]
    mid = 30_000.0

    def row(number: int, *, bid_size: float, ask_size: float) -> None:
        rows.append(
            f"{START_MS + ROW_MS * number},{mid - 0.5:.2f},{bid_size},{mid + 0.5:.2f},{ask_size}"
        )

    number = 0
    for _ in range(400):  # quiet: small oscillation, balanced book
        mid = 30_000.0 * (1 + 0.001 * math.sin(number / 3))
        row(number, bid_size=2.0, ask_size=2.0)
        number += 1
    for _ in range(30):  # the rally, short of the take-profit: bids stacked, prices rising
        mid *= 1.0003
        row(number, bid_size=8.0, ask_size=1.0)
        number += 1
    for _ in range(100):
        row(number, bid_size=8.0, ask_size=1.0)
        number += 1
    for _ in range(20):  # the fall, 0.5 % a row, with the bids still stacked
        mid *= 0.995
        row(number, bid_size=8.0, ask_size=1.0)
        number += 1
    for _ in range(600):
        row(number, bid_size=8.0, ask_size=1.0)
        number += 1
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture
def spot_runtime(tmp_path: Path, feed_runtime: RuntimeProcess) -> RuntimeProcess:
    process = feed_runtime
    replay = tmp_path / "market.csv"
    scripted_market(replay)
    process.config["exchange"] |= {"market": "spot", "symbol": "BTC/USDT"}
    process.config["marketData"] |= {"source": "replay", "replayPath": str(replay)}
    process.config["strategy"]["thresholds"] = {
        "buy": 0.1,
        "strongBuy": 0.9,
        "sell": -0.99,
        "strongSell": -1.0,
    }
    return process


async def test_a_spot_position_is_closed_by_its_software_stop(spot_runtime: RuntimeProcess) -> None:
    spot_runtime.start()
    await spot_runtime.wait_for("/readyz", timeout_s=60)

    async def long() -> bool:
        return (await bot_status(spot_runtime))["position"]["side"] == "long"

    await eventually(long, what="a spot long", seconds=120, runtime=spot_runtime)
    report = await bot_status(spot_runtime)
    assert report.get("protection", {}).get("stopKind") == "software", report
    stop = report["position"]["stopPrice"]
    assert stop is not None and stop < report["position"]["entryPrice"]

    async def flat() -> bool:
        return (await bot_status(spot_runtime))["position"]["side"] == "flat"

    await eventually(
        flat, what="the software stop to close the long", seconds=120, runtime=spot_runtime
    )
    assert "software stop" in spot_runtime.log()
