"""Price features the regime detector models: log return, rolling volatility, momentum, z-score.

:func:`regime_features` computes them for a whole price array (fits, backtests);
:class:`RegimeFeatureTracker` computes the same values one bar at a time in O(1) for
the live detector, which keeps recent rows in a :class:`FeatureHistory` for refits.
All are used by :mod:`tradefleet_runtime.signals.regime`.

For close prices c_t, with windows W (volatility), M (momentum) and Z (z-score):

* log_return_t = ln(c_t / c_{t-1})
* volatility_t = sample std (ddof 1) of the last W log returns
* momentum_t   = c_t / c_{t-M} - 1 (rate of change)
* zscore_t     = (c_t - mean of last Z closes) / sample std of last Z closes
  (0 when that std is below 1e-12 of the mean: flat prices carry no deviation)

A bar has features once all four are defined, i.e. from bar max(W, M, Z - 1) on.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections import deque

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from tradefleet_runtime.signals.errors import SignalDataError

FloatArray = npt.NDArray[np.float64]

FEATURE_NAMES: tuple[str, ...] = ("log_return", "volatility", "momentum", "zscore")
_WIDTH = len(FEATURE_NAMES)
_ROW = struct.Struct(f"{_WIDTH}d")  # one feature row as native doubles
FLAT_RELATIVE_STD = 1e-12
# Sliding updates drift by rounding; recomputing from the window this often bounds it.
_EXACT_RECOMPUTE_EVERY = 1024


def warmup_bars(*, volatility_window: int, momentum_window: int, zscore_window: int) -> int:
    """Index of the first bar that has all four features."""
    return max(volatility_window, momentum_window, zscore_window - 1)


def regime_features(
    *,
    close: npt.ArrayLike,
    volatility_window: int,
    momentum_window: int,
    zscore_window: int,
) -> FloatArray:
    """Feature matrix (n, 4) for close prices; rows before the warm-up are NaN."""
    prices = np.ascontiguousarray(close, dtype=np.float64)
    if prices.ndim != 1:
        raise SignalDataError(f"close must be one-dimensional, got shape {prices.shape}")
    if prices.size and not (np.all(np.isfinite(prices)) and prices.min() > 0):
        raise SignalDataError("close prices must be finite and > 0")
    n = prices.size
    features = np.full((n, 4), np.nan)
    first = warmup_bars(
        volatility_window=volatility_window,
        momentum_window=momentum_window,
        zscore_window=zscore_window,
    )
    if n <= first:
        return features
    log_returns = np.full(n, np.nan)
    log_returns[1:] = np.log(prices[1:] / prices[:-1])
    features[:, 0] = log_returns
    features[volatility_window:, 1] = sliding_window_view(log_returns[1:], volatility_window).std(
        axis=1, ddof=1
    )
    features[momentum_window:, 2] = prices[momentum_window:] / prices[:-momentum_window] - 1.0
    windows = sliding_window_view(prices, zscore_window)
    means = windows.mean(axis=1)
    stds = windows.std(axis=1, ddof=1)
    deviation = prices[zscore_window - 1 :] - means
    flat = stds <= FLAT_RELATIVE_STD * np.abs(means)
    features[zscore_window - 1 :, 3] = np.where(flat, 0.0, deviation / np.where(flat, 1.0, stds))
    features[:first] = np.nan
    return features


def _exact_moments(values: deque[float]) -> tuple[float, float]:
    """Mean and sum of squared deviations, computed afresh (bounds rounding drift)."""
    mean = math.fsum(values) / len(values)
    return mean, math.fsum((v - mean) ** 2 for v in values)


class RegimeFeatureTracker:
    """The four features of the latest bar, updated per close price (live path).

    Rolling means and squared-deviation sums slide in O(1) per bar (Welford-style), in
    plain float arithmetic because this runs once per bar for every symbol.
    """

    __slots__ = (
        "_closes",
        "_momentum_window",
        "_previous",
        "_price_m2",
        "_price_mean",
        "_prices",
        "_return_m2",
        "_return_mean",
        "_returns",
        "_since_exact",
        "_volatility_window",
        "_warm",
        "_zscore_window",
    )

    def __init__(self, *, volatility_window: int, momentum_window: int, zscore_window: int) -> None:
        self._volatility_window = volatility_window
        self._momentum_window = momentum_window
        self._zscore_window = zscore_window
        self._returns: deque[float] = deque()
        self._prices: deque[float] = deque()
        self._closes: deque[float] = deque(maxlen=momentum_window + 1)
        self._return_mean = self._return_m2 = 0.0
        self._price_mean = self._price_m2 = 0.0
        self._previous = math.nan
        self._since_exact = 0
        self._warm = False  # all three windows full

    def push(self, close: float) -> tuple[float, float, float, float] | None:
        """Add a close; return (log_return, volatility, momentum, zscore) once all are defined."""
        previous = self._previous
        self._previous = close
        closes = self._closes
        closes.append(close)

        prices = self._prices
        prices.append(close)
        size = self._zscore_window
        mean = self._price_mean
        if len(prices) > size:
            old = prices.popleft()
            delta = close - old
            self._price_mean = new_mean = mean + delta / size
            self._price_m2 += delta * (close - new_mean + old - mean)
        else:
            delta = close - mean
            self._price_mean = new_mean = mean + delta / len(prices)
            self._price_m2 += delta * (close - new_mean)
        if math.isnan(previous):  # first bar: no return yet
            return None

        log_return = math.log(close / previous)
        returns = self._returns
        returns.append(log_return)
        size = self._volatility_window
        mean = self._return_mean
        if len(returns) > size:
            old = returns.popleft()
            delta = log_return - old
            self._return_mean = new_mean = mean + delta / size
            self._return_m2 += delta * (log_return - new_mean + old - mean)
        else:
            delta = log_return - mean
            self._return_mean = new_mean = mean + delta / len(returns)
            self._return_m2 += delta * (log_return - new_mean)

        self._since_exact += 1
        if self._since_exact >= _EXACT_RECOMPUTE_EVERY:
            self._since_exact = 0
            self._price_mean, self._price_m2 = _exact_moments(prices)
            self._return_mean, self._return_m2 = _exact_moments(returns)
        if not self._warm:
            # The windows only grow until full, so once warm the tracker stays warm.
            self._warm = (
                len(returns) == self._volatility_window
                and len(prices) == self._zscore_window
                and len(closes) > self._momentum_window
            )
            if not self._warm:
                return None
        # Rounding can leave a sum of squares a hair below zero; it stands for zero.
        return_m2 = self._return_m2
        price_m2 = self._price_m2
        volatility = math.sqrt(
            (0.0 if return_m2 < 0.0 else return_m2) / (self._volatility_window - 1)
        )
        price_mean = self._price_mean
        price_std = math.sqrt((0.0 if price_m2 < 0.0 else price_m2) / (self._zscore_window - 1))
        zscore = (
            0.0
            if price_std <= FLAT_RELATIVE_STD * abs(price_mean)
            else (close - price_mean) / price_std
        )
        return (log_return, volatility, close / closes[0] - 1.0, zscore)


class FeatureHistory:
    """The latest ``capacity`` feature rows, kept as raw doubles for the next fit.

    Copying the values into one preallocated buffer (instead of keeping each row's
    tuple alive) means old rows are overwritten in place: no allocator churn on the
    per-bar path.
    """

    __slots__ = ("_capacity", "_count", "_data", "_next")

    def __init__(self, *, capacity: int) -> None:
        self._capacity = capacity
        if capacity < 1:
            raise SignalDataError(f"capacity must be >= 1, got {capacity}")
        self._data = array("d", bytes(8 * _WIDTH * capacity))
        self._next = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, row: tuple[float, float, float, float]) -> None:
        log_return, volatility, momentum, zscore = row
        # One C call writes all four doubles; item assignments would parse each value apart.
        _ROW.pack_into(self._data, self._next * _ROW.size, log_return, volatility, momentum, zscore)
        self._next = (self._next + 1) % self._capacity
        if self._count < self._capacity:
            self._count += 1

    def to_array(self) -> FloatArray:
        """The held rows, oldest first, as an (n, 4) array (a copy)."""
        rows = np.frombuffer(self._data, dtype=np.float64).reshape(self._capacity, _WIDTH)
        if self._count < self._capacity:
            return rows[: self._count].copy()
        return np.concatenate((rows[self._next :], rows[: self._next]))
