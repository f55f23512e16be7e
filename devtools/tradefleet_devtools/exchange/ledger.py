"""The exchange's own ledger as JSON, for invariant checks (dev/test tooling only).

Served at ``GET /_admin/ledger`` (``ExchangeAdminClient.ledger()``). A chaos soak harness
runs bot runtimes against the local exchange under random faults and then judges the
outcome from this view rather than from what any client believes: every order the exchange
received or executed (including those a ``late_execution`` fault held, dropped or booked
late), with who sent it; every fill; conditional orders; positions and the wallet. A pure
function of the matching engine's state; quantities and prices are decimal strings (exact),
times are the engine's wall-clock milliseconds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradefleet_devtools.exchange.engine import MatchingEngine
from tradefleet_devtools.exchange.records import (
    AlgoOrder,
    ExchangeOrder,
    Fill,
    HeldOrder,
    OrderOrigin,
)
from tradefleet_devtools.exchange.rest import fmt


def ledger_view(engine: MatchingEngine, *, now_ms: int) -> dict[str, Any]:
    """Orders (by arrival), fills, conditional orders, positions and wallet at ``now_ms``."""
    unbooked = [h for h in engine.held_orders() if h.order_id is None]
    orders = [_order(engine, o) for o in engine.orders(symbol=None)]
    orders.extend(_unbooked(engine, h) for h in unbooked)
    orders.sort(key=lambda entry: (entry["received_ms"], entry["order_id"] or 0))
    summary = engine.summary()
    return {
        "time_ms": now_ms,
        "orders": orders,
        "fills": [_fill(engine, f) for f in engine.fills(symbol=None)],
        "algo_orders": [_algo(engine, a) for a in engine.algo_orders(symbol=None)],
        "positions": {
            symbol: {
                "amount": engine.spec(symbol).format_qty(position.amount),
                "entry_price": fmt(position.entry_price),
                "leverage": position.leverage,
                "mark_price": fmt(engine.market(symbol).mid),
                "unrealized_pnl": fmt(
                    (engine.market(symbol).mid - position.entry_price) * position.amount
                ),
                "updated_ms": position.updated_ms,
            }
            for symbol, position in engine.positions().items()
        },
        "wallet": {
            "asset": "USDT",
            "balance": fmt(summary.wallet_balance),
            "unrealized_pnl": fmt(summary.unrealized_pnl),
            "equity": fmt(summary.margin_balance),
            "available": fmt(summary.available_balance),
        },
    }


def _origin(origin: OrderOrigin) -> dict[str, Any]:
    return {
        "api_key": origin.api_key,
        "sender": origin.sender,
        "request_timestamp_ms": origin.request_timestamp_ms,
        "recv_window_ms": origin.recv_window_ms,
    }


def _order(engine: MatchingEngine, order: ExchangeOrder) -> dict[str, Any]:
    spec = engine.spec(order.symbol)
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.order_type,
        "time_in_force": order.time_in_force,
        "reduce_only": order.reduce_only,
        # Regular orders never close the position by themselves; a closePosition stop that
        # fires shows up as its reduce-only market order with ``algo_id`` set.
        "close_position": False,
        "price": spec.format_price(order.price),
        "quantity": spec.format_qty(order.qty),
        "executed_quantity": spec.format_qty(order.executed_qty),
        "average_price": fmt(order.avg_price),
        "status": order.status,
        "received_ms": order.received_ms,
        "booked_ms": order.created_ms,
        "updated_ms": order.updated_ms,
        "algo_id": order.algo_id,
        "rejection": None,
        **_origin(order.origin),
    }


def _unbooked(engine: MatchingEngine, held: HeldOrder) -> dict[str, Any]:
    """A ``late_execution`` order still queued, dropped or refused: nothing executed."""
    ticket = held.ticket
    spec = engine.spec(ticket.symbol)
    return {
        "order_id": None,
        "client_order_id": ticket.client_order_id,
        "symbol": ticket.symbol,
        "side": ticket.side,
        "type": ticket.order_type,
        "time_in_force": ticket.time_in_force,
        "reduce_only": ticket.reduce_only,
        "close_position": False,
        "price": spec.format_price(ticket.price) if ticket.price is not None else "0",
        "quantity": spec.format_qty(ticket.qty),
        "executed_quantity": spec.format_qty(Decimal(0)),
        "average_price": fmt(Decimal(0)),
        "status": held.status,
        "received_ms": held.received_ms,
        "booked_ms": None,
        "updated_ms": held.received_ms if held.status == "HELD" else held.due_ms,
        "algo_id": None,
        "rejection": held.rejection,
        **_origin(ticket.origin),
    }


def _fill(engine: MatchingEngine, fill: Fill) -> dict[str, Any]:
    spec = engine.spec(fill.symbol)
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "symbol": fill.symbol,
        "side": fill.side,
        "quantity": spec.format_qty(fill.qty),
        "price": spec.format_price(fill.price),
        "commission": fmt(fill.commission),
        "realized_pnl": fmt(fill.realized_pnl),
        "maker": fill.maker,
        "time_ms": fill.time_ms,
    }


def _algo(engine: MatchingEngine, algo: AlgoOrder) -> dict[str, Any]:
    spec = engine.spec(algo.symbol)
    return {
        "algo_id": algo.algo_id,
        "client_algo_id": algo.client_algo_id,
        "symbol": algo.symbol,
        "side": algo.side,
        "type": algo.order_type,
        "quantity": spec.format_qty(algo.qty),
        "reduce_only": algo.reduce_only,
        "close_position": algo.close_position,
        "trigger_price": spec.format_price(algo.trigger_price),
        "status": algo.status,
        "created_ms": algo.created_ms,
        "updated_ms": algo.updated_ms,
        "triggered_ms": algo.trigger_ms or None,
        "order_id": algo.actual_order_id,
        "api_key": algo.origin.api_key,
        "sender": algo.origin.sender,
    }
