"""Where a bot's kill switch stands: requested, delivered, confirmed, or forced by scaling to zero.

Pure, called by the reconciler (:mod:`tradefleet_operator.reconcile`) once per pass of every bot
this operator runs, valid spec or not. The ``tradefleet.io/kill-switch=true`` annotation asks the
runtime to halt; ``halt`` returns at once and the runtime flattens in the background, so the
outcome is read from its ``/status`` (``userHalted``, ``flatten``) on later passes. A runtime that
does not confirm the halt within ``killSwitchUnreachableSeconds`` — unreachable, or no runtime at
all — has its workload scaled to zero: nothing of the bot runs, and the status says that the
flatten is not confirmed, so a human checks the exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tradefleet_operator.conditions import format_time, parse_time
from tradefleet_operator.healing import ANNOTATION_KILL_SWITCH
from tradefleet_operator.outcome import Event, normal, warning
from tradefleet_operator.spec.vocabulary import Reason


class KillSwitchState(StrEnum):
    """``status.control.killSwitch.state``."""

    REQUESTED = "Requested"  # the halt is not (yet) confirmed by the runtime
    HALTING = "Halting"  # the runtime halted and is flattening
    HALTED = "Halted"  # halted; positions flattened (or none)
    FLATTEN_FAILED = "FlattenFailed"  # halted, but the flatten failed: positions may be open
    SCALED_DOWN = "ScaledDown"  # not confirmed in time: the workload is scaled to zero


# The states in which the runtime is known to be halted, or nothing of the bot runs.
STOPPED = frozenset(
    {
        KillSwitchState.HALTING,
        KillSwitchState.HALTED,
        KillSwitchState.FLATTEN_FAILED,
        KillSwitchState.SCALED_DOWN,
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class KillSwitch:
    """The kill switch after this pass; ``state`` None while it is not set."""

    state: KillSwitchState | None
    since: str | None = None
    message: str = ""
    # Seconds until an unconfirmed kill switch scales the workload to zero (None: it will not).
    due_s: float | None = None

    @property
    def scale_to_zero(self) -> bool:
        return self.state is KillSwitchState.SCALED_DOWN

    @property
    def halted(self) -> bool:
        return self.state in STOPPED

    def to_status(self) -> dict[str, Any] | None:
        if self.state is None:
            return None
        return {"state": str(self.state), "since": self.since, "message": self.message[:1024]}


def engaged(annotations: Mapping[str, str]) -> bool:
    return str(annotations.get(ANNOTATION_KILL_SWITCH, "")).lower() == "true"


def flatten_outcome(runtime: Mapping[str, Any]) -> dict[str, Any] | None:
    """``status.control.flatten``: the runtime's latest flatten, schema-normalised."""
    flatten = runtime.get("flatten")
    if not isinstance(flatten, Mapping):
        return None
    state = flatten.get("state")
    if state not in ("none", "running", "done", "failed"):
        return None
    shown: dict[str, Any] = {"state": state}
    if isinstance(flatten.get("reason"), str) and flatten["reason"]:
        shown["reason"] = str(flatten["reason"])[:1024]
    for key in ("since", "finishedAt"):
        value = flatten.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            shown[key] = format_time(datetime.fromtimestamp(float(value), tz=UTC))
    return shown


def decide_kill_switch(
    *,
    annotations: Mapping[str, str],
    previous: Mapping[str, Any],
    runtime: Mapping[str, Any] | None,
    unreachable: str,
    bound_s: float,
    now: datetime,
) -> KillSwitch:
    """The kill switch's state from the annotation, its previous state and the runtime's report.

    ``runtime`` is the runtime's ``/status`` (None: it did not answer, or none runs, and
    ``unreachable`` says which).
    """
    if not engaged(annotations):
        return KillSwitch(state=None)
    before = previous.get("state")
    since = (str(previous.get("since")) if before and previous.get("since") else None) or (
        format_time(now)
    )
    if before == KillSwitchState.SCALED_DOWN:
        # Nothing runs until the annotation goes: the next runtime would start unhalted.
        return KillSwitch(
            state=KillSwitchState.SCALED_DOWN, since=since, message=str(previous.get("message"))
        )
    if runtime is not None and runtime.get("userHalted"):
        return _confirmed(runtime=runtime, since=since)
    if runtime is None and before == KillSwitchState.HALTED:
        # Confirmed before; the halt is the runtime's persisted state, a restart keeps it.
        return KillSwitch(
            state=KillSwitchState.HALTED, since=since, message=str(previous.get("message"))
        )
    waited = (now - (parse_time(since) or now)).total_seconds()
    if runtime is None and waited >= bound_s:
        return KillSwitch(
            state=KillSwitchState.SCALED_DOWN,
            since=since,
            message=f"the runtime did not confirm the halt within {bound_s:.0f}s ({unreachable}): "
            "the workload is scaled to zero; flatten not confirmed, check the exchange for open "
            "positions and orders",
        )
    return KillSwitch(
        state=KillSwitchState.REQUESTED,
        since=since,
        message="halt sent to the runtime"
        if runtime is not None
        else f"waiting for the runtime to take the halt ({unreachable}); scaled to zero after "
        f"{bound_s:.0f}s",
        due_s=None if runtime is not None else max(bound_s - waited, 0.0),
    )


def _confirmed(*, runtime: Mapping[str, Any], since: str) -> KillSwitch:
    flatten = runtime.get("flatten") if isinstance(runtime.get("flatten"), Mapping) else {}
    assert isinstance(flatten, Mapping)
    state = flatten.get("state")
    if state == "running":
        return KillSwitch(
            state=KillSwitchState.HALTING, since=since, message="halted; flattening the positions"
        )
    if state == "failed":
        return KillSwitch(
            state=KillSwitchState.FLATTEN_FAILED,
            since=since,
            message=f"halted, but the flatten failed: {flatten.get('reason') or 'unknown'}; "
            "check the exchange for open positions",
        )
    return KillSwitch(
        state=KillSwitchState.HALTED, since=since, message="halted; positions flattened"
    )


def kill_switch_events(*, previous: Mapping[str, Any], kill: KillSwitch) -> list[Event]:
    """An event when the runtime confirms the kill switch, when its flatten fails, and when it
    could not be confirmed and the workload is scaled to zero."""
    if kill.state is None or previous.get("state") == kill.state:
        return []
    if kill.state is KillSwitchState.HALTED:
        return [normal(Reason.KILL_SWITCH_HALTED, kill.message)]
    if kill.state is KillSwitchState.FLATTEN_FAILED:
        return [warning(Reason.KILL_SWITCH_FLATTEN_FAILED, kill.message)]
    if kill.state is KillSwitchState.SCALED_DOWN:
        return [warning(Reason.KILL_SWITCH_NOT_CONFIRMED, kill.message)]
    return []
