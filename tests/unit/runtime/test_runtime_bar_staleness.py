"""Bar-made readings (regime, strategy) are judged from the bar's close and the timeframe (issue 18, item 4).

For every timeframe the runtime accepts: the bot adds a bar when it has closed and the next one
only once that one has closed too (``MarketView.close_bars``), so the last bar's readings must
count until the next bar is due, however long the bar, and stop counting once a whole bar has
been missed. Built as the live bot builds them: ``BarState`` for the readings,
``fusion_config_of`` for the limits.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from test_runtime_config import RENDERED
from tradefleet_runtime.config import TIMEFRAME_SECONDS, RuntimeConfig, parse_runtime_config
from tradefleet_runtime.execution.model import Candle
from tradefleet_runtime.marketdata.synthetic import generate_market
from tradefleet_runtime.service.bars import BarState
from tradefleet_runtime.service.build import build_strategy, fusion_config_of
from tradefleet_runtime.signals.fusion import AlphaFusion, FusedSignal
from tradefleet_runtime.signals.regime_config import RegimeConfig, RegimeLabel

pytestmark = pytest.mark.unit

# Late bar fetches the bot must tolerate (an exchange answering slowly, a retried call).
FETCH_LAG_MS = 30_000
N_BARS = 420
# Regimes taken in turn, so the first 300 bars hold all three and the detector fits.
IN_TURN = np.array([[0.98, 0.02, 0.0], [0.0, 0.98, 0.02], [0.02, 0.0, 0.98]])


def _config(timeframe: str) -> RuntimeConfig:
    document = copy.deepcopy(RENDERED)
    document["strategy"]["name"] = "ema_rsi"
    document["strategy"]["timeframe"] = timeframe
    return parse_runtime_config(document)


def _bars(config: RuntimeConfig) -> tuple[BarState, int]:
    """A BarState fed N_BARS synthetic bars with a fitted regime; the last bar's open time."""
    bar_seconds = config.strategy.bar_seconds
    state = BarState(
        symbol=config.exchange.symbol,
        bar_seconds=bar_seconds,
        regime=RegimeConfig(
            trading_params=dict(config.strategy.regime_params), min_history=300, n_iter=20
        ),
        limits=config.risk,
        strategy=build_strategy(config),
    )
    market = generate_market(seed=3, n_bars=N_BARS, bar_seconds=bar_seconds, transitions=IN_TURN)
    for i in range(N_BARS):
        state.add(
            Candle(
                timestamp_ms=int(market.timestamp_ms[i]),
                open=float(market.open[i]),
                high=float(market.high[i]),
                low=float(market.low[i]),
                close=float(market.close[i]),
                volume=float(market.volume[i]),
            )
        )
        if state.detector.refit_due:
            state.detector.refit()
    assert state.regime is not None and state.regime.regime is not RegimeLabel.UNKNOWN
    assert state.strategy_signal is not None
    return state, int(market.timestamp_ms[-1])


def _fuse(*, config: RuntimeConfig, state: BarState, now_ms: int) -> FusedSignal:
    readings = [r for r in (state.regime_reading(), state.strategy_reading()) if r is not None]
    return AlphaFusion(config=fusion_config_of(config)).fuse(
        symbol=config.exchange.symbol,
        readings=readings,
        regime_params=config.strategy.regime_params[RegimeLabel.UNKNOWN],
        now_ms=now_ms,
    )


def _stale(fused: FusedSignal) -> set[str]:
    return {note.split(":")[0] for note in fused.dropped if ": stale" in note}


@pytest.mark.parametrize("timeframe", list(TIMEFRAME_SECONDS))
def test_bar_readings_count_until_the_next_bar_is_due_and_not_after_a_missed_bar(
    timeframe: str,
) -> None:
    config = _config(timeframe)
    state, last_open_ms = _bars(config)
    bar_ms = TIMEFRAME_SECONDS[timeframe] * 1000
    closed_ms = last_open_ms + bar_ms
    # Just closed, and just before the next bar is fetched (it closes one bar later, fetched late).
    for now_ms in (closed_ms, closed_ms + bar_ms + FETCH_LAG_MS):
        fused = _fuse(config=config, state=state, now_ms=now_ms)
        assert _stale(fused) == set(), (timeframe, now_ms - closed_ms, fused.dropped)
        assert "regime" in fused.weights_used, fused.dropped
    # A whole bar missed (two bars after the close, and more than the fetch lag): stale.
    missed = _fuse(config=config, state=state, now_ms=closed_ms + 2 * bar_ms + FETCH_LAG_MS)
    assert _stale(missed) == {"regime", "strategy"}, (timeframe, missed.dropped)


@pytest.mark.parametrize("timeframe", list(TIMEFRAME_SECONDS))
def test_readings_are_as_of_the_bar_close(timeframe: str) -> None:
    config = _config(timeframe)
    state, last_open_ms = _bars(config)
    closed_ms = last_open_ms + TIMEFRAME_SECONDS[timeframe] * 1000
    regime, strategy = state.regime_reading(), state.strategy_reading()
    assert regime is not None and strategy is not None
    assert (regime.as_of_ms, strategy.as_of_ms) == (closed_ms, closed_ms)
