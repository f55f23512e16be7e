"""A TradingBot's status from what one pass observed: conditions with named reasons, and the phase.

Also the outcome of a pass over an invalid resource (a SignalSource's too: its phase is the same
word).

Pure functions, no I/O, called by the reconciler (:mod:`tradefleet_operator.reconcile`). Every
condition type, reason and phase comes from :mod:`tradefleet_operator.spec.vocabulary`, where each
is documented. Conditions follow the Kubernetes conventions; the phase is a summary of them
(:func:`bot_phase`), never a state of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tradefleet_operator import conditions as cond
from tradefleet_operator.account_terms import AccountTerms, AccountView, AccountWait, bot_terms
from tradefleet_operator.healing import HealingDecision, termination_text
from tradefleet_operator.outcome import Outcome, finish
from tradefleet_operator.render import ANNOTATION_CONFIG_HASH, ANNOTATION_REVISION, Revision
from tradefleet_operator.revisions import RevisionPlan, RollbackDecision, RolloutSlots
from tradefleet_operator.spec import (
    BotPhase,
    ProblemReason,
    SpecError,
    TradingBotSpec,
    ValidationProblem,
    split_symbol,
)
from tradefleet_operator.spec.vocabulary import ConditionType, Reason
from tradefleet_operator.trading import blocks_ready, trading_phase

# Status fields that later features (runtime polling, self-healing) own; a reconcile keeps them.
CARRIED = (
    "equity",
    "pnl",
    "pnlPct",
    "drawdownPct",
    "requestsPerMinute",
    "balance",
    "position",
    "regime",
    "ml",
    "lastSignal",
    "circuitBreaker",
    "lastHeartbeat",
    "lastGoodRevision",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceState:
    """What a bot needs to know about a SignalSource it references: whether it publishes, and the
    symbols its last values say something about (confidence above 0)."""

    ready: bool
    phase: str
    confident_symbols: frozenset[str] = frozenset()


def source_state(status: Mapping[str, Any]) -> SourceState:
    """A SignalSource's :class:`SourceState` from its ``status`` (Ready, ``lastValues``)."""
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
        if isinstance(c, Mapping)
    )
    confident = set()
    for row in status.get("lastValues") or []:
        if not isinstance(row, Mapping) or not isinstance(row.get("symbol"), str):
            continue
        confidence = row.get("confidence")
        if isinstance(confidence, int | float) and confidence > 0:
            confident.add(row["symbol"])
    return SourceState(
        ready=ready,
        phase=str(status.get("phase") or "Pending"),
        confident_symbols=frozenset(confident),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Refusal:
    """Why this operator does not run a bot of its region: its conditions and status."""

    observed: Sequence[cond.Condition]
    status: Mapping[str, Any]
    # Whether an earlier revision's runtime of this region may still run and must be guarded.
    guarded: bool = True


def carry(previous: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of the previous status that a pass which cannot observe them keeps."""
    return {k: previous[k] for k in CARRIED if k in previous}


def _pair(*, types: Sequence[ConditionType], reason: str, message: str) -> list[cond.Condition]:
    return [cond.Condition(type=t, status=False, reason=reason, message=message) for t in types]


def invalid_conditions(problems: Sequence[ValidationProblem]) -> list[cond.Condition]:
    """Ready and Reconciled False with the first problem's reason; the message names each field."""
    message = "; ".join(f"{p.field}: {p.message}" for p in problems)
    return _pair(
        types=(ConditionType.READY, ConditionType.RECONCILED),
        reason=str(problems[0].reason),
        message=message,
    )


def spec_problem(exc: SpecError) -> ValidationProblem:
    """A spec the parser refuses, as a validation problem naming the field."""
    return ValidationProblem(field=exc.field, reason=ProblemReason.INVALID_SPEC, message=str(exc))


def invalid_refusal(
    *, body: Mapping[str, Any], problems: Sequence[ValidationProblem], region: str | None
) -> Refusal:
    """Why an invalid TradingBot is not run: phase Invalid, Ready and Reconciled False."""
    status = {**carry(body.get("status") or {}), "phase": str(BotPhase.INVALID)}
    if region is not None:
        status["region"] = region
    return Refusal(observed=invalid_conditions(problems), status=status)


def apply_failed(*, body: Mapping[str, Any], region: str, error: str) -> Outcome:
    """The outcome of a pass whose writes the apiserver refused: Reconciled False, the rest of
    the status as it was (this operator's region on it, so another region's leaves it alone)."""
    previous = body.get("status") or {}
    message = f"the apiserver refused a write: {error}"[:4096]
    types = [ConditionType.RECONCILED]
    phase = previous.get("phase")
    if phase in (None, BotPhase.NOT_OWNED):
        # Nothing of this operator's ran yet, or another region's operator spoke first: this
        # operator owns the bot, and says why it does not run.
        phase = BotPhase.PENDING
        types.append(ConditionType.READY)
    status = {**previous, "region": region, "phase": str(phase)}
    return finish(
        body=body,
        observed=_pair(types=types, reason=Reason.APPLY_FAILED, message=message),
        status=status,
        events=[],
        writes=0,
    )


def invalid_outcome(
    *, body: Mapping[str, Any], problems: Sequence[ValidationProblem], region: str | None = None
) -> Outcome:
    """The outcome of a pass over an invalid TradingBot or SignalSource: phase Invalid, and
    Ready and Reconciled False with the reason and every field's problem (and the owner's region,
    when there is one)."""
    status = {**carry(body.get("status") or {}), "phase": str(BotPhase.INVALID)}
    if region is not None:
        status["region"] = region
    return finish(
        body=body,
        observed=invalid_conditions(problems),
        status=status,
        events=[],
        writes=0,
    )


def on_account(
    *, body: Mapping[str, Any], spec: TradingBotSpec, view: AccountView | None, region: str
) -> tuple[TradingBotSpec, AccountTerms] | Refusal:
    """The bot's spec with its ExchangeAccount's keys and its terms there; or why it waits
    (Pending) or may not trade there (Invalid)."""
    meta = body["metadata"]
    bound = bot_terms(
        name=str(meta["name"]), namespace=str(meta["namespace"]), spec=spec, view=view
    )
    if isinstance(bound, ValidationProblem):
        return invalid_refusal(body=body, problems=[bound], region=region)
    if isinstance(bound, AccountWait):
        return pending_refusal(body=body, reason=bound.reason, message=bound.message, region=region)
    return bound


def pending_refusal(
    *, body: Mapping[str, Any], reason: Reason, message: str, region: str
) -> Refusal:
    """Why a bot of this region waits (its credentials Secret, its ExchangeAccount): phase
    Pending, Ready and Reconciled False with ``reason``."""
    return Refusal(
        observed=_pair(
            types=(ConditionType.READY, ConditionType.RECONCILED), reason=reason, message=message
        ),
        status={
            **carry(body.get("status") or {}),
            "phase": str(BotPhase.PENDING),
            "region": region,
        },
    )


def not_owned_conditions(*, region: str, what: str = "bot") -> list[cond.Condition]:
    """Ready and Reconciled False, OwnedByOtherRegion. The same words from every region's operator
    that is not the owner: two of them sharing a cluster never rewrite each other's status."""
    message = f"{what} runs in region {region}; only the {region} operator reconciles it"
    return _pair(
        types=(ConditionType.READY, ConditionType.RECONCILED),
        reason=Reason.OWNED_BY_OTHER_REGION,
        message=message,
    )


def _current_pods(
    *, pods: Sequence[Mapping[str, Any]], revision: Revision
) -> list[Mapping[str, Any]]:
    return [
        p
        for p in pods
        if (p.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_REVISION)
        == str(revision.number)
        and not p.get("metadata", {}).get("deletionTimestamp")
    ]


def pod_figures(*, pods: Sequence[Mapping[str, Any]], revision: Revision) -> dict[str, Any]:
    """``node`` and container ``restarts`` of the revision's pod."""
    figures: dict[str, Any] = {"restarts": 0}
    current = _current_pods(pods=pods, revision=revision)
    if current:
        pod = current[0]
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            figures["node"] = node
        figures["restarts"] = sum(
            int(cs.get("restartCount") or 0)
            for cs in (pod.get("status") or {}).get("containerStatuses") or []
        )
    return figures


def workload_conditions(
    *, deployment: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]], revision: Revision
) -> list[cond.Condition]:
    """Ready and Progressing from the Deployment's rollout of ``revision`` and its pod."""
    if deployment is None:
        msg = f"creating the workload for revision {revision.number}"
        return [
            cond.Condition(
                type=ConditionType.READY,
                status=False,
                reason=Reason.WORKLOAD_CREATING,
                message=msg,
            ),
            cond.Condition(
                type=ConditionType.PROGRESSING,
                status=True,
                reason=Reason.ROLLOUT_IN_PROGRESS,
                message=msg,
            ),
        ]
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
    if rolled and int(dep_status.get("availableReplicas") or 0) >= 1:
        return [
            cond.Condition(
                type=ConditionType.READY,
                status=True,
                reason=Reason.RUNTIME_AVAILABLE,
                message=f"revision {revision.number} is running and ready",
            ),
            cond.Condition(
                type=ConditionType.PROGRESSING,
                status=False,
                reason=Reason.ROLLOUT_COMPLETE,
                message=f"revision {revision.number} rolled out",
            ),
        ]
    reason, message = pod_wait_reason(
        pods=_current_pods(pods=pods, revision=revision), revision=revision
    )
    return [
        cond.Condition(type=ConditionType.READY, status=False, reason=reason, message=message),
        cond.Condition(
            type=ConditionType.PROGRESSING,
            status=True,
            reason=Reason.ROLLOUT_IN_PROGRESS,
            message=message,
        ),
    ]


