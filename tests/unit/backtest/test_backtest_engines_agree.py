"""The grid engine and the event-driven engine give the same trades; batch = streaming indicators."""

from __future__ import annotations

import random

import numpy as np
import pytest
from tradefleet_runtime.backtest.data import synthetic_bars
from tradefleet_runtime.backtest.engine import run_backtest
from tradefleet_runtime.backtest.grid import grid_backtest, run_grid
from tradefleet_runtime.backtest.model import BacktestConfig, BacktestResult
from tradefleet_runtime.backtest.series import ema_series, rsi_series
from tradefleet_runtime.strategies.indicators import StreamingEma, StreamingRsi
from tradefleet_runtime.strategies.parameters import StrategyParameters

pytestmark = pytest.mark.unit

N_SETS = 24


def random_parameter_sets(seed: int) -> list[StrategyParameters]:
    rng = random.Random(seed)
    sets = []
    for _ in range(N_SETS):
        fast = rng.randint(2, 30)
        sets.append(
            StrategyParameters(
                ema_fast=fast,
                ema_slow=rng.randint(fast + 1, 80),
                rsi_period=rng.randint(2, 30),
                rsi_overbought=rng.uniform(55.0, 90.0),
                rsi_oversold=rng.uniform(10.0, 45.0),
                stop_loss_pct=rng.uniform(0.1, 3.0),
                take_profit_pct=rng.uniform(0.1, 6.0),
                risk_per_trade_pct=rng.uniform(0.1, 5.0),
            )
        )
    return sets


def trade_keys(result: BacktestResult) -> list[tuple[object, ...]]:
    return [
        (
            trade.direction,
            trade.entry_index,
            trade.exit_index,
            trade.exit_reason,
            trade.entry_price,
            trade.exit_price,
            trade.quantity,
        )
        for trade in result.trades
    ]


def test_batch_indicators_equal_the_streaming_ones_bit_for_bit() -> None:
    closes = synthetic_bars(seed=5, n_bars=800).close
    for period in (2, 9, 26, 100):
        ema = StreamingEma(period=period)
        rsi = StreamingRsi(period=period)
        streamed_ema = [ema.update(close) for close in closes.tolist()]
        streamed_rsi = [rsi.update(close) for close in closes.tolist()]
        as_array = np.array([np.nan if v is None else v for v in streamed_ema])
        np.testing.assert_array_equal(ema_series(values=closes, period=period), as_array)
        as_array = np.array([np.nan if v is None else v for v in streamed_rsi])
        np.testing.assert_array_equal(rsi_series(closes=closes, period=period), as_array)


@pytest.mark.parametrize("seed", [1, 2])
def test_grid_trades_equal_event_driven_trades_on_random_parameter_sets(seed: int) -> None:
    bars = synthetic_bars(seed=seed, n_bars=1_200)
    sets = random_parameter_sets(seed)
    configs = [
        BacktestConfig(fee_pct=0.1, slippage_pct=0.02),
        BacktestConfig(fee_pct=0.04, slippage_pct=0.0, allow_short=False, max_leverage=3.0),
    ]
    traded = 0
    for index, parameters in enumerate(sets):
        config = configs[index % 2]
        start = (index * 37) % 300
        event = run_backtest(
            bars=bars,
            strategy_name="ema_rsi",
            parameters=parameters,
            config=config,
            start_index=start,
        )
        grid = grid_backtest(bars=bars, parameters=parameters, config=config, start_index=start)
        assert trade_keys(grid) == trade_keys(event), parameters
        for grid_trade, event_trade in zip(grid.trades, event.trades, strict=True):
            assert grid_trade.pnl == pytest.approx(event_trade.pnl, abs=1e-9)
        np.testing.assert_array_equal(grid.equity, event.equity)
        assert grid.metrics == event.metrics
        traded += bool(event.trades)
    assert traded >= N_SETS - 2  # the sets really trade


def test_the_parallel_grid_reports_what_each_single_run_reports() -> None:
    bars = synthetic_bars(seed=3, n_bars=1_000)
    sets = random_parameter_sets(3)
    config = BacktestConfig()
    grid = run_grid(bars=bars, parameter_sets=sets, config=config, start_index=50)
    for index, parameters in enumerate(sets):
        single = grid_backtest(bars=bars, parameters=parameters, config=config, start_index=50)
        assert grid.metrics(index) == single.metrics
