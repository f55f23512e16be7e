"""Succession of a bot's runtime: a new runtime pod never starts while a previous one exists.

Pure functions, no I/O, as :mod:`tradefleet_operator.render` and :mod:`tradefleet_operator.drift`
are. :mod:`tradefleet_operator.handover` calls :func:`decide` for the reconciler once per pass, with
the bot's runtime pods (terminating ones included) and the health of the nodes they are on, and
carries out what it decides; the Kopf wiring finds the pod to flatten on a deleted bot with
:func:`runtime_pods`.

Why: a ReplicaSet does not count a terminating pod as a replica. A Deployment scaled back to one
while the old pod is still terminating starts a second runtime next to one that may still trade: a
hung runtime that recovers within its grace period, or one on a node cut off from the control
plane, which no kubelet will stop. Two runtimes on one account double every position. So the
Deployment is held at zero until every runtime pod of the bot is gone. A pod on a lost node never
goes by itself: once its node has been lost for longer than the pod's grace period plus the
operator's ``nodeLostTimeoutSeconds``, it is force-deleted, and from then on only the runtime's
Redis lease, whose fencing token a superseded runtime's writes no longer carry, keeps the old
runtime from trading.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tradefleet_operator import conditions as cond
from tradefleet_operator.render import ANNOTATION_REVISION, RUNTIME_TERMINATION_GRACE_S
from tradefleet_operator.spec.vocabulary import Reason

# The Deployment controller labels each pod with its template's hash and names the pod's
# ReplicaSet ``<deployment>-<hash>``: together they tell the Deployment's pods from any other.
POD_TEMPLATE_HASH = "pod-template-hash"
WAITING_REASON = Reason.WAITING_FOR_PREVIOUS_RUNTIME
FORCED_REASON = Reason.PREVIOUS_RUNTIME_FORCE_DELETED


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def is_runtime_pod(pod: Mapping[str, Any], *, deployment: str) -> bool:
    """Whether ``pod`` runs (or ran) the bot's runtime.

    Not by the bot's labels: an optimization Job's pods carry those too, and a backtest must never
    hold a replacement back, nor be asked to flatten. A runtime pod is made by a ReplicaSet of the
    bot's Deployment. A pod without any controller still counts when it carries the revision
    annotation, which only the runtime's pod template sets: orphaned (its ReplicaSet deleted with
    ``--cascade=orphan``), it still trades.
    """
    meta = pod.get("metadata") or {}
    owner = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    if owner is None:
        return ANNOTATION_REVISION in (meta.get("annotations") or {})
    template_hash = (meta.get("labels") or {}).get(POD_TEMPLATE_HASH)
    return (
        owner.get("kind") == "ReplicaSet"
        and template_hash is not None
        and owner.get("name") == f"{deployment}-{template_hash}"
    )


def runtime_pods(*, pods: Iterable[Mapping[str, Any]], deployment: str) -> list[Mapping[str, Any]]:
    """The bot's runtime pods among ``pods`` (all of a bot's pods), terminating ones included."""
    return [pod for pod in pods if is_runtime_pod(pod, deployment=deployment)]


@dataclass(frozen=True, kw_only=True, slots=True)
class RuntimePod:
    """A runtime pod as succession cares: where it runs and whether it is being deleted."""

    name: str
    node: str | None
    # When its deletion was asked for; None while it is not terminating.
    deleting_since: datetime | None
    # The grace period its deletion was given, else its template's (0: force-deleted).
    grace_s: int


def runtime_pod(pod: Mapping[str, Any]) -> RuntimePod:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    grace = meta.get("deletionGracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", RUNTIME_TERMINATION_GRACE_S)
    # deletionTimestamp is when the grace period ends, not when the deletion was asked for.
    deadline = _time(meta.get("deletionTimestamp"))
    return RuntimePod(
        name=str(meta.get("name")),
        node=spec.get("nodeName") or None,
        deleting_since=None if deadline is None else deadline - timedelta(seconds=int(grace)),
        grace_s=int(grace),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeHealth:
    """A node as its Ready condition shows it: ``Ready``, ``NotReady``, ``Unknown`` or ``gone``."""

    name: str
    state: str
    # Since when it has not been Ready; None while Ready, gone, or not yet reported.
    lost_since: datetime | None


def node_health(*, name: str, node: Mapping[str, Any] | None) -> NodeHealth:
    if node is None:
        return NodeHealth(name=name, state="gone", lost_since=None)
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") == "True":
        # A node that never reported is not known to be lost: never a reason to force anything.
        return NodeHealth(name=name, state="Ready", lost_since=None)
    state = "NotReady" if ready.get("status") == "False" else "Unknown"
    return NodeHealth(name=name, state=state, lost_since=_time(ready.get("lastTransitionTime")))


@dataclass(frozen=True, kw_only=True, slots=True)
class Awaited:
    """A previous runtime pod that must be gone before a new runtime may start."""

    pod: str
    node: str | None
    node_state: str
    waited_s: int  # since its deletion was asked for (0: not terminating yet)
    lost_s: int | None  # how long its node has been lost; None: not lost (or not known to be)
    bound_s: int  # its grace period + nodeLostTimeoutSeconds: how long a lost node is waited for
    forced_before: bool  # already force-deleted: only finalizers keep it

    @property
    def force_in_s(self) -> int | None:
        """Seconds until the pod is force-deleted (0: now); None when it never is."""
        if self.lost_s is None or self.forced_before:
            return None
        return max(0, self.bound_s - self.lost_s)


@dataclass(frozen=True, kw_only=True, slots=True)
class Succession:
    """The replicas the bot's Deployment gets, and the previous runtime pods it waits for."""

    replicas: int
    awaited: tuple[Awaited, ...] = ()

    @property
    def waiting(self) -> bool:
        return bool(self.awaited)

    @property
    def to_force(self) -> tuple[Awaited, ...]:
        """Pods to delete with grace 0 now: their node has been lost for longer than the bound."""
        return tuple(a for a in self.awaited if a.force_in_s == 0)

    @property
    def message(self) -> str | None:
        if not self.awaited:
            return None
        first = self.awaited[0]
        text = f"waiting for the previous runtime pod {first.pod} to terminate ({first.waited_s}s)"
        if first.forced_before:
            text += "; it was force-deleted and only a finalizer keeps it"
        elif first.force_in_s is not None:
            text += (
                f"; its node {first.node} is {first.node_state} ({first.lost_s}s): the pod is "
                f"force-deleted in {first.force_in_s}s"
            )
        if len(self.awaited) > 1:
            text += f"; {len(self.awaited) - 1} more previous runtime pod(s) to go"
        return text + ". No new runtime starts while an old one may still trade"


