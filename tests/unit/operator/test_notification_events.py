"""Issue 21, item 3: what a bot's notifications say and when (pure parts).

Transitions come from the state last notified against the status a pass writes, so a status
that did not change (an operator restart, a pass that could not read the runtime) sends nothing;
texts and request bodies per target type; the rate limit holds what is over it and sends it as
one summary, never dropping any.
"""

from __future__ import annotations

from typing import Any

import pytest
from tradefleet_operator import notify_events as ne
from tradefleet_operator.spec import NotificationEvent, NotificationType

pytestmark = pytest.mark.unit

BOT = ne.BotRef(namespace="desk", name="btc")
AT = "2026-12-05T05:00:00Z"


def _status(**fields: Any) -> dict[str, Any]:
    return {"conditions": [], **fields}


def _kinds(before: ne.Snapshot | None, status: dict[str, Any]) -> list[str]:
    after = ne.observed_state(status=status, previous=before)
    return [n.kind for n in ne.transitions(before=before, after=after, status=status, at=AT)]


def test_nothing_is_sent_before_a_baseline_and_nothing_for_an_unchanged_status() -> None:
    status = _status(circuitBreaker={"state": "Open", "reason": "Drawdown"})
    assert _kinds(None, status) == []
    baseline = ne.observed_state(status=status, previous=None)
    assert _kinds(baseline, status) == []
    # Stored and read back (as after an operator restart): still the same state.
    restored = ne.Snapshot.from_status(baseline.to_status())
    assert restored == baseline
    assert _kinds(restored, status) == []


def test_breaker_trip_and_reset_are_one_notice_each() -> None:
    closed = ne.observed_state(status=_status(), previous=None)
    tripped = _status(
        circuitBreaker={"state": "Open", "reason": "Drawdown", "message": "drawdown 21% >= 20%"}
    )
    after = ne.observed_state(status=tripped, previous=closed)
    (notice,) = ne.transitions(before=closed, after=after, status=tripped, at=AT)
    assert notice.kind == "breakerTripped"
    assert notice.events == {NotificationEvent.BREAKER}
    assert "Drawdown" in notice.title and notice.detail == "drawdown 21% >= 20%"
    assert _kinds(after, _status(circuitBreaker={"state": "Closed"})) == ["breakerReset"]


def test_a_rollback_is_notified_once_with_its_revisions_and_reason() -> None:
    before = ne.observed_state(status=_status(), previous=None)
    rolled = _status(
        rollback={"fromRevision": 2, "toRevision": 1, "reason": "not healthy", "at": AT}
    )
    after = ne.observed_state(status=rolled, previous=before)
    (notice,) = ne.transitions(before=before, after=after, status=rolled, at=AT)
    assert notice.kind == "rolledBack"
    assert notice.title == "rolled back from revision 2 to revision 1"
    assert notice.detail == "not healthy"
    assert _kinds(after, rolled) == []


def test_halts_kill_switch_runtime_halt_and_degraded() -> None:
    base = ne.observed_state(status=_status(runtime={"halted": False}), previous=None)
    killed = _status(control={"killSwitch": {"state": "Halted"}}, runtime={"halted": True})
    assert _kinds(base, killed) == ["halted"]
    fatal = _status(runtime={"halted": True, "haltReason": "authentication failed"})
    after = ne.observed_state(status=fatal, previous=base)
    assert after.halt == "authentication failed"
    assert _kinds(base, fatal) == ["halted"]
    # A pass that could not read the runtime keeps the halt as it was: no resumed/halted flap.
    assert _kinds(after, _status()) == []
    assert _kinds(after, _status(runtime={"halted": False})) == ["resumed"]
    degraded = _status(
        conditions=[
            {
                "type": "Degraded",
                "status": "True",
                "reason": "RestartBudgetExhausted",
                "message": "5 restarts",
            }
        ]
    )
    after = ne.observed_state(status=degraded, previous=base)
    (notice,) = ne.transitions(before=base, after=after, status=degraded, at=AT)
    assert notice.kind == "degraded" and notice.detail == "5 restarts"
    # A Degraded bot is stopped: a target of halts receives it too.
    assert notice.events == {NotificationEvent.DEGRADED, NotificationEvent.HALTS}


