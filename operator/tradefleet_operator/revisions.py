"""Revision and rollback decisions for one bot: which revision runs, when a failed one rolls back.

Pure functions, no I/O, called by the reconciler (:mod:`tradefleet_operator.reconcile`) once per
pass. A revision is the content a bot's workload is rendered from (the runtime config, the spec,
an adopted optimisation); its number grows with time. A revision that is not ready within
``spec.selfHealing.progressDeadlineSeconds`` is rolled back to the last good one, which stays
pinned until the spec changes; :func:`next_look_s` says when the next pass is due without an event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradefleet_operator.conditions import format_time, parse_time
from tradefleet_operator.optimizer import OptimizerResult
from tradefleet_operator.render import ANNOTATION_CONFIG_HASH, Revision, content_hash
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import SelfHealingSpec, TradingBotSpec, parse_trading_bot_spec


def revision_content(
    *,
    config: Mapping[str, Any],
    raw_spec: Mapping[str, Any],
    adopted: OptimizerResult | None = None,
) -> dict[str, Any]:
    """What one revision pins: the rendered runtime config, the spec the workload is rendered from,
    and the optimisation whose parameters it adopted, if any.

    ``paused`` is left out: pausing is a command to the running bot, not a rollout.
    """
    content: dict[str, Any] = {
        "config": dict(config),
        "spec": {k: v for k, v in raw_spec.items() if k != "paused"},
    }
    if adopted is not None:
        content["optimizer"] = {"job": adopted.job, "reason": adopted.message}
    return content


def choose_revision(
    *, content: Mapping[str, Any], existing: Iterable[Mapping[str, Any]]
) -> tuple[Revision, bool]:
    """The revision for ``content``: the kept one with the same content, or a new number.

    Returning to earlier content makes it the newest revision again (as Deployments do), so the
    revision numbers always grow with time.
    """
    config_hash = content_hash(content)
    numbers = {
        (obj.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_CONFIG_HASH): int(
            obj.get("revision", 0)
        )
        for obj in existing
    }
    newest = max(numbers.values(), default=0)
    kept = numbers.get(config_hash)
    if kept is not None and kept == newest:
        return Revision(number=kept, config_hash=config_hash, content=content), False
    return Revision(number=newest + 1, config_hash=config_hash, content=content), True


def kept_revision(*, kept: Iterable[Mapping[str, Any]], number: int) -> Revision | None:
    """A kept revision by number, as its ControllerRevision stores it."""
    for obj in kept:
        if int(obj.get("revision", 0)) == number:
            return Revision(
                number=number,
                config_hash=(obj["metadata"].get("annotations") or {}).get(
                    ANNOTATION_CONFIG_HASH, ""
                ),
                content=dict(obj.get("data") or {}),
            )
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class RevisionPlan:
    """The revision a pass rolls out and the spec its workload is rendered from."""

    revision: Revision
    is_new: bool
    # The spec's content failed before: the last good revision runs instead, until it changes.
    pinned: bool
    workload_spec: TradingBotSpec
    # When the revision started rolling out (RFC 3339); its progress deadline counts from here.
    since: str


def plan_revision(
    *,
    content: Mapping[str, Any],
    spec: TradingBotSpec,
    kept: Iterable[Mapping[str, Any]],
    previous_status: Mapping[str, Any],
    now: datetime,
) -> RevisionPlan:
    """The revision for the spec's ``content``, or the last good one while that content failed."""
    kept = list(kept)
    rollback = previous_status.get("rollback") or {}
    last_good = previous_status.get("lastGoodRevision")
    pinned = None
    if rollback.get("failedHash") == content_hash(content) and last_good:
        pinned = kept_revision(kept=kept, number=int(last_good))
    if pinned is not None:
        revision, is_new = pinned, False
        workload_spec = parse_trading_bot_spec(pinned.content.get("spec") or {})
    else:
        revision, is_new = choose_revision(content=content, existing=kept)
        workload_spec = spec
    since = (
        previous_status.get("currentRevisionSince")
        if previous_status.get("currentRevision") == revision.number
        else None
    ) or format_time(now)
    return RevisionPlan(
        revision=revision,
        is_new=is_new,
        pinned=pinned is not None,
        workload_spec=workload_spec,
        since=since,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class RollbackDecision:
    """The bot's last good revision and rollback after this pass."""

    last_good: int | None
    # The new ``status.rollback`` (the previous one while nothing new happened; empty: none).
    rollback: Mapping[str, Any]
    rolled_back_now: bool
    # Seconds until the current revision, not yet healthy, is rolled back (None: it cannot be).
    due_s: float | None


def decide_rollback(
    *,
    plan: RevisionPlan,
    ready: bool,
    ready_message: str,
    previous_status: Mapping[str, Any],
    policy: SelfHealingSpec,
    now: datetime,
) -> RollbackDecision:
    """A ready revision becomes the last good one; one not ready past its deadline rolls back."""
    rollback = dict(previous_status.get("rollback") or {})
    previous_good = previous_status.get("lastGoodRevision")
    last_good = int(previous_good) if previous_good else None
    revision = plan.revision
    if ready:
        return RollbackDecision(
            last_good=revision.number, rollback=rollback, rolled_back_now=False, due_s=None
        )
    if plan.pinned or not last_good or last_good == revision.number:
        return RollbackDecision(
            last_good=last_good, rollback=rollback, rolled_back_now=False, due_s=None
        )
    if not policy.rollback_on_failure:
        return RollbackDecision(
            last_good=last_good, rollback=rollback, rolled_back_now=False, due_s=None
        )
    due_s = (
        policy.progress_deadline_seconds - (now - (parse_time(plan.since) or now)).total_seconds()
    )
    if due_s >= 0:
        return RollbackDecision(
            last_good=last_good, rollback=rollback, rolled_back_now=False, due_s=due_s
        )
    failed = {
        "fromRevision": revision.number,
        "toRevision": last_good,
        "failedHash": revision.config_hash,
        "reason": f"revision {revision.number} not healthy within progressDeadlineSeconds="
        f"{policy.progress_deadline_seconds}: {ready_message}",
        "at": format_time(now),
    }
    return RollbackDecision(last_good=last_good, rollback=failed, rolled_back_now=True, due_s=due_s)


def next_look_s(
    *,
    rolled_back_now: bool,
    polling: bool,
    rollback_due_s: float | None,
    settings: OperatorSettings,
    kill_due_s: float | None = None,
) -> float | None:
    """How soon a bot's next pass must come without any change to wake it, if it must."""
    if rolled_back_now:
        return 0.0  # at once: the next pass restores the last good revision
    candidates = [settings.health_poll_interval_s] if polling else []
    # Both are recorded to the second: one more makes the deadline passed.
    for due_s in (rollback_due_s, kill_due_s):
        if due_s is not None:
            candidates.append(max(due_s, 0.0) + 1.0)
    return min(candidates) if candidates else None
