"""EMA and Wilder-RSI over whole price arrays, computed once per period and cached.

The grid engine and the optimizer ask an :class:`IndicatorCache` for the series of
every distinct period in a parameter grid; each is computed once by a numba loop that
calls the strategy plugins' own step functions (see
:mod:`tradefleet_runtime.strategies.indicators`), so a series equals, bit for bit,
what the streaming indicators return bar by bar. Bars before a series is defined are NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numba
import numpy as np
import numpy.typing as npt

import tradefleet_runtime.backtest._jit  # noqa: F401  (lets the kernels call the strategy steps)
from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.strategies.indicators import ema_alpha, ema_step, rsi_value, wilder_step

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@numba.njit(cache=True)
def _ema_pass(values: FloatArray, period: int, out: FloatArray) -> None:
    out[:] = np.nan
    n = values.shape[0]
    if n < period:
        return
    seed = 0.0
    for index in range(period):
        seed += values[index]
    value = seed / period
    out[period - 1] = value
    alpha = ema_alpha(period)
    for index in range(period, n):
        value = ema_step(value, values[index], alpha)
        out[index] = value


@numba.njit(cache=True)
def _rsi_pass(closes: FloatArray, period: int, out: FloatArray) -> None:
    out[:] = np.nan
    n = closes.shape[0]
    if n < period + 1:
        return
    average_gain = 0.0
    average_loss = 0.0
    for index in range(1, period + 1):
        change = closes[index] - closes[index - 1]
        average_gain += change if change > 0.0 else 0.0
        average_loss += -change if change < 0.0 else 0.0
    average_gain /= period
    average_loss /= period
    out[period] = rsi_value(average_gain, average_loss)
    for index in range(period + 1, n):
        change = closes[index] - closes[index - 1]
        average_gain = wilder_step(average_gain, change if change > 0.0 else 0.0, period)
        average_loss = wilder_step(average_loss, -change if change < 0.0 else 0.0, period)
        out[index] = rsi_value(average_gain, average_loss)


def _check_period(period: int) -> None:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise BacktestConfigError(f"indicator period must be an integer >= 1, got {period!r}")


def ema_series(*, values: FloatArray, period: int) -> FloatArray:
    """EMA of ``values`` (SMA-seeded at index period − 1, NaN before)."""
    _check_period(period)
    out = np.empty(values.shape[0])
    _ema_pass(np.ascontiguousarray(values, dtype=np.float64), period, out)
    return out


def rsi_series(*, closes: FloatArray, period: int) -> FloatArray:
    """Wilder RSI of ``closes`` (first value at index ``period``, NaN before)."""
    _check_period(period)
    out = np.empty(closes.shape[0])
    _rsi_pass(np.ascontiguousarray(closes, dtype=np.float64), period, out)
    return out


class IndicatorCache:
    """EMA and RSI series of one close array, each period computed at most once."""

    __slots__ = ("_close", "_ema", "_rsi")

    def __init__(self, *, close: FloatArray) -> None:
        self._close = np.ascontiguousarray(close, dtype=np.float64)
        self._ema: dict[int, FloatArray] = {}
        self._rsi: dict[int, FloatArray] = {}

    @property
    def length(self) -> int:
        return int(self._close.shape[0])

    def ema(self, period: int) -> FloatArray:
        series = self._ema.get(period)
        if series is None:
            series = self._ema[period] = ema_series(values=self._close, period=period)
        return series

    def rsi(self, period: int) -> FloatArray:
        series = self._rsi.get(period)
        if series is None:
            series = self._rsi[period] = rsi_series(closes=self._close, period=period)
        return series

    def ema_matrix(self, *, periods: Sequence[int]) -> tuple[FloatArray, IntArray]:
        """(one row per distinct period, row index of each requested period)."""
        return self._matrix(periods=periods, series=self.ema)

    def rsi_matrix(self, *, periods: Sequence[int]) -> tuple[FloatArray, IntArray]:
        """(one row per distinct period, row index of each requested period)."""
        return self._matrix(periods=periods, series=self.rsi)

    def _matrix(
        self, *, periods: Sequence[int], series: Callable[[int], FloatArray]
    ) -> tuple[FloatArray, IntArray]:
        distinct = sorted(set(periods))
        row_of = {period: row for row, period in enumerate(distinct)}
        matrix = np.empty((len(distinct), self.length))
        for row, period in enumerate(distinct):
            matrix[row] = series(period)
        rows = np.array([row_of[period] for period in periods], dtype=np.int64)
        return matrix, rows
