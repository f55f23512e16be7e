"""Streaming indicators: EMA and Wilder RSI pinned to hand computations; rolling windows vs brute force."""

from __future__ import annotations

import numpy as np
import pytest
from tradefleet_runtime.strategies.errors import StrategyConfigError
from tradefleet_runtime.strategies.indicators import (
    RollingExtremes,
    RollingStats,
    StreamingEma,
    StreamingRsi,
)

pytestmark = pytest.mark.unit

CLOSES = [100.0, 102.0, 104.0, 105.0, 104.0, 103.0]


def test_ema_is_seeded_with_the_mean_then_smoothed_with_two_over_n_plus_one() -> None:
    ema = StreamingEma(period=3)
    values = [ema.update(close) for close in CLOSES]
    assert values[:2] == [None, None]
    # Seed: (100 + 102 + 104) / 3 = 102; then alpha = 2 / 4 = 0.5.
    assert values[2] == pytest.approx(102.0)
    assert values[3] == pytest.approx(102.0 + 0.5 * (105.0 - 102.0))  # 103.5
    assert values[4] == pytest.approx(103.5 + 0.5 * (104.0 - 103.5))  # 103.75
    assert values[5] == pytest.approx(103.75 + 0.5 * (103.0 - 103.75))  # 103.375
    assert ema.value == values[5]


def test_wilder_rsi_averages_the_first_changes_then_smooths_by_one_over_n() -> None:
    rsi = StreamingRsi(period=2)
    values = [rsi.update(close) for close in CLOSES]
    assert values[:2] == [None, None]
    # Changes +2, +2: average gain 2, loss 0 → 100.
    assert values[2] == pytest.approx(100.0)
    # +1: gain (2 + 1) / 2 = 1.5, loss 0 → 100.
    assert values[3] == pytest.approx(100.0)
    # −1: gain 1.5 / 2 = 0.75, loss (0 + 1) / 2 = 0.5 → 100 · 0.75 / 1.25 = 60.
    assert values[4] == pytest.approx(60.0)
    # −1: gain 0.375, loss 0.75 → 100 · 0.375 / 1.125.
    assert values[5] == pytest.approx(100.0 / 3.0)


def test_rsi_of_a_flat_market_is_neutral() -> None:
    rsi = StreamingRsi(period=3)
    for _ in range(6):
        value = rsi.update(50.0)
    assert value == 50.0


def test_rolling_stats_match_numpy_over_a_long_drifting_series() -> None:
    rng = np.random.default_rng(3)
    prices = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 5_000)))
    stats = RollingStats(window=20)
    means: list[float] = []
    stds: list[float] = []
    for index, price in enumerate(prices.tolist()):
        stats.update(price)
        mean, std = stats.mean, stats.std
        if index < 19:
            assert mean is None and std is None
            continue
        assert mean is not None and std is not None
        means.append(mean)
        stds.append(std)
    windows = np.lib.stride_tricks.sliding_window_view(prices, 20)
    np.testing.assert_allclose(means, windows.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(stds, windows.std(axis=1), rtol=1e-7)


def test_rolling_extremes_match_a_brute_force_window() -> None:
    rng = np.random.default_rng(4)
    lows = rng.uniform(90.0, 100.0, 500)
    highs = lows + rng.uniform(0.0, 5.0, 500)
    extremes = RollingExtremes(window=7)
    for index in range(500):
        extremes.update(high=float(highs[index]), low=float(lows[index]))
        if index < 6:
            assert extremes.highest is None
            continue
        assert extremes.highest == highs[index - 6 : index + 1].max()
        assert extremes.lowest == lows[index - 6 : index + 1].min()


@pytest.mark.parametrize("period", [0, -3, True, 2.5])
def test_bad_periods_are_refused(period: object) -> None:
    with pytest.raises(StrategyConfigError, match="period"):
        StreamingEma(period=period)  # type: ignore[arg-type]