def test_a_fill_is_a_change_of_the_position_the_operator_reads() -> None:
    flat = ne.observed_state(status=_status(position={"side": "flat", "size": 0}), previous=None)
    long = _status(position={"side": "long", "size": 0.003, "entryPrice": 50000.0})
    after = ne.observed_state(status=long, previous=flat)
    (notice,) = ne.transitions(before=flat, after=after, status=long, at=AT)
    assert notice.kind == "fill"
    assert notice.title == "position flat -> long 0.003 @ 50000"
    # A status without a position (never read) is no fill either way.
    assert _kinds(after, _status()) == []


def test_event_filters() -> None:
    notice = ne.Notice(
        kind="degraded",
        events=frozenset({NotificationEvent.DEGRADED, NotificationEvent.HALTS}),
        title="t",
    )
    assert ne.wanted(notice=notice, events=())
    assert ne.wanted(notice=notice, events=(NotificationEvent.HALTS,))
    assert not ne.wanted(notice=notice, events=(NotificationEvent.FILLS, NotificationEvent.BREAKER))


def _notice(title: str, kind: str = "breakerTripped") -> ne.Notice:
    return ne.Notice(
        kind=kind, events=frozenset({NotificationEvent.BREAKER}), title=title, detail="", at=AT
    )


def test_request_bodies_per_target_type() -> None:
    notice = ne.Notice(
        kind="rolledBack",
        events=frozenset({NotificationEvent.ROLLBACKS}),
        title="rolled back from revision 2 to revision 1",
        detail="not healthy",
        at=AT,
    )
    text = "[tradefleet] desk/btc: rolled back from revision 2 to revision 1: not healthy"
    slack = ne.request_body(type_=NotificationType.SLACK, bot=BOT, notices=[notice], chat_id=None)
    assert slack == {"text": text}
    telegram = ne.request_body(
        type_=NotificationType.TELEGRAM, bot=BOT, notices=[notice], chat_id="-10042"
    )
    assert telegram["chat_id"] == "-10042" and telegram["text"] == text
    webhook = ne.request_body(
        type_=NotificationType.WEBHOOK, bot=BOT, notices=[notice], chat_id=None
    )
    assert webhook == {
        "namespace": "desk",
        "bot": "btc",
        "text": text,
        "event": "rolledBack",
        "categories": ["rollbacks"],
        "title": "rolled back from revision 2 to revision 1",
        "detail": "not healthy",
        "at": AT,
    }
    summary = ne.request_body(
        type_=NotificationType.WEBHOOK,
        bot=BOT,
        notices=[_notice("one"), _notice("two")],
        chat_id=None,
    )
    assert summary["event"] == "summary" and len(summary["notices"]) == 2
    assert "2 notifications held back by the rate limit" in summary["text"]
    assert "- one\n- two" in summary["text"]


def test_rate_limit_window() -> None:
    assert ne.free_slots(sent=[], now=100.0) == ne.RATE_LIMIT
    sent = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert ne.free_slots(sent=sent, now=60.0) == 0
    assert ne.next_slot_s(sent=sent, now=60.0) == pytest.approx(10.0)  # 10 + 60 - 60
    assert ne.free_slots(sent=sent, now=70.5) == 1
    assert ne.next_slot_s(sent=sent, now=70.5) == 0.0


def test_what_is_over_the_limit_is_coalesced_into_a_summary_not_dropped() -> None:
    pending = [_notice(str(i)) for i in range(7)]
    assert ne.coalesce(pending=pending, slots=0) == []
    assert ne.coalesce(pending=pending[:3], slots=5) == [(p,) for p in pending[:3]]
    groups = ne.coalesce(pending=pending, slots=3)
    assert len(groups) == 3
    assert groups[0] == (pending[0],) and groups[1] == (pending[1],)
    assert groups[2] == tuple(pending[2:])
    assert [n for g in groups for n in g] == pending


@pytest.mark.parametrize(
    ("status", "retry"),
    [(None, True), (429, True), (500, True), (503, True), (400, False), (404, False)],
)
def test_what_is_retried(status: int | None, retry: bool) -> None:
    assert ne.retryable(status) is retry
