"""Performance figures of a backtest, and the equity-curve accumulator both engines share.

The grid engine's numba kernel feeds the equity marked at every bar's close to
``curve_update`` as it goes; the event-driven engine passes its whole curve to
``curve_summary``, which runs the same function in Python. Both then build
:class:`BacktestMetrics` with :meth:`BacktestMetrics.from_totals`. Definitions:

* per-bar return r_t = E_t / E_{t−1} − 1, with E_{−1} the initial equity;
* Sharpe = mean(r) / sample std(r) · √(bars per year); 0 with fewer than 2 bars or no
  variation;
* Sortino = mean(r) / √(mean(min(r, 0)²)) · √(bars per year); +∞ when no bar lost;
* max drawdown = largest fall of the marked equity from its running peak (initial
  equity included), in percent of that peak;
* exposure = bars during which a position was open (entry bar to exit bar inclusive),
  in percent of the bars traded;
* win rate = winning trades (PnL > 0 after fees) / trades; average win / loss = mean PnL
  of winning / losing trades (the loss is negative); profit factor = gross profit /
  gross loss (+∞ without losing trades, 0 without trades).

The accumulator functions are marked ``jitable`` (see
:mod:`tradefleet_runtime.backtest._jit`); numba cannot compile keyword-only parameters,
so they take positional ones. The state is a float64 array of ``CURVE_STATE_SIZE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tradefleet_runtime.backtest._jit import jitable

FloatArray = npt.NDArray[np.float64]

CURVE_STATE_SIZE = 7
_COUNT, _MEAN, _M2, _DOWNSIDE, _PEAK, _DRAWDOWN, _PREVIOUS = range(CURVE_STATE_SIZE)


@jitable
def curve_start(state: FloatArray, initial_equity: float) -> None:
    """Reset ``state`` for a curve that starts from ``initial_equity``."""
    state[_COUNT] = 0.0
    state[_MEAN] = 0.0
    state[_M2] = 0.0
    state[_DOWNSIDE] = 0.0
    state[_PEAK] = initial_equity
    state[_DRAWDOWN] = 0.0
    state[_PREVIOUS] = initial_equity


@jitable
def curve_update(state: FloatArray, equity: float) -> None:
    """Fold in the equity of the next bar (Welford's running mean and variance)."""
    previous = state[_PREVIOUS]
    bar_return = equity / previous - 1.0 if previous > 0.0 else 0.0
    count = state[_COUNT] + 1.0
    delta = bar_return - state[_MEAN]
    state[_MEAN] += delta / count
    state[_M2] += delta * (bar_return - state[_MEAN])
    if bar_return < 0.0:
        state[_DOWNSIDE] += bar_return * bar_return
    state[_COUNT] = count
    peak = state[_PEAK]
    if equity > peak:
        state[_PEAK] = equity
    elif peak > 0.0:
        drawdown = (peak - equity) / peak
        state[_DRAWDOWN] = max(state[_DRAWDOWN], drawdown)
    state[_PREVIOUS] = equity


@jitable
def curve_sharpe(state: FloatArray, periods_per_year: float) -> float:
    count = state[_COUNT]
    if count < 2.0:
        return 0.0
    variance = state[_M2] / (count - 1.0)
    if variance <= 0.0:
        return 0.0
    return float(state[_MEAN] / math.sqrt(variance) * math.sqrt(periods_per_year))


@jitable
def curve_sortino(state: FloatArray, periods_per_year: float) -> float:
    count = state[_COUNT]
    if count < 1.0:
        return 0.0
    downside = math.sqrt(state[_DOWNSIDE] / count)
    if downside <= 0.0:
        return math.inf if state[_MEAN] > 0.0 else 0.0
    return float(state[_MEAN] / downside * math.sqrt(periods_per_year))


@jitable
def curve_max_drawdown(state: FloatArray) -> float:
    """Largest drawdown so far, as a fraction of the peak."""
    return float(state[_DRAWDOWN])


@jitable
def curve_summary(
    equity: FloatArray, initial_equity: float, periods_per_year: float
) -> tuple[float, float, float]:
    """(Sharpe, Sortino, max drawdown fraction) of a whole marked equity curve."""
    state = np.empty(CURVE_STATE_SIZE)
    curve_start(state, initial_equity)
    for value in equity:
        curve_update(state, value)
    return (
        curve_sharpe(state, periods_per_year),
        curve_sortino(state, periods_per_year),
        curve_max_drawdown(state),
    )


def finite_or_none(value: float) -> float | None:
    """JSON has no infinities: a non-finite figure is written as null."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True, kw_only=True, slots=True)
class BacktestMetrics:
    """The figures of one backtest run (definitions in the module docstring)."""

    bars: int
    initial_equity: float
    final_equity: float
    total_pnl: float
    total_return_pct: float
    trades: int
    wins: int
    losses: int
    win_rate: float
    average_win: float
    average_loss: float
    profit_factor: float
    max_drawdown_pct: float
    sharpe: float
    sortino: float
    exposure_pct: float

    @classmethod
    def from_totals(
        cls,
        *,
        bars: int,
        initial_equity: float,
        final_equity: float,
        trades: int,
        wins: int,
        losses: int,
        gross_profit: float,
        gross_loss: float,
        max_drawdown: float,
        sharpe: float,
        sortino: float,
        exposure_bars: int,
    ) -> BacktestMetrics:
        """Metrics from running totals; ``gross_loss`` is positive, ``max_drawdown`` a fraction."""
        if gross_loss > 0.0:
            profit_factor = gross_profit / gross_loss
        else:
            profit_factor = math.inf if gross_profit > 0.0 else 0.0
        total_pnl = final_equity - initial_equity
        return cls(
            bars=bars,
            initial_equity=initial_equity,
            final_equity=final_equity,
            total_pnl=total_pnl,
            total_return_pct=100.0 * total_pnl / initial_equity,
            trades=trades,
            wins=wins,
            losses=losses,
            win_rate=wins / trades if trades else 0.0,
            average_win=gross_profit / wins if wins else 0.0,
            average_loss=-gross_loss / losses if losses else 0.0,
            profit_factor=profit_factor,
            max_drawdown_pct=100.0 * max_drawdown,
            sharpe=sharpe,
            sortino=sortino,
            exposure_pct=100.0 * exposure_bars / bars if bars else 0.0,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "bars": self.bars,
            "initialEquity": self.initial_equity,
            "finalEquity": self.final_equity,
            "totalPnl": self.total_pnl,
            "totalReturnPct": self.total_return_pct,
            "trades": self.trades,
            "wins": self.wins,
            "losses": self.losses,
            "winRate": self.win_rate,
            "averageWin": self.average_win,
            "averageLoss": self.average_loss,
            "profitFactor": finite_or_none(self.profit_factor),
            "maxDrawdownPct": self.max_drawdown_pct,
            "sharpe": finite_or_none(self.sharpe),
            "sortino": finite_or_none(self.sortino),
            "exposurePct": self.exposure_pct,
        }
