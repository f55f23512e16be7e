"""What one reconcile pass decided: the status to write, the events to record, when to look again.

Pure. The reconciler (:mod:`tradefleet_operator.reconcile`) ends every pass with :func:`finish`,
which merges the observed conditions into the previous ones (Kubernetes conventions, see
:mod:`tradefleet_operator.conditions`) and adds one event per condition that changed; the pass
loop (:mod:`tradefleet_operator.passes`) writes the :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradefleet_operator import conditions as cond
from tradefleet_operator.spec.vocabulary import ConditionType, Reason


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


def warning(reason: Reason, message: str) -> Event:
    return Event(type="Warning", reason=str(reason), message=message)


def normal(reason: Reason, message: str) -> Event:
    return Event(type="Normal", reason=str(reason), message=message)


@dataclass(kw_only=True, slots=True)
class Outcome:
    """What one reconcile pass decided: the status to write and the events to record."""

    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    writes: int = 0
    # Causes of restarts counted in this pass, and whether it rolled back (for metrics).
    restarts: list[str] = field(default_factory=list)
    rolled_back: bool = False
    # When to look again sooner than the periodic resync (a running pod is polled).
    poll_again_s: float | None = None
    # Write no status at all: another region's operator reports on the resource. ``status`` is
    # then only what the pass saw, which the owner may have replaced meanwhile.
    leave_status: bool = False


_GOOD_WHEN_TRUE = frozenset(
    {
        ConditionType.READY,
        ConditionType.TRADING,
        ConditionType.RECONCILED,
        ConditionType.SIGNAL_SOURCES_READY,
    }
)
# A bot that waits for its runtime while a revision rolls out: the rollout's own event says so.
_WAITING_FOR_RUNTIME = frozenset(
    {Reason.RUNTIME_NOT_RUNNING, Reason.RUNTIME_UNREACHABLE, Reason.STARTING, Reason.STANDBY}
)
_BAD_WHEN_TRUE = frozenset(
    {ConditionType.DEGRADED, ConditionType.CIRCUIT_BREAKER_OPEN, ConditionType.ROLLED_BACK}
)
_QUIET_WHEN_FALSE = _BAD_WHEN_TRUE | {ConditionType.PAUSED}
# In sync from the start, or a new bot's first rollout: what the user just asked for.
_QUIET_WHEN_FIRST_TRUE = frozenset({ConditionType.RECONCILED, ConditionType.PROGRESSING})


def transition_events(
    *, previous: Sequence[Mapping[str, Any]] | None, merged: Sequence[Mapping[str, Any]]
) -> list[Event]:
    """One event per condition whose status or reason changed, so every decision is visible.

    Warnings are the transitions a user must look at: a bad condition turning True, or a good one
    turning False while nothing is rolling out. A condition that first appears in its expected
    state (in sync; no breaker open, not degraded, not rolled back, not paused; a new bot rolling
    out its first revision) is no news, nor is a not-yet-ready bot during a rollout, whose
    Progressing event already says so.
    """
    before = {c.get("type"): (c.get("status"), c.get("reason")) for c in previous or []}
    now = {c["type"]: c["status"] for c in merged}
    rolling_out = now.get(ConditionType.PROGRESSING) == "True"
    events = []
    for c in merged:
        if before.get(c["type"]) == (c["status"], c["reason"]):
            continue
        is_true = c["status"] == "True"
        if c["type"] not in before and (
            (not is_true and c["type"] in _QUIET_WHEN_FALSE)
            or (is_true and c["type"] in _QUIET_WHEN_FIRST_TRUE)
        ):
            continue
        if c["type"] == ConditionType.READY and not is_true and rolling_out:
            continue  # the rollout's own event, or Trading's, says why the bot is not ready yet
        if (
            c["type"] == ConditionType.TRADING
            and rolling_out
            and c["reason"] in _WAITING_FOR_RUNTIME
        ):
            continue
        # Trading turning False during a rollout is a real stop: the waiting reasons are skipped.
        warn = (c["type"] in _BAD_WHEN_TRUE and is_true) or (
            c["type"] in _GOOD_WHEN_TRUE
            and not is_true
            and (not rolling_out or c["type"] == ConditionType.TRADING)
        )
        events.append(
            Event(type="Warning" if warn else "Normal", reason=c["reason"], message=c["message"])
        )
    return events


def finish(
    *,
    body: Mapping[str, Any],
    observed: Iterable[cond.Condition],
    status: dict[str, Any],
    events: list[Event],
    writes: int,
) -> Outcome:
    """The pass's outcome: ``status`` with the merged conditions, and the events of the pass."""
    previous = (body.get("status") or {}).get("conditions")
    generation = int(body["metadata"].get("generation") or 0)
    merged = cond.merge_conditions(
        previous=previous, observed=observed, generation=generation, now=cond.now_rfc3339()
    )
    status = {**status, "observedGeneration": generation, "conditions": merged}
    transitions = transition_events(previous=previous, merged=merged)
    # An event of the pass already says what a condition's transition with its reason would.
    said = {e.reason for e in events}
    if Reason.REVISION_CREATED in said:
        # "revision N rolling out" already says what Progressing=True would.
        said.add(Reason.ROLLOUT_IN_PROGRESS)
    transitions = [e for e in transitions if e.reason not in said]
    return Outcome(status=status, events=[*events, *transitions], writes=writes)


def status_merge_patch(*, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch from the stored status ``old`` to ``new``: what ``new`` no longer has
    is set to null, or a merge patch would keep it (a kill switch's state after the annotation
    is gone)."""
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            patch[key] = status_merge_patch(old=before, new=value)
        else:
            patch[key] = value
    return patch
