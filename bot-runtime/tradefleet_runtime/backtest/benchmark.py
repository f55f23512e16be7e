"""Buy-and-hold over the bars a backtest traded: the yardstick the report sets beside it.

The whole initial equity buys at the first traded bar's open (slippage and fee as any fill),
is marked at every close and sells at the last close (slippage and fee again), like the
strategy's end-of-data exit. On futures the held long pays funding exactly as the
strategy's positions do (:mod:`tradefleet_runtime.backtest.funding`). The figures use the
strategy's own definitions (:func:`curve_summary`), so the two columns compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.fills import entry_fill_price, fee, settle_exit
from tradefleet_runtime.backtest.funding import funding_times_per_bar
from tradefleet_runtime.backtest.metrics import curve_summary, finite_or_none
from tradefleet_runtime.backtest.model import BacktestConfig

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class BuyAndHold:
    """Holding the market from the first traded bar's open to the last bar's close."""

    initial_equity: float
    final_equity: float
    total_return_pct: float
    max_drawdown_pct: float
    sharpe: float
    sortino: float
    funding_paid: float
    equity: FloatArray

    def to_dict(self) -> dict[str, object]:
        return {
            "finalEquity": self.final_equity,
            "totalReturnPct": self.total_return_pct,
            "maxDrawdownPct": self.max_drawdown_pct,
            "sharpe": finite_or_none(self.sharpe),
            "sortino": finite_or_none(self.sortino),
            "fundingPaid": self.funding_paid,
        }


def buy_and_hold(*, bars: BarSeries, config: BacktestConfig, start_index: int = 0) -> BuyAndHold:
    """Buy-and-hold of ``bars[start_index:]`` with ``config``'s equity, fees, slippage, funding."""
    bars.check_start_index(start_index)
    opens = bars.open[start_index:]
    closes = bars.close[start_index:]
    entry = entry_fill_price(float(opens[0]), 1, config.slippage_rate)
    quantity = config.initial_equity / entry
    entry_fee = fee(quantity, entry, config.fee_rate)
    # Cash after each bar's funding (none on the entry bar: the position opens at its open).
    funding = np.zeros(len(opens))
    if config.funding_rate:
        times = funding_times_per_bar(
            timestamp_ms=bars.timestamp_ms[start_index:], bar_seconds=bars.bar_seconds
        )
        funding[1:] = times[1:] * config.funding_rate * quantity * opens[1:]
    cash = config.initial_equity - entry_fee - np.cumsum(funding)
    equity = cash + quantity * (closes - entry)
    _, _, _, final_cash = settle_exit(
        float(cash[-1]),
        1,
        quantity,
        entry,
        entry_fee,
        float(closes[-1]),
        config.slippage_rate,
        config.fee_rate,
    )
    equity[-1] = final_cash
    sharpe, sortino, max_drawdown = curve_summary(
        equity, config.initial_equity, bars.periods_per_year
    )
    return BuyAndHold(
        initial_equity=config.initial_equity,
        final_equity=final_cash,
        total_return_pct=100.0 * (final_cash / config.initial_equity - 1.0),
        max_drawdown_pct=100.0 * max_drawdown,
        sharpe=sharpe,
        sortino=sortino,
        funding_paid=float(funding.sum()),
        equity=equity,
    )
