"""What a bot's notifications say, and when: transitions of its status, messages, rate limiting.

Pure. The notifier (:mod:`tradefleet_operator.notify`) calls :func:`observed_state` on the status
each reconcile pass writes and :func:`transitions` against the state last notified (kept in
``status.notifications.notified``, so an operator restart never sends a transition twice), then
builds each target's request body with :func:`request_body` and spaces its sends with
:func:`free_slots`, :func:`next_slot_s` and :func:`coalesce`.

Fills are what the operator sees of them: a change of ``status.position`` (side, size, entry
price) between two polls of the runtime; several fills between two polls are one notification.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tradefleet_operator.spec import NotificationEvent, NotificationType

# The label that marks a Secret as one the operator may read for a bot's notifications.
LABEL_NOTIFICATIONS: Final = "tradefleet.io/notifications"
# At most this many messages per bot and target in any RATE_WINDOW_S; what is over is held and
# sent as one summary once the window allows.
RATE_LIMIT: Final = 5
RATE_WINDOW_S: Final = 60.0
# Waits between the attempts of one message (on HTTP 5xx or 429, a timeout, a refused connection).
RETRY_DELAYS_S: Final = (1.0, 2.0, 4.0)
# Longest text sent (Telegram refuses more than 4096 characters).
MAX_TEXT: Final = 3500
# Kill switch states (status.control.killSwitch.state) in which the bot is halted.
_KILL_HALTED: Final = frozenset({"Halted", "FlattenFailed", "ScaledDown"})
_E = NotificationEvent
# How a closed breaker and a bot not halted are stored in status.notifications.notified.
_CLOSED: Final = "Closed"
_NOT_HALTED: Final = "NotHalted"


@dataclass(frozen=True, kw_only=True, slots=True)
class BotRef:
    namespace: str
    name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Snapshot:
    """The state of a bot that notifications are transitions of (``status.notifications.notified``)."""

    breaker: str = ""  # the open breaker's reason; "" when closed
    halt: str = ""  # KillSwitch, or the runtime's halt reason; "" when not halted
    degraded: bool = False
    rollback_at: str = ""  # time of the last rollback
    position: str = ""  # "long 0.003 @ 50000", "flat"; "" while never read

    def to_status(self) -> dict[str, Any]:
        """As stored: no empty strings (the apiserver stores them as null, which the schema
        refuses); rollbackAt and position, once known, are never unset again."""
        stored: dict[str, Any] = {
            "breaker": self.breaker or _CLOSED,
            "halt": self.halt or _NOT_HALTED,
            "degraded": self.degraded,
        }
        if self.rollback_at:
            stored["rollbackAt"] = self.rollback_at
        if self.position:
            stored["position"] = self.position
        return stored

    @staticmethod
    def from_status(stored: object) -> Snapshot | None:
        """The snapshot stored in a status, None when there is none (nothing notified yet)."""
        if not isinstance(stored, Mapping):
            return None
        breaker, halt = str(stored.get("breaker") or ""), str(stored.get("halt") or "")
        return Snapshot(
            breaker="" if breaker == _CLOSED else breaker,
            halt="" if halt == _NOT_HALTED else halt,
            degraded=stored.get("degraded") is True,
            rollback_at=str(stored.get("rollbackAt") or ""),
            position=str(stored.get("position") or ""),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Notice:
    """One transition to notify: ``events`` are the filters it matches."""

    kind: (
        str  # breakerTripped, breakerReset, halted, resumed, degraded, recovered, rolledBack, fill
    )
    events: frozenset[NotificationEvent]
    title: str
    detail: str = ""
    at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "categories": sorted(str(e) for e in self.events),
            "title": self.title,
            "detail": self.detail,
            "at": self.at,
        }


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    found = next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)
    return found if isinstance(found, Mapping) else {}


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def position_text(position: object) -> str:
    """A position as one comparable string: ``long 0.003 @ 50000``, or ``flat``."""
    if not isinstance(position, Mapping):
        return ""
    side, size = str(position.get("side") or "flat"), _number(position.get("size"))
    if side == "flat" or size == 0:
        return "flat"
    return f"{side} {size:g} @ {_number(position.get('entryPrice')):g}"


def _halt(status: Mapping[str, Any], previous: Snapshot | None) -> str:
    control = status.get("control") or {}
    kill = (control.get("killSwitch") or {}).get("state") if isinstance(control, Mapping) else None
    runtime = status.get("runtime")
    if kill in _KILL_HALTED:
        return "KillSwitch"
    if not isinstance(runtime, Mapping):
        # Not read this pass (the runtime did not answer): as last notified.
        return previous.halt if previous is not None and previous.halt != "KillSwitch" else ""
    if not runtime.get("halted"):
        return ""
    if runtime.get("userHalted"):
        return "KillSwitch"
    return str(runtime.get("haltReason") or "RuntimeHalted")[:1024]


def observed_state(*, status: Mapping[str, Any], previous: Snapshot | None) -> Snapshot:
    """The snapshot of a status a pass is about to write; what it did not read is as before."""
    breaker = status.get("circuitBreaker") or {}
    open_reason = ""
    if isinstance(breaker, Mapping) and breaker.get("state") == "Open":
        open_reason = str(breaker.get("reason") or "Tripped")[:64]
    rollback = status.get("rollback") or {}
    position = position_text(status.get("position"))
    return Snapshot(
        breaker=open_reason,
        halt=_halt(status, previous),
        degraded=_condition(status, "Degraded").get("status") == "True",
        rollback_at=(str(rollback.get("at") or "")[:64] if isinstance(rollback, Mapping) else "")
        or (previous.rollback_at if previous is not None else ""),
        position=position or (previous.position if previous is not None else ""),
    )


def _halt_words(halt: str) -> str:
    return "the kill switch" if halt == "KillSwitch" else f"the runtime halted itself ({halt})"


def transitions(
    *, before: Snapshot | None, after: Snapshot, status: Mapping[str, Any], at: str
) -> list[Notice]:
    """What changed from ``before`` (last notified) to ``after``; nothing without a ``before``:
    the state when notifications are first configured is the baseline."""
    if before is None:
        return []
    notices: list[Notice] = []
    if after.breaker != before.breaker:
        breaker = status.get("circuitBreaker") or {}
        if after.breaker:
            message = str(breaker.get("message") or "") if isinstance(breaker, Mapping) else ""
            notices.append(
                Notice(
                    kind="breakerTripped",
                    events=frozenset({_E.BREAKER}),
                    title=f"circuit breaker tripped ({after.breaker}): no new positions",
                    detail=message,
                    at=at,
                )
            )
        else:
            notices.append(
                Notice(
                    kind="breakerReset",
                    events=frozenset({_E.BREAKER}),
                    title=f"circuit breaker reset (was {before.breaker})",
                    at=at,
                )
            )
    if after.halt != before.halt:
        if after.halt:
            notices.append(
                Notice(
                    kind="halted",
                    events=frozenset({_E.HALTS}),
                    title=f"halted by {_halt_words(after.halt)}",
                    at=at,
                )
            )
        else:
            notices.append(
                Notice(
                    kind="resumed",
                    events=frozenset({_E.HALTS}),
                    title=f"no longer halted (was halted by {_halt_words(before.halt)})",
                    at=at,
                )
            )
    if after.degraded != before.degraded:
        message = str(_condition(status, "Degraded").get("message") or "")
        notices.append(
            Notice(
                kind="degraded",
                events=frozenset({_E.DEGRADED, _E.HALTS}),
                title="Degraded: the restart budget is exhausted, the bot is stopped",
                detail=message,
                at=at,
            )
            if after.degraded
            else Notice(
                kind="recovered",
                events=frozenset({_E.DEGRADED}),
                title="no longer Degraded",
                detail=message,
                at=at,
            )
        )
    if after.rollback_at and after.rollback_at != before.rollback_at:
        rollback = status.get("rollback") or {}
        notices.append(
            Notice(
                kind="rolledBack",
                events=frozenset({_E.ROLLBACKS}),
                title=f"rolled back from revision {rollback.get('fromRevision')} to revision "
                f"{rollback.get('toRevision')}",
                detail=str(rollback.get("reason") or ""),
                at=at,
            )
        )
    if after.position and before.position and after.position != before.position:
        notices.append(
            Notice(
                kind="fill",
                events=frozenset({_E.FILLS}),
                title=f"position {before.position} -> {after.position}",
                at=at,
            )
        )
    return notices


def wanted(*, notice: Notice, events: Sequence[NotificationEvent]) -> bool:
    """Whether a target with the filter ``events`` (empty: every event) receives ``notice``."""
    return not events or bool(notice.events & set(events))


def text(*, bot: BotRef, notices: Sequence[Notice]) -> str:
    """The message's text: one notice, or a summary of those the rate limit held back."""
    prefix = f"[tradefleet] {bot.namespace}/{bot.name}"
    if len(notices) == 1:
        notice = notices[0]
        line = f"{prefix}: {notice.title}" + (f": {notice.detail}" if notice.detail else "")
        return line[:MAX_TEXT]
    lines = [
        f"{prefix}: {len(notices)} notifications held back by the rate limit "
        f"({RATE_LIMIT} a minute), in order:"
    ]
    lines.extend(f"- {n.title}" for n in notices[:20])
    if len(notices) > 20:
        lines.append(f"- and {len(notices) - 20} more")
    return "\n".join(lines)[:MAX_TEXT]


