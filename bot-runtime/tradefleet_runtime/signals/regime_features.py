"""Price features of the latest bar: a clipped return, short and long volatility, and trend.

:class:`RegimeFeatureTracker` computes them one bar at a time in O(1) for the regime detector
(:mod:`tradefleet_runtime.signals.regime`), whose states report the short volatility and the
trend's strength beside the regime (the regime model itself reads the raw returns).

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
from collections import deque

import numpy as np
import numpy.typing as npt

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
