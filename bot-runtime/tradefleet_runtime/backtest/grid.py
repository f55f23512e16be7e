"""The fast grid engine: the EMA-crossover + RSI strategy over many parameter sets at once.

The optimizer calls :func:`run_grid` with hundreds or thousands of
:class:`~tradefleet_runtime.strategies.parameters.StrategyParameters`; reports and tests
call :func:`grid_backtest` for one set with its trades. Each distinct EMA and RSI
period is computed once (:class:`~tradefleet_runtime.backtest.series.IndicatorCache`);
then one numba kernel simulates every parameter set in parallel (``prange`` over the
sets, ``cache=True``), keeping only running totals per set.

The kernel is the event-driven engine's replay specialised to the ``ema_rsi`` plugin
without fusion or risk engine: it calls the same rule
(:func:`~tradefleet_runtime.strategies.ema_rsi.ema_rsi_rule`), the same fill, exit and
sizing functions (:mod:`~tradefleet_runtime.backtest.fills`) and the same equity-curve
accumulator (:mod:`~tradefleet_runtime.backtest.metrics`) in the same order, so for the
same parameters it produces the same trades, prices and PnL as
:func:`~tradefleet_runtime.backtest.engine.run_backtest`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.backtest.fills import (
    EXIT_END_OF_DATA,
    EXIT_NONE,
    entry_fill_price,
    exit_trigger,
    fee,
    mark_to_market,
    risk_sized_quantity,
    settle_exit,
    stop_price,
    target_price,
)
from tradefleet_runtime.backtest.metrics import (
    CURVE_STATE_SIZE,
    BacktestMetrics,
    curve_max_drawdown,
    curve_sharpe,
    curve_sortino,
    curve_start,
    curve_update,
)
from tradefleet_runtime.backtest.model import (
    EXIT_REASON_BY_CODE,
    BacktestConfig,
    BacktestResult,
    Trade,
)
from tradefleet_runtime.backtest.series import IndicatorCache
from tradefleet_runtime.strategies.ema_rsi import EmaRsiStrategy, ema_rsi_rule
from tradefleet_runtime.strategies.parameters import StrategyParameters

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Columns of the per-set totals the kernel writes.
N_TOTALS = 10
(
    _FINAL_EQUITY,
    _TRADES,
    _WINS,
    _LOSSES,
    _GROSS_PROFIT,
    _GROSS_LOSS,
    _MAX_DRAWDOWN,
    _SHARPE,
    _SORTINO,
    _EXPOSURE_BARS,
) = range(N_TOTALS)
# Columns of a recorded trade.
N_TRADE_COLUMNS = 11
(
    _ENTRY_INDEX,
    _EXIT_INDEX,
    _DIRECTION,
    _ENTRY_PRICE,
    _EXIT_PRICE,
    _QUANTITY,
    _STOP,
    _TARGET,
    _FEES,
    _PNL,
    _REASON,
) = range(N_TRADE_COLUMNS)


# Compiled by numba, which calls with positional arguments only. Runs once per trade, outside
# the per-bar arithmetic.
@numba.njit(cache=True)
def _record_trade(  # noqa: PLR0917
    row: FloatArray,
    entry_index: int,
    exit_index: int,
    direction: int,
    entry: float,
    exit_price: float,
    quantity: float,
    stop: float,
    target: float,
    fees: float,
    pnl: float,
    reason: int,
) -> None:
    row[_ENTRY_INDEX] = entry_index
    row[_EXIT_INDEX] = exit_index
    row[_DIRECTION] = direction
    row[_ENTRY_PRICE] = entry
    row[_EXIT_PRICE] = exit_price
    row[_QUANTITY] = quantity
    row[_STOP] = stop
    row[_TARGET] = target
    row[_FEES] = fees
    row[_PNL] = pnl
    row[_REASON] = reason


@numba.njit(cache=True)
def _count_trade(totals: FloatArray, pnl: float, bars_held: int) -> None:
    """A closed trade into a set's win, loss and exposure totals."""
    if pnl > 0.0:
        totals[_WINS] += 1
        totals[_GROSS_PROFIT] += pnl
    elif pnl < 0.0:
        totals[_LOSSES] += 1
        totals[_GROSS_LOSS] -= pnl
    totals[_EXPOSURE_BARS] += bars_held