def request_body(
    *, type_: NotificationType, bot: BotRef, notices: Sequence[Notice], chat_id: str | None
) -> dict[str, Any]:
    """The JSON body a target of ``type_`` is sent."""
    message = text(bot=bot, notices=notices)
    if type_ is NotificationType.SLACK:
        return {"text": message}
    if type_ is NotificationType.TELEGRAM:
        return {"chat_id": chat_id, "text": message, "disable_web_page_preview": True}
    body: dict[str, Any] = {"namespace": bot.namespace, "bot": bot.name, "text": message}
    if len(notices) == 1:
        return {**body, **notices[0].to_json()}
    return {**body, "event": "summary", "notices": [n.to_json() for n in notices]}


def free_slots(
    *, sent: Sequence[float], now: float, limit: int = RATE_LIMIT, window_s: float = RATE_WINDOW_S
) -> int:
    """How many messages may go now, given the times of the ones sent before."""
    return max(0, limit - sum(1 for t in sent if now - t < window_s))


def next_slot_s(
    *, sent: Sequence[float], now: float, limit: int = RATE_LIMIT, window_s: float = RATE_WINDOW_S
) -> float:
    """Seconds until a message may go (0 when one may go now)."""
    recent = sorted(t for t in sent if now - t < window_s)
    if len(recent) < limit:
        return 0.0
    return max(0.0, recent[len(recent) - limit] + window_s - now)


def coalesce(*, pending: Sequence[Notice], slots: int) -> list[tuple[Notice, ...]]:
    """The messages to send now for ``pending`` with ``slots`` free: one each while they last;
    when there are more than slots, the last slot carries a summary of the rest. Nothing is
    dropped."""
    if slots <= 0 or not pending:
        return []
    if len(pending) <= slots:
        return [(n,) for n in pending]
    return [*((n,) for n in pending[: slots - 1]), tuple(pending[slots - 1 :])]


def retryable(status: int | None) -> bool:
    """Whether a failed attempt is tried again: no answer (timeout, connection), 429 or 5xx."""
    return status is None or status == 429 or status >= 500