def awaited_pods(
    *, wanted: int, replacing: bool, deployment_replicas: int | None, pods: Sequence[RuntimePod]
) -> list[RuntimePod]:
    """The pods a new runtime must wait for, if one is to start at all.

    ``wanted`` is the replicas self-healing asks for, ``replacing`` whether it holds the bot at
    zero only until the old pod is gone, ``deployment_replicas`` the Deployment's current ones
    (None: no Deployment).
    """
    if replacing or (wanted > 0 and not deployment_replicas):
        # The next replica is a new runtime: every pod left must go first, terminating or not
        # (the ReplicaSet may not have acted on the scale-down yet).
        return list(pods)
    if wanted > 0:
        # At one replica the ReplicaSet keeps its live pod, but a terminating one is no replica to
        # it: it has started, or is about to start, another one next to it.
        return [p for p in pods if p.deleting_since is not None]
    return []  # held at zero (restart budget spent): nothing is to start


def _awaited(
    *, pod: RuntimePod, node: NodeHealth | None, node_lost_timeout_s: float, now: datetime
) -> Awaited:
    waited_s = 0 if pod.deleting_since is None else (now - pod.deleting_since).total_seconds()
    lost_since = None
    if node is not None:
        # A node that is gone reports nothing: count from the pod's deletion instead.
        lost_since = pod.deleting_since if node.state == "gone" else node.lost_since
    return Awaited(
        pod=pod.name,
        node=pod.node,
        node_state="unscheduled" if pod.node is None else (node.state if node else "unknown"),
        waited_s=max(0, math.floor(waited_s)),
        lost_s=None
        if lost_since is None
        else max(0, math.floor((now - lost_since).total_seconds())),
        bound_s=math.ceil(pod.grace_s + node_lost_timeout_s),
        forced_before=pod.deleting_since is not None and pod.grace_s == 0,
    )


def decide(
    *,
    wanted: int,
    replacing: bool,
    deployment_replicas: int | None,
    pods: Sequence[RuntimePod],
    nodes: Mapping[str, NodeHealth],
    node_lost_timeout_s: float,
    now: datetime,
) -> Succession:
    """The Deployment's replicas: ``wanted``, or 0 while a previous runtime pod exists.

    ``nodes`` holds the health of the awaited pods' nodes; a node missing from it (the operator
    could not read it) is never taken for lost. A forced deletion never starts the new runtime in
    the same pass: the pod's removal, seen by the watch, does.
    """
    pending = awaited_pods(
        wanted=wanted, replacing=replacing, deployment_replicas=deployment_replicas, pods=pods
    )
    if not pending:
        return Succession(replicas=wanted)
    oldest_first = sorted(
        pending, key=lambda p: (p.deleting_since is None, p.deleting_since, p.name)
    )
    return Succession(
        replicas=0,
        awaited=tuple(
            _awaited(
                pod=pod,
                node=nodes.get(pod.node) if pod.node else None,
                node_lost_timeout_s=node_lost_timeout_s,
                now=now,
            )
            for pod in oldest_first
        ),
    )


def forced_message(awaited: Awaited) -> str:
    """What a forced deletion means, for its event and the bot's conditions."""
    return (
        f"force-deleted the previous runtime pod {awaited.pod}: its node {awaited.node} has been "
        f"{awaited.node_state} for {awaited.lost_s}s, over its grace period plus "
        f"nodeLostTimeoutSeconds ({awaited.bound_s}s). The old runtime may still be running on "
        "that node; from now on the runtime's Redis lease fencing is what keeps it from trading "
        "the account next to its replacement"
    )


def succession_conditions(
    *, succession: Succession, forced: Sequence[Awaited]
) -> list[cond.Condition]:
    """Ready and Progressing while a new runtime waits; else none.

    A forced deletion keeps the reason (the bot still waits, for the watch to show the pod gone)
    and says what it means in the message; its own Warning event (``FORCED_REASON``) is recorded
    by :mod:`tradefleet_operator.handover`, and a reason of its own here would add a second one.
    """
    if not succession.waiting:
        return []
    message = succession.message or ""
    if forced:
        message = "; ".join(forced_message(a) for a in forced)
    return [
        cond.Condition(type=cond.READY, status=False, reason=WAITING_REASON, message=message),
        cond.Condition(type=cond.PROGRESSING, status=True, reason=WAITING_REASON, message=message),
    ]