@numba.njit(cache=True)
def _curve_totals(totals: FloatArray, curve: FloatArray, periods_per_year: float) -> None:
    """The equity curve's drawdown, Sharpe and Sortino into a set's totals, once per run."""
    totals[_MAX_DRAWDOWN] = curve_max_drawdown(curve)
    totals[_SHARPE] = curve_sharpe(curve, periods_per_year)
    totals[_SORTINO] = curve_sortino(curve, periods_per_year)


# Compiled by numba, which calls with positional arguments only.
# Over the complexity limits on purpose: the bar loop carries ten scalars
# (cash, position, stop, target, counters) from one bar to the next, which numba keeps in
# registers. Split into helpers, each would take and return that state per bar (a tuple or a
# state array that numba then reads and writes through memory), costing speed in the hottest
# loop of the optimizer, and the body could no longer mirror ``engine._Replay`` line for line,
# which the parity tests compare. The arithmetic already lives in jitable helpers (fills,
# metrics, the EMA/RSI rule).
@numba.njit(cache=True)
def _simulate(  # noqa: PLR0917, C901, PLR0915
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    ema_fast: FloatArray,
    ema_slow: FloatArray,
    rsi: FloatArray,
    overbought: float,
    oversold: float,
    stop_fraction: float,
    target_fraction: float,
    risk_fraction: float,
    initial_equity: float,
    fee_rate: float,
    slippage: float,
    max_leverage: float,
    allow_short: bool,
    start: int,
    periods_per_year: float,
    totals: FloatArray,
    trades: FloatArray,
    equity_out: FloatArray,
) -> int:
    """Replay one parameter set; fill ``totals``, and ``trades``/``equity_out`` if they have room.

    Returns the number of trades. The order of operations mirrors
    ``engine._Replay`` line for line.
    """
    n = close.shape[0]
    curve = np.empty(CURVE_STATE_SIZE)
    curve_start(curve, initial_equity)
    cash = initial_equity
    direction = 0
    pending = 0
    quantity = entry = stop = target = entry_fee = 0.0
    entry_index = -1
    trade_count = 0
    totals[:] = 0.0
    for index in range(start, n):
        reason = EXIT_NONE
        trigger = 0.0
        if pending != 0:
            direction = pending
            pending = 0
            entry = entry_fill_price(open_[index], direction, slippage)
            quantity = risk_sized_quantity(cash, risk_fraction, stop_fraction, max_leverage, entry)
            entry_fee = fee(quantity, entry, fee_rate)
            cash -= entry_fee
            stop = stop_price(entry, direction, stop_fraction)
            target = target_price(entry, direction, target_fraction)
            entry_index = index
        elif direction != 0:
            reason, trigger = exit_trigger(
                direction, open_[index], high[index], low[index], stop, target
            )
        if direction != 0 and reason == EXIT_NONE and index == n - 1:
            reason = EXIT_END_OF_DATA
            trigger = close[index]
        if reason != EXIT_NONE:
            exit_price, exit_fee, pnl, cash = settle_exit(
                cash, direction, quantity, entry, entry_fee, trigger, slippage, fee_rate
            )
            _count_trade(totals, pnl, index - entry_index + 1)
            if trade_count < trades.shape[0]:
                _record_trade(
                    trades[trade_count],
                    entry_index,
                    index,
                    direction,
                    entry,
                    exit_price,
                    quantity,
                    stop,
                    target,
                    entry_fee + exit_fee,
                    pnl,
                    reason,
                )
            trade_count += 1
            direction = 0
        if direction != 0:
            equity = mark_to_market(cash, direction, quantity, entry, close[index])
        else:
            equity = cash
        curve_update(curve, equity)
        if equity_out.shape[0] == n:
            equity_out[index] = equity
        if direction == 0 and index < n - 1 and cash > 0.0:
            code = ema_rsi_rule(ema_fast[index], ema_slow[index], rsi[index], overbought, oversold)
            if code > 0:
                pending = 1
            elif code < 0 and allow_short:
                pending = -1
    totals[_FINAL_EQUITY] = cash
    totals[_TRADES] = trade_count
    _curve_totals(totals, curve, periods_per_year)
    return trade_count


