"""Benchmark: tick → order intent latency of the bot runtime's decision pipeline (no network).

Times, for each of 20 000 synthetic L1 ticks, the path the live decision loop runs from a tick
entering the pipeline to the ``OrderRequest`` being produced: tick validation, the order-flow
update, fusion of the readings, the risk engine's ``evaluate`` and the request itself. The bot
is kept flat, so every tick whose fused score crosses a threshold goes all the way through the
risk engine to an order request. Prints p50 and p99 next to the targets (≤ 100 µs, ≤ 1 ms),
each with the same percentile in CPU time (thread time), which shows what the code costs when
other work on the machine keeps it waiting for a core.

    python tests/benchmarks/bench_runtime.py
"""

from __future__ import annotations

import statistics
import time

from tradefleet_api.models import SignalThresholds
from tradefleet_runtime.config import MarketKind
from tradefleet_runtime.execution.model import MarketInfo
from tradefleet_runtime.marketdata.synthetic import generate_book
from tradefleet_runtime.marketdata.ticks import BookTick, TickValidator
from tradefleet_runtime.persistence.records import PositionRecord
from tradefleet_runtime.risk import MarketRisk, PortfolioState, RiskEngine, RiskLimits, SymbolRisk
from tradefleet_runtime.service.pipeline import DecisionPipeline
from tradefleet_runtime.signals.fusion import AlphaFusion, FusionConfig
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime_config import RegimeTradingParams

SYMBOL = "BTC/USDT:USDT"
N_TICKS = 20_000
TARGET_P50_S = 100e-6
TARGET_P99_S = 1e-3


def main() -> None:
    book = generate_book(seed=11, n_snapshots=N_TICKS, snapshot_ms=100)
    ticks = [
        BookTick(symbol=SYMBOL, timestamp_ms=t, bid_price=bp, bid_size=bs, ask_price=ap, ask_size=a_s)
        for t, bp, bs, ap, a_s in zip(
            book.timestamp_ms.tolist(), book.bid_price.tolist(), book.bid_size.tolist(),
            book.ask_price.tolist(), book.ask_size.tolist(), strict=True,
        )
    ]  # fmt: skip
    pipeline = DecisionPipeline(
        bot_name="bench",
        exchange_id="binanceusdm",
        symbol=SYMBOL,
        market_kind=MarketKind.FUTURES,
        market_info=MarketInfo(
            symbol=SYMBOL, amount_step=0.001, price_tick=0.5, min_amount=0.001, min_notional=5.0
        ),
        fusion=AlphaFusion(config=FusionConfig()),
        thresholds=SignalThresholds(buy=0.05, strong_buy=0.5, sell=-0.05, strong_sell=-0.5),
        risk=RiskEngine(limits=RiskLimits()),
    )
    validator = TickValidator(max_age_ms=10_000, max_jump_pct=10.0)
    returns = [0.001 * ((i * 7919) % 13 - 6) / 6 for i in range(120)]
    market = MarketRisk(
        regime_label="bullish_calm",
        momentum=0.3,
        bar_seconds=60,
        symbols={SYMBOL: SymbolRisk(symbol=SYMBOL, atr=25.0, log_returns=returns, recent_bars=12)},
    )
    params = RegimeTradingParams(
        position_size_multiplier=1.2, stop_loss_pct=2.0, take_profit_pct=5.0
    )
    flat = PositionRecord()
    portfolio = PortfolioState.opening(equity=10_000.0, now_ms=ticks[0].timestamp_ms)
    all_samples: list[float] = []
    order_samples: list[float] = []
    all_cpu_samples: list[float] = []
    order_cpu_samples: list[float] = []
    clock = time.perf_counter
    cpu_clock = time.thread_time
    for index, tick in enumerate(ticks):
        # The other engines' readings change per bar, not per tick: built outside the timing.
        readings = [
            SignalReading(name="regime", value=0.4, confidence=0.8, as_of_ms=tick.timestamp_ms),
            SignalReading(name="sentiment", value=0.2, confidence=0.6, as_of_ms=tick.timestamp_ms),
        ]
        cpu_started = cpu_clock()  # read outside the wall-clock span, so it does not add to it
        started = clock()
        if validator.check(tick, now_ms=tick.timestamp_ms) is not None:
            continue
        pipeline.observe(tick)
        decision = pipeline.decide(
            tick=tick,
            decision_id=f"b-{index}",
            readings=readings,
            regime_params=params,
            position=flat,
            portfolio=portfolio,
            market=market,
            paused=False,
        )
        elapsed = clock() - started
        cpu_elapsed = cpu_clock() - cpu_started
        all_samples.append(elapsed)
        all_cpu_samples.append(cpu_elapsed)
        if decision.request is not None:
            order_samples.append(elapsed)
            order_cpu_samples.append(cpu_elapsed)

    def percentile(samples: list[float], q: int) -> float:
        return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]

    print(
        f"ticks: {len(ticks)}, decisions: {len(all_samples)}, order requests: {len(order_samples)}"
    )
    for label, samples, cpu_samples in (
        ("tick → order intent", order_samples, order_cpu_samples),
        ("tick → any decision", all_samples, all_cpu_samples),
    ):
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        cpu_p50, cpu_p99 = percentile(cpu_samples, 50), percentile(cpu_samples, 99)
        print(
            f"{label:22s} p50 {p50 * 1e6:8.1f} µs (target ≤ {TARGET_P50_S * 1e6:.0f} µs)   "
            f"p99 {p99 * 1e6:8.1f} µs (target ≤ {TARGET_P99_S * 1e6:.0f} µs)   "
            f"(cpu p50 {cpu_p50 * 1e6:.1f} µs, p99 {cpu_p99 * 1e6:.1f} µs)"
        )


if __name__ == "__main__":
    main()
