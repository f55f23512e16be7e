"""Incremental (O(1) per bar) indicators of the strategy plugins, and their scalar steps.

The strategy plugins keep one object per indicator and feed it every closed bar. The
scalar step functions (``ema_alpha``, ``ema_step``, ``wilder_step``, ``rsi_value``) are
also compiled by numba in :mod:`tradefleet_runtime.backtest.series`, so the backtest's
array indicators run the same floating-point operations in the same order as these
streaming ones and agree bit for bit. Numba cannot compile keyword-only parameters, so
those four functions take positional ones.

Conventions (the batch forms follow them exactly):

* EMA(n): alpha = 2 / (n + 1); the first value is the mean of the first n inputs
  (after n inputs), then ``ema += alpha · (x − ema)``.
* Wilder RSI(n): per-bar change d = close − previous close; the first averages of
  gains max(d, 0) and losses max(−d, 0) are the means of the first n changes (after
  n + 1 closes), then ``avg = (avg · (n − 1) + new) / n``;
  RSI = 100 · avg_gain / (avg_gain + avg_loss), 50 when both are 0.
"""

from __future__ import annotations

import math
from collections import deque

from tradefleet_runtime.strategies.errors import StrategyConfigError

NEUTRAL_RSI = 50.0


def ema_alpha(period: int) -> float:
    """Smoothing factor of an EMA over ``period`` inputs."""
    return 2.0 / (period + 1.0)


def ema_step(previous: float, value: float, alpha: float) -> float:
    """One EMA update."""
    return previous + alpha * (value - previous)


def wilder_step(previous: float, value: float, period: int) -> float:
    """One step of Wilder's smoothing (an EMA with alpha = 1 / period)."""
    return (previous * (period - 1) + value) / period


def rsi_value(average_gain: float, average_loss: float) -> float:
    """RSI from Wilder's average gain and loss: 100·G / (G + L), neutral when flat."""
    total = average_gain + average_loss
    if total <= 0.0:
        return NEUTRAL_RSI
    return 100.0 * average_gain / total


def _check_period(*, name: str, period: int, minimum: int) -> None:
    if isinstance(period, bool) or not isinstance(period, int) or period < minimum:
        raise StrategyConfigError(f"{name} period must be an integer >= {minimum}, got {period!r}")


class StreamingEma:
    """EMA updated per value; ``value`` is None until ``period`` values have been seen."""

    __slots__ = ("_alpha", "_count", "_period", "_seed_sum", "_value")

    def __init__(self, *, period: int) -> None:
        _check_period(name="EMA", period=period, minimum=1)
        self._period = period
        self._alpha = ema_alpha(period)
        self._count = 0
        self._seed_sum = 0.0
        self._value: float | None = None

    @property
    def value(self) -> float | None:
        return self._value

    def update(self, value: float) -> float | None:
        current = self._value
        if current is not None:
            current = ema_step(current, value, self._alpha)
            self._value = current
            return current
        self._seed_sum += value
        self._count += 1
        if self._count == self._period:
            self._value = self._seed_sum / self._period
        return self._value


class StreamingRsi:
    """Wilder RSI updated per close; ``value`` is None until ``period + 1`` closes."""

    __slots__ = (
        "_average_gain",
        "_average_loss",
        "_changes",
        "_period",
        "_previous_close",
        "_value",
    )

    def __init__(self, *, period: int) -> None:
        _check_period(name="RSI", period=period, minimum=1)
        self._period = period
        self._previous_close: float | None = None
        self._changes = 0
        self._average_gain = 0.0  # the running sum while seeding
        self._average_loss = 0.0
        self._value: float | None = None

    @property
    def value(self) -> float | None:
        return self._value

    def update(self, close: float) -> float | None:
        previous = self._previous_close
        self._previous_close = close
        if previous is None:
            return None
        change = close - previous
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        period = self._period
        if self._value is not None:
            self._average_gain = wilder_step(self._average_gain, gain, period)
            self._average_loss = wilder_step(self._average_loss, loss, period)
        else:
            self._average_gain += gain
            self._average_loss += loss
            self._changes += 1
            if self._changes < period:
                return None
            self._average_gain /= period
            self._average_loss /= period
        self._value = rsi_value(self._average_gain, self._average_loss)
        return self._value


class RollingStats:
    """Mean and population standard deviation of the last ``window`` values.

    The running sums are taken relative to a reference value that is moved to the
    latest value once per ``window`` updates (recomputing the sums, amortised O(1)),
    so prices in the tens of thousands neither lose the variance to cancellation nor
    accumulate rounding drift over a long stream.
    """

    __slots__ = ("_reference", "_since_rebase", "_sum", "_sum_squares", "_values", "_window")

    def __init__(self, *, window: int) -> None:
        _check_period(name="rolling window", period=window, minimum=1)
        self._window = window
        self._values: deque[float] = deque()
        self._reference = 0.0
        self._since_rebase = 0
        self._sum = 0.0
        self._sum_squares = 0.0

    @property
    def full(self) -> bool:
        return len(self._values) == self._window

    @property
    def mean(self) -> float | None:
        """Mean of the window; None until it is full."""
        if not self.full:
            return None
        return self._reference + self._sum / self._window

    @property
    def std(self) -> float | None:
        """Population standard deviation of the window; None until it is full."""
        if not self.full:
            return None
        mean_offset = self._sum / self._window
        variance = self._sum_squares / self._window - mean_offset * mean_offset
        return math.sqrt(variance) if variance > 0.0 else 0.0

    def update(self, value: float) -> None:
        values = self._values
        if len(values) == self._window:
            dropped = values.popleft() - self._reference
            self._sum -= dropped
            self._sum_squares -= dropped * dropped
        values.append(value)
        self._since_rebase += 1
        if self._since_rebase >= self._window or len(values) == 1:
            self._rebase(reference=value)
            return
        offset = value - self._reference
        self._sum += offset
        self._sum_squares += offset * offset

    def _rebase(self, *, reference: float) -> None:
        self._reference = reference
        self._since_rebase = 0
        offsets = [held - reference for held in self._values]
        self._sum = math.fsum(offsets)
        self._sum_squares = math.fsum(offset * offset for offset in offsets)


class RollingExtremes:
    """Highest high and lowest low of the last ``window`` bars (monotonic queues, O(1) amortised)."""

    __slots__ = ("_count", "_highs", "_lows", "_window")

    def __init__(self, *, window: int) -> None:
        _check_period(name="rolling window", period=window, minimum=1)
        self._window = window
        self._count = 0
        self._highs: deque[tuple[int, float]] = deque()
        self._lows: deque[tuple[int, float]] = deque()

    @property
    def highest(self) -> float | None:
        """Highest high of the last ``window`` bars; None until that many were seen."""
        return self._highs[0][1] if self._count >= self._window else None

    @property
    def lowest(self) -> float | None:
        """Lowest low of the last ``window`` bars; None until that many were seen."""
        return self._lows[0][1] if self._count >= self._window else None

    def update(self, *, high: float, low: float) -> None:
        index = self._count
        self._count += 1
        highs = self._highs
        while highs and highs[-1][1] <= high:
            highs.pop()
        highs.append((index, high))
        lows = self._lows
        while lows and lows[-1][1] >= low:
            lows.pop()
        lows.append((index, low))
        oldest = index - self._window
        if highs[0][0] <= oldest:
            highs.popleft()
        if lows[0][0] <= oldest:
            lows.popleft()
