"""Buy-and-hold beside the strategy, and funding on futures, worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tradefleet_runtime.backtest.__main__ import main
from tradefleet_runtime.backtest.benchmark import buy_and_hold
from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.engine import run_backtest
from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.backtest.funding import funding_times_per_bar
from tradefleet_runtime.backtest.grid import grid_backtest
from tradefleet_runtime.backtest.model import BacktestConfig, MarketType
from tradefleet_runtime.strategies.parameters import StrategyParameters

pytestmark = pytest.mark.unit

JAN_1 = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a funding time
HOUR_MS = 3_600_000
NO_FRICTION = {"fee_pct": 0.0, "slippage_pct": 0.0}


def _bars(closes: list[float], *, bar_seconds: int, opens: list[float] | None = None) -> BarSeries:
    close = np.array(closes)
    open_ = np.array(opens) if opens is not None else close
    return BarSeries(
        timestamp_ms=JAN_1 + np.arange(len(close)) * 1000 * bar_seconds,
        open=open_,
        high=np.maximum(open_, close),
        low=np.minimum(open_, close),
        close=close,
        volume=np.ones(len(close)),
        bar_seconds=bar_seconds,
    )


def test_funding_times_fall_at_00_08_and_16_utc() -> None:
    hourly = funding_times_per_bar(timestamp_ms=JAN_1 + np.arange(25) * HOUR_MS, bar_seconds=3600)
    assert np.flatnonzero(hourly).tolist() == [0, 8, 16, 24]
    daily = funding_times_per_bar(
        timestamp_ms=JAN_1 + np.arange(3) * 24 * HOUR_MS, bar_seconds=86_400
    )
    assert daily.tolist() == [3, 3, 3]
    # A 4-hour bar opening at 06:00 spans 08:00; a minute bar opening at 07:59 does not.
    assert funding_times_per_bar(
        timestamp_ms=np.array([JAN_1 + 6 * HOUR_MS]), bar_seconds=14_400
    ).tolist() == [1]
    assert funding_times_per_bar(
        timestamp_ms=np.array([JAN_1 + 8 * HOUR_MS - 60_000, JAN_1 + 8 * HOUR_MS]), bar_seconds=60
    ).tolist() == [0, 1]


def test_buy_and_hold_by_hand() -> None:
    # Bought at the first open 100 with 10,000 (fee 0.1 %: 10), marked at each close, sold at
    # the last close 110 (fee 0.1 % of 11,000: 11): 10,000 + 100 × 10 − 10 − 11 = 10,979.
    bars = _bars([100.0, 90.0, 120.0, 110.0], bar_seconds=60, opens=[100.0, 100.0, 90.0, 120.0])
    hold = buy_and_hold(bars=bars, config=BacktestConfig(fee_pct=0.1, slippage_pct=0.0))
    assert hold.final_equity == pytest.approx(10_979.0)
    assert hold.total_return_pct == pytest.approx(9.79)
    assert hold.equity.tolist() == pytest.approx([9_990.0, 8_990.0, 11_990.0, 10_979.0])
    # Peak 10,000 (the start) to 8,990, then peak 11,990 to 10,979 (8.43 %): 10.1 % is larger.
    assert hold.max_drawdown_pct == pytest.approx(10.1)
    assert hold.funding_paid == 0.0


def test_held_futures_pay_funding_at_each_funding_time_after_the_entry() -> None:
    # Three days of flat hourly bars from 00:00 UTC: the long of 100 BTC at 100 is open at
    # the funding times of hours 8, 16, ..., 64 (8 of them; hour 0 is its entry bar).
    bars = _bars([100.0] * 72, bar_seconds=3600)
    spot = buy_and_hold(bars=bars, config=BacktestConfig(**NO_FRICTION))
    futures = buy_and_hold(
        bars=bars, config=BacktestConfig(market=MarketType.FUTURES, **NO_FRICTION)
    )
    assert spot.final_equity == 10_000.0
    # 0.01 % of 10,000 notional = 1 per funding time.
    assert futures.funding_paid == pytest.approx(8.0)
    assert futures.final_equity == pytest.approx(9_992.0)
    assert futures.total_return_pct == pytest.approx(-0.08)


# The 20 hand-made bars of test_backtest_hand_trades (its seven trades are worked out there),
# as 4-hour bars from 00:00 UTC: funding times at the open of every even bar.
HAND_BARS = [
    (100.0, 100.0, 100.0, 100.0), (100.0, 102.0, 100.0, 102.0), (102.0, 104.0, 102.0, 104.0),
    (104.0, 105.0, 103.5, 105.0), (106.0, 106.0, 104.0, 104.0), (104.0, 104.0, 102.0, 103.0),
    (103.0, 105.0, 103.0, 105.0), (105.0, 105.0, 104.0, 104.5), (104.5, 107.0, 104.5, 107.0),
    (107.0, 107.5, 106.0, 106.5), (106.5, 109.0, 104.5, 108.0), (108.0, 108.0, 106.0, 107.0),
    (107.0, 107.0, 105.0, 106.0), (106.0, 106.0, 104.0, 105.0), (105.0, 105.0, 103.0, 104.0),
    (104.0, 104.0, 102.0, 103.0), (103.0, 104.0, 102.5, 103.5), (103.5, 104.0, 102.0, 102.5),
    (102.5, 103.0, 101.5, 102.0), (102.0, 102.5, 101.45, 101.5),
]  # fmt: skip
PARAMETERS = StrategyParameters(
    ema_fast=2,
    ema_slow=3,
    rsi_period=2,
    rsi_overbought=85.0,
    rsi_oversold=15.0,
    stop_loss_pct=1.0,
    take_profit_pct=2.0,
    risk_per_trade_pct=1.0,
)
# (direction, entry, exit, the opens of the even bars after the entry bar up to the exit bar)
HAND_TRADES = [
    (-1, 104.0, 106.0, [106.0]),  # bars 3 → 4
    (1, 104.0, 104.0 * 1.02, [103.0, 104.5]),  # 5 → 8
    (-1, 107.0, 107.0 * 1.01, [106.5]),  # 9 → 10
    (-1, 108.0, 108.0 * 0.98, [107.0]),  # 11 → 12
    (-1, 106.0, 106.0 * 0.98, [105.0]),  # 13 → 14
    (1, 104.0, 104.0 * 0.99, [103.0]),  # 15 → 16
    (-1, 103.5, 101.5, [102.5]),  # 17 → 19
]


def test_futures_trades_pay_and_receive_funding_and_the_pnl_shows_it() -> None:
    table = np.array(HAND_BARS)
    bars = BarSeries(
        timestamp_ms=JAN_1 + np.arange(len(table)) * 4 * HOUR_MS,
        open=table[:, 0],
        high=table[:, 1],
        low=table[:, 2],
        close=table[:, 3],
        volume=np.ones(len(table)),
        bar_seconds=14_400,
    )
    rate = 0.005  # 0.5 % per 8 h, large enough to read
    runs = {
        market: run_backtest(
            bars=bars,
            strategy_name="ema_rsi",
            parameters=PARAMETERS,
            config=BacktestConfig(market=market, funding_rate_pct=100 * rate, **NO_FRICTION),
        )
        for market in MarketType
    }
    spot, futures = runs[MarketType.SPOT], runs[MarketType.FUTURES]
    equity = 10_000.0
    paid = []
    for trade, (direction, entry, exit_, funded_opens) in zip(
        futures.trades, HAND_TRADES, strict=True
    ):
        quantity = equity / entry
        funding = direction * quantity * rate * sum(funded_opens)
        pnl = direction * quantity * (exit_ - entry) - funding
        assert trade.direction == direction
        assert trade.funding == pytest.approx(funding, rel=1e-9)
        assert trade.pnl == pytest.approx(pnl, rel=1e-9)
        paid.append(funding)
        equity += pnl
    # Shorts receive funding at a positive rate: the first trade, a short of 96.15 BTC held
    # over one funding time at 106, receives 0.5 % of 10,192.31.
    assert paid[0] == pytest.approx(-10_000.0 / 104.0 * 106.0 * rate)
    assert futures.trades[0].pnl - spot.trades[0].pnl == pytest.approx(-paid[0])
    assert futures.funding_paid == pytest.approx(sum(paid))
    assert futures.metrics.final_equity == pytest.approx(equity)
    assert futures.metrics.final_equity != pytest.approx(spot.metrics.final_equity)
    # Same signals, same fills: only the sizes (compounded equity) and the funding differ.
    assert [(t.entry_index, t.exit_index) for t in futures.trades] == [
        (t.entry_index, t.exit_index) for t in spot.trades
    ]
    assert spot.funding_paid == 0.0 and all(t.funding == 0.0 for t in spot.trades)


def test_the_grid_engine_refuses_to_ignore_funding() -> None:
    bars = _bars([100.0 + (i % 7) for i in range(50)], bar_seconds=3600)
    with pytest.raises(BacktestConfigError, match="grid engine charges no funding"):
        grid_backtest(
            bars=bars,
            parameters=PARAMETERS,
            config=BacktestConfig(market=MarketType.FUTURES),
        )


def test_the_backtest_command_prints_and_writes_the_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["backtest", "--synthetic", "4", "--bars", "1500", "--bar-seconds", "3600",
         "--market", "futures", "--funding-rate-pct", "0.03",
         "--param", "emaFast=5", "--param", "emaSlow=20", "--out", str(tmp_path), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "Strategy and buy-and-hold over the same bars (futures, funding 0.03 % per 8 h)" in out
    header = next(line for line in out.splitlines() if line.startswith("figure") and "buy" in line)
    assert header.split() == ["figure", "strategy", "buy", "and", "hold"]
    document = json.loads((tmp_path / "result.json").read_text())
    hold = document["buyAndHold"]
    # 1,500 hourly bars: the held long is open over some 500 funding times.
    assert hold["fundingPaid"] > 0.0 and set(hold) >= {"totalReturnPct", "maxDrawdownPct", "sharpe"}
    assert f"{hold['totalReturnPct']:,.2f} %" in out
    assert document["backtest"]["market"] == "futures"
    page = (tmp_path / "report.html").read_text()
    assert "buy and hold" in page and "Funding paid" in page
