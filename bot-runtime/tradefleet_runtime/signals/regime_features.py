"""The volatility and trend a regime state reports, one bar at a time.

:class:`VolatilityTrendTracker` is fed every close by the regime detector
(:mod:`tradefleet_runtime.signals.regime`), whose states report both beside the regime (the
regime model itself reads the raw returns). For log returns r_t = ln(c_t / c_{t-1}) and windows
S (volatility) and M (trend):

* volatility_t = sqrt(pi/2) x mean |r| over the last S returns
* trend_t      = ln(c_t / c_{t-M}) / (sqrt(M) x sqrt(pi/2) x mean |r| over the last M returns),
  clipped to +-4: the move over M bars in units of its own volatility (0 when that volatility
  is below 1e-12: flat prices carry no trend)

Volatility is the mean absolute return, so one outlier moves it linearly, not quadratically as in
a standard deviation; sqrt(pi/2) makes it read as a standard deviation for Gaussian returns. Both
are defined from bar max(S, M) on.
"""

from __future__ import annotations

import math
from collections import deque

# Mean absolute deviation to standard deviation, for Gaussian returns.
MEAN_ABS_TO_STD = math.sqrt(math.pi / 2.0)
TREND_CLIP = 4.0
FLAT_VOLATILITY = 1e-12
# Sliding sums drift by rounding; recomputing from the window this often bounds it.
_EXACT_RECOMPUTE_EVERY = 1024


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


class VolatilityTrendTracker:
    """The volatility and trend of the latest bar, updated per close in O(1), in plain float
    arithmetic because this runs once per bar for every symbol."""

    __slots__ = (
        "_closes", "_momentum", "_momentum_window", "_previous", "_short", "_window", "log_return",
    )  # fmt: skip

    def __init__(self, *, volatility_window: int, momentum_window: int) -> None:
        self._window = volatility_window
        self._momentum_window = momentum_window
        self._short = _WindowSum(volatility_window)
        self._momentum = _WindowSum(momentum_window)
        self._closes: deque[float] = deque(maxlen=momentum_window + 1)
        self._previous = math.nan
        # The latest bar's log return (NaN until there are two closes).
        self.log_return = math.nan

    def push(self, close: float) -> tuple[float, float] | None:
        """Add a close; return (volatility, trend) once both are defined."""
        previous = self._previous
        self._previous = close
        closes = self._closes
        closes.append(close)
        if math.isnan(previous):  # first bar: no return yet
            return None
        self.log_return = log_return = math.log(close / previous)
        magnitude = abs(log_return)
        short_full = self._short.push(magnitude)
        momentum_full = self._momentum.push(magnitude)
        if not (short_full and momentum_full):
            return None
        total = self._short.total
        return (
            MEAN_ABS_TO_STD * (total if total > 0.0 else 0.0) / self._window,
            _trend(
                move=math.log(close / closes[0]),
                mean_abs=self._momentum.total / self._momentum_window,
                window=self._momentum_window,
            ),
        )
