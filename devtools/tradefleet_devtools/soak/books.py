"""The exchange's ledger and the trial's timeline as the soak's invariant checks read them.

Pure helpers of ``tradefleet_devtools.soak.invariants`` (see its docstring for what the
invariants mean): the bot's orders, stops and fills in a ledger, one-line renderings of them
for evidence, when the exchange position was exposed (non-zero with no stop covering it), each
runtime's lease tenure, and when a runtime could act on the position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from tradefleet_devtools.soak.evidence import TrialObservation
from tradefleet_devtools.soak.plan import ALGO_PATH
from tradefleet_devtools.soak.spans import Span, Spans, subtract, union

RETRY_AFTER_MS = 1_000
STOP_TYPES = frozenset({"STOP_MARKET", "STOP"})


def dec(value: object) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def signed(fill: Mapping[str, Any]) -> Decimal:
    qty = dec(fill["quantity"])
    return qty if fill["side"] == "BUY" else -qty


def fills_of(obs: TrialObservation) -> list[Mapping[str, Any]]:
    fills = [f for f in obs.ledger.get("fills", []) if f["symbol"] == obs.symbol]
    return sorted(fills, key=lambda f: int(f["trade_id"]))


def sent_orders(obs: TrialObservation) -> list[Mapping[str, Any]]:
    """Regular orders a client sent (not the market order of a triggered stop)."""
    return [
        o
        for o in obs.ledger.get("orders", [])
        if o["symbol"] == obs.symbol and o.get("algo_id") is None
    ]


def algo_orders(obs: TrialObservation) -> list[Mapping[str, Any]]:
    return [a for a in obs.ledger.get("algo_orders", []) if a["symbol"] == obs.symbol]


def order_line(order: Mapping[str, Any]) -> str:
    return (
        f"ledger order {order['client_order_id']} {order['side']} {order['type']} "
        f"qty {order['quantity']} executed {order['executed_quantity']} {order['status']} "
        f"reduce_only={order['reduce_only']} request_ts {order.get('request_timestamp_ms')} "
        f"received {order['received_ms']} booked {order.get('booked_ms')}"
    )


def algo_line(algo: Mapping[str, Any]) -> str:
    return (
        f"ledger algo {algo['client_algo_id']} {algo['side']} {algo['type']} "
        f"closePosition={algo['close_position']} qty {algo['quantity']} trigger "
        f"{algo['trigger_price']} {algo['status']} created {algo['created_ms']} updated "
        f"{algo['updated_ms']} triggered {algo.get('triggered_ms')}"
    )


def fill_line(fill: Mapping[str, Any]) -> str:
    return (
        f"ledger fill {fill['trade_id']} {fill['client_order_id']} {fill['side']} "
        f"{fill['quantity']} @ {fill['price']} at {fill['time_ms']}"
    )


def position_at(fills: Sequence[Mapping[str, Any]], *, at_ms: int) -> Decimal:
    return sum((signed(f) for f in fills if int(f["time_ms"]) <= at_ms), Decimal(0))


def known_decisions(obs: TrialObservation) -> dict[str, tuple[str, str]]:
    """client order id → (decision id, leg) from the bot's Redis order records."""
    return {
        cid: (str(record.get("decisionId")), str(record.get("leg")))
        for cid, record in obs.redis_orders.items()
    }


def exposures(obs: TrialObservation) -> Spans:
    """When the exchange position was non-zero with no live stop covering it."""
    fills = fills_of(obs)
    stops = [a for a in algo_orders(obs) if a["type"] in STOP_TYPES]
    end = obs.ended_ms
    points = {int(f["time_ms"]) for f in fills}
    for stop in stops:
        points.add(int(stop["created_ms"]))
        points.add(stop_end(stop, default_ms=end))
    ordered = sorted(p for p in points if p < end)
    spans: list[Span] = []
    for index, at in enumerate(ordered):
        following = ordered[index + 1] if index + 1 < len(ordered) else end
        position = position_at(fills, at_ms=at)
        if position != 0 and not any(
            covers(s, position=position, at_ms=at, end_ms=end) for s in stops
        ):
            spans.append(Span(start_ms=at, end_ms=following))
    return union(spans)


def stop_end(stop: Mapping[str, Any], *, default_ms: int) -> int:
    if stop["status"] == "NEW":
        return default_ms
    return int(stop.get("triggered_ms") or stop["updated_ms"])


def covers(stop: Mapping[str, Any], *, position: Decimal, at_ms: int, end_ms: int) -> bool:
    live = int(stop["created_ms"]) <= at_ms < stop_end(stop, default_ms=end_ms)
    closing = "SELL" if position > 0 else "BUY"
    enough = bool(stop["close_position"]) or dec(stop["quantity"]) >= abs(position)
    return live and stop["side"] == closing and enough


def lease_tenures(obs: TrialObservation) -> dict[str, Span]:
    """Each runtime's tenure: from its ``lease acquired`` to the earlier of its end and the
    next runtime's ``lease acquired``."""
    acquired = sorted(
        (inc.lease_acquired_ms, inc.name)
        for inc in obs.incarnations
        if inc.lease_acquired_ms is not None
    )
    by_name = {inc.name: inc for inc in obs.incarnations}
    tenures: dict[str, Span] = {}
    for index, (start, name) in enumerate(acquired):
        successor = acquired[index + 1][0] if index + 1 < len(acquired) else None
        end = by_name[name].end_or(obs.ended_ms)
        if successor is not None:
            end = min(end, successor)
        tenures[name] = Span(start_ms=start, end_ms=max(start, end))
    return tenures


def venue_refuses_stops(obs: TrialObservation) -> Spans:
    """When the exchange took no stop: ``unreachable`` windows, and faults holding a stop
    request (``timeout``) or asking the client to wait (``http_429``)."""
    cleared = obs.faults_cleared_ms if obs.faults_cleared_ms is not None else obs.ended_ms
    spans: list[Span] = []
    for hit in obs.fault_hits:
        if hit.kind == "unreachable":
            end = min(hit.at_ms + round(hit.hold_s * 1000), cleared)
            spans.append(Span(start_ms=hit.at_ms, end_ms=max(hit.at_ms, end)))
        elif hit.path == ALGO_PATH and hit.method == "POST":
            if hit.kind == "timeout":
                spans.append(Span(start_ms=hit.at_ms, end_ms=hit.at_ms + round(hit.hold_s * 1000)))
            elif hit.kind == "http_429":
                spans.append(Span(start_ms=hit.at_ms, end_ms=hit.at_ms + RETRY_AFTER_MS))
    return union(spans)


def acting(obs: TrialObservation) -> Spans:
    """When a runtime could act on the bot's position (see the module docstring)."""
    by_name = {inc.name: inc for inc in obs.incarnations}
    holders = [
        subtract([tenure], cut=by_name[name].hung) for name, tenure in lease_tenures(obs).items()
    ]
    able = union(span for spans in holders for span in spans)
    return subtract(subtract(able, cut=obs.redis_down), cut=venue_refuses_stops(obs))
