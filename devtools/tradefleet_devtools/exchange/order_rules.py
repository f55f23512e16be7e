"""Binance's stateless order rules, as the local exchange applies them (dev/test tooling only).

Called by the matching engine (``tradefleet_devtools.exchange.engine``): the checks that need
nothing but the request and the contract spec (side, type, time in force, quantity step,
price tick), when a conditional order triggers, and how a ``slow_fill`` order is cut into
lots. Checks that depend on the account (margin, reduceOnly, duplicate client ids) stay in
the engine.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from tradefleet_devtools.exchange.market import SymbolSpec
from tradefleet_devtools.exchange.records import Lot, OrderTicket, RejectionError, SlowFill

MARKET_TYPES = frozenset({"MARKET", "LIMIT"})
ALGO_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET"})
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK", "GTX"})


def check_qty(*, spec: SymbolSpec, qty: Decimal) -> None:
    if qty <= 0:
        raise RejectionError(code=-4003, message="Quantity less than or equal to zero.")
    if qty % spec.step_size != 0:
        raise RejectionError(
            code=-1111, message="Precision is over the maximum defined for this asset."
        )
    if qty < spec.min_qty or qty > spec.max_qty:
        raise RejectionError(code=-4005, message="Quantity greater than max quantity.")


def check_price(*, spec: SymbolSpec, price: Decimal) -> None:
    if price <= 0:
        raise RejectionError(code=-4001, message="Price less than 0.")
    if price % spec.tick_size != 0:
        raise RejectionError(
            code=-1111, message="Precision is over the maximum defined for this asset."
        )


def check_side(side: str) -> None:
    if side not in ("BUY", "SELL"):
        raise RejectionError(code=-1117, message="Invalid side.")


def check_ticket(*, spec: SymbolSpec, ticket: OrderTicket) -> None:
    """The request-only checks of a regular order, in Binance's order of precedence."""
    check_side(ticket.side)
    if ticket.order_type in ALGO_TYPES:
        raise RejectionError(
            code=-4120,
            message="Order type not supported for this endpoint. "
            "Please use the Algo Order API endpoints instead.",
        )
    if ticket.order_type not in MARKET_TYPES:
        raise RejectionError(code=-1116, message="Invalid orderType.")
    if ticket.time_in_force not in TIME_IN_FORCE:
        raise RejectionError(code=-1115, message="Invalid timeInForce.")
    check_qty(spec=spec, qty=ticket.qty)
    if ticket.order_type == "LIMIT":
        if ticket.price is None:
            raise RejectionError.missing("price")
        check_price(spec=spec, price=ticket.price)


def triggered(*, order_type: str, side: str, trigger: Decimal, mid: Decimal) -> bool:
    """Whether a STOP_MARKET / TAKE_PROFIT_MARKET order fires at ``mid``."""
    falling_trigger = (order_type == "STOP_MARKET") == (side == "SELL")
    return mid <= trigger if falling_trigger else mid >= trigger


def plan_lots(*, spec: SymbolSpec, qty: Decimal, plan: SlowFill, now_ms: int) -> list[Lot]:
    """``qty`` in ``plan.steps`` lots of whole steps, the first due now, the last
    ``plan.seconds`` later; fewer lots when ``qty`` has fewer steps than that."""
    whole = (qty / plan.steps / spec.step_size).to_integral_value(rounding=ROUND_FLOOR)
    size = max(Decimal(1), whole) * spec.step_size
    lots: list[Lot] = []
    left = qty
    for index in range(plan.steps):
        lot = left if index == plan.steps - 1 else min(size, left)
        if lot <= 0:
            break
        due_ms = now_ms + round(plan.seconds * 1000 * index / (plan.steps - 1))
        lots.append(Lot(due_ms=due_ms, qty=lot))
        left -= lot
    return lots