# Compiled by numba, which calls with positional arguments only.
@numba.njit(cache=True, parallel=True)
def _simulate_grid(  # noqa: PLR0917
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    ema: FloatArray,
    rsi: FloatArray,
    fast_row: IntArray,
    slow_row: IntArray,
    rsi_row: IntArray,
    sets: FloatArray,
    initial_equity: float,
    fee_rate: float,
    slippage: float,
    max_leverage: float,
    allow_short: bool,
    start: int,
    periods_per_year: float,
    totals: FloatArray,
) -> None:
    """Every parameter set in parallel; ``sets`` rows are (overbought, oversold, stop, target, risk)."""
    no_trades = np.empty((0, N_TRADE_COLUMNS))
    no_equity = np.empty(0)
    for set_index in numba.prange(sets.shape[0]):
        _simulate(
            open_,
            high,
            low,
            close,
            ema[fast_row[set_index]],
            ema[slow_row[set_index]],
            rsi[rsi_row[set_index]],
            sets[set_index, 0],
            sets[set_index, 1],
            sets[set_index, 2],
            sets[set_index, 3],
            sets[set_index, 4],
            initial_equity,
            fee_rate,
            slippage,
            max_leverage,
            allow_short,
            start,
            periods_per_year,
            totals[set_index],
            no_trades,
            no_equity,
        )


def _set_columns(parameter_sets: Sequence[StrategyParameters]) -> FloatArray:
    """(overbought, oversold, stop, target, risk) per set; percent → fraction as the engine does."""
    return np.array(
        [
            (
                params.rsi_overbought,
                params.rsi_oversold,
                params.stop_loss_pct / 100.0,
                params.take_profit_pct / 100.0,
                params.risk_per_trade_pct / 100.0,
            )
            for params in parameter_sets
        ],
        dtype=np.float64,
    ).reshape(len(parameter_sets), 5)


def _metrics(*, totals: FloatArray, bars: int, initial_equity: float) -> BacktestMetrics:
    return BacktestMetrics.from_totals(
        bars=bars,
        initial_equity=initial_equity,
        final_equity=float(totals[_FINAL_EQUITY]),
        trades=int(totals[_TRADES]),
        wins=int(totals[_WINS]),
        losses=int(totals[_LOSSES]),
        gross_profit=float(totals[_GROSS_PROFIT]),
        gross_loss=float(totals[_GROSS_LOSS]),
        max_drawdown=float(totals[_MAX_DRAWDOWN]),
        sharpe=float(totals[_SHARPE]),
        sortino=float(totals[_SORTINO]),
        exposure_bars=int(totals[_EXPOSURE_BARS]),
    )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class GridResult:
    """Totals of every parameter set of a grid run, in the order the sets were given."""

    parameter_sets: tuple[StrategyParameters, ...]
    totals: FloatArray  # (sets, N_TOTALS)
    bars: int  # bars traded (from the start index on)
    initial_equity: float

    def metrics(self, index: int) -> BacktestMetrics:
        return _metrics(
            totals=self.totals[index], bars=self.bars, initial_equity=self.initial_equity
        )

    def all_metrics(self) -> tuple[BacktestMetrics, ...]:
        return tuple(self.metrics(index) for index in range(len(self.parameter_sets)))


def _refuse_funding(config: BacktestConfig) -> None:
    if config.funding_rate:
        raise BacktestConfigError(
            "the grid engine charges no funding: search on market=spot, then backtest the "
            "winner on futures with the event-driven engine"
        )


