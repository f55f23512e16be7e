"""Which stop protects the open position, and when a software stop fires: pure decisions.

Called by :class:`~tradefleet_runtime.service.orders.OrderPath`. A position is protected by an
exchange-side stop (a resting conditional order on the closing side) where the venue holds
one, otherwise by a software stop the decision loop evaluates on every tick. A tracked stop on
the wrong side, or any stop while flat, protects nothing: it is stale and gets cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tradefleet_runtime.marketdata.ticks import BookTick
from tradefleet_runtime.persistence.records import (
    OrderState,
    PositionRecord,
    PositionSide,
    TrackedOrder,
)

# Longer than this without a stop is an error (metric and status).
UNPROTECTED_ERROR_AFTER_S = 2.0


class StopKind(StrEnum):
    EXCHANGE = "exchange"
    SOFTWARE = "software"


def closing_side(position: PositionRecord) -> str:
    """The order side that reduces ``position`` ("sell" for a long)."""
    return "sell" if position.side is PositionSide.LONG else "buy"


def protects(order: TrackedOrder, position: PositionRecord) -> bool:
    """``order`` is a live stop that closes ``position``."""
    return (
        not position.is_flat
        and order.conditional
        and order.state is OrderState.OPEN
        and order.side == closing_side(position)
    )


def exchange_stop_of(
    orders: Iterable[TrackedOrder], position: PositionRecord
) -> TrackedOrder | None:
    """The tracked stop protecting ``position``, preferring the one it names."""
    candidates = [o for o in orders if protects(o, position)]
    named = [o for o in candidates if o.client_order_id == position.stop_client_order_id]
    found = named or candidates
    return found[0] if found else None


def stale_stops(orders: Iterable[TrackedOrder], position: PositionRecord) -> list[TrackedOrder]:
    """Open conditional orders that protect nothing (wrong side, or no position)."""
    return [
        o
        for o in orders
        if o.conditional and o.state is OrderState.OPEN and not protects(o, position)
    ]


def fill_beyond_stop(*, position: PositionRecord, price: float, stop: float) -> bool:
    """``position`` was filled at ``price``, at or beyond its ``stop``: a stop there could
    never have protected it."""
    if position.is_flat:
        return False
    return price <= stop if position.side is PositionSide.LONG else price >= stop


def software_stop_hit(position: PositionRecord, tick: BookTick) -> bool:
    """The price a closing market order would get has reached the stop."""
    stop = position.stop_price
    if position.is_flat or stop is None:
        return False
    if position.side is PositionSide.LONG:
        return tick.bid_price <= stop
    return tick.ask_price >= stop


@dataclass(frozen=True, kw_only=True, slots=True)
class Protection:
    """How the open position is protected now, and since when it has not been."""

    kind: StopKind | None
    unprotected_since: float | None

    def unprotected_for(self, now: float) -> float:
        return now - self.unprotected_since if self.unprotected_since is not None else 0.0

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "stopKind": self.kind.value if self.kind else None,
            "unprotectedSeconds": round(self.unprotected_for(now), 3),
        }


def next_protection(
    *, previous: Protection, position: PositionRecord, kind: StopKind | None, now: float
) -> Protection:
    if position.is_flat or kind is not None:
        return Protection(kind=kind if not position.is_flat else None, unprotected_since=None)
    since = previous.unprotected_since if previous.unprotected_since is not None else now
    return Protection(kind=None, unprotected_since=since)