# Waiting reasons of the runtime's container that have a reason of their own.
_WAITING_REASONS = {
    str(r): r
    for r in (
        Reason.CRASH_LOOP_BACK_OFF,
        Reason.IMAGE_PULL_BACK_OFF,
        Reason.ERR_IMAGE_PULL,
        Reason.INVALID_IMAGE_NAME,
        Reason.CREATE_CONTAINER_CONFIG_ERROR,
        Reason.CREATE_CONTAINER_ERROR,
        Reason.RUN_CONTAINER_ERROR,
    )
}
# Reasons that mean the runtime cannot start at all: the bot is Failed until its spec changes.
CANNOT_START = frozenset(
    {
        Reason.IMAGE_PULL_BACK_OFF,
        Reason.ERR_IMAGE_PULL,
        Reason.INVALID_IMAGE_NAME,
        Reason.CREATE_CONTAINER_CONFIG_ERROR,
    }
)


def pod_wait_reason(*, pods: Sequence[Mapping[str, Any]], revision: Revision) -> tuple[Reason, str]:
    """Why the revision's pod is not ready yet, from the pod's own conditions and states: the
    kubelet's waiting reason, and how the container last ended (its termination message)."""
    if not pods:
        return Reason.WAITING_FOR_POD, f"waiting for the pod of revision {revision.number}"
    pod = pods[0]
    name = pod["metadata"]["name"]
    pod_status = pod.get("status") or {}
    for c in pod_status.get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            return Reason.UNSCHEDULABLE, f"pod {name} cannot be scheduled: {c.get('message', '')}"
    statuses = pod_status.get("containerStatuses") or []
    ended = next((text for cs in statuses if (text := termination_text(cs)) is not None), None)
    last = f"; last exit: {ended}" if ended else ""
    for cs in statuses:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            word = str(waiting.get("reason") or "Waiting")
            detail = f"pod {name}: {word} {waiting.get('message', '')}".strip()
            return _WAITING_REASONS.get(word, Reason.POD_NOT_READY), detail + last
    if not (pod.get("spec") or {}).get("nodeName"):
        return Reason.WAITING_FOR_POD, f"pod {name} is waiting to be scheduled"
    return Reason.POD_NOT_READY, f"pod {name} on {pod['spec']['nodeName']} is not ready yet{last}"


