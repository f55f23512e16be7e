"""What one soak trial observed: the inputs of the invariant checks, and how logs are read.

The trial runner (``tradefleet_devtools.soak.trial``) fills a ``TrialObservation`` from the
exchange's own ledger (``GET /_admin/ledger``), each runtime process's log, the bot's Redis
keys, ``/status`` samples, the faults the exchange applied and what the harness itself did
(kills, hangs, Redis crashes); ``tradefleet_devtools.soak.invariants`` judges it and the unit
tests build it by hand. Everything here is plain data and pure parsing; times are wall-clock
milliseconds on the one machine everything runs on (the exchange's ``*_ms`` fields, the
runtime's log timestamps and the harness's own clock agree).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tradefleet_devtools.soak.spans import Span

# The runtime logs with "%(asctime)s %(levelname)s %(name)s %(message)s" (local time, ms).
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")
INTENT_LINE = re.compile(r"order intent recorded: (\S+) (\S+) (\S+) (\S+)")
LEASE_LINE = re.compile(r"lease acquired: fencing token (\d+)")
# The venue's clock correction: from then on requests are signed with the exchange's clock,
# ``difference`` ms behind the runtime's (negative: ahead).
CLOCK_LINE = re.compile(r"its clock is (-?\d+) ms behind ours; signing with its time")
LEASE_LOST_TEXT = "lease lost"


@dataclass(frozen=True, kw_only=True, slots=True)
class LogLine:
    """One log record of a runtime (continuation lines, e.g. a traceback, are folded in)."""

    at_ms: int
    text: str


def parse_log(text: str) -> tuple[LogLine, ...]:
    """The records of a runtime log, each with its timestamp in epoch milliseconds."""
    lines: list[LogLine] = []
    for raw in text.splitlines():
        match = _LOG_TIME.match(raw)
        if match is None:
            if lines:
                last = lines[-1]
                lines[-1] = LogLine(at_ms=last.at_ms, text=f"{last.text}\n{raw}")
            continue
        stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
        lines.append(LogLine(at_ms=int(stamp) * 1000 + int(match.group(2)), text=raw))
    return tuple(lines)


@dataclass(frozen=True, kw_only=True, slots=True)
class Intent:
    """An ``order intent recorded`` line: the runtime is about to send this order."""

    at_ms: int
    leg: str
    side: str
    amount: str
    client_order_id: str
    incarnation: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Incarnation:
    """One runtime process of the bot, from its start to its end.

    ``slot`` is ``primary`` (the bot's pod: restarted whenever it ends) or ``second`` (a
    second runtime started for the same bot, never restarted). ``ended_ms`` is when it was
    killed or seen to have exited (``None``: still running when the trial ended);
    ``hung`` are the spans it was stopped with SIGSTOP.
    """

    name: str
    slot: str
    started_ms: int
    ended_ms: int | None
    end_cause: str
    hung: tuple[Span, ...] = ()
    log: tuple[LogLine, ...] = ()

    @property
    def lease_acquired_ms(self) -> int | None:
        for line in self.log:
            if LEASE_LINE.search(line.text):
                return line.at_ms
        return None

    def clock_difference_at(self, at_ms: int) -> int:
        """How far behind the runtime's clock it signed requests at ``at_ms`` (its last clock
        correction before then; 0 before any)."""
        difference = 0
        for line in self.log:
            if line.at_ms > at_ms:
                break
            match = CLOCK_LINE.search(line.text)
            if match:
                difference = int(match.group(1))
        return difference

    @property
    def fencing_token(self) -> int | None:
        for line in self.log:
            match = LEASE_LINE.search(line.text)
            if match:
                return int(match.group(1))
        return None

    def end_or(self, default_ms: int) -> int:
        return self.ended_ms if self.ended_ms is not None else default_ms

    def intents(self) -> tuple[Intent, ...]:
        found: list[Intent] = []
        for line in self.log:
            match = INTENT_LINE.search(line.text)
            if match:
                leg, side, amount, client_id = match.groups()
                found.append(
                    Intent(
                        at_ms=line.at_ms,
                        leg=leg,
                        side=side,
                        amount=amount,
                        client_order_id=client_id,
                        incarnation=self.name,
                    )
                )
        return tuple(found)


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusSample:
    """The parts of one runtime's ``/status`` the checks read."""

    at_ms: int
    incarnation: str
    phase: str
    position: float
    stop_kind: str | None
    unprotected_s: float
    orders_blocked: str | None
    equity: float | None
    lease_token: int | None
    open_orders: tuple[str, ...] = ()

    @classmethod
    def from_status(
        cls, *, at_ms: int, incarnation: str, status: Mapping[str, Any]
    ) -> StatusSample:
        position = status.get("position") or {}
        sign = {"long": 1.0, "short": -1.0}.get(str(position.get("side")), 0.0)
        protection = status.get("protection") or {}
        lease = status.get("lease") or {}
        equity = status.get("equity")
        return cls(
            at_ms=at_ms,
            incarnation=incarnation,
            phase=str(status.get("phase")),
            position=sign * float(position.get("size") or 0.0),
            stop_kind=protection.get("stopKind"),
            unprotected_s=float(protection.get("unprotectedSeconds") or 0.0),
            orders_blocked=status.get("ordersBlocked"),
            equity=float(equity) if equity is not None else None,
            lease_token=lease.get("token"),
            open_orders=tuple(status.get("openOrders") or ()),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class FaultHit:
    """A fault rule the exchange applied to one API request (``hold_s``: the rule's
    ``hold_seconds``, how long a held reply or an ``unreachable`` window lasts)."""

    at_ms: int
    kind: str
    method: str
    path: str
    hold_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class HarnessAction:
    """Something the harness did to the bot's world: ``kind`` is one of the keys the summary
    counts (``runtime_kill``, ``runtime_hang``, ``second_runtime``, ``redis_kill``…)."""

    at_ms: int
    kind: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class FinalState:
    """The bot at rest after the trial: faults cleared, the price frozen, nothing in flight.

    ``status`` is the lease holder's ``/status`` after a balance refresh that began after the
    exchange's ledger was read (``None`` when the bot never settled); the observation's
    ledger is read right after it. ``redis_position`` is ``<prefix>:position`` then.
    """

    settled: bool
    note: str
    status: Mapping[str, Any] | None
    redis_position: Mapping[str, Any] | None


@dataclass(frozen=True, kw_only=True, slots=True)
class TrialObservation:
    """Everything the invariants of one trial are judged on."""

    trial: int
    seed: int
    bot_name: str
    exchange_id: str
    symbol: str
    started_ms: int
    ended_ms: int
    ledger: Mapping[str, Any]
    redis_orders: Mapping[str, Mapping[str, Any]]
    redis_unresolved: frozenset[str]
    incarnations: tuple[Incarnation, ...]
    samples: tuple[StatusSample, ...]
    fault_hits: tuple[FaultHit, ...]
    faults_cleared_ms: int | None
    redis_down: tuple[Span, ...]
    final: FinalState
    actions: tuple[HarnessAction, ...] = field(default=())

    def intents(self) -> tuple[Intent, ...]:
        return tuple(i for inc in self.incarnations for i in inc.intents())


def observation_from_json(raw: Mapping[str, Any]) -> TrialObservation:
    """A ``TrialObservation`` from the ``observation`` the runner saves next to a trial's logs
    (``observation.json``), to judge a finished trial again."""
    incarnations = tuple(
        Incarnation(
            name=i["name"],
            slot=i["slot"],
            started_ms=i["started_ms"],
            ended_ms=i["ended_ms"],
            end_cause=i["end_cause"],
            hung=tuple(Span(**span) for span in i["hung"]),
            log=tuple(LogLine(**line) for line in i["log"]),
        )
        for i in raw["incarnations"]
    )
    return TrialObservation(
        trial=raw["trial"],
        seed=raw["seed"],
        bot_name=raw["bot_name"],
        exchange_id=raw["exchange_id"],
        symbol=raw["symbol"],
        started_ms=raw["started_ms"],
        ended_ms=raw["ended_ms"],
        ledger=raw["ledger"],
        redis_orders=raw["redis_orders"],
        redis_unresolved=frozenset(raw["redis_unresolved"]),
        incarnations=incarnations,
        samples=tuple(
            StatusSample(**{**sample, "open_orders": tuple(sample["open_orders"])})
            for sample in raw["samples"]
        ),
        fault_hits=tuple(FaultHit(**hit) for hit in raw["fault_hits"]),
        faults_cleared_ms=raw["faults_cleared_ms"],
        redis_down=tuple(Span(**span) for span in raw["redis_down"]),
        final=FinalState(**raw["final"]),
        actions=tuple(HarnessAction(**action) for action in raw["actions"]),
    )
