"""Carries out a bot's runtime succession (:mod:`tradefleet_operator.succession`) for one pass.

Called by the reconciler (:meth:`tradefleet_operator.reconcile.Reconciler.reconcile_bot`) after
self-healing has said how many replicas it wants. Reads the nodes of the pods a new runtime waits
for (only then: a pass with nothing to wait for makes no API call), decides, and force-deletes a pod
whose node has been lost for longer than the bound. Returns the replicas to render, the conditions
that say why the bot waits, and the events to record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradefleet_operator import conditions as cond
from tradefleet_operator.kube import KubeApiError, KubeClient
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.succession import (
    FORCED_REASON,
    Awaited,
    NodeHealth,
    Succession,
    awaited_pods,
    decide,
    forced_message,
    node_health,
    runtime_pod,
    succession_conditions,
)

log = logging.getLogger("tradefleet.operator")


@dataclass(frozen=True, kw_only=True, slots=True)
class Notice:
    """An event to record on the bot."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Handover:
    succession: Succession
    conditions: tuple[cond.Condition, ...] = ()
    notices: tuple[Notice, ...] = ()

    @property
    def replicas(self) -> int:
        return self.succession.replicas

    @property
    def waiting(self) -> bool:
        return self.succession.waiting

    def over(self, observed: Sequence[cond.Condition]) -> list[cond.Condition]:
        """``observed`` with Ready and Progressing replaced by what the wait says, if it waits."""
        if not self.conditions:
            return list(observed)
        mine = {c.type for c in self.conditions}
        return [*(c for c in observed if c.type not in mine), *self.conditions]


def deployment_replicas(deployment: Mapping[str, Any] | None) -> int | None:
    if deployment is None:
        return None
    return int((deployment.get("spec") or {}).get("replicas", 1))


async def _node(*, kube: KubeClient, name: str) -> NodeHealth | None:
    """The node's health; None when it cannot be read, which never counts as lost."""
    try:
        return node_health(name=name, node=await kube.get(kind="Node", namespace=None, name=name))
    except KubeApiError as exc:
        log.warning("cannot read node %s (%s); its pods are waited for without a bound", name, exc)
        return None


async def hand_over(
    *,
    kube: KubeClient,
    settings: OperatorSettings,
    namespace: str,
    pods: Sequence[Mapping[str, Any]],
    wanted: int,
    replacing: bool,
    deployment: Mapping[str, Any] | None,
    now: datetime,
) -> Handover:
    """Decide the bot's replicas from its runtime ``pods`` and force out a pod on a lost node."""
    views = [runtime_pod(pod) for pod in pods]
    current = deployment_replicas(deployment)
    nodes: dict[str, NodeHealth] = {}
    for pod in awaited_pods(
        wanted=wanted, replacing=replacing, deployment_replicas=current, pods=views
    ):
        if pod.node and pod.node not in nodes:
            health = await _node(kube=kube, name=pod.node)
            if health is not None:
                nodes[pod.node] = health
    succession = decide(
        wanted=wanted,
        replacing=replacing,
        deployment_replicas=current,
        pods=views,
        nodes=nodes,
        node_lost_timeout_s=settings.node_lost_timeout_s,
        now=now,
    )
    forced: list[Awaited] = []
    for awaited in succession.to_force:
        log.warning("%s/%s: %s", namespace, awaited.pod, forced_message(awaited))
        if await kube.delete(
            kind="Pod", namespace=namespace, name=awaited.pod, grace_period_seconds=0
        ):
            forced.append(awaited)
    return Handover(
        succession=succession,
        conditions=tuple(succession_conditions(succession=succession, forced=forced)),
        notices=tuple(
            Notice(type="Warning", reason=FORCED_REASON, message=forced_message(a)) for a in forced
        ),
    )