def run_grid(
    *,
    bars: BarSeries,
    parameter_sets: Sequence[StrategyParameters],
    config: BacktestConfig,
    start_index: int = 0,
    indicators: IndicatorCache | None = None,
) -> GridResult:
    """Backtest ``ema_rsi`` with every parameter set on ``bars`` (trading from ``start_index``).

    Pass the same ``indicators`` cache across calls on the same bars to reuse series.
    """
    bars.check_start_index(start_index)
    _refuse_funding(config)
    if not parameter_sets:
        raise BacktestConfigError("a grid needs at least one parameter set")
    if indicators is None:
        indicators = IndicatorCache(close=bars.close)
    elif indicators.length != len(bars):
        raise BacktestConfigError(
            f"the indicator cache holds {indicators.length} bars, the series {len(bars)}"
        )
    ema, fast_slow_rows = indicators.ema_matrix(
        periods=[p.ema_fast for p in parameter_sets] + [p.ema_slow for p in parameter_sets]
    )
    rsi, rsi_rows = indicators.rsi_matrix(periods=[p.rsi_period for p in parameter_sets])
    count = len(parameter_sets)
    totals = np.empty((count, N_TOTALS))
    _simulate_grid(
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        ema,
        rsi,
        fast_slow_rows[:count],
        fast_slow_rows[count:],
        rsi_rows,
        _set_columns(parameter_sets),
        config.initial_equity,
        config.fee_rate,
        config.slippage_rate,
        config.max_leverage,
        config.allow_short,
        start_index,
        bars.periods_per_year,
        totals,
    )
    return GridResult(
        parameter_sets=tuple(parameter_sets),
        totals=totals,
        bars=len(bars) - start_index,
        initial_equity=config.initial_equity,
    )


def grid_backtest(
    *,
    bars: BarSeries,
    parameters: StrategyParameters,
    config: BacktestConfig,
    start_index: int = 0,
) -> BacktestResult:
    """One parameter set through the grid kernel, with its trades and equity curve."""
    bars.check_start_index(start_index)
    _refuse_funding(config)
    indicators = IndicatorCache(close=bars.close)
    sets = _set_columns([parameters])
    n_bars = len(bars)
    # Entries and exits fall on different bars, so there are at most n / 2 trades.
    trades = np.empty((n_bars // 2 + 1, N_TRADE_COLUMNS))
    equity = np.empty(n_bars)
    totals = np.empty(N_TOTALS)
    count = _simulate(
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        indicators.ema(parameters.ema_fast),
        indicators.ema(parameters.ema_slow),
        indicators.rsi(parameters.rsi_period),
        sets[0, 0],
        sets[0, 1],
        sets[0, 2],
        sets[0, 3],
        sets[0, 4],
        config.initial_equity,
        config.fee_rate,
        config.slippage_rate,
        config.max_leverage,
        config.allow_short,
        start_index,
        bars.periods_per_year,
        totals,
        trades,
        equity,
    )
    return BacktestResult(
        strategy=EmaRsiStrategy.name,
        parameters=parameters,
        config=config,
        metrics=_metrics(
            totals=totals, bars=n_bars - start_index, initial_equity=config.initial_equity
        ),
        trades=tuple(_trade(row=row, bars=bars) for row in trades[:count]),
        timestamp_ms=bars.timestamp_ms[start_index:],
        equity=equity[start_index:],
        start_index=start_index,
    )


def _trade(*, row: FloatArray, bars: BarSeries) -> Trade:
    entry_index = int(row[_ENTRY_INDEX])
    exit_index = int(row[_EXIT_INDEX])
    return Trade(
        direction=int(row[_DIRECTION]),
        entry_index=entry_index,
        exit_index=exit_index,
        entry_time_ms=int(bars.timestamp_ms[entry_index]),
        exit_time_ms=int(bars.timestamp_ms[exit_index]),
        entry_price=float(row[_ENTRY_PRICE]),
        exit_price=float(row[_EXIT_PRICE]),
        quantity=float(row[_QUANTITY]),
        stop_price=float(row[_STOP]),
        target_price=float(row[_TARGET]),
        fees=float(row[_FEES]),
        pnl=float(row[_PNL]),
        exit_reason=EXIT_REASON_BY_CODE[int(row[_REASON])],
    )
