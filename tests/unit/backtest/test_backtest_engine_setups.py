"""The event-driven engine with the live runtime's other parts: risk engine, fusion with order flow,
regime labels and the regime detector; plus start-index warm-up."""

from __future__ import annotations

import pytest
from tradefleet_runtime.backtest.data import BarSeries, BookSeries, synthetic_bars
from tradefleet_runtime.backtest.engine import FusionSetup, run_backtest
from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.backtest.model import BacktestConfig
from tradefleet_runtime.backtest.risk_feed import RiskSetup
from tradefleet_runtime.marketdata.synthetic import generate_book
from tradefleet_runtime.risk.config import RiskLimits
from tradefleet_runtime.signals.fusion import AlphaFusion, FusionConfig
from tradefleet_runtime.signals.regime_config import RegimeConfig
from tradefleet_runtime.strategies.parameters import StrategyParameters

pytestmark = pytest.mark.unit

PARAMETERS = StrategyParameters(ema_fast=5, ema_slow=20, rsi_period=7)


@pytest.fixture(scope="module")
def bars() -> BarSeries:
    return synthetic_bars(seed=8, n_bars=1_500)


def test_the_risk_engine_sizes_every_entry_and_waits_for_its_data(bars: BarSeries) -> None:
    limits = RiskLimits(max_position_pct=5.0)
    result = run_backtest(
        bars=bars,
        strategy_name="ema_rsi",
        parameters=PARAMETERS,
        risk=RiskSetup(limits=limits, return_window_bars=60),
    )
    assert result.trades
    # No entry before the return window (60 bars) is full.
    assert min(trade.entry_index for trade in result.trades) > 60
    assert result.rejected_entries.get("risk_warmup", 0) > 0
    for trade in result.trades:
        # Sized on the signal bar's close against the equity marked there: at most 5 %.
        signal_bar = trade.entry_index - 1
        notional = trade.quantity * bars.close[signal_bar]
        assert notional <= 0.05 * result.equity[signal_bar] * (1 + 1e-9)
        assert f"risk: {'buy' if trade.direction > 0 else 'sell'} " in trade.entry_reason


def test_a_tripped_breaker_stops_new_entries(bars: BarSeries) -> None:
    # A 1 % drawdown limit trips almost at once; the engine then refuses every entry.
    limits = RiskLimits(max_drawdown_pct=1.0, recovery_drawdown_pct=0.5, max_daily_loss_pct=1.0)
    result = run_backtest(
        bars=bars,
        strategy_name="ema_rsi",
        parameters=PARAMETERS,
        risk=RiskSetup(limits=limits, return_window_bars=60),
    )
    assert result.rejected_entries.get("circuit_breaker", 0) > 0
    assert result.metrics.max_drawdown_pct < 5.0


def test_fusion_trades_on_the_fused_decision_with_order_flow_from_books(bars: BarSeries) -> None:
    # One book snapshot per second across the bars' time span.
    book = generate_book(
        seed=3,
        n_snapshots=len(bars) * 60,
        start_price=float(bars.close[0]),
        snapshot_ms=1_000,
        start_ms=int(bars.timestamp_ms[0]),
    )
    fusion = FusionSetup(
        fusion=AlphaFusion(
            config=FusionConfig(weights={"strategy": 0.5, "ofi": 0.5}, buy_threshold=0.3)
        )
    )
    fused = run_backtest(
        bars=bars,
        strategy_name="ema_rsi",
        parameters=PARAMETERS,
        fusion=fusion,
        books=BookSeries.from_synthetic(book),
    )
    alone = run_backtest(bars=bars, strategy_name="ema_rsi", parameters=PARAMETERS)
    assert fused.trades
    assert all(trade.entry_reason.startswith("fusion ") for trade in fused.trades)
    assert any("order flow" in trade.entry_reason for trade in fused.trades)
    assert [t.entry_index for t in fused.trades] != [t.entry_index for t in alone.trades]


def test_fusion_with_the_strategy_alone_trades_like_the_strategy(bars: BarSeries) -> None:
    # A sole component with confidence ≥ the threshold fuses to its own direction only when
    # value × confidence clears it; with a threshold of 1e-9 every BUY/SELL passes.
    fusion = FusionSetup(
        fusion=AlphaFusion(config=FusionConfig(weights={"strategy": 1.0}, buy_threshold=1e-9))
    )
    fused = run_backtest(bars=bars, strategy_name="ema_rsi", parameters=PARAMETERS, fusion=fusion)
    alone = run_backtest(bars=bars, strategy_name="ema_rsi", parameters=PARAMETERS)
    assert [(t.entry_index, t.exit_index, t.pnl) for t in fused.trades] == [
        (t.entry_index, t.exit_index, t.pnl) for t in alone.trades
    ]


def test_fusion_must_weight_the_strategy_component() -> None:
    with pytest.raises(BacktestConfigError, match="no entry for the strategy component"):
        FusionSetup(fusion=AlphaFusion(config=FusionConfig()))


def test_regime_adaptive_reads_the_series_labels(bars: BarSeries) -> None:
    assert bars.regime is not None
    result = run_backtest(bars=bars, strategy_name="regime_adaptive", parameters=PARAMETERS)
    assert result.trades
    for trade in result.trades:
        label = bars.regime[trade.entry_index - 1]
        assert trade.entry_reason.startswith(f"regime {label} → ")


def test_the_regime_detector_labels_bars_once_fitted() -> None:
    bars = synthetic_bars(seed=2, n_bars=1_000)
    stripped = BarSeries(
        timestamp_ms=bars.timestamp_ms,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume,
        bar_seconds=bars.bar_seconds,
    )
    result = run_backtest(
        bars=stripped,
        strategy_name="regime_adaptive",
        parameters=PARAMETERS,
        regime=RegimeConfig(min_history=400, fit_window=600, refit_interval=10_000),
    )
    labels = {trade.entry_reason.split(" → ")[0] for trade in result.trades}
    assert "regime unknown" in labels  # before the first fit
    assert labels - {"regime unknown"}  # after it


def test_bars_before_the_start_index_only_warm_up(bars: BarSeries) -> None:
    result = run_backtest(
        bars=bars, strategy_name="ema_rsi", parameters=PARAMETERS, start_index=700
    )
    assert result.metrics.bars == 800
    assert len(result.equity) == 800
    assert result.timestamp_ms[0] == bars.timestamp_ms[700]
    assert min(trade.entry_index for trade in result.trades) >= 701
    # Indicators are warm at once: the first entry follows within a few bars.
    assert result.trades[0].entry_index < 720


def test_books_without_fusion_are_refused(bars: BarSeries) -> None:
    book = generate_book(seed=1, n_snapshots=10)
    with pytest.raises(BacktestConfigError, match="configure fusion"):
        run_backtest(
            bars=bars,
            strategy_name="ema_rsi",
            parameters=PARAMETERS,
            books=BookSeries.from_synthetic(book),
            config=BacktestConfig(),
        )
