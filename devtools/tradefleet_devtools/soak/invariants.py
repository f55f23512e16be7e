"""The money-safety invariants a soak trial is judged on: pure functions over what it observed.

Called by the soak runner (``tradefleet_devtools.soak.runner``) once per trial, and by the unit
tests with hand-made observations. Each ``check_*`` reads a ``TrialObservation``
(``tradefleet_devtools.soak.evidence``) — the exchange's own ledger, the runtimes' timestamped
logs, the bot's Redis order records, ``/status`` samples, the faults the exchange applied and
what the harness did — and returns ``Violation``s carrying their evidence (ledger excerpts,
log lines, samples). The exchange's ledger is the truth; what the bot says about itself is
only compared with it. Definitions (times in wall-clock ms, one symbol per bot):

**at most one order per decision** — (a) no client order id is booked twice: among the
ledger's regular orders the bot sent (``algo_id`` null: not the market order of a triggered
stop) that were booked, plus its conditional orders, each client id appears once; (b) per
decision id and leg (Redis order records: ``decisionId``, ``leg``) at most one client id was
executed; (c) no entry is executed on top of a position: every executed order that is not
reduce-only has its first fill while the exchange position (the sum of all earlier fills) is
zero — the bot only opens from flat, so a fill onto a position means a second decision was
taken while the first one's outcome was unknown.

**position equals the sum of fills** — the ledger's position equals the signed sum of the
ledger's fills, exactly (decimals); and once the bot has settled, the position in its final
``/status`` and in Redis ``<prefix>:position`` equal that sum (within 1e-9).

**every open position protected within 2 s** — *exposed*: the exchange position (sum of
fills) is non-zero and no live stop on the closing side covers it (a STOP_MARKET algo order
whose status is NEW from ``created_ms`` until it triggers or ends, with ``closePosition`` or
a quantity at least the position). *A runtime can act*: a runtime process holds the lease —
from its ``lease acquired`` log line until it ends or another runtime's ``lease acquired`` —
and is neither hung (SIGSTOP) nor dead, Redis is up (the order protocol records the intent
before anything is sent), and the venue takes stops: not inside an ``unreachable`` window,
and not while a fault applied to ``POST /fapi/v1/algoOrder`` holds that request
(``timeout``: ``hold_seconds``; ``http_429``: its 1 s Retry-After). Nothing else is excused:
not a lost or held reply to the entry, not a fault on the position or order look-ups, not a
runtime still starting up with the lease. Violation: a span during which both hold lasts
more than 2 s (each such span is judged on its own: a gap where no runtime can act starts a
new one). And from the bot's side, for the time no runtime is blamed above: a ``/status``
sample taken while the exchange position is exposed that reports the position with no stop
(``stopKind`` null) for more than 2 s (``unprotectedSeconds``) — a position the runtime
protects with a software stop while the venue refuses stops must say ``software``. (A status
saying "unprotected" while the exchange holds a stop is stale, not unsafe: not counted.)

**no orphan orders** — once the bot has settled, every open order on the exchange (regular
orders NEW or PARTIALLY_FILLED, algo orders NEW) is the bot's (``owns``), is known to the bot
(open in Redis ``<prefix>:orders`` / ``<prefix>:orders:unresolved``, or listed in its final
``/status`` ``openOrders``), is not a resting regular order (the bot sends market orders
only), and, for a stop, closes the final position (on its closing side; no stop while flat).

**no order sent by a fenced runtime** — every order the bot sent (regular orders with
``algo_id`` null, including ones the exchange held and dropped; algo orders) has an ``order
intent recorded`` line in the log of a runtime that held the lease, was sent inside that
runtime's tenure (its ``request_timestamp_ms``, or for an algo order, whose request time the
ledger does not keep, its intent line: between its ``lease acquired`` and the earlier of its
end and the next runtime's ``lease acquired``), and was executed (booked, or created for an
algo order) before any later runtime acquired the lease — a request still in flight when its
runtime was killed may arrive after the kill, which fences nothing; and no runtime logs an
``order intent recorded`` line outside its tenure for an order the exchange refused or never
saw (it was still sent while fenced).

**reported equity matches the exchange account** — once settled, after a balance refresh
that began after the ledger was read, the final ``/status`` ``equity`` equals the ledger's
wallet equity (wallet balance plus unrealised PnL) within 0.01 USDT — less than the fee of
the smallest trade, so a missed fee or fill shows.

**the bot settles once faults clear** — with faults cleared, Redis up, the price frozen and a
runtime running, the bot reaches ``phase: trading`` with ``ordersBlocked`` null and nothing in
flight on the exchange within the harness's bound; the final-state checks above need it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from itertools import groupby
from typing import Any

from tradefleet_runtime.execution.client_order_id import owns

from tradefleet_devtools.soak.books import (
    acting,
    algo_line,
    algo_orders,
    dec,
    exposures,
    fill_line,
    fills_of,
    known_decisions,
    lease_tenures,
    order_line,
    position_at,
    sent_orders,
    signed,
)
from tradefleet_devtools.soak.evidence import Incarnation, Intent, StatusSample, TrialObservation
from tradefleet_devtools.soak.spans import Span, intersect

PROTECTION_DEADLINE_MS = 2_000
EQUITY_TOLERANCE = Decimal("0.01")
POSITION_TOLERANCE = 1e-9
OPEN_REGULAR = frozenset({"NEW", "PARTIALLY_FILLED"})
EVIDENCE_LINES = 12


class Invariant(StrEnum):
    ONE_ORDER_PER_DECISION = "at most one order per decision"
    POSITION_IS_FILLS = "position equals the sum of fills"
    PROTECTED_WITHIN_2S = "every open position protected within 2 s"
    NO_ORPHAN_ORDERS = "no orphan orders"
    NO_ORDER_FROM_FENCED_RUNTIME = "no order sent by a fenced runtime"
    EQUITY_MATCHES = "reported equity matches the exchange account"
    SETTLES = "the bot settles once faults clear"


@dataclass(frozen=True, kw_only=True, slots=True)
class Violation:
    """One broken invariant in one trial, with what shows it."""

    invariant: Invariant
    trial: int
    seed: int
    message: str
    evidence: tuple[str, ...] = ()

    def render(self) -> str:
        lines = [f"[{self.invariant.value}] trial {self.trial} (seed {self.seed}): {self.message}"]
        lines.extend(f"    {line}" for line in self.evidence)
        return "\n".join(lines)


def _violation(
    obs: TrialObservation, *, invariant: Invariant, message: str, evidence: Iterable[str] = ()
) -> Violation:
    return Violation(
        invariant=invariant,
        trial=obs.trial,
        seed=obs.seed,
        message=message,
        evidence=tuple(evidence),
    )


# ------------------------------------------------------------- one order per decision


def check_one_order_per_decision(obs: TrialObservation) -> list[Violation]:
    violations: list[Violation] = []
    booked: dict[str, list[str]] = defaultdict(list)
    for order in sent_orders(obs):
        if order.get("order_id") is not None:
            booked[order["client_order_id"]].append(order_line(order))
    for algo in algo_orders(obs):
        booked[algo["client_algo_id"]].append(algo_line(algo))
    for cid, lines in booked.items():
        if len(lines) > 1:
            violations.append(
                _violation(
                    obs,
                    invariant=Invariant.ONE_ORDER_PER_DECISION,
                    message=f"client order id {cid} booked {len(lines)} times",
                    evidence=lines,
                )
            )
    violations.extend(_repeated_decision_legs(obs))
    violations.extend(_entries_onto_a_position(obs))
    return violations


def _repeated_decision_legs(obs: TrialObservation) -> list[Violation]:
    decisions = known_decisions(obs)
    executed: dict[tuple[str, str], set[str]] = defaultdict(set)
    for order in sent_orders(obs):
        cid = order["client_order_id"]
        if dec(order["executed_quantity"]) > 0 and cid in decisions:
            executed[decisions[cid]].add(cid)
    for algo in algo_orders(obs):
        cid = algo["client_algo_id"]
        if cid in decisions:
            executed[decisions[cid]].add(cid)
    return [
        _violation(
            obs,
            invariant=Invariant.ONE_ORDER_PER_DECISION,
            message=f"decision {decision} leg {leg} executed under {len(cids)} client ids",
            evidence=sorted(cids),
        )
        for (decision, leg), cids in executed.items()
        if len(cids) > 1
    ]


def _entries_onto_a_position(obs: TrialObservation) -> list[Violation]:
    entries = {
        o["order_id"]: o
        for o in sent_orders(obs)
        if o.get("order_id") is not None and not o["reduce_only"]
    }
    seen: set[int] = set()
    position = Decimal(0)
    violations: list[Violation] = []
    recent: list[str] = []
    for fill in fills_of(obs):
        order_id = fill["order_id"]
        if order_id in entries and order_id not in seen and position != 0:
            order = entries[order_id]
            violations.append(
                _violation(
                    obs,
                    invariant=Invariant.ONE_ORDER_PER_DECISION,
                    message=f"entry {order['client_order_id']} executed onto an open position of "
                    f"{position} (a second decision taken while the first one's outcome "
                    "was not known)",
                    evidence=[order_line(order), *recent[-4:], fill_line(fill)],
                )
            )
        seen.add(order_id)
        position += signed(fill)
        recent.append(fill_line(fill))
    return violations


# ------------------------------------------------------------- position equals fills


def check_position_is_fills(obs: TrialObservation) -> list[Violation]:
    fills = fills_of(obs)
    total = sum((signed(f) for f in fills), Decimal(0))
    violations: list[Violation] = []
    booked = (obs.ledger.get("positions") or {}).get(obs.symbol)
    amount = dec(booked["amount"]) if booked else Decimal(0)
    if amount != total:
        violations.append(
            _violation(
                obs,
                invariant=Invariant.POSITION_IS_FILLS,
                message=f"the exchange books a position of {amount}, its fills sum to {total}",
                evidence=[fill_line(f) for f in fills[-EVIDENCE_LINES:]],
            )
        )
    final = obs.final
    if not final.settled:
        return violations
    status = final.status or {}
    reported = _signed_position(status.get("position"))
    if reported is None or abs(reported - float(total)) > POSITION_TOLERANCE:
        violations.append(
            _violation(
                obs,
                invariant=Invariant.POSITION_IS_FILLS,
                message=f"the bot reports a position of {reported}, the exchange's fills sum to {total}",
                evidence=[f"/status position {status.get('position')}"]
                + [fill_line(f) for f in fills[-EVIDENCE_LINES:]],
            )
        )
    stored = _signed_position(final.redis_position)
    if stored is None or abs(stored - float(total)) > POSITION_TOLERANCE:
        violations.append(
            _violation(
                obs,
                invariant=Invariant.POSITION_IS_FILLS,
                message=f"Redis holds a position of {stored}, the exchange's fills sum to {total}",
                evidence=[f"redis position {final.redis_position}"]
                + [fill_line(f) for f in fills[-EVIDENCE_LINES:]],
            )
        )
    return violations


def _signed_position(position: Mapping[str, Any] | None) -> float | None:
    if not position:
        return None
    sign = {"long": 1.0, "short": -1.0, "flat": 0.0}.get(str(position.get("side")))
    if sign is None:
        return None
    return sign * float(position.get("size") or 0.0)


# ------------------------------------------------------------------------ protection


def check_protected_within_2s(obs: TrialObservation) -> list[Violation]:
    violations: list[Violation] = []
    flagged: list[Span] = []
    fills = fills_of(obs)
    stops = algo_orders(obs)
    could_act = acting(obs)
    for exposure in exposures(obs):
        for piece in intersect([exposure], second=could_act):
            if piece.length_ms <= PROTECTION_DEADLINE_MS:
                continue
            flagged.append(piece)
            violations.append(
                _violation(
                    obs,
                    invariant=Invariant.PROTECTED_WITHIN_2S,
                    message=f"position {position_at(fills, at_ms=piece.start_ms)} without a stop on the "
                    f"exchange for {piece.length_ms / 1000:.2f}s while a runtime could act "
                    f"({piece.start_ms}..{piece.end_ms}; exposed {exposure.start_ms}.."
                    f"{exposure.end_ms})",
                    evidence=_protection_evidence(obs, piece=piece, fills=fills, stops=stops),
                )
            )
    exposed = exposures(obs)
    violations.extend(_self_reported_unprotected(obs, exposed=exposed, flagged=flagged))
    return violations


def _protection_evidence(
    obs: TrialObservation,
    *,
    piece: Span,
    fills: Sequence[Mapping[str, Any]],
    stops: Sequence[Mapping[str, Any]],
) -> list[str]:
    window = Span(start_ms=piece.start_ms - 3_000, end_ms=piece.end_ms + 1_000)
    lines = [fill_line(f) for f in fills if window.contains(int(f["time_ms"]))][-4:]
    lines += [algo_line(a) for a in stops if window.contains(int(a["created_ms"]))][-3:]
    lines += [
        f"fault {h.kind} {h.method} {h.path} at {h.at_ms}"
        for h in obs.fault_hits
        if window.contains(h.at_ms)
    ][-3:]
    lines += [
        f"harness {a.kind} at {a.at_ms} {a.detail}".rstrip()
        for a in obs.actions
        if window.contains(a.at_ms)
    ][-3:]
    for inc in obs.incarnations:
        logged = [
            f"{inc.name} log {line.text[:220]}"
            for line in inc.log
            if window.contains(line.at_ms) and _notable(line.text)
        ]
        lines += logged[-6:]
    samples = [s for s in obs.samples if piece.contains(s.at_ms)]
    lines += [_sample_line(s) for s in samples[:: max(1, len(samples) // 3)][:3]]
    return lines


def _notable(text: str) -> bool:
    quiet = ("HTTP Request", "GET /", "uvicorn")
    return " INFO " not in text or not any(q in text for q in quiet)


def _self_reported_unprotected(
    obs: TrialObservation, *, exposed: Sequence[Span], flagged: Sequence[Span]
) -> list[Violation]:
    """Samples taken while the exchange position was exposed in which the runtime itself
    reports it unprotected for over 2 s: one violation per run of such samples, unless the
    exchange-side check already flagged that time."""
    violations: list[Violation] = []
    ordered = sorted(obs.samples, key=lambda s: (s.incarnation, s.at_ms))
    for _, samples in groupby(ordered, key=lambda s: s.incarnation):
        run: list[StatusSample] = []
        for sample in [*samples, None]:
            if sample is not None and _reports_unprotected(
                sample, exposed=exposed, flagged=flagged
            ):
                run.append(sample)
                continue
            if run:
                violations.append(
                    _violation(
                        obs,
                        invariant=Invariant.PROTECTED_WITHIN_2S,
                        message=f"{run[0].incarnation} reports its position without an exchange or a "
                        f"software stop for over 2 s ({len(run)} status sample(s), up to "
                        f"{max(s.unprotected_s for s in run):.2f}s)",
                        evidence=[_sample_line(s) for s in (run[0], run[-1])],
                    )
                )
            run = []
    return violations


def _reports_unprotected(
    sample: StatusSample, *, exposed: Sequence[Span], flagged: Sequence[Span]
) -> bool:
    return (
        sample.position != 0
        and sample.stop_kind is None
        and sample.unprotected_s * 1000 > PROTECTION_DEADLINE_MS
        and any(span.contains(sample.at_ms) for span in exposed)
        and not any(span.contains(sample.at_ms) for span in flagged)
    )


def _sample_line(sample: StatusSample) -> str:
    return (
        f"/status {sample.incarnation} at {sample.at_ms}: phase {sample.phase} position "
        f"{sample.position} stopKind {sample.stop_kind} unprotected {sample.unprotected_s}s "
        f"blocked {sample.orders_blocked}"
    )


# ---------------------------------------------------------------------------- orphans


def check_no_orphan_orders(obs: TrialObservation) -> list[Violation]:
    final = obs.final
    if not final.settled:
        return []
    position = sum((signed(f) for f in fills_of(obs)), Decimal(0))
    listed = set((final.status or {}).get("openOrders") or ())
    known = set(obs.redis_unresolved) | listed
    known |= {cid for cid, r in obs.redis_orders.items() if r.get("state") == "open"}
    violations: list[Violation] = []
    resting = [o for o in sent_orders(obs) if o["status"] in OPEN_REGULAR]
    for order in resting:
        cid = order["client_order_id"]
        reasons = _orphan_reasons(obs, cid=cid, known=known)
        reasons.append("a regular order still open after the bot settled (it sends market orders)")
        violations.append(_orphan(obs, cid=cid, reasons=reasons, line=order_line(order)))
    for algo in algo_orders(obs):
        if algo["status"] != "NEW":
            continue
        cid = algo["client_algo_id"]
        reasons = _orphan_reasons(obs, cid=cid, known=known)
        closing = "SELL" if position > 0 else "BUY"
        if position == 0:
            reasons.append("a stop left while the position is flat")
        elif algo["side"] != closing:
            reasons.append(f"a {algo['side']} stop on a {position} position (wrong side)")
        if reasons:
            violations.append(_orphan(obs, cid=cid, reasons=reasons, line=algo_line(algo)))
    return violations


def _orphan_reasons(obs: TrialObservation, *, cid: str, known: set[str]) -> list[str]:
    reasons: list[str] = []
    if not owns(exchange=obs.exchange_id, bot_name=obs.bot_name, client_order_id=cid):
        reasons.append("not recognisable as the bot's (owns() is false)")
    if cid not in known:
        reasons.append("the bot does not track it (not open in Redis, not in /status openOrders)")
    return reasons


def _orphan(obs: TrialObservation, *, cid: str, reasons: list[str], line: str) -> Violation:
    return _violation(
        obs,
        invariant=Invariant.NO_ORPHAN_ORDERS,
        message=f"open order {cid}: {'; '.join(reasons)}",
        evidence=[line, f"redis record {dict(obs.redis_orders.get(cid) or {})}"],
    )


# ---------------------------------------------------------------------------- fencing


def check_no_order_from_fenced_runtime(obs: TrialObservation) -> list[Violation]:
    tenures = lease_tenures(obs)
    acquisitions = sorted(t.start_ms for t in tenures.values())
    intents: dict[str, list[Intent]] = defaultdict(list)
    for intent in obs.intents():
        intents[intent.client_order_id].append(intent)
    by_name = {inc.name: inc for inc in obs.incarnations}
    violations: list[Violation] = []
    # (client id, when it was sent — None: when its intent was logged —, when the exchange
    # executed it, its ledger line). The ledger keeps a regular order's request timestamp,
    # signed with the runtime's idea of the exchange's clock (turned back into the runtime's
    # clock here); for an algo order only its creation, which may come after its runtime died.
    sent: list[tuple[str, int | None, int | None, str]] = [
        (
            o["client_order_id"],
            _sent_at(o, intents=intents.get(o["client_order_id"], []), by_name=by_name),
            o.get("booked_ms"),
            order_line(o),
        )
        for o in sent_orders(obs)
    ]
    sent += [
        (a["client_algo_id"], None, int(a["created_ms"]), algo_line(a)) for a in algo_orders(obs)
    ]
    for cid, sent_ms, executed_ms, line in sent:
        problem = _fencing_problem(
            cid=cid,
            sent_ms=sent_ms,
            executed_ms=executed_ms,
            intents=intents.get(cid, []),
            tenures=tenures,
            acquisitions=acquisitions,
        )
        if problem is None:
            continue
        logged = [
            f"{i.incarnation} log at {i.at_ms}: order intent recorded: {i.leg} {i.side} "
            f"{i.amount} {i.client_order_id}"
            for i in intents.get(cid, [])
        ]
        violations.append(
            _violation(
                obs,
                invariant=Invariant.NO_ORDER_FROM_FENCED_RUNTIME,
                message=problem,
                evidence=[line, *logged, *_tenure_lines(tenures, by_name=by_name)],
            )
        )
    booked = {cid for cid, *_ in sent}
    violations.extend(_attempts_outside_tenure(obs, tenures=tenures, booked=booked))
    return violations


def _sent_at(
    order: Mapping[str, Any], *, intents: Sequence[Intent], by_name: Mapping[str, Incarnation]
) -> int:
    """When a regular order left its runtime, on the runtime's clock: its request timestamp
    plus the clock correction the runtime that logged its first intent signed with, the last
    one it logged before the exchange received the request (the order's own first attempt
    may have been refused for its timestamp, and the retry signed with the new correction;
    runtime and exchange share this machine's clock). Never after the exchange received it: a
    runtime that rebuilt its exchange connection signs with its own clock again without saying
    so, and the correction it logged last no longer applies."""
    received = int(order["received_ms"])
    stamped = order.get("request_timestamp_ms")
    if not stamped:
        return received
    first = min(intents, key=lambda i: i.at_ms, default=None)
    runtime = by_name.get(first.incarnation) if first is not None else None
    correction = runtime.clock_difference_at(received) if runtime else 0
    return min(received, int(stamped) + correction)


def _attempts_outside_tenure(
    obs: TrialObservation, *, tenures: Mapping[str, Span], booked: set[str]
) -> list[Violation]:
    """Intent lines logged outside the runtime's tenure whose order the ledger does not show
    (the exchange refused it, or it never arrived): sent, or about to be, while fenced."""
    by_name = {inc.name: inc for inc in obs.incarnations}
    violations: list[Violation] = []
    for intent in obs.intents():
        tenure = tenures.get(intent.incarnation)
        if intent.client_order_id in booked:
            continue
        if tenure is not None and tenure.start_ms <= intent.at_ms <= tenure.end_ms:
            continue
        violations.append(
            _violation(
                obs,
                invariant=Invariant.NO_ORDER_FROM_FENCED_RUNTIME,
                message=f"{intent.incarnation} recorded the intent of {intent.client_order_id} at "
                f"{intent.at_ms}, outside its lease tenure, and sent it "
                "(the exchange did not book it)",
                evidence=[
                    f"{intent.incarnation} log at {intent.at_ms}: order intent recorded: "
                    f"{intent.leg} {intent.side} {intent.amount} {intent.client_order_id}",
                    *_tenure_lines(tenures, by_name=by_name),
                ],
            )
        )
    return violations


def _fencing_problem(
    *,
    cid: str,
    sent_ms: int | None,
    executed_ms: int | None,
    intents: Sequence[Intent],
    tenures: Mapping[str, Span],
    acquisitions: Sequence[int],
) -> str | None:
    if not intents:
        return f"{cid} was sent without an 'order intent recorded' line in any runtime's log"
    problems: list[str] = []
    for intent in intents:
        tenure = tenures.get(intent.incarnation)
        if tenure is None:
            problems.append(f"{cid} was sent by {intent.incarnation}, which never held the lease")
            continue
        sent = intent.at_ms if sent_ms is None else sent_ms
        if not tenure.start_ms <= sent <= tenure.end_ms:
            problems.append(
                f"{cid} was sent at {sent} by {intent.incarnation} outside its lease tenure "
                f"{tenure.start_ms}..{tenure.end_ms}"
            )
            continue
        successor = next((a for a in acquisitions if a > tenure.start_ms), None)
        if successor is not None and executed_ms is not None and int(executed_ms) >= successor:
            problems.append(
                f"{cid} of {intent.incarnation} was executed at {executed_ms}, after the next "
                f"runtime acquired the lease at {successor}"
            )
            continue
        return None
    return "; ".join(problems)


def _tenure_lines(tenures: Mapping[str, Span], *, by_name: Mapping[str, Incarnation]) -> list[str]:
    return [
        f"tenure {name}: {span.start_ms}..{span.end_ms} (ended {by_name[name].end_cause})"
        for name, span in sorted(tenures.items(), key=lambda item: item[1].start_ms)
    ]


# ----------------------------------------------------------------------------- equity


def check_equity_matches(obs: TrialObservation) -> list[Violation]:
    final = obs.final
    if not final.settled:
        return []
    wallet = obs.ledger.get("wallet") or {}
    ledger_equity = dec(wallet.get("equity"))
    reported = (final.status or {}).get("equity")
    evidence = [f"ledger wallet {dict(wallet)}", f"/status equity {reported}"]
    if reported is None:
        return [
            _violation(
                obs,
                invariant=Invariant.EQUITY_MATCHES,
                message="the bot reports no equity",
                evidence=evidence,
            )
        ]
    difference = abs(Decimal(str(reported)) - ledger_equity)
    if difference > EQUITY_TOLERANCE:
        return [
            _violation(
                obs,
                invariant=Invariant.EQUITY_MATCHES,
                message=f"the bot reports equity {reported}, the exchange account {ledger_equity} "
                f"(off by {difference})",
                evidence=evidence,
            )
        ]
    return []


# ---------------------------------------------------------------------------- settling


def check_settles(obs: TrialObservation) -> list[Violation]:
    if obs.final.settled:
        return []
    return [_violation(obs, invariant=Invariant.SETTLES, message=obs.final.note)]


CHECKS: tuple[Callable[[TrialObservation], list[Violation]], ...] = (
    check_one_order_per_decision,
    check_position_is_fills,
    check_protected_within_2s,
    check_no_orphan_orders,
    check_no_order_from_fenced_runtime,
    check_equity_matches,
    check_settles,
)


def check_all(obs: TrialObservation) -> list[Violation]:
    """Every invariant of one trial."""
    return [violation for check in CHECKS for violation in check(obs)]