def signal_sources(
    *, spec: TradingBotSpec, sources: Mapping[str, SourceState]
) -> tuple[list[dict[str, Any]], cond.Condition | None]:
    """``status.signalSources`` and the SignalSourcesReady condition (None: no source referenced)."""
    refs = spec.strategy.signal_sources
    if not refs:
        return [], None
    # The runtime reads a futures symbol's spot pair too (BTC/USDT:USDT reads BTC/USDT).
    symbols = {spec.symbol, split_symbol(symbol=spec.symbol, field="spec.symbol").spot_symbol}
    rows = []
    missing, unready, silent = [], [], []
    for ref in refs:
        state = sources.get(ref.name)
        found = state is not None
        ready = bool(state and state.ready and symbols & state.confident_symbols)
        if not found:
            missing.append(ref.name)
        elif not (state and state.ready):
            unready.append(ref.name)
        elif not ready:
            silent.append(ref.name)
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
            type=ConditionType.SIGNAL_SOURCES_READY,
            status=False,
            reason=Reason.SIGNAL_SOURCE_MISSING,
            message=message,
        )
    if unready or silent:
        parts = [f"not ready: {', '.join(unready)}"] if unready else []
        if silent:
            parts.append(
                f"publishing no value with confidence above 0 for {spec.symbol}: {', '.join(silent)}"
            )
        message = (
            f"SignalSource(s) {'; '.join(parts)}; their weight is redistributed until they publish"
        )
        return rows, cond.Condition(
            type=ConditionType.SIGNAL_SOURCES_READY,
            status=False,
            reason=Reason.SIGNAL_SOURCE_NOT_READY,
            message=message,
        )
    return rows, cond.Condition(
        type=ConditionType.SIGNAL_SOURCES_READY,
        status=True,
        reason=Reason.ALL_SOURCES_READY,
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
        row["reason"] = f"optimization {optimizer.get('job')}: {optimizer.get('reason', '')}"[:1024]
    return row


def revision_history(
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


_STOPPED_PHASES = frozenset({BotPhase.HALTED, BotPhase.PAUSED, BotPhase.DEGRADED})


def bot_phase(
    *,
    observed: Sequence[cond.Condition],
    paused: bool,
    degraded: bool,
    halted: bool,
    workload_ready: bool,
    trading: cond.Condition | None = None,
) -> BotPhase:
    """The phase the conditions add up to, worst first: the restart budget, a halt, then what the
    runtime says about trading while its workload is available, then the rollout."""
    by_type = {c.type: c for c in observed}
    breaker = by_type.get(ConditionType.CIRCUIT_BREAKER_OPEN)
    if degraded:
        return BotPhase.DEGRADED
    ready = by_type.get(ConditionType.READY)
    if ready is not None and not ready.status and ready.reason in CANNOT_START:
        return BotPhase.FAILED
    if halted or (breaker is not None and breaker.status):
        return BotPhase.HALTED
    implied = trading_phase(trading) if trading is not None else None
    # A runtime that says it is halted, paused or cannot trade is believed whether or not its pod
    # is ready: a runtime halted at start (a rejected key) never becomes ready.
    if implied is not None and (workload_ready or implied in _STOPPED_PHASES):
        return implied
    if workload_ready:
        return BotPhase.PAUSED if paused else BotPhase.RUNNING
    progressing = by_type.get(ConditionType.PROGRESSING)
    if progressing is not None and progressing.status:
        return BotPhase.PROGRESSING
    return BotPhase.PENDING


def with_trading(
    *, observed: Sequence[cond.Condition], trading: cond.Condition
) -> list[cond.Condition]:
    """``observed`` plus Trading; a stop that keeps the bot from its job makes it not Ready, with
    the runtime's reason (more precise than a pod that is not ready)."""
    if not blocks_ready(trading):
        return [*observed, trading]
    ready = cond.Condition(
        type=ConditionType.READY, status=False, reason=trading.reason, message=trading.message
    )
    return [*(ready if c.type == ConditionType.READY else c for c in observed), trading]


def restart_message(cause: str, healing: HealingDecision) -> str:
    """A restart's event message: its cause and what the latest restart of that cause said."""
    latest = next(
        (r for r in healing.state.get("recentRestarts") or [] if r.get("cause") == cause), None
    )
    return f"{cause}: {latest['message']}" if latest else cause


def ready_message(observed: Sequence[cond.Condition]) -> str:
    ready = next((c for c in observed if c.type == ConditionType.READY), None)
    return ready.message if ready is not None else "not ready"


def rolled_back_condition(*, rollback: Mapping[str, Any], pinned: bool) -> cond.Condition:
    if pinned and rollback:
        return cond.Condition(
            type=ConditionType.ROLLED_BACK,
            status=True,
            reason=Reason.PROGRESS_DEADLINE_EXCEEDED,
            message=f"running revision {rollback.get('toRevision')} instead of failed revision "
            f"{rollback.get('fromRevision')}: {rollback.get('reason', '')}; change the spec to roll forward",
        )
    if rollback:
        return cond.Condition(
            type=ConditionType.ROLLED_BACK,
            status=False,
            reason=Reason.ROLLED_FORWARD,
            message=f"the spec changed after the rollback of revision {rollback.get('fromRevision')}",
        )
    return cond.Condition(
        type=ConditionType.ROLLED_BACK,
        status=False,
        reason=Reason.NO_ROLLBACK,
        message="no rollback happened",
    )


def reconciled_condition(*, children: int, revision: Revision) -> cond.Condition:
    return cond.Condition(
        type=ConditionType.RECONCILED,
        status=True,
        reason=Reason.CHILDREN_IN_SYNC,
        message=f"{children} children in sync at revision {revision.number}",
    )


def paused_condition(*, paused: bool) -> cond.Condition:
    return cond.Condition(
        type=ConditionType.PAUSED,
        status=paused,
        reason=Reason.PAUSED_BY_SPEC if paused else Reason.TRADING,
        message="spec.paused is true: no new positions" if paused else "trading is enabled",
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class BotStatusParts:
    """Everything a running bot's status is built from, besides its conditions."""

    previous: Mapping[str, Any]
    figures: Mapping[str, Any]
    region: str
    plan: RevisionPlan
    kept: Sequence[Mapping[str, Any]]
    sources: Sequence[Mapping[str, Any]]
    self_healing: Mapping[str, Any]
    control: Mapping[str, Any]
    optimizer: Mapping[str, Any]
    rollback: RollbackDecision


def bot_status(*, parts: BotStatusParts, phase: BotPhase) -> dict[str, Any]:
    """The status of a bot this operator runs (conditions and observedGeneration aside)."""
    status: dict[str, Any] = {
        **carry(parts.previous),
        **parts.figures,
        "region": parts.region,
        "currentRevision": parts.plan.revision.number,
        "currentRevisionSince": parts.plan.since,
        "revisionHistory": revision_history(kept=parts.kept, current=parts.plan.revision),
        "signalSources": list(parts.sources),
        "selfHealing": dict(parts.self_healing),
        "control": dict(parts.control),
    }
    if parts.optimizer:
        status["optimizer"] = dict(parts.optimizer)
    if parts.rollback.last_good:
        status["lastGoodRevision"] = int(parts.rollback.last_good)
    good_image = (
        parts.plan.image
        if parts.rollback.last_good == parts.plan.revision.number
        else parts.plan.last_good_image
    )
    if good_image:
        status["lastGoodImage"] = good_image
    if parts.rollback.rollback:
        status["rollback"] = dict(parts.rollback.rollback)
    status["phase"] = str(phase)
    return status


def rollout_queued(
    *, observed: Sequence[cond.Condition], slots: RolloutSlots, region: str
) -> list[cond.Condition]:
    """``observed`` with Progressing saying that a new revision waits for a rollout slot."""
    queued = cond.Condition(
        type=ConditionType.PROGRESSING,
        status=True,
        reason=Reason.ROLLOUT_QUEUED,
        message=f"a new revision waits: {slots.rolling} bots of region {region} are rolling out "
        f"(maxConcurrentRollouts {slots.limit}); the current revision keeps running",
    )
    return [queued if c.type == ConditionType.PROGRESSING else c for c in observed]
