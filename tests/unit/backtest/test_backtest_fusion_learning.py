"""Fusion learning in the backtest: the engine feeds each bar's fused readings and close to the
same learner the live bot uses, decides with the weights learned so far, and the live path
(LiveFusionWeights fed bar by bar, its state through JSON as after restarts) gives the same
weights from the same inputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from tradefleet_runtime.backtest import engine
from tradefleet_runtime.backtest.data import BarSeries, BookSeries, synthetic_bars
from tradefleet_runtime.backtest.engine import FusionSetup, run_backtest
from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.marketdata.synthetic import generate_book
from tradefleet_runtime.signals.fusion import AlphaFusion, FusionConfig
from tradefleet_runtime.signals.learning import LearnerState, LearningConfig, replay, step
from tradefleet_runtime.strategies.parameters import StrategyParameters

pytestmark = pytest.mark.unit

PARAMETERS = StrategyParameters(ema_fast=5, ema_slow=20, rsi_period=7)
WEIGHTS = {"strategy": 0.5, "ofi": 0.5}


@pytest.fixture(scope="module")
def market() -> tuple[BarSeries, BookSeries]:
    bars = synthetic_bars(seed=8, n_bars=600)
    book = generate_book(
        seed=3,
        n_snapshots=len(bars) * 60,
        start_price=float(bars.close[0]),
        snapshot_ms=1_000,
        start_ms=int(bars.timestamp_ms[0]),
    )
    return bars, BookSeries.from_synthetic(book)


def _setup(bars: BarSeries) -> FusionSetup:
    return FusionSetup(
        fusion=AlphaFusion(config=FusionConfig(weights=WEIGHTS, buy_threshold=0.3)),
        learning=LearningConfig(
            base_weights=WEIGHTS,
            bar_ms=1000 * bars.bar_seconds,
            half_life_bars=20,
            max_step=0.02,
            floor=0.05,
        ),
    )


def test_the_backtest_learns_with_the_live_learner_and_reproduces(
    market: tuple[BarSeries, BookSeries], monkeypatch: pytest.MonkeyPatch
) -> None:
    bars, books = market
    inputs: list[tuple[int, float, Mapping[str, float]]] = []

    def recording_step(**kwargs: Any) -> LearnerState:
        inputs.append((kwargs["close_ms"], kwargs["price"], dict(kwargs["signals"])))
        return step(**kwargs)

    monkeypatch.setattr(engine, "step", recording_step)
    setup = _setup(bars)
    result = run_backtest(
        bars=bars, strategy_name="ema_rsi", parameters=PARAMETERS, fusion=setup, books=books
    )
    learned = result.fusion_learning
    assert learned is not None and setup.learning is not None
    assert len(inputs) == len(bars)
    assert learned.updates > 500
    assert sum(learned.weights.values()) == pytest.approx(1.0, abs=1e-12)
    assert min(learned.weights.values()) >= 0.05 - 1e-12
    assert dict(learned.weights) != WEIGHTS
    assert result.to_dict()["fusionWeights"] == dict(learned.weights)
    # The same inputs replayed as a batch, and live-style bar by bar through JSON, agree.
    assert replay(config=setup.learning, bars=inputs) == learned
    live = LearnerState.initial(setup.learning)
    for close_ms, price, signals in inputs:
        live = step(
            config=setup.learning, state=live, close_ms=close_ms, price=price, signals=signals
        )
        live = LearnerState.from_dict(json.loads(json.dumps(live.to_dict())), config=setup.learning)
    assert live == learned
    # And the backtest itself is deterministic.
    again = run_backtest(
        bars=bars, strategy_name="ema_rsi", parameters=PARAMETERS, fusion=setup, books=books
    )
    assert again.fusion_learning == learned
    assert [t.entry_index for t in again.trades] == [t.entry_index for t in result.trades]


def test_learning_must_start_from_the_fusion_weights() -> None:
    with pytest.raises(BacktestConfigError, match="learning"):
        FusionSetup(
            fusion=AlphaFusion(config=FusionConfig(weights=WEIGHTS)),
            learning=LearningConfig(base_weights={"strategy": 1.0}, bar_ms=60_000),
        )


def test_without_learning_the_result_has_no_learner(market: tuple[BarSeries, BookSeries]) -> None:
    bars, books = market
    setup = FusionSetup(fusion=AlphaFusion(config=FusionConfig(weights=WEIGHTS, buy_threshold=0.3)))
    result = run_backtest(
        bars=bars, strategy_name="ema_rsi", parameters=PARAMETERS, fusion=setup, books=books
    )
    assert result.fusion_learning is None
    assert "fusionWeights" not in result.to_dict()
