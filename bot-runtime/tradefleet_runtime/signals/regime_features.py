"""Price features the regime detector models: a clipped return, short and long volatility, trend.

:func:`regime_features` computes them for a whole price array (fits, backtests);
:class:`RegimeFeatureTracker` computes the same values one bar at a time in O(1) for
the live detector, which keeps recent rows in a :class:`FeatureHistory` for refits.
All are used by :mod:`tradefleet_runtime.signals.regime`.

Built to tolerate fat tails: volatility is the mean absolute return (one outlier moves it
linearly, not quadratically as in a standard deviation), scaled by sqrt(pi/2) to read as a
standard deviation for Gaussian returns, and a return enters clipped to three of those. For log
returns r_t = ln(c_t / c_{t-1}) and windows S (short volatility), L (long volatility) and
M (trend):

* clipped_return_t   = r_t clipped to +-3 long_volatility_{t-1}
* short_volatility_t = sqrt(pi/2) x mean |r| over the last S returns
* long_volatility_t  = sqrt(pi/2) x mean |r| over the last L returns
* trend_t            = ln(c_t / c_{t-M}) / (sqrt(M) x sqrt(pi/2) x mean |r| over the last M
  returns), clipped to +-4: the move over M bars in units of its own volatility
  (0 when that volatility is below 1e-12: flat prices carry no trend)

Two volatility windows let the model tell a regime's level (long) from a burst inside it
(short). A bar has features once all four are defined, i.e. from bar max(S, L + 1, M) on.
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

FEATURE_NAMES: tuple[str, ...] = (
    "clipped_return",
    "short_volatility",
    "long_volatility",
    "trend",
)
# Columns that are volatilities (modelled as their logarithm).
VOLATILITY_COLUMNS: tuple[int, ...] = (1, 2)
_WIDTH = len(FEATURE_NAMES)
_ROW = struct.Struct(f"{_WIDTH}d")  # one feature row as native doubles
# Mean absolute deviation to standard deviation, for Gaussian returns.
MEAN_ABS_TO_STD = math.sqrt(math.pi / 2.0)
RETURN_CLIP = 3.0
TREND_CLIP = 4.0
FLAT_VOLATILITY = 1e-12
# Sliding sums drift by rounding; recomputing from the window this often bounds it.
_EXACT_RECOMPUTE_EVERY = 1024


def warmup_bars(
    *, volatility_window: int, long_volatility_window: int, momentum_window: int
) -> int:
    """Index of the first bar that has all four features."""
    return max(volatility_window, long_volatility_window + 1, momentum_window)


def _trend(*, move: float, mean_abs: float, window: int) -> float:
    scale = MEAN_ABS_TO_STD * mean_abs * math.sqrt(window)
    if scale <= FLAT_VOLATILITY:
        return 0.0
    value = move / scale
    return TREND_CLIP if value > TREND_CLIP else (-TREND_CLIP if value < -TREND_CLIP else value)


def regime_features(
    *,
    close: npt.ArrayLike,
    volatility_window: int,
    long_volatility_window: int,
    momentum_window: int,
) -> FloatArray:
    """Feature matrix (n, 4) for close prices; rows before the warm-up are NaN."""
    prices = np.ascontiguousarray(close, dtype=np.float64)
    if prices.ndim != 1:
        raise SignalDataError(f"close must be one-dimensional, got shape {prices.shape}")
    if prices.size and not (np.all(np.isfinite(prices)) and prices.min() > 0):
        raise SignalDataError("close prices must be finite and > 0")
    n = prices.size
    features = np.full((n, _WIDTH), np.nan)
    first = warmup_bars(
        volatility_window=volatility_window,
        long_volatility_window=long_volatility_window,
        momentum_window=momentum_window,
    )
    if n <= first:
        return features
    returns = np.log(prices[1:] / prices[:-1])  # returns[i] is the return of bar i + 1
    magnitude = np.abs(returns)

    def mean_abs(window: int) -> FloatArray:
        # Row t (t >= window): the mean |r| of bars t - window + 1 .. t.
        out = np.full(n, np.nan)
        out[window:] = sliding_window_view(magnitude, window).mean(axis=1)
        return out

    short, long = mean_abs(volatility_window), mean_abs(long_volatility_window)
    bound = RETURN_CLIP * MEAN_ABS_TO_STD * long[first - 1 : n - 1]
    features[first:, 0] = np.clip(returns[first - 1 :], -bound, bound)
    features[:, 1] = MEAN_ABS_TO_STD * short
    features[:, 2] = MEAN_ABS_TO_STD * long
    moves = np.log(prices[momentum_window:] / prices[:-momentum_window])
    trend_scale = MEAN_ABS_TO_STD * mean_abs(momentum_window)[momentum_window:]
    trend_scale *= math.sqrt(momentum_window)
    flat = trend_scale <= FLAT_VOLATILITY
    trend = np.where(flat, 0.0, moves / np.where(flat, 1.0, trend_scale))
    features[momentum_window:, 3] = np.clip(trend, -TREND_CLIP, TREND_CLIP)
    features[:first] = np.nan
    return features


class _WindowSum:
    """A sliding sum over the last ``size`` values, O(1) per value, exact now and then."""

    __slots__ = ("_since_exact", "_size", "_values", "total")

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: deque[float] = deque()
        self._since_exact = 0
        self.total = 0.0

    def push(self, value: float) -> bool:
        """Add ``value``; True once the window is full."""
        values = self._values
        values.append(value)
        self.total += value
        if len(values) > self._size:
            self.total -= values.popleft()
        self._since_exact += 1
        if self._since_exact >= _EXACT_RECOMPUTE_EVERY:
            self._since_exact = 0
            self.total = math.fsum(values)
        return len(values) == self._size


class RegimeFeatureTracker:
    """The four features of the latest bar, updated per close price (live path).

    Sliding sums of absolute returns move in O(1) per bar, in plain float arithmetic because
    this runs once per bar for every symbol.
    """

    __slots__ = (
        "_closes",
        "_long",
        "_long_window",
        "_momentum",
        "_momentum_window",
        "_previous",
        "_previous_long",
        "_short",
        "_short_window",
        "_warm",
    )

    def __init__(
        self, *, volatility_window: int, long_volatility_window: int, momentum_window: int
    ) -> None:
        self._short_window = volatility_window
        self._long_window = long_volatility_window
        self._momentum_window = momentum_window
        self._short = _WindowSum(volatility_window)
        self._long = _WindowSum(long_volatility_window)
        self._momentum = _WindowSum(momentum_window)
        self._closes: deque[float] = deque(maxlen=momentum_window + 1)
        self._previous = math.nan
        self._previous_long = math.nan  # the long volatility as of the previous bar
        self._warm = False  # every window full and a previous long volatility known

    def push(self, close: float) -> tuple[float, float, float, float] | None:
        """Add a close; return (clipped_return, short_vol, long_vol, trend) once all are defined."""
        previous = self._previous
        self._previous = close
        closes = self._closes
        closes.append(close)
        if math.isnan(previous):  # first bar: no return yet
            return None
        log_return = math.log(close / previous)
        magnitude = abs(log_return)
        short_full = self._short.push(magnitude)
        momentum_full = self._momentum.push(magnitude)
        long_full = self._long.push(magnitude)
        bound = RETURN_CLIP * self._previous_long
        long_volatility = MEAN_ABS_TO_STD * self._long.total / self._long_window
        self._previous_long = long_volatility if long_full else math.nan
        if not self._warm:
            self._warm = short_full and momentum_full and long_full and not math.isnan(bound)
            if not self._warm:
                return None
        clipped = bound if log_return > bound else (-bound if log_return < -bound else log_return)
        total = self._short.total
        return (
            clipped,
            MEAN_ABS_TO_STD * (total if total > 0.0 else 0.0) / self._short_window,
            long_volatility if long_volatility > 0.0 else 0.0,
            _trend(
                move=math.log(close / closes[0]),
                mean_abs=self._momentum.total / self._momentum_window,
                window=self._momentum_window,
            ),
        )


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
        clipped, short, long, trend = row
        # One C call writes all four doubles; item assignments would parse each value apart.
        _ROW.pack_into(self._data, self._next * _ROW.size, clipped, short, long, trend)
        self._next = (self._next + 1) % self._capacity
        if self._count < self._capacity:
            self._count += 1

    def to_array(self) -> FloatArray:
        """The held rows, oldest first, as an (n, 4) array (a copy)."""
        rows = np.frombuffer(self._data, dtype=np.float64).reshape(self._capacity, _WIDTH)
        if self._count < self._capacity:
            return rows[: self._count].copy()
        return np.concatenate((rows[self._next :], rows[: self._next]))
