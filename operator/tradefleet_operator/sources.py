"""Level-based reconciliation of one SignalSource: its children, and its status from what it publishes.

Called through :meth:`tradefleet_operator.reconcile.Reconciler.reconcile_source` by the Kopf
handlers (:mod:`tradefleet_operator.handlers`) on every change of the source or its children, and
periodically. The phase and Ready condition are decided in :mod:`tradefleet_operator.source_status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tradefleet_operator import conditions as cond
from tradefleet_operator.bot_status import invalid_outcome, spec_problem
from tradefleet_operator.commands import RuntimeLink
from tradefleet_operator.healing import pod_view, source_figures
from tradefleet_operator.outcome import Outcome, finish
from tradefleet_operator.render import child_name, render_source_children, signal_stream_key
from tradefleet_operator.source_status import source_readiness
from tradefleet_operator.spec import (
    SpecError,
    parse_signal_source_spec,
    validate_resource_name,
    validate_signal_source_spec,
)
from tradefleet_operator.spec.vocabulary import ConditionType, Reason
from tradefleet_operator.writes import ChildKey, ChildWriter, of_kind, owner_of


async def reconcile_source(
    *,
    writer: ChildWriter,
    link: RuntimeLink,
    body: Mapping[str, Any],
    children: Mapping[ChildKey, Mapping[str, Any]],
    consumers: int,
) -> Outcome:
    owner = owner_of(body)
    try:
        spec = parse_signal_source_spec(body.get("spec") or {})
        problems = validate_signal_source_spec(spec)
    except SpecError as exc:
        spec = None
        problems = [spec_problem(exc)]
    problems = [*validate_resource_name(str(body["metadata"]["name"])), *problems]
    if spec is None or problems:
        return invalid_outcome(body=body, problems=problems)
    desired = render_source_children(
        owner=owner, spec=spec, raw_spec=body.get("spec") or {}, settings=writer.settings
    )
    converged = await writer.converge(
        desired=desired,
        children=children,
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
        for obj in of_kind(children, "Pod")
        if not obj.get("metadata", {}).get("deletionTimestamp")
    ]
    runtime = await link.poll(pod=pod_view(pods[0]) if pods else None)
    if runtime is not None and runtime.status is not None:
        published.update(source_figures(runtime.status))
    phase, ready = source_readiness(
        spec=spec, available=available, published=published, now=datetime.now(UTC)
    )
    observed = [
        ready,
        cond.Condition(
            type=ConditionType.RECONCILED,
            status=True,
            reason=Reason.CHILDREN_IN_SYNC,
            message=f"{len(desired)} children in sync",
        ),
    ]
    status = {
        **published,
        "phase": str(phase),
        "endpoint": signal_stream_key(namespace=owner.namespace, source=owner.name),
        "consumers": consumers,
    }
    outcome = finish(
        body=body,
        observed=observed,
        status=status,
        events=list(converged.events),
        writes=converged.writes,
    )
    outcome.poll_again_s = writer.settings.health_poll_interval_s if pods else None
    return outcome
