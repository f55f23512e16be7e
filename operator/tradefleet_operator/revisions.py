"""Revision and rollback decisions for one bot: which revision runs, when a failed one rolls back.

No I/O, called by the reconciler (:mod:`tradefleet_operator.reconcile`) once per pass. A revision
is the content a bot's workload is rendered from (the runtime config, the spec, the runtime image,
an adopted optimization); its number grows with time. A revision that is not ready within
``spec.selfHealing.progressDeadlineSeconds`` is rolled back to the last good one, which stays
pinned until the spec changes (on the ExchangeAccount's terms of now, which are the account's, not
the revision's); :func:`next_look_s` says when the next pass is due without an event.

A new revision of a bot that runs a healthy one — a spec change, or a new runtime image after a
Helm upgrade, which would otherwise restart every bot of the region at once — starts only while
fewer than ``maxConcurrentRollouts`` bots of the region roll out (:class:`RolloutSlots`, the one
piece of state here, held by the reconciler); the others keep running their revision until a slot
frees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tradefleet_api import content_hash

from tradefleet_operator.conditions import format_time, parse_time
from tradefleet_operator.optimizer import OptimizerResult
from tradefleet_operator.render import (
    ANNOTATION_CONFIG_HASH,
    ANNOTATION_REVISION,
    Revision,
    with_account_terms,
    without_account_terms,
)
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import SelfHealingSpec, TradingBotSpec, parse_trading_bot_spec


def revision_content(
    *,
    config: Mapping[str, Any],
    raw_spec: Mapping[str, Any],
    adopted: OptimizerResult | None = None,
    image: str | None = None,
) -> dict[str, Any]:
    """What one revision pins: the rendered runtime config, the spec the workload is rendered from,
    the runtime image (``spec.image`` or the operator's), and the optimization whose parameters it
    adopted, if any.

    ``paused`` is left out: pausing is a command to the running bot, not a rollout.
    """
    content: dict[str, Any] = {
        "config": dict(config),
        "spec": {k: v for k, v in raw_spec.items() if k != "paused"},
    }
    if image is not None:
        content["image"] = image
    if adopted is not None:
        content["optimizer"] = {"job": adopted.job, "reason": adopted.message}
    return content


def revision_identity(content: Mapping[str, Any]) -> str:
    """What a failed revision is known by, so that it stays pinned: its content without the
    ExchangeAccount's terms in its config. A rebalance changes those and must not retry a spec
    that failed; anything else that changes the config (the operator's settings) still does."""
    config = without_account_terms(content.get("config") or {})
    return content_hash({**content, "config": config})


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
    # The runtime image its pods run: the revision's own. A revision kept from before images were
    # part of revisions runs the image it last ran healthy (``last_good_image``) when it is the
    # last good one, else the current one.
    image: str | None = None
    # The image the last good revision ran (``status.lastGoodImage``), known once it ran healthy.
    last_good_image: str | None = None
    # The last good revision's :func:`revision_identity`: a revision that differs from it only
    # by the account's terms failed for its terms, not its spec.
    last_good_identity: str | None = None
    # A new revision waits for a rollout slot: this is the current one, kept running meanwhile.
    queued: bool = False


def plan_revision(
    *,
    content: Mapping[str, Any],
    spec: TradingBotSpec,
    kept: Iterable[Mapping[str, Any]],
    previous_status: Mapping[str, Any],
    now: datetime,
    deployment: Mapping[str, Any] | None = None,
) -> RevisionPlan:
    """The revision for the spec's ``content``, or the last good one while that content failed.

    ``deployment`` is the bot's Deployment as it is: while it runs the last good revision, the
    image it runs is that revision's.
    """
    kept = list(kept)
    rollback = previous_status.get("rollback") or {}
    last_good = previous_status.get("lastGoodRevision")
    good_image = _last_good_image(previous_status=previous_status, deployment=deployment)
    good = kept_revision(kept=kept, number=int(last_good)) if last_good else None
    pinned = None
    # By its identity when its spec failed; by the whole content when the account's terms did
    # (and by the whole content too in a rollback recorded before identities were kept).
    if rollback.get("failedHash") in (revision_identity(content), content_hash(content)):
        pinned = good
    if pinned is not None:
        revision, is_new = (
            _on_current_terms(pinned, content=content, kept=kept)
            if spec.account_ref is not None
            else (pinned, False)
        )
        workload_spec = kept_spec(revision, spec=spec)
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
        image=_image(
            revision,
            fallback={"image": good_image}
            if good_image and last_good and revision.number == int(last_good)
            else content,
        ),
        last_good_image=good_image,
        last_good_identity=revision_identity(good.content) if good is not None else None,
    )


def kept_spec(revision: Revision, *, spec: TradingBotSpec) -> TradingBotSpec:
    """The spec a kept revision's workload is rendered from. On an ExchangeAccount, with the
    account's keys of now (``spec``'s): they are the account's, and the kept spec, the user's
    own, does not name them."""
    kept = parse_trading_bot_spec(revision.content.get("spec") or {})
    if spec.account_ref is None:
        return kept
    return kept.model_copy(update={"credentials": spec.credentials})


def _on_current_terms(
    pinned: Revision, *, content: Mapping[str, Any], kept: list[Mapping[str, Any]]
) -> tuple[Revision, bool]:
    """The pinned revision on the account terms of ``content`` (the spec's revision now): itself
    when they are the same, or when its spec on them is ``content`` itself (the terms failed,
    not the spec), else a revision of its spec on the new terms."""
    config = pinned.content.get("config") or {}
    current = with_account_terms(config, source=content.get("config") or {})
    retermed = {**pinned.content, "config": current}
    if current == config or content_hash(retermed) == content_hash(content):
        return pinned, False
    return choose_revision(content=retermed, existing=kept)


def _last_good_image(
    *, previous_status: Mapping[str, Any], deployment: Mapping[str, Any] | None
) -> str | None:
    last_good = previous_status.get("lastGoodRevision")
    template = ((deployment or {}).get("spec") or {}).get("template") or {}
    running = ((template.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_REVISION)
    if last_good and running == str(last_good):
        image = running_image(deployment)
        if image:
            return image
    known = previous_status.get("lastGoodImage")
    return str(known) if known else None


def running_image(deployment: Mapping[str, Any] | None) -> str | None:
    """The runtime image a bot's Deployment runs, if it exists."""
    template = ((deployment or {}).get("spec") or {}).get("template") or {}
    for container in (template.get("spec") or {}).get("containers") or []:
        if container.get("name") == "runtime" and container.get("image"):
            return str(container["image"])
    return None


def _image(revision: Revision, *, fallback: Mapping[str, Any]) -> str | None:
    image = revision.content.get("image") or fallback.get("image")
    return str(image) if image else None


class RolloutSlots:
    """The bots of this operator's region that roll a new revision out over a healthy one.

    One per operator process, held by the reconciler. At most ``limit`` start one; a rollout under
    way always keeps its slot (after an operator restart each re-takes its own on its first pass,
    so the count may exceed the limit until they finish).
    """

    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        self._rolling: set[str] = set()

    @property
    def rolling(self) -> int:
        return len(self._rolling)

    def admit(self, uid: str) -> bool:
        """Take a slot for ``uid`` if it holds none and one is free; whether it holds one."""
        if uid not in self._rolling and len(self._rolling) >= self.limit:
            return False
        self._rolling.add(uid)
        return True

    def hold(self, uid: str) -> None:
        self._rolling.add(uid)

    def release(self, uid: str) -> None:
        self._rolling.discard(uid)


def plan_rollout(
    *,
    plan: RevisionPlan,
    kept: Iterable[Mapping[str, Any]],
    previous_status: Mapping[str, Any],
    slots: RolloutSlots,
    uid: str,
    running_image: str | None,
) -> RevisionPlan:
    """``plan``; or, when it would start a new revision over the healthy one the bot runs and no
    rollout slot is free, the running revision, kept (``queued``) until a slot frees.

    ``running_image`` is the image the bot's Deployment runs: the kept revision's, when the
    revision predates images being part of revisions.
    """
    current = previous_status.get("currentRevision")
    last_good = previous_status.get("lastGoodRevision")
    if plan.pinned or not last_good or plan.revision.number == int(last_good):
        # A rollback, a new bot's first revision, or the healthy one: nothing rolls over a bot
        # that runs well.
        slots.release(uid)
        return plan
    if not plan.is_new or not current or int(current) != int(last_good):
        slots.hold(uid)  # under way already
        return plan
    held = kept_revision(kept=kept, number=int(current))
    if held is None or slots.admit(uid):
        return plan
    return RevisionPlan(
        revision=held,
        is_new=False,
        pinned=False,
        workload_spec=kept_spec(held, spec=plan.workload_spec),
        since=str(previous_status.get("currentRevisionSince") or plan.since),
        image=_image(held, fallback={"image": running_image or plan.image}),
        last_good_image=plan.last_good_image,
        last_good_identity=plan.last_good_identity,
        queued=True,
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
        "failedHash": _failed_hash(plan),
        "reason": f"revision {revision.number} not healthy within progressDeadlineSeconds="
        f"{policy.progress_deadline_seconds}: {ready_message}",
        "at": format_time(now),
    }
    return RollbackDecision(last_good=last_good, rollback=failed, rolled_back_now=True, due_s=due_s)


def _failed_hash(plan: RevisionPlan) -> str:
    """What the failed revision stays pinned by: its identity when its spec failed; its whole
    content when it is the last good spec on new account terms (the terms failed, so new ones
    are tried again)."""
    content = plan.revision.content
    identity = revision_identity(content)
    return content_hash(content) if identity == plan.last_good_identity else identity


def startable(*, plan: RevisionPlan, waiting_for_previous: bool, now: datetime) -> RevisionPlan:
    """``plan`` with its progress deadline counting from when its runtime can start.

    While the previous runtime is still there, succession holds the workload at zero and the
    revision cannot start: its deadline counts from now. An old pod slow to leave (its grace
    period, a slow kubelet) is not the new revision's failure.
    """
    return replace(plan, since=format_time(now)) if waiting_for_previous else plan


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
