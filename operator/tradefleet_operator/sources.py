"""Level-based reconciliation of one SignalSource: its children, and its status from what it publishes.

Called through :meth:`tradefleet_operator.reconcile.Reconciler.reconcile_source` by the Kopf
handlers (:mod:`tradefleet_operator.handlers`) on every change of the source or its children, and
periodically. The phase and Ready condition are decided in :mod:`tradefleet_operator.source_status`.

One region's operator runs a source, as one runs a bot: the region in ``spec.region``, else the one
that claimed it in ``status.region``. The first operator to see an unclaimed source claims it, with
the source's resourceVersion as a precondition, so of two operators sharing a cluster exactly one
wins. Every other operator leaves the source alone: it never applies its own region label and Redis
URL over the owner's (each flip recreated the source's pod), removes only what it made itself, and
says ``NotOwned`` only while the owner has not reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tradefleet_operator import conditions as cond
from tradefleet_operator.bot_status import invalid_outcome, not_owned_conditions, spec_problem
from tradefleet_operator.commands import RuntimeLink
from tradefleet_operator.healing import pod_view, source_figures
from tradefleet_operator.kube import KubeApiError, resource_version
from tradefleet_operator.outcome import Outcome, finish, normal
from tradefleet_operator.redis_users import RedisUsers, source_user
from tradefleet_operator.render import Owner, child_name, signal_stream_key
from tradefleet_operator.render_source import render_source_children
from tradefleet_operator.source_status import source_readiness
from tradefleet_operator.spec import (
    SignalSourcePhase,
    SpecError,
    parse_signal_source_spec,
    validate_image,
    validate_resource_name,
    validate_signal_source_spec,
    validate_source_hosts,
)
from tradefleet_operator.spec.vocabulary import ConditionType, Reason
from tradefleet_operator.writes import ChildKey, ChildWriter, of_kind, owner_of

# How soon an operator whose claim lost the race looks again (it then sees the winner's claim).
CLAIM_RETRY_S = 1.0


def claimed_region(body: Mapping[str, Any]) -> str | None:
    """The region that runs the source: ``spec.region``, else the one in ``status.region``."""
    for value in ((body.get("spec") or {}).get("region"), (body.get("status") or {}).get("region")):
        if isinstance(value, str) and value:
            return value
    return None


async def _claim(*, writer: ChildWriter, body: Mapping[str, Any]) -> bool:
    """Write this operator's region into ``status.region`` unless the source changed since
    ``body`` was read (another operator's claim); True when the claim holds."""
    meta = body["metadata"]
    try:
        await writer.kube.patch_merge(
            kind="SignalSource",
            namespace=meta["namespace"],
            name=meta["name"],
            patch={
                "metadata": {"resourceVersion": str(resource_version(body))},
                "status": {"region": writer.settings.region},
            },
            subresource="status",
        )
    except KubeApiError as exc:
        if not exc.conflict:
            raise
        return False
    return True


async def _not_owned(
    *,
    writer: ChildWriter,
    body: Mapping[str, Any],
    region: str,
    children: Mapping[ChildKey, Mapping[str, Any]],
) -> Outcome:
    """Another region runs the source: remove what this region made for it, write nothing else
    once the owner reports."""
    removed = await writer.remove_region_children(owner=owner_of(body), children=children)
    events = (
        [normal(Reason.CHILDREN_REMOVED, f"removed {removed} children left from this region")]
        if removed
        else []
    )
    previous = body.get("status") or {}
    if previous.get("region") == region and previous.get("phase") not in (
        None,
        SignalSourcePhase.NOT_OWNED,
    ):
        return Outcome(status=dict(previous), events=events, writes=removed, leave_status=True)
    return finish(
        body=body,
        observed=not_owned_conditions(region=region, what="SignalSource"),
        status={"phase": str(SignalSourcePhase.NOT_OWNED), "region": region},
        events=events,
        writes=removed,
    )


async def reconcile_source(
    *,
    writer: ChildWriter,
    link: RuntimeLink,
    redis_users: RedisUsers | None,
    body: Mapping[str, Any],
    children: Mapping[ChildKey, Mapping[str, Any]],
    consumers: int,
) -> Outcome:
    region = claimed_region(body)
    if region is None:
        if not await _claim(writer=writer, body=body):
            return Outcome(
                status=dict(body.get("status") or {}),
                poll_again_s=CLAIM_RETRY_S,
                leave_status=True,
            )
        region = writer.settings.region
    if region != writer.settings.region:
        return await _not_owned(writer=writer, body=body, region=region, children=children)
    return await _run_source(
        writer=writer,
        link=link,
        redis_users=redis_users,
        body=body,
        children=children,
        consumers=consumers,
    )


async def _run_source(
    *,
    writer: ChildWriter,
    link: RuntimeLink,
    redis_users: RedisUsers | None,
    body: Mapping[str, Any],
    children: Mapping[ChildKey, Mapping[str, Any]],
    consumers: int,
) -> Outcome:
    """The pass of a source this operator runs."""
    owner = owner_of(body)
    try:
        spec = parse_signal_source_spec(body.get("spec") or {})
        problems = validate_signal_source_spec(spec)
    except SpecError as exc:
        spec = None
        problems = [spec_problem(exc)]
    problems = [*validate_resource_name(str(body["metadata"]["name"])), *problems]
    if spec is not None:
        problems.extend(
            validate_image(
                field="spec.image",
                image=spec.image,
                allowed_prefixes=writer.settings.image_prefixes(),
            )
        )
        problems.extend(
            validate_source_hosts(spec=spec, allowed_hosts=writer.settings.source_allowed_hosts)
        )
    if spec is None or problems:
        return invalid_outcome(body=body, problems=problems, region=writer.settings.region)
    desired = render_source_children(
        owner=owner, spec=spec, raw_spec=body.get("spec") or {}, settings=writer.settings
    )
    inputs = [spec.whale.redis_stream] if spec.whale and spec.whale.redis_stream else []
    converged = await writer.converge(
        desired=desired,
        children=children,
        was_reconciled=bool((body.get("status") or {}).get("phase")),
        # Its Redis user before its Deployment: the pod signs in at start.
        prerequisites=_ensure_redis_user(redis_users=redis_users, owner=owner, inputs=inputs),
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
    runtime = await link.poll(pod=pod_view(pods[0]) if pods else None, owner=None)
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
        "region": writer.settings.region,
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


async def _ensure_redis_user(
    *, redis_users: RedisUsers | None, owner: Owner, inputs: list[str]
) -> int:
    """The source's Redis user (with ``redisAcl``)."""
    if redis_users is None:
        return 0
    user = source_user(admin_password=redis_users.admin_password, owner=owner, inputs=inputs)
    return await redis_users.ensure(owner=owner, user=user)
