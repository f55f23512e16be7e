"""Level-based reconciliation of one TradingBot or SignalSource: desired vs actual, repair, status.

Called by the Kopf handlers (:mod:`tradefleet_operator.handlers`) on every change of the resource
or of one of its children, and periodically; safe to run at any time and any number of times.
It reads the children from the operator's in-memory indexes, writes only what differs, and returns
the new status and the events to record. Problems with the user's resource never raise: they
become conditions with a reason.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tradefleet_operator import conditions as cond
from tradefleet_operator.drift import object_in_sync
from tradefleet_operator.handover import hand_over
from tradefleet_operator.healing import (
    HealingDecision,
    PodView,
    RuntimeView,
    assess_restarts,
    breaker_condition,
    format_time,
    parse_time,
    runtime_commands,
    runtime_figures,
    source_figures,
)
from tradefleet_operator.kube import (
    KubeApiError,
    KubeClient,
    pack_object,
    resource_version,
    unpack_object,
)
from tradefleet_operator.optimizer import (
    ANNOTATION_OPTIMIZE_NOW,
    OptimizerResult,
    adopted_result,
    due_run,
    parameters_hash,
    read_results,
    with_parameters,
)
from tradefleet_operator.render import (
    ANNOTATION_CONFIG_HASH,
    ANNOTATION_REVISION,
    LABEL_OPTIMIZER_RESULT,
    LABEL_REGION,
    Owner,
    Revision,
    child_name,
    content_hash,
    render_bot_children,
    render_control_secret,
    render_controller_revision,
    render_optimizer_access,
    render_optimizer_job,
    render_runtime_config,
    render_source_children,
    signal_stream_key,
)
from tradefleet_operator.runtime_client import RuntimeClient, RuntimeUnreachableError, control_token
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import (
    ProblemReason,
    RegionUnresolvedError,
    SpecError,
    TradingBotSpec,
    ValidationProblem,
    parse_signal_source_spec,
    parse_trading_bot_spec,
    resolve_region,
    validate_signal_source_spec,
    validate_trading_bot_spec,
)
from tradefleet_operator.succession import runtime_pods

ChildKey = tuple[str, str]  # (kind, name)
log = logging.getLogger("tradefleet.operator")


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceState:
    """What a bot needs to know about a SignalSource it references."""

    ready: bool
    phase: str


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


def _problems_message(problems: Sequence[ValidationProblem]) -> str:
    return "; ".join(f"{p.field}: {p.message}" for p in problems)


REVISION_CREATED = "RevisionCreated"
ROLLOUT_IN_PROGRESS = "RolloutInProgress"

_GOOD_WHEN_TRUE = frozenset({cond.READY, cond.RECONCILED, cond.SIGNAL_SOURCES_READY})
_BAD_WHEN_TRUE = frozenset({cond.DEGRADED, cond.CIRCUIT_BREAKER_OPEN, cond.ROLLED_BACK})
_QUIET_WHEN_FALSE = _BAD_WHEN_TRUE | {cond.PAUSED}


def _transition_events(
    *, previous: Sequence[Mapping[str, Any]] | None, merged: Sequence[Mapping[str, Any]]
) -> list[Event]:
    """One event per condition whose status or reason changed, so every decision is visible.

    Warnings are the transitions a user must look at: a bad condition turning True, or a good one
    turning False while nothing is rolling out. A condition that first appears in its expected
    state (in sync; no breaker open, not degraded, not rolled back, not paused) is no news, nor is
    a not-yet-ready bot during a rollout, whose Progressing event already says so.
    """
    before = {c.get("type"): (c.get("status"), c.get("reason")) for c in previous or []}
    now = {c["type"]: c["status"] for c in merged}
    rolling_out = now.get(cond.PROGRESSING) == "True"
    events = []
    for c in merged:
        if before.get(c["type"]) == (c["status"], c["reason"]):
            continue
        is_true = c["status"] == "True"
        if c["type"] not in before and (
            (not is_true and c["type"] in _QUIET_WHEN_FALSE)
            or (is_true and c["type"] == cond.RECONCILED)
        ):
            continue
        if c["type"] == cond.READY and not is_true and rolling_out:
            continue  # the rollout's own event says why the bot is not ready yet
        warning = (c["type"] in _BAD_WHEN_TRUE and is_true) or (
            c["type"] in _GOOD_WHEN_TRUE and not is_true and not rolling_out
        )
        events.append(
            Event(type="Warning" if warning else "Normal", reason=c["reason"], message=c["message"])
        )
    return events


def _finish(
    *,
    body: Mapping[str, Any],
    observed: Iterable[cond.Condition],
    status: dict[str, Any],
    events: list[Event],
    writes: int,
) -> Outcome:
    previous = (body.get("status") or {}).get("conditions")
    generation = int(body["metadata"].get("generation") or 0)
    merged = cond.merge_conditions(
        previous=previous, observed=observed, generation=generation, now=cond.now_rfc3339()
    )
    status = {**status, "observedGeneration": generation, "conditions": merged}
    transitions = _transition_events(previous=previous, merged=merged)
    if any(e.reason == REVISION_CREATED for e in events):
        # "revision N rolling out" already says what Progressing=True would.
        transitions = [e for e in transitions if e.reason != ROLLOUT_IN_PROGRESS]
    events = [*events, *transitions]
    return Outcome(status=status, events=events, writes=writes)


# Children that run pods: applied after the objects their pods need.
_WORKLOAD_KINDS = frozenset({"Deployment", "Job"})

# How long our own write stands in for a child the index has not delivered yet.
APPLIED_CACHE_TTL_S = 30.0


def _owner(body: Mapping[str, Any]) -> Owner:
    meta = body["metadata"]
    return Owner(
        kind=str(body["kind"]), name=meta["name"], namespace=meta["namespace"], uid=meta["uid"]
    )


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


class Reconciler:
    """Reconciles bots and sources; one instance per operator process."""

    def __init__(self, *, kube: KubeClient, settings: OperatorSettings) -> None:
        self.kube = kube
        self.settings = settings
        self.runtime = RuntimeClient()
        # Control tokens of the bots, read once from their Secrets.
        self._tokens: dict[str, str] = {}
        # Bots whose control-token Secret this process has seen exist.
        self._control_secrets: set[str] = set()
        # What this process applied, until the watch-fed index has caught up with it: without
        # it, a pass right after a write would take the not-yet-indexed child for missing.
        # Kept as (written at, resourceVersion, packed body).
        self._applied: dict[tuple[str, str, str], tuple[float, int, bytes]] = {}
        # Parsed spec and its problems per bot uid, for the generation they were parsed at.
        self._specs: dict[str, tuple[int, TradingBotSpec | None, Sequence[ValidationProblem]]] = {}

    # -- TradingBot ---------------------------------------------------------------------------

    async def reconcile_bot(
        self,
        *,
        body: Mapping[str, Any],
        children: Mapping[ChildKey, Mapping[str, Any]],
        sources: Mapping[str, SourceState],
    ) -> Outcome:
        owner = _owner(body)
        previous_status = body.get("status") or {}
        spec, problems = self._parsed_spec(body=body)
        if spec is None or problems:
            return self._invalid(body=body, problems=problems)
        try:
            region = resolve_region(spec=spec, exchange_region_map=self.settings.exchange_regions)
        except RegionUnresolvedError as exc:
            return self._invalid(
                body=body,
                problems=[
                    ValidationProblem(
                        field="spec.region",
                        reason=ProblemReason.REGION_UNRESOLVED,
                        message=str(exc),
                    )
                ],
            )
        if region != self.settings.region:
            return await self._not_owned(body=body, region=region, children=children)

        missing = await self._missing_credentials(owner=owner, spec=spec)
        if missing:
            return _finish(
                body=body,
                observed=[
                    cond.Condition(
                        type=cond.READY, status=False, reason="CredentialsMissing", message=missing
                    ),
                    cond.Condition(
                        type=cond.RECONCILED,
                        status=False,
                        reason="CredentialsMissing",
                        message=missing,
                    ),
                ],
                status={**_carry(previous_status), "phase": "Pending", "region": region},
                events=[],
                writes=0,
            )

        raw_spec = body.get("spec") or {}
        annotations = body["metadata"].get("annotations") or {}
        result_maps = [
            obj
            for (kind, _), obj in children.items()
            if kind == "ConfigMap"
            and LABEL_OPTIMIZER_RESULT in (obj["metadata"].get("labels") or {})
        ]
        results = read_results(result_maps)
        adopted = adopted_result(results=results, raw_spec=raw_spec)
        config = render_runtime_config(
            owner=owner,
            spec=spec,
            raw_spec=with_parameters(raw_spec=raw_spec, parameters=adopted.parameters)
            if adopted
            else raw_spec,
            settings=self.settings,
        )
        content = revision_content(config=config, raw_spec=raw_spec, adopted=adopted)
        kept = [obj for (kind, _), obj in children.items() if kind == "ControllerRevision"]
        rollback = dict(previous_status.get("rollback") or {})
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
        now = datetime.now(UTC)
        since = (
            previous_status.get("currentRevisionSince")
            if previous_status.get("currentRevision") == revision.number
            else None
        ) or format_time(now)

        # Terminating ones included: until every one is gone, no new runtime may start.
        workload = ("Deployment", child_name(owner=owner.name))
        pods = runtime_pods(
            pods=[o for (k, _), o in children.items() if k == "Pod"], deployment=workload[1]
        )
        bot_pods = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
        current_pods = [
            p
            for p in bot_pods
            if (p.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_REVISION)
            == str(revision.number)
        ]
        pod = _pod_view(current_pods[0]) if current_pods else None
        runtime = await self._poll(pod=pod)
        generation = int(body["metadata"].get("generation") or 0)
        healing = assess_restarts(
            policy=spec.self_healing,
            previous=previous_status.get("selfHealing") or {},
            generation=generation,
            pod=pod,
            runtime=runtime,
            pods_exist=bool(pods),
            now=now,
        )
        handover = await hand_over(
            kube=self.kube,
            settings=self.settings,
            namespace=owner.namespace,
            pods=pods,
            wanted=healing.replicas,
            replacing=bool(healing.state.get("replacing")),
            deployment=self._observed(
                namespace=owner.namespace, key=workload, indexed=children.get(workload)
            ),
            now=now,
        )
        optimizing = spec.optimizer.enabled or bool(annotations.get(ANNOTATION_OPTIMIZE_NOW))
        desired = [
            render_controller_revision(owner=owner, revision=revision),
            *render_bot_children(
                owner=owner,
                spec=workload_spec,
                region=region,
                revision=revision,
                replicas=handover.replicas,
                settings=self.settings,
            ),
            *(render_optimizer_access(owner=owner) if optimizing else []),
        ]
        events = [Event(type=n.type, reason=n.reason, message=n.message) for n in handover.notices]
        # The token Secret first: the pod reads it at start.
        writes = await self._ensure_control_secret(owner=owner)
        writes += await self._converge(
            desired=desired,
            children=children,
            events=events,
            was_reconciled=bool(previous_status.get("currentRevision")),
        )
        writes += await self._prune_revisions(
            owner=owner, kept=kept, current=revision.number, keep=last_good
        )
        if is_new:
            events.append(
                Event(
                    type="Normal",
                    reason=REVISION_CREATED,
                    message=f"revision {revision.number} ({revision.config_hash}) rolling out",
                )
            )
        optimizer_status, optimizer_events, optimizer_writes = await self._optimize(
            owner=owner,
            spec=spec,
            raw_spec=raw_spec,
            body=body,
            results=results,
            adopted=adopted,
            result_maps=result_maps,
            now=now,
            enabled=optimizing,
        )
        events.extend(optimizer_events)
        writes += optimizer_writes
        for cause in healing.restarted:
            events.append(
                Event(
                    type="Warning", reason="BotRestarted", message=_restart_message(cause, healing)
                )
            )

        control = dict(previous_status.get("control") or {})
        if runtime is not None and runtime.status is not None:
            events.extend(
                await self._deliver_commands(
                    owner=owner,
                    pod=pod,
                    paused=spec.paused,
                    annotations=annotations,
                    control=control,
                    runtime=runtime.status,
                )
            )

        deployment = children.get(workload)
        observed, figures = _workload_conditions(
            deployment=deployment, pods=current_pods, revision=revision
        )
        observed = handover.over(observed)
        ready = next(c for c in observed if c.type == cond.READY).status
        if runtime is not None and runtime.status is not None:
            figures.update(runtime_figures(runtime.status))
        figures["restarts"] = len(healing.state.get("recentRestarts") or [])
        observed.extend(healing.conditions)
        observed.append(
            breaker_condition(
                runtime.status if runtime else None, previous_status.get("circuitBreaker")
            )
        )
        observed.append(
            cond.Condition(
                type=cond.RECONCILED,
                status=True,
                reason="ChildrenInSync",
                message=f"{len(desired) + 1} children in sync at revision {revision.number}",
            )
        )
        observed.append(
            cond.Condition(
                type=cond.PAUSED,
                status=spec.paused,
                reason="PausedBySpec" if spec.paused else "Trading",
                message="spec.paused is true: no new positions"
                if spec.paused
                else "trading is enabled",
            )
        )
        rolled_back_now = False
        # Seconds until this revision, not yet healthy, is rolled back (None: it cannot be).
        rollback_due_s: float | None = None
        if ready:
            last_good = revision.number
        elif (
            pinned is None
            and last_good
            and int(last_good) != revision.number
            and spec.self_healing.rollback_on_failure
        ):
            rollback_due_s = (
                spec.self_healing.progress_deadline_seconds
                - (now - (parse_time(since) or now)).total_seconds()
            )
        if rollback_due_s is not None and rollback_due_s < 0 and last_good:
            rollback = {
                "fromRevision": revision.number,
                "toRevision": int(last_good),
                "failedHash": revision.config_hash,
                "reason": f"revision {revision.number} not healthy within progressDeadlineSeconds="
                f"{spec.self_healing.progress_deadline_seconds}: {_ready_message(observed)}",
                "at": format_time(now),
            }
            rolled_back_now = True
            # Restarts of the failed revision say nothing about the last good one: fresh budget.
            healing.state["recentRestarts"] = []
            healing.state.pop("degradedAtGeneration", None)
            events.append(
                Event(
                    type="Warning",
                    reason="RolledBack",
                    message=f"rolled back to revision {last_good}: {rollback['reason']}",
                )
            )
        observed.append(
            _rolled_back_condition(rollback=rollback, pinned=pinned is not None or rolled_back_now)
        )
        source_status, source_condition = _signal_sources(spec=spec, sources=sources)
        if source_condition is not None:
            observed.append(source_condition)
        status = {
            **_carry(previous_status),
            **figures,
            "region": region,
            "currentRevision": revision.number,
            "currentRevisionSince": since,
            "revisionHistory": _revision_history(kept=kept, current=revision),
            "signalSources": source_status,
            "selfHealing": healing.state,
            "control": control,
        }
        if optimizer_status:
            status["optimizer"] = optimizer_status
        if last_good:
            status["lastGoodRevision"] = int(last_good)
        if rollback:
            status["rollback"] = rollback
        status["phase"] = _bot_phase(
            observed=observed,
            paused=spec.paused,
            degraded=healing.degraded,
            halted=bool(control.get("killSwitchApplied")),
        )
        outcome = _finish(body=body, observed=observed, status=status, events=events, writes=writes)
        outcome.restarts = list(healing.restarted)
        outcome.rolled_back = rolled_back_now
        outcome.poll_again_s = next_look_s(
            rolled_back_now=rolled_back_now,
            # Only a running runtime has a health to poll; a pending or crashing pod's changes
            # arrive as watch events. A wait for an old pod (a replacement's too) is looked at
            # again: a lost node's bound passes without any event.
            polling=(pod is not None and pod.running) or handover.waiting,
            rollback_due_s=None if rolled_back_now else rollback_due_s,
            settings=self.settings,
        )
        return outcome

    async def _optimize(
        self,
        *,
        owner: Owner,
        spec: TradingBotSpec,
        raw_spec: Mapping[str, Any],
        body: Mapping[str, Any],
        results: Sequence[OptimizerResult],
        adopted: OptimizerResult | None,
        result_maps: Sequence[Mapping[str, Any]],
        now: datetime,
        enabled: bool,
    ) -> tuple[dict[str, Any], list[Event], int]:
        """Start the optimisation Job that is due and report the results (status.optimizer)."""
        status = dict((body.get("status") or {}).get("optimizer") or {})
        events: list[Event] = []
        writes = 0
        if enabled:
            created = parse_time(body["metadata"].get("creationTimestamp")) or now
            schedule = due_run(
                spec=spec.optimizer,
                previous=status,
                annotations=body["metadata"].get("annotations") or {},
                created_at=created,
                now=now,
            )
            if schedule.run_now is not None:
                job = render_optimizer_job(
                    owner=owner,
                    spec=spec,
                    run=schedule.run_now,
                    based_on=parameters_hash(raw_spec),
                    settings=self.settings,
                )
                try:
                    await self.kube.create(body=self._stamped(job))
                    writes += 1
                except KubeApiError as exc:
                    if not exc.conflict:
                        raise
                status.update(lastScheduledAt=schedule.run_now, lastJob=job["metadata"]["name"])
                events.append(
                    Event(
                        type="Normal",
                        reason="OptimizationStarted",
                        message=f"Job {job['metadata']['name']} ({schedule.run_now})",
                    )
                )
            if spec.optimizer.enabled:
                status["nextRunAt"] = schedule.next_run_at
            else:
                status.pop("nextRunAt", None)
        if results:
            newest = results[0]
            if (status.get("lastResult") or {}).get("job") != newest.job:
                verdict = "beats" if newest.beats_current else "does not beat"
                events.append(
                    Event(
                        type="Normal",
                        reason="OptimizationFinished",
                        message=f"{newest.job} {verdict} the running parameters: {newest.message}",
                    )
                )
            status["lastResult"] = {
                "job": newest.job,
                "beatsCurrent": newest.beats_current,
                "message": newest.message,
            }
        if adopted is not None:
            status["appliedJob"] = adopted.job
        else:
            status.pop("appliedJob", None)
        # Keep the five newest results (and the adopted one); older ones only clutter the namespace.
        keep = {r.job for r in results[:5]} | ({adopted.job} if adopted else set())
        for cm in result_maps:
            job_name = str(cm["metadata"]["name"]).removesuffix("-result")
            if job_name not in keep and await self.kube.delete(
                kind="ConfigMap", namespace=owner.namespace, name=cm["metadata"]["name"]
            ):
                writes += 1
        return status, events, writes

    async def _poll(self, *, pod: PodView | None) -> RuntimeView | None:
        """The runtime's /status over its pod IP; None when there is no running pod to ask."""
        if pod is None or not pod.running or not pod.ip:
            return None
        try:
            answer = await self.runtime.status(host=pod.ip, port=self.settings.runtime_port)
        except RuntimeUnreachableError as exc:
            return RuntimeView(status=None, error=str(exc))
        return RuntimeView(status=answer, error=None)

    async def _deliver_commands(
        self,
        *,
        owner: Owner,
        pod: PodView | None,
        paused: bool,
        annotations: Mapping[str, str],
        control: dict[str, Any],
        runtime: Mapping[str, Any],
    ) -> list[Event]:
        """Send the commands that make the runtime match spec.paused and the annotations."""
        commands = runtime_commands(
            paused=paused, annotations=annotations, control=control, runtime=runtime
        )
        if not commands.names and commands.breaker_reset_value:
            control["breakerResetAcknowledged"] = commands.breaker_reset_value  # nothing was open
        if not commands.names or pod is None or not pod.ip:
            return []
        token = self._tokens.get(owner.uid) or await control_token(
            kube=self.kube, namespace=owner.namespace, bot=owner.name
        )
        if token is None:
            return [
                Event(
                    type="Warning",
                    reason="CommandFailed",
                    message="control token Secret missing; commands not delivered",
                )
            ]
        self._tokens[owner.uid] = token
        events = []
        for name in commands.names:
            try:
                await self.runtime.command(
                    host=pod.ip, port=self.settings.runtime_port, command=name, token=token
                )
            except RuntimeUnreachableError as exc:
                events.append(
                    Event(type="Warning", reason="CommandFailed", message=f"{name}: {exc}")
                )
                continue
            events.append(
                Event(
                    type="Normal", reason="CommandDelivered", message=f"runtime acknowledged {name}"
                )
            )
            if name == "reset-breaker" and commands.breaker_reset_value:
                control["breakerResetAcknowledged"] = commands.breaker_reset_value
            if name == "halt":
                control["killSwitchApplied"] = True
            if name == "unhalt":
                control["killSwitchApplied"] = False
        return events

    def _invalid(
        self, *, body: Mapping[str, Any], problems: Sequence[ValidationProblem]
    ) -> Outcome:
        reason = str(problems[0].reason)
        message = _problems_message(problems)
        return _finish(
            body=body,
            observed=[
                cond.Condition(type=cond.READY, status=False, reason=reason, message=message),
                cond.Condition(type=cond.RECONCILED, status=False, reason=reason, message=message),
            ],
            status={**_carry(body.get("status") or {}), "phase": "Invalid"},
            events=[],
            writes=0,
        )

    async def _not_owned(
        self,
        *,
        body: Mapping[str, Any],
        region: str,
        children: Mapping[ChildKey, Mapping[str, Any]],
    ) -> Outcome:
        owner = _owner(body)
        previous = body.get("status") or {}
        if previous.get("region") == region and previous.get("phase") not in (None, "NotOwned"):
            # The owning region's operator reports on this bot (a cluster shared by regions).
            return Outcome(status=dict(previous))
        removed = 0
        # The bot moved to another region: what this region ran for it must go.
        for (kind, name), obj in children.items():
            mine = (obj.get("metadata", {}).get("labels") or {}).get(
                LABEL_REGION
            ) == self.settings.region
            if (
                kind != "Pod"
                and mine
                and await self.kube.delete(kind=kind, namespace=owner.namespace, name=name)
            ):
                removed += 1
        message = f"bot runs in region {region}; this operator serves {self.settings.region}, the {region} operator reconciles it"
        events = (
            [
                Event(
                    type="Normal",
                    reason="ChildrenRemoved",
                    message=f"removed {removed} children left from this region",
                )
            ]
            if removed
            else []
        )
        return _finish(
            body=body,
            observed=[
                cond.Condition(
                    type=cond.READY, status=False, reason="OwnedByOtherRegion", message=message
                ),
                cond.Condition(
                    type=cond.RECONCILED, status=False, reason="OwnedByOtherRegion", message=message
                ),
            ],
            status={"phase": "NotOwned", "region": region},
            events=events,
            writes=removed,
        )

    async def _missing_credentials(self, *, owner: Owner, spec: TradingBotSpec) -> str | None:
        if spec.credentials is None:
            return None
        ref = spec.credentials.secret_ref
        secret = await self.kube.get(kind="Secret", namespace=owner.namespace, name=ref.name)
        if secret is None:
            return f"Secret {ref.name!r} not found in namespace {owner.namespace}"
        present = set((secret.get("data") or {}).keys()) | set(
            (secret.get("stringData") or {}).keys()
        )
        wanted = [ref.api_key_key, ref.api_secret_key] + (
            [ref.passphrase_key] if ref.passphrase_key else []
        )
        absent = [key for key in wanted if key not in present]
        if absent:
            return f"Secret {ref.name!r} has no key(s) {', '.join(absent)}"
        return None

    async def _converge(
        self,
        *,
        desired: Sequence[Mapping[str, Any]],
        children: Mapping[ChildKey, Mapping[str, Any]],
        events: list[Event],
        was_reconciled: bool,
    ) -> int:
        """Apply every child that is missing or drifted; return how many were written.

        Children a workload needs (its ServiceAccount is checked when the pod is admitted) are
        applied together first, workloads after them: a new bot costs two round trips, not six.
        """
        stamped = [self._stamped(obj) for obj in desired]
        waves = (
            [obj for obj in stamped if obj["kind"] not in _WORKLOAD_KINDS],
            [obj for obj in stamped if obj["kind"] in _WORKLOAD_KINDS],
        )
        writes = 0
        for wave in waves:
            repairs = await asyncio.gather(
                *(self._converge_child(obj=obj, children=children) for obj in wave)
            )
            for obj, repaired in zip(wave, repairs, strict=True):
                if repaired is None:
                    continue
                writes += 1
                if was_reconciled and obj["kind"] != "ControllerRevision":
                    events.append(
                        Event(
                            type="Warning",
                            reason="DriftRepaired",
                            message=f"{obj['kind']} {obj['metadata']['name']} {repaired}",
                        )
                    )
        return writes

    async def _converge_child(
        self, *, obj: Mapping[str, Any], children: Mapping[ChildKey, Mapping[str, Any]]
    ) -> str | None:
        """Apply ``obj`` if it is missing or drifted; say what was wrong, or None if in sync."""
        key = (str(obj["kind"]), str(obj["metadata"]["name"]))
        actual = self._observed(
            namespace=str(obj["metadata"]["namespace"]), key=key, indexed=children.get(key)
        )
        if actual is not None and object_in_sync(actual=actual, desired=obj):
            return None
        log.info(
            "%s %s/%s: %s",
            "creating" if actual is None else "repairing",
            obj["metadata"]["namespace"],
            key[1],
            key[0],
        )
        try:
            answer = await self.kube.apply(body=dict(obj))
        except KubeApiError as exc:
            if exc.status != 422 or actual is None:
                raise
            # Someone else's fields make the merged object invalid (a hand-set rollingUpdate
            # under our Recreate): replace the whole object with what we rendered.
            meta = {**obj["metadata"], "resourceVersion": actual["metadata"]["resourceVersion"]}
            answer = await self.kube.replace(body={**obj, "metadata": meta})
        self._applied[(str(obj["metadata"]["namespace"]), *key)] = (
            time.monotonic(),
            resource_version(answer),
            pack_object(answer),
        )
        return "was missing and was recreated" if actual is None else "had drifted and was restored"

    def _stamped(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """``obj`` labelled with this operator's region, so another region's operator sharing the
        cluster never takes it for a leftover of its own."""
        meta = dict(obj["metadata"])
        meta["labels"] = {**(meta.get("labels") or {}), LABEL_REGION: self.settings.region}
        return {**obj, "metadata": meta}

    def _observed(
        self, *, namespace: str, key: ChildKey, indexed: Mapping[str, Any] | None
    ) -> Mapping[str, Any] | None:
        """The freshest known version of a child: the index's, or our own newer write."""
        cache_key = (namespace, *key)
        applied = self._applied.get(cache_key)
        if applied is None:
            return indexed
        written_at, written_version, packed = applied
        if time.monotonic() - written_at > APPLIED_CACHE_TTL_S or (
            indexed is not None and resource_version(indexed) >= written_version
        ):
            del self._applied[cache_key]
            return indexed
        return unpack_object(packed)

    def child_observed(self, *, obj: Mapping[str, Any]) -> None:
        """The watch delivered ``obj``, changed or deleted: a write of ours it has caught up with
        is no longer newer than the index. Without this, a child deleted soon after we wrote it
        would look present to the next pass until the cached write expired."""
        meta = obj.get("metadata") or {}
        cache_key = (str(meta.get("namespace")), str(obj.get("kind")), str(meta.get("name")))
        applied = self._applied.get(cache_key)
        if applied is not None and resource_version(obj) >= applied[1]:
            del self._applied[cache_key]

    async def _ensure_control_secret(self, *, owner: Owner) -> int:
        if owner.uid in self._control_secrets:
            return 0
        # Create and let a conflict say it exists: for a new bot that is one round trip, not two.
        try:
            await self.kube.create(
                body=self._stamped(
                    render_control_secret(owner=owner, token=secrets.token_urlsafe(32))
                )
            )
        except KubeApiError as exc:
            if not exc.conflict:
                raise
            self._control_secrets.add(owner.uid)
            return 0
        self._control_secrets.add(owner.uid)
        return 1

    def _parsed_spec(
        self, *, body: Mapping[str, Any]
    ) -> tuple[TradingBotSpec | None, Sequence[ValidationProblem]]:
        """The bot's parsed spec and its problems, computed once per generation: most passes are
        woken by child or status changes, and parsing is the costliest step of a steady pass."""
        uid = str(body["metadata"]["uid"])
        generation = int(body["metadata"].get("generation") or 0)
        cached = self._specs.get(uid)
        if cached is not None and cached[0] == generation:
            return cached[1], cached[2]
        spec: TradingBotSpec | None
        problems: Sequence[ValidationProblem]
        try:
            spec = parse_trading_bot_spec(body.get("spec") or {})
            problems = validate_trading_bot_spec(spec)
        except SpecError as exc:
            spec = None
            problems = [
                ValidationProblem(
                    field=exc.field, reason=ProblemReason.INVALID_SPEC, message=str(exc)
                )
            ]
        self._specs[uid] = (generation, spec, problems)
        return spec, problems

    def forget(self, *, uid: str) -> None:
        """Drop per-bot memory when a bot is deleted or its daemon restarts."""
        self._control_secrets.discard(uid)
        self._tokens.pop(uid, None)
        self._specs.pop(uid, None)

    async def _prune_revisions(
        self, *, owner: Owner, kept: Sequence[Mapping[str, Any]], current: int, keep: Any
    ) -> int:
        ordered = sorted(kept, key=lambda obj: int(obj.get("revision", 0)), reverse=True)
        deleted = 0
        for obj in ordered[self.settings.revision_history_limit :]:
            if int(obj.get("revision", 0)) in (current, keep):
                continue
            if await self.kube.delete(
                kind="ControllerRevision", namespace=owner.namespace, name=obj["metadata"]["name"]
            ):
                deleted += 1
        return deleted

    # -- SignalSource -------------------------------------------------------------------------

    async def reconcile_source(
        self,
        *,
        body: Mapping[str, Any],
        children: Mapping[ChildKey, Mapping[str, Any]],
        consumers: int,
    ) -> Outcome:
        owner = _owner(body)
        try:
            spec = parse_signal_source_spec(body.get("spec") or {})
            problems = validate_signal_source_spec(spec)
        except SpecError as exc:
            spec = None
            problems = [
                ValidationProblem(
                    field=exc.field, reason=ProblemReason.INVALID_SPEC, message=str(exc)
                )
            ]
        if spec is None or problems:
            return self._invalid(body=body, problems=problems)
        desired = render_source_children(
            owner=owner, spec=spec, raw_spec=body.get("spec") or {}, settings=self.settings
        )
        events: list[Event] = []
        writes = await self._converge(
            desired=desired,
            children=children,
            events=events,
            was_reconciled=bool((body.get("status") or {}).get("phase")),
        )
        deployment = children.get(("Deployment", child_name(owner=owner.name, suffix="sigsrc")))
        available = bool(
            deployment and int((deployment.get("status") or {}).get("availableReplicas") or 0) >= 1
        )
        previous = body.get("status") or {}
        published = {k: v for k, v in previous.items() if k in ("lastPublished", "lastValues")}
        pods = [
            obj
            for (kind, _), obj in children.items()
            if kind == "Pod" and not obj.get("metadata", {}).get("deletionTimestamp")
        ]
        runtime = await self._poll(pod=_pod_view(pods[0]) if pods else None)
        if runtime is not None and runtime.status is not None:
            published.update(source_figures(runtime.status))
        now = datetime.now(UTC)
        last = parse_time(published.get("lastPublished"))
        # A source is healthy while it publishes; three missed intervals make it stale.
        stale_after = 3 * spec.interval_seconds
        fresh = last is not None and (now - last).total_seconds() <= stale_after
        if spec.paused:
            phase, ready = (
                "Paused",
                cond.Condition(
                    type=cond.READY, status=False, reason="Paused", message="spec.paused is true"
                ),
            )
        elif available and fresh:
            phase, ready = (
                "Running",
                cond.Condition(
                    type=cond.READY,
                    status=True,
                    reason="Publishing",
                    message=f"last value published at {published['lastPublished']}",
                ),
            )
        elif available:
            phase, ready = (
                "Degraded" if last else "Running",
                cond.Condition(
                    type=cond.READY,
                    status=False,
                    reason="NotPublishing",
                    message=f"no value published in the last {stale_after}s"
                    if last
                    else "waiting for the first published value",
                ),
            )
        else:
            phase, ready = (
                "Pending",
                cond.Condition(
                    type=cond.READY,
                    status=False,
                    reason="WaitingForPod",
                    message="source pod is not ready yet",
                ),
            )
        observed = [
            ready,
            cond.Condition(
                type=cond.RECONCILED,
                status=True,
                reason="ChildrenInSync",
                message=f"{len(desired)} children in sync",
            ),
        ]
        status = {
            **published,
            "phase": phase,
            "endpoint": signal_stream_key(namespace=owner.namespace, source=owner.name),
            "consumers": consumers,
        }
        outcome = _finish(body=body, observed=observed, status=status, events=events, writes=writes)
        outcome.poll_again_s = self.settings.health_poll_interval_s if pods else None
        return outcome


# Status fields that later features (runtime polling, self-healing) own; a reconcile keeps them.
_CARRIED = (
    "equity",
    "pnl",
    "pnlPct",
    "drawdownPct",
    "position",
    "regime",
    "lastSignal",
    "circuitBreaker",
    "lastHeartbeat",
    "lastGoodRevision",
)


def next_look_s(
    *,
    rolled_back_now: bool,
    polling: bool,
    rollback_due_s: float | None,
    settings: OperatorSettings,
) -> float | None:
    """How soon a bot's next pass must come without any change to wake it, if it must."""
    if rolled_back_now:
        return 0.0  # at once: the next pass restores the last good revision
    candidates = [settings.health_poll_interval_s] if polling else []
    if rollback_due_s is not None:
        # The revision's start is recorded to the second: one more makes the deadline passed.
        candidates.append(max(rollback_due_s, 0.0) + 1.0)
    return min(candidates) if candidates else None


def _carry(previous: Mapping[str, Any]) -> dict[str, Any]:
    return {k: previous[k] for k in _CARRIED if k in previous}


def _workload_conditions(
    *, deployment: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]], revision: Revision
) -> tuple[list[cond.Condition], dict[str, Any]]:
    figures: dict[str, Any] = {"restarts": 0}
    current_pods = [
        p
        for p in pods
        if (p.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_REVISION)
        == str(revision.number)
        and not p.get("metadata", {}).get("deletionTimestamp")
    ]
    if current_pods:
        pod = current_pods[0]
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            figures["node"] = node
        figures["restarts"] = sum(
            int(cs.get("restartCount") or 0)
            for cs in (pod.get("status") or {}).get("containerStatuses") or []
        )
    if deployment is None:
        msg = f"creating the workload for revision {revision.number}"
        return [
            cond.Condition(type=cond.READY, status=False, reason="WorkloadCreating", message=msg),
            cond.Condition(
                type=cond.PROGRESSING, status=True, reason=ROLLOUT_IN_PROGRESS, message=msg
            ),
        ], figures
    dep_status = deployment.get("status") or {}
    template_rev = (
        (((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {})
        .get("annotations", {})
        .get(ANNOTATION_REVISION)
    )
    rolled = (
        template_rev == str(revision.number)
        and int(dep_status.get("observedGeneration") or 0)
        >= int(deployment["metadata"].get("generation") or 0)
        and int(dep_status.get("updatedReplicas") or 0) >= 1
    )
    available = rolled and int(dep_status.get("availableReplicas") or 0) >= 1
    if available:
        return [
            cond.Condition(
                type=cond.READY,
                status=True,
                reason="RuntimeAvailable",
                message=f"revision {revision.number} is running and ready",
            ),
            cond.Condition(
                type=cond.PROGRESSING,
                status=False,
                reason="RolloutComplete",
                message=f"revision {revision.number} rolled out",
            ),
        ], figures
    reason, message = _pod_wait_reason(pods=current_pods, revision=revision)
    return [
        cond.Condition(type=cond.READY, status=False, reason=reason, message=message),
        cond.Condition(
            type=cond.PROGRESSING, status=True, reason=ROLLOUT_IN_PROGRESS, message=message
        ),
    ], figures


def _pod_wait_reason(*, pods: Sequence[Mapping[str, Any]], revision: Revision) -> tuple[str, str]:
    if not pods:
        return "WaitingForPod", f"waiting for the pod of revision {revision.number}"
    pod = pods[0]
    name = pod["metadata"]["name"]
    pod_status = pod.get("status") or {}
    for c in pod_status.get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            return "Unschedulable", f"pod {name} cannot be scheduled: {c.get('message', '')}"
    for cs in pod_status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return (
                "PodNotReady",
                f"pod {name}: {waiting.get('reason', 'Waiting')} {waiting.get('message', '')}".strip(),
            )
    if not (pod.get("spec") or {}).get("nodeName"):
        return "WaitingForPod", f"pod {name} is waiting to be scheduled"
    return "PodNotReady", f"pod {name} on {pod['spec']['nodeName']} is not ready yet"


def _signal_sources(
    *, spec: TradingBotSpec, sources: Mapping[str, SourceState]
) -> tuple[list[dict[str, Any]], cond.Condition | None]:
    refs = spec.strategy.signal_sources
    if not refs:
        return [], None
    rows = []
    missing, unready = [], []
    for ref in refs:
        state = sources.get(ref.name)
        found = state is not None
        ready = bool(state and state.ready)
        if not found:
            missing.append(ref.name)
        elif not ready:
            unready.append(ref.name)
        rows.append(
            {
                "name": ref.name,
                "found": found,
                "ready": ready,
                "weightApplied": ref.weight if ready else 0.0,
            }
        )
    if missing:
        message = f"SignalSource(s) not found: {', '.join(missing)}; their weight is redistributed over the available signals"
        return rows, cond.Condition(
            type=cond.SIGNAL_SOURCES_READY,
            status=False,
            reason="SignalSourceMissing",
            message=message,
        )
    if unready:
        message = f"SignalSource(s) not ready: {', '.join(unready)}; their weight is redistributed until they publish"
        return rows, cond.Condition(
            type=cond.SIGNAL_SOURCES_READY,
            status=False,
            reason="SignalSourceNotReady",
            message=message,
        )
    return rows, cond.Condition(
        type=cond.SIGNAL_SOURCES_READY,
        status=True,
        reason="AllSourcesReady",
        message=f"{len(refs)} source(s) ready",
    )


def _history_row(
    *, number: int, config_hash: str, created_at: str, optimizer: Mapping[str, Any] | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "revision": number,
        "hash": config_hash,
        "createdAt": created_at,
        "source": "optimizer" if optimizer else "spec",
    }
    if optimizer:
        row["reason"] = f"optimisation {optimizer.get('job')}: {optimizer.get('reason', '')}"[:1024]
    return row


def _revision_history(
    *, kept: Sequence[Mapping[str, Any]], current: Revision
) -> list[dict[str, Any]]:
    """Newest first: each revision's number, hash, time, and where it came from (spec or optimizer)."""
    rows = {
        int(obj.get("revision", 0)): _history_row(
            number=int(obj.get("revision", 0)),
            config_hash=(obj["metadata"].get("annotations") or {}).get(ANNOTATION_CONFIG_HASH, ""),
            created_at=obj["metadata"].get("creationTimestamp", ""),
            optimizer=(obj.get("data") or {}).get("optimizer"),
        )
        for obj in kept
    }
    rows.setdefault(
        current.number,
        _history_row(
            number=current.number,
            config_hash=current.config_hash,
            created_at=cond.now_rfc3339(),
            optimizer=current.content.get("optimizer"),
        ),
    )
    return [rows[n] for n in sorted(rows, reverse=True)[:10]]


def _bot_phase(
    *, observed: Sequence[cond.Condition], paused: bool, degraded: bool, halted: bool
) -> str:
    by_type = {c.type: c for c in observed}
    breaker = by_type.get(cond.CIRCUIT_BREAKER_OPEN)
    if degraded:
        return "Degraded"
    if halted or (breaker is not None and breaker.status):
        return "Halted"
    ready = by_type.get(cond.READY)
    if ready is not None and ready.status:
        return "Paused" if paused else "Running"
    progressing = by_type.get(cond.PROGRESSING)
    if progressing is not None and progressing.status:
        return "Progressing"
    return "Pending"


def _pod_view(pod: Mapping[str, Any]) -> PodView:
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    running = [(c.get("state") or {}).get("running") for c in containers]
    all_running = status.get("phase") == "Running" and bool(running) and all(running)
    # The health grace period counts from the latest container (re)start, not the pod's birth.
    starts = [parse_time(r.get("startedAt")) for r in running if r]
    return PodView(
        name=str(pod["metadata"]["name"]),
        ip=status.get("podIP"),
        running=all_running,
        restart_count=sum(int(c.get("restartCount") or 0) for c in containers),
        started_at=max((s for s in starts if s is not None), default=None),
    )


def _restart_message(cause: str, healing: HealingDecision) -> str:
    latest = next(
        (r for r in healing.state.get("recentRestarts") or [] if r.get("cause") == cause), None
    )
    return f"{cause}: {latest['message']}" if latest else cause


def _ready_message(observed: Sequence[cond.Condition]) -> str:
    ready = next((c for c in observed if c.type == cond.READY), None)
    return ready.message if ready is not None else "not ready"


def _rolled_back_condition(*, rollback: Mapping[str, Any], pinned: bool) -> cond.Condition:
    if pinned and rollback:
        return cond.Condition(
            type=cond.ROLLED_BACK,
            status=True,
            reason="ProgressDeadlineExceeded",
            message=f"running revision {rollback.get('toRevision')} instead of failed revision "
            f"{rollback.get('fromRevision')}: {rollback.get('reason', '')}; change the spec to roll forward",
        )
    if rollback:
        return cond.Condition(
            type=cond.ROLLED_BACK,
            status=False,
            reason="RolledForward",
            message=f"the spec changed after the rollback of revision {rollback.get('fromRevision')}",
        )
    return cond.Condition(
        type=cond.ROLLED_BACK, status=False, reason="NoRollback", message="no rollback happened"
    )
