"""The bot of the optimization e2e test and the market it is tuned on.

Shared by ``tests/e2e/optimizer`` (an optimization Job on the stack rolls out a new revision)
and ``tests/unit/backtest/test_optimize_cycle_market.py``, which replays the same market
offline and checks the e2e test's premise: the search beats the starting parameters in every
window the Job could be given, whenever the test runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from kubernetes import client
from tradefleet_devtools.exchange.market import (
    BookShape,
    SimulatedMarket,
    SymbolSpec,
    default_start_price,
)
from tradefleet_devtools.exchange.prices import CYCLE_PERIOD_SECONDS, CyclePriceSource
from tradefleet_devtools.stack import CYCLE_SYMBOL, EXCHANGE_SYMBOLS, MarketShape
from tradefleet_runtime.backtest.data import BarSeries

from support.bots import get_bot, set_annotation
from support.k8s import wait_for

# Deliberately poor on a 15-minute cycle of ±2 %: two nearly equal slow EMAs whose crossings
# lag the turns, and a 0.2 % stop inside the noise.
STARTING_PARAMETERS: dict[str, int | float] = {
    "emaFast": 30,
    "emaSlow": 31,
    "rsiPeriod": 30,
    "rsiOverbought": 70,
    "rsiOversold": 30,
    "stopLossPct": 0.2,
    "takeProfitPct": 0.4,
    "riskPerTradePct": 0.5,
}
# No schedule slot falls within a test run (1 January only): the annotation triggers the run.
# The fixed seed makes the search itself reproducible; the market makes the data alike.
OPTIMIZER: dict[str, Any] = {
    "enabled": True,
    "schedule": "0 0 1 1 *",
    "lookbackBars": 240,
    "objective": "pnl",
    "trials": 60,
    "minTrades": 1,
    "seed": 3,
}
TIMEFRAME = "1m"
BAR_MS = 60_000
# The stack's exchange: one step a second, 12 h of history before it starts (MarketShape).
STEP_MS = 1_000
HISTORY_STEPS = int(MarketShape().history_hours * 3600)


def cycle_market(*, epoch_ms: int, steps: int) -> SimulatedMarket:
    """The stack exchange's market of ``CYCLE_SYMBOL``, ``steps`` steps after ``epoch_ms``."""
    source = CyclePriceSource(
        seed=EXCHANGE_SYMBOLS.split(",").index(CYCLE_SYMBOL),
        start_price=default_start_price(CYCLE_SYMBOL),
        period_steps=CYCLE_PERIOD_SECONDS * 1000 // STEP_MS,
    )
    market = SimulatedMarket(
        spec=SymbolSpec.for_perpetual(unified=CYCLE_SYMBOL, reference_price=source.start_price),
        source=source,
        shape=BookShape(),
        start_ms=epoch_ms,
    )
    for step in range(1, steps + 1):
        market.step(at_ms=epoch_ms + step * STEP_MS)
    return market


def latest_bars(*, market: SimulatedMarket, now_ms: int, count: int) -> BarSeries:
    """What the optimization Job fetches at ``now_ms``: the newest ``count`` candles."""
    candles = market.klines(interval_ms=BAR_MS, start_ms=None, end_ms=now_ms, limit=count)
    return BarSeries(
        timestamp_ms=np.array([c.open_time_ms for c in candles], dtype=np.int64),
        open=np.array([c.open for c in candles]),
        high=np.array([c.high for c in candles]),
        low=np.array([c.low for c in candles]),
        close=np.array([c.close for c in candles]),
        volume=np.array([c.volume for c in candles]),
        bar_seconds=BAR_MS // 1000,
    )


def optimize_now(
    api: client.ApiClient, namespace: str, bot: str, *, request: str
) -> tuple[str, Any]:
    """Ask for an optimization at once (``tradefleet.io/optimize-now``); the name of the Job the
    operator starts and the Job once it succeeded or failed."""
    set_annotation(api, namespace, bot, "tradefleet.io/optimize-now", request)
    job_name: str = wait_for(
        lambda: ((get_bot(api, namespace, bot).get("status") or {}).get("optimizer") or {}).get(
            "lastJob"
        ),
        timeout_s=60,
        what="the operator to start an optimization Job",
    )
    batch = client.BatchV1Api(api)

    def finished() -> Any:
        job = batch.read_namespaced_job(job_name, namespace)
        return job if (job.status.succeeded or job.status.failed) else None

    return job_name, wait_for(finished, timeout_s=600, what=f"Job {job_name} to finish")
