"""Wilder's Average True Range, incrementally per bar and in batch over a whole series.

The bot runtime keeps one ``WilderATR`` per symbol and feeds it each closed bar (O(1) per
bar); backtests and warm-up from history call ``wilder_atr`` on arrays. Both follow the same
convention and agree to rounding:

* the true range needs the previous close, so the first bar only seeds it;
* the first ATR is the mean of the first ``period`` true ranges (bar ``period + 1``);
* then ``ATR_t = (ATR_{t-1} · (period − 1) + TR_t) / period``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tradefleet_runtime.risk.errors import RiskInputError

DEFAULT_ATR_PERIOD = 14


def _check_period(period: int) -> None:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise RiskInputError(f"ATR period must be an integer ≥ 1, got {period!r}")


class WilderATR:
    """Streaming ATR: ``update`` with each closed bar, read ``value`` (None until warmed up)."""

    __slots__ = ("_period", "_previous_close", "_seed_count", "_seed_sum", "_value")

    def __init__(self, *, period: int = DEFAULT_ATR_PERIOD) -> None:
        _check_period(period)
        self._period = period
        self._previous_close: float | None = None
        self._seed_sum = 0.0
        self._seed_count = 0
        self._value: float | None = None

    @property
    def period(self) -> int:
        return self._period

    @property
    def value(self) -> float | None:
        return self._value

    def update(self, *, high: float, low: float, close: float) -> float | None:
        """Add one closed bar; returns the ATR after it, or None while warming up."""
        if not (math.isfinite(high) and math.isfinite(low) and math.isfinite(close)):
            raise RiskInputError(f"bar prices must be finite, got {high!r}/{low!r}/{close!r}")
        if low > high or not low <= close <= high:
            raise RiskInputError(f"bar needs low ≤ close ≤ high, got {high!r}/{low!r}/{close!r}")
        previous_close = self._previous_close
        self._previous_close = close
        if previous_close is None:
            return None
        true_range = max(high - low, abs(high - previous_close), abs(low - previous_close))
        if self._value is not None:
            self._value = (self._value * (self._period - 1) + true_range) / self._period
        else:
            self._seed_sum += true_range
            self._seed_count += 1
            if self._seed_count == self._period:
                self._value = self._seed_sum / self._period
        return self._value


def _true_range(*, high: ArrayLike, low: ArrayLike, close: ArrayLike) -> NDArray[np.float64]:
    """True range per bar; the first bar has no previous close, so its entry is NaN."""
    highs = np.asarray(high, dtype=np.float64)
    lows = np.asarray(low, dtype=np.float64)
    closes = np.asarray(close, dtype=np.float64)
    if not highs.shape == lows.shape == closes.shape or highs.ndim != 1:
        raise RiskInputError(
            f"high, low and close must be 1-D and equally long, got shapes "
            f"{highs.shape}, {lows.shape}, {closes.shape}"
        )
    if not (np.isfinite(highs).all() and np.isfinite(lows).all() and np.isfinite(closes).all()):
        raise RiskInputError("bar prices must be finite")
    if (lows > highs).any() or (closes < lows).any() or (closes > highs).any():
        raise RiskInputError("every bar needs low ≤ close ≤ high")
    ranges = np.full(highs.shape, np.nan)
    previous = closes[:-1]
    ranges[1:] = np.maximum(
        highs[1:] - lows[1:],
        np.maximum(np.abs(highs[1:] - previous), np.abs(lows[1:] - previous)),
    )
    return ranges


def wilder_atr(
    *, high: ArrayLike, low: ArrayLike, close: ArrayLike, period: int = DEFAULT_ATR_PERIOD
) -> NDArray[np.float64]:
    """ATR per bar, NaN until the first ``period + 1`` bars have been seen."""
    _check_period(period)
    ranges = _true_range(high=high, low=low, close=close)
    atr = np.full(ranges.shape, np.nan)
    if ranges.size <= period:
        return atr
    value = float(ranges[1 : period + 1].mean())
    atr[period] = value
    # The recursion cannot be vectorised in numpy; a plain float loop is under 1 µs per bar.
    smoothed = []
    for true_range in ranges[period + 1 :].tolist():
        value = (value * (period - 1) + true_range) / period
        smoothed.append(value)
    atr[period + 1 :] = smoothed
    return atr
