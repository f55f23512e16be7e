"""What a snapshot of the exchange means for the bot's tracked orders and position: pure.

Called by :class:`~tradefleet_runtime.service.orders.OrderPath` after every look at the
exchange (start-up, after an order, the account loop). The rules:

* a tracked order the exchange reports takes the exchange's state; it stays tracked while
  it is open (a market order still filling, a resting stop);
* a tracked intent the exchange has never seen is *abandoned* only once its submission window
  has passed (until then it can still arrive and execute: an order stuck in the exchange's
  queue is not "not found" for good);
* an open order of ours that we do not track (a crash between sending and recording) is
  adopted; an open order that is not ours (a manual order, another bot's) is left alone;
* the position is the exchange's; its stop is a live stop on the closing side, never a stale
  one left from an earlier position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from tradefleet_runtime.execution.executor import ReconciliationSnapshot
from tradefleet_runtime.execution.model import Order, OrderType, VenuePosition, VenuePositionSide
from tradefleet_runtime.persistence.records import (
    OrderState,
    PositionRecord,
    PositionSide,
    TrackedOrder,
)
from tradefleet_runtime.service.protection import exchange_stop_of


@dataclass(frozen=True, kw_only=True, slots=True)
class SnapshotOutcome:
    tracked: dict[str, TrackedOrder]
    changed: tuple[TrackedOrder, ...]
    resolved: tuple[Order, ...]
    position: PositionRecord
    adopted: tuple[str, ...]


def settle_snapshot(
    *,
    tracked: Mapping[str, TrackedOrder],
    snapshot: ReconciliationSnapshot,
    previous: PositionRecord,
    symbol: str,
    now_ms: int,
    submission_window_ms: int,
    owns: Callable[[str], bool],
) -> SnapshotOutcome:
    """The tracked orders and position after ``snapshot``, and the records that changed."""
    result = dict(tracked)
    changed: list[TrackedOrder] = []
    resolved: list[Order] = []
    for order in snapshot.resolved_orders:
        record = result.pop(order.client_order_id, None)
        if record is None:
            continue
        updated = record.with_order(order, now_ms=now_ms)
        if updated.state.unresolved:
            result[order.client_order_id] = updated
        changed.append(updated)
        resolved.append(order)
    for client_id in snapshot.missing_client_order_ids:
        record = result.get(client_id)
        if record is None or now_ms - record.created_at_ms < submission_window_ms:
            continue
        del result[client_id]
        changed.append(
            record.with_state(
                OrderState.ABANDONED,
                now_ms=now_ms,
                note="the exchange never received it (its submission window has passed)",
            )
        )
    adopted: list[str] = []
    for order in snapshot.open_orders:
        record = result.get(order.client_order_id)
        if record is None:
            if not owns(order.client_order_id):
                continue
            record = adopt(order, now_ms=now_ms)
            adopted.append(order.client_order_id)
        updated = record.with_order(order, now_ms=now_ms)
        result[order.client_order_id] = updated
        changed.append(updated)
    position = position_from(
        snapshot.positions, previous=previous, tracked=result, symbol=symbol, now_ms=now_ms
    )
    return SnapshotOutcome(
        tracked=result,
        changed=tuple(changed),
        resolved=tuple(resolved),
        position=position,
        adopted=tuple(adopted),
    )


def adopt(order: Order, *, now_ms: int) -> TrackedOrder:
    return TrackedOrder(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side.value,
        order_type=order.order_type.value,
        amount=order.amount,
        leg="sl" if order.order_type is OrderType.STOP_MARKET else "adopted",
        decision_id="adopted",
        conditional=order.order_type.is_conditional,
        state=OrderState.OPEN,
        created_at_ms=now_ms,
        updated_at_ms=now_ms,
        trigger_price=order.trigger_price,
        note="open on the exchange but not tracked: adopted at reconciliation",
    )


def position_from(
    positions: tuple[VenuePosition, ...] | list[VenuePosition],
    *,
    previous: PositionRecord,
    tracked: Mapping[str, TrackedOrder],
    symbol: str,
    now_ms: int,
) -> PositionRecord:
    """The exchange's position, keeping the bot's exit plan while the side is unchanged."""
    mine = [p for p in positions if p.symbol == symbol and p.contracts > 0]
    if not mine:
        return PositionRecord()
    venue_position = mine[0]
    side = (
        PositionSide.LONG if venue_position.side is VenuePositionSide.LONG else PositionSide.SHORT
    )
    same = previous.side is side
    position = PositionRecord(
        side=side,
        size=venue_position.contracts,
        entry_price=venue_position.entry_price,
        stop_client_order_id=previous.stop_client_order_id if same else None,
        stop_price=previous.stop_price if same else None,
        target_price=previous.target_price if same else None,
        opened_at_ms=previous.opened_at_ms if same else now_ms,
    )
    stop = exchange_stop_of(tracked.values(), position)
    if stop is None:
        return replace(position, stop_client_order_id=None)
    return replace(
        position,
        stop_client_order_id=stop.client_order_id,
        stop_price=stop.trigger_price or position.stop_price,
    )


def position_after_fill(previous: PositionRecord, order: Order, *, now_ms: int) -> PositionRecord:
    """The position ``order``'s fill leads to, when the exchange cannot be asked right now.

    Used only until the next successful refresh replaces it with the exchange's own figure; it
    lets the stop be placed at once instead of leaving a filled entry unprotected.
    """
    if order.filled <= 0:
        return previous
    delta = order.filled if order.side.value == "buy" else -order.filled
    signed = previous.signed_size + delta
    if abs(signed) < 1e-12:
        return PositionRecord()
    side = PositionSide.LONG if signed > 0 else PositionSide.SHORT
    if side is previous.side and abs(signed) < previous.size:
        return replace(previous, size=abs(signed))
    price = order.average_price or previous.entry_price
    if side is previous.side and previous.entry_price and order.average_price:
        price = (previous.entry_price * previous.size + order.average_price * order.filled) / abs(
            signed
        )
    same = side is previous.side
    return PositionRecord(
        side=side,
        size=abs(signed),
        entry_price=price,
        stop_client_order_id=previous.stop_client_order_id if same else None,
        stop_price=previous.stop_price if same else None,
        target_price=previous.target_price if same else None,
        opened_at_ms=previous.opened_at_ms if same else now_ms,
    )
