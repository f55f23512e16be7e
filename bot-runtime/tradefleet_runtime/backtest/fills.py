"""Fill, exit and sizing arithmetic shared by the event-driven engine and the grid engine.

The event-driven engine (:mod:`tradefleet_runtime.backtest.engine`) calls these plain
functions; the grid engine (:mod:`tradefleet_runtime.backtest.grid`) compiles the very
same functions into its numba kernel (they are marked ``jitable``). Both therefore run the same floating-point operations in
the same order, which is what makes their trades identical. Numba cannot compile
keyword-only parameters, so these take positional ones.

Fill semantics (``direction`` +1 long, −1 short; rates are fractions, not percent):

* a signal on bar t's close enters at bar t+1's open, moved against the trader by the
  slippage rate: ``open · (1 + direction · slippage)``;
* stop and target are set from that fill price: ``fill · (1 ∓ stop)``, ``fill · (1 ± target)``;
* from the bar after the entry bar on, each bar is checked in this order: an open
  already through the stop exits at the open (a gap), an open already through the
  target exits at the open, a low/high touching the stop exits at the stop, a
  high/low touching the target exits at the target — so when one bar touches both,
  the stop wins (the pessimistic reading of a bar whose path is unknown);
* exits are market orders: the trigger price moved against the trader by the slippage;
* every fill pays ``fee rate × quantity × fill price``.
"""

from __future__ import annotations

from tradefleet_runtime.backtest._jit import jitable

EXIT_NONE = 0
EXIT_STOP_LOSS = 1
EXIT_TAKE_PROFIT = 2
EXIT_END_OF_DATA = 3
EXIT_CIRCUIT_BREAKER = 4


@jitable
def entry_fill_price(open_price: float, direction: int, slippage: float) -> float:
    """Price paid (long) or received (short) when entering at a bar's open."""
    return open_price * (1.0 + direction * slippage)


@jitable
def exit_fill_price(trigger_price: float, direction: int, slippage: float) -> float:
    """Price received (long) or paid (short) when leaving at ``trigger_price``."""
    return trigger_price * (1.0 - direction * slippage)


@jitable
def stop_price(fill_price: float, direction: int, stop_fraction: float) -> float:
    return fill_price * (1.0 - direction * stop_fraction)


@jitable
def target_price(fill_price: float, direction: int, target_fraction: float) -> float:
    return fill_price * (1.0 + direction * target_fraction)


@jitable
def risk_sized_quantity(
    equity: float,
    risk_fraction: float,
    stop_fraction: float,
    max_leverage: float,
    fill_price: float,
) -> float:
    """Quantity whose loss at the stop is ``risk_fraction`` of equity, capped at max leverage.

    Notional = equity · min(risk / stop distance, max leverage); both as fractions.
    """
    notional = equity * min(risk_fraction / stop_fraction, max_leverage)
    return notional / fill_price


@jitable
def fee(quantity: float, price: float, fee_rate: float) -> float:
    return quantity * price * fee_rate


@jitable
def gross_pnl(direction: int, quantity: float, entry: float, price: float) -> float:
    """Profit of the position at ``price``, before fees."""
    return direction * quantity * (price - entry)


@jitable
def mark_to_market(
    cash: float, direction: int, quantity: float, entry: float, close: float
) -> float:
    """Equity with an open position marked at ``close`` (cash already net of the entry fee)."""
    return cash + gross_pnl(direction, quantity, entry, close)


@jitable
def exit_trigger(  # noqa: PLR0917
    direction: int, open_price: float, high: float, low: float, stop: float, target: float
) -> tuple[int, float]:
    """(exit reason, trigger price) for one bar of an open position; EXIT_NONE if it survives."""
    if direction > 0:
        if open_price <= stop:
            return EXIT_STOP_LOSS, open_price
        if open_price >= target:
            return EXIT_TAKE_PROFIT, open_price
        if low <= stop:
            return EXIT_STOP_LOSS, stop
        if high >= target:
            return EXIT_TAKE_PROFIT, target
        return EXIT_NONE, 0.0
    if open_price >= stop:
        return EXIT_STOP_LOSS, open_price
    if open_price <= target:
        return EXIT_TAKE_PROFIT, open_price
    if high >= stop:
        return EXIT_STOP_LOSS, stop
    if low <= target:
        return EXIT_TAKE_PROFIT, target
    return EXIT_NONE, 0.0


@jitable
def settle_exit(  # noqa: PLR0917
    cash: float,
    direction: int,
    quantity: float,
    entry: float,
    entry_fee: float,
    trigger: float,
    slippage: float,
    fee_rate: float,
) -> tuple[float, float, float, float]:
    """Close a position at ``trigger``: (exit fill price, exit fee, trade PnL net of both
    fees, cash after the exit)."""
    exit_price = exit_fill_price(trigger, direction, slippage)
    exit_fee = fee(quantity, exit_price, fee_rate)
    gross = gross_pnl(direction, quantity, entry, exit_price)
    return exit_price, exit_fee, gross - entry_fee - exit_fee, cash + (gross - exit_fee)
