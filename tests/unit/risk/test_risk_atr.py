"""Wilder ATR: a hand-computed 15-bar example, the smoothing step, incremental == batch."""

from __future__ import annotations

import numpy as np
import pytest
from tradefleet_runtime.risk import RiskInputError, WilderATR, wilder_atr

pytestmark = pytest.mark.unit

# 15 bars (high, low, close) and each bar's true range worked out by hand:
# TR = max(high − low, |high − previous close|, |low − previous close|).
BARS = [
    (10.0, 9.0, 9.5),  # no previous close: seeds only
    (11.0, 9.5, 10.5),  # 1.5 (high − low)
    (11.0, 10.0, 10.2),  # 1.0 (high − low)
    (12.0, 10.5, 11.8),  # 1.8 (high − previous close 10.2: gap up)
    (11.5, 10.0, 10.4),  # 1.8 (previous close 11.8 − low)
    (10.4, 9.4, 9.6),  # 1.0 (high − low, and previous close − low)
    (9.8, 9.0, 9.2),  # 0.8 (high − low)
    (9.0, 8.0, 8.5),  # 1.2 (previous close 9.2 − low)
    (9.5, 8.5, 9.0),  # 1.0 (high − low)
    (10.0, 9.2, 9.9),  # 1.0 (high − previous close 9.0)
    (10.5, 9.7, 10.0),  # 0.8 (high − low)
    (10.2, 9.6, 9.8),  # 0.6 (high − low)
    (11.0, 10.0, 10.8),  # 1.2 (high − previous close 9.8)
    (10.9, 10.1, 10.3),  # 0.8 (high − low)
    (10.5, 9.9, 10.0),  # 0.6 (high − low)
]
TRUE_RANGES = [1.5, 1.0, 1.8, 1.8, 1.0, 0.8, 1.2, 1.0, 1.0, 0.8, 0.6, 1.2, 0.8, 0.6]
FIRST_ATR = 15.1 / 14  # mean of the 14 true ranges
# A 16th bar with TR 2.0 (high 12 − previous close 10): (ATR · 13 + 2.0) / 14.
NEXT_BAR = (12.0, 10.5, 11.5)
NEXT_ATR = (FIRST_ATR * 13 + 2.0) / 14


def test_the_hand_computed_true_ranges_add_up() -> None:
    assert sum(TRUE_RANGES) == pytest.approx(15.1)


def test_incremental_atr_warms_up_on_bar_15_with_the_mean_true_range() -> None:
    atr = WilderATR(period=14)
    values = [atr.update(high=high, low=low, close=close) for high, low, close in BARS]
    assert values[:14] == [None] * 14
    assert values[14] == pytest.approx(FIRST_ATR)
    high, low, close = NEXT_BAR
    assert atr.update(high=high, low=low, close=close) == pytest.approx(NEXT_ATR)
    assert atr.value == pytest.approx(NEXT_ATR)


def test_batch_atr_matches_the_hand_computation() -> None:
    high, low, close = (np.array(column) for column in zip(*[*BARS, NEXT_BAR], strict=True))
    atr = wilder_atr(high=high, low=low, close=close, period=14)
    assert np.isnan(atr[:14]).all()
    assert atr[14] == pytest.approx(FIRST_ATR)
    assert atr[15] == pytest.approx(NEXT_ATR)


def test_incremental_and_batch_agree_over_a_long_random_walk() -> None:
    rng = np.random.default_rng(7)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 2_000)))
    high = close * (1.0 + rng.uniform(0.0, 0.01, close.size))
    low = close * (1.0 - rng.uniform(0.0, 0.01, close.size))
    batch = wilder_atr(high=high, low=low, close=close)
    streaming = WilderATR()
    incremental = [
        streaming.update(high=h, low=lo, close=c)
        for h, lo, c in zip(high.tolist(), low.tolist(), close.tolist(), strict=True)
    ]
    assert incremental[:14] == [None] * 14
    np.testing.assert_allclose(np.array(incremental[14:], dtype=float), batch[14:], rtol=1e-12)


def test_short_series_has_no_atr_yet() -> None:
    high, low, close = (np.array(column) for column in zip(*BARS[:14], strict=True))
    assert np.isnan(wilder_atr(high=high, low=low, close=close)).all()


def test_impossible_bars_are_rejected() -> None:
    with pytest.raises(RiskInputError, match="low ≤ close ≤ high"):
        WilderATR().update(high=10.0, low=11.0, close=10.5)
    with pytest.raises(RiskInputError, match="finite"):
        WilderATR().update(high=float("nan"), low=9.0, close=9.5)
    with pytest.raises(RiskInputError, match="equally long"):
        wilder_atr(high=[1.0, 2.0], low=[1.0], close=[1.0, 2.0])
    with pytest.raises(RiskInputError, match="period"):
        WilderATR(period=0)
