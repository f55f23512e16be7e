"""The kill switch for a bot whose spec this operator cannot run, while an old runtime may trade.

Called by the reconciler (:meth:`tradefleet_operator.reconcile.Reconciler.reconcile_bot`) when it
refuses a bot of its own region: its spec became invalid, or the credentials Secret it names is
gone. Its children are left as they are, so the last good revision's runtime keeps running; the
kill switch (and the user's other commands) must still reach it, and a runtime that does not
confirm the halt in time has its Deployment scaled to zero, as for a bot that runs normally
(:mod:`tradefleet_operator.kill_switch`). The outcome keeps the refusal's conditions and phase,
plus what the runtime reports. :func:`missing_credentials` says when the credentials Secret is
why: gone, without a key, or not labelled ``tradefleet.io/credentials: "true"`` (a bot author may
name any Secret of the namespace; only those marked for it are given to a bot).
:func:`not_owned` is the outcome for a bot of another region: this operator removes what it ran
for it, if the bot moved, and otherwise leaves it to its region's operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tradefleet_operator import conditions as cond
from tradefleet_operator.bot_status import Refusal, not_owned_conditions
from tradefleet_operator.commands import RuntimeLink
from tradefleet_operator.healing import PodView, RuntimeView, pod_view, runtime_figures
from tradefleet_operator.kill_switch import (
    KillSwitch,
    decide_kill_switch,
    flatten_outcome,
    kill_switch_events,
)
from tradefleet_operator.kube import KubeClient
from tradefleet_operator.outcome import Event, Outcome, finish, normal
from tradefleet_operator.render import LABEL_REGION, Owner, child_name
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import BotPhase, TradingBotSpec
from tradefleet_operator.spec.vocabulary import ConditionType, Reason
from tradefleet_operator.succession import runtime_pods
from tradefleet_operator.trading import runtime_state, trading_condition
from tradefleet_operator.writes import ChildKey, ChildWriter, of_kind, owner_of

# The label that marks a Secret as exchange credentials a TradingBot may be given.
LABEL_CREDENTIALS = "tradefleet.io/credentials"


def unreachable_because(*, pod: PodView | None, runtime: RuntimeView | None) -> str:
    """Why there is no ``/status`` answer, in words for the kill switch's message."""
    if pod is None or not pod.running:
        return "no runtime is running"
    return runtime.error if runtime is not None and runtime.error else "no answer"


def kill_switch_control(
    *, control: Mapping[str, Any], kill: KillSwitch, runtime: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``status.control`` with the kill switch's state and the runtime's latest flatten."""
    updated = {k: v for k, v in control.items() if k != "killSwitch"}
    shown = kill.to_status()
    if shown is not None:
        updated["killSwitch"] = shown
    updated["killSwitchApplied"] = kill.halted
    flatten = flatten_outcome(runtime) if runtime is not None else None
    if flatten is not None:
        updated["flatten"] = flatten
    return updated


def not_confirmed(kill: KillSwitch) -> cond.Condition:
    return cond.Condition(
        type=ConditionType.READY,
        status=False,
        reason=Reason.KILL_SWITCH_NOT_CONFIRMED,
        message=kill.message,
    )


async def guard_refused(
    *,
    link: RuntimeLink,
    kube: KubeClient,
    settings: OperatorSettings,
    body: Mapping[str, Any],
    children: Mapping[ChildKey, Mapping[str, Any]],
    refusal: Refusal,
) -> Outcome:
    """The refusal's outcome, with the kill switch delivered to (or forced on) the old runtime."""
    owner = owner_of(body)
    workload = ("Deployment", child_name(owner=owner.name))
    deployment = children.get(workload)
    region = ((deployment or {}).get("metadata", {}).get("labels") or {}).get(LABEL_REGION)
    if not refusal.guarded or deployment is None or region != settings.region:
        return finish(
            body=body, observed=refusal.observed, status=dict(refusal.status), events=[], writes=0
        )
    live = [
        p
        for p in runtime_pods(pods=of_kind(children, "Pod"), deployment=workload[1])
        if not p.get("metadata", {}).get("deletionTimestamp")
    ]
    pod = pod_view(live[0]) if live else None
    runtime = await link.poll(pod=pod, owner=owner)
    reported = runtime.status if runtime is not None else None
    previous = body.get("status") or {}
    control = dict(previous.get("control") or {})
    annotations = body["metadata"].get("annotations") or {}
    events: list[Event] = []
    if reported is not None:
        raw_paused = (body.get("spec") or {}).get("paused") is True
        events = await link.deliver(
            owner=owner,
            pod=pod,
            paused=raw_paused,
            annotations=annotations,
            control=control,
            runtime=reported,
        )
    kill = decide_kill_switch(
        annotations=annotations,
        previous=control.get("killSwitch") or {},
        runtime=reported,
        unreachable=unreachable_because(pod=pod, runtime=runtime),
        bound_s=settings.kill_switch_unreachable_s,
        now=datetime.now(UTC),
    )
    events.extend(kill_switch_events(previous=control.get("killSwitch") or {}, kill=kill))
    writes = 0
    if kill.scale_to_zero and int((deployment.get("spec") or {}).get("replicas", 1)) != 0:
        await kube.patch_merge(
            kind="Deployment",
            namespace=owner.namespace,
            name=workload[1],
            patch={"spec": {"replicas": 0}},
        )
        writes += 1
    observed = [*refusal.observed, trading_condition(pod=pod, runtime=runtime)]
    if kill.scale_to_zero:
        observed.append(not_confirmed(kill))
    status = {
        **refusal.status,
        "control": kill_switch_control(control=control, kill=kill, runtime=reported),
    }
    if reported is not None:
        status.update(runtime_figures(reported))
        status["runtime"] = runtime_state(reported)
    if kill.halted and status.get("phase") == BotPhase.PENDING:
        status["phase"] = str(BotPhase.HALTED)
    outcome = finish(body=body, observed=observed, status=status, events=events, writes=writes)
    outcome.poll_again_s = settings.health_poll_interval_s if pod is not None else kill.due_s
    return outcome


async def missing_credentials(
    *, kube: KubeClient, owner: Owner, spec: TradingBotSpec
) -> str | None:
    """What is wrong with the credentials Secret the bot names, if anything (then the bot is
    refused: Pending with CredentialsMissing): missing, not marked for credentials, or without a
    key the bot reads."""
    if spec.credentials is None:
        return None
    ref = spec.credentials.secret_ref
    secret = await kube.get(kind="Secret", namespace=owner.namespace, name=ref.name)
    if secret is None:
        return f"Secret {ref.name!r} not found in namespace {owner.namespace}"
    labels = (secret.get("metadata") or {}).get("labels") or {}
    if labels.get(LABEL_CREDENTIALS) != "true":
        # A bot author may name any Secret of the namespace; only one marked for it is handed over.
        return (
            f"Secret {ref.name!r} is not marked for exchange credentials: label it "
            f"(kubectl label secret {ref.name} -n {owner.namespace} {LABEL_CREDENTIALS}=true) "
            "if it holds this bot's exchange keys"
        )
    present = set((secret.get("data") or {}).keys()) | set((secret.get("stringData") or {}).keys())
    wanted = [ref.api_key_key, ref.api_secret_key] + (
        [ref.passphrase_key] if ref.passphrase_key else []
    )
    absent = [key for key in wanted if key not in present]
    if absent:
        return f"Secret {ref.name!r} has no key(s) {', '.join(absent)}"
    return None


async def not_owned(
    *,
    writer: ChildWriter,
    body: Mapping[str, Any],
    region: str,
    children: Mapping[ChildKey, Mapping[str, Any]],
) -> Outcome:
    """The outcome of a pass over a bot that runs in another ``region``."""
    previous = body.get("status") or {}
    if previous.get("region") == region and previous.get("phase") not in (None, "NotOwned"):
        # The owning region's operator reports on this bot (a cluster shared by regions).
        return Outcome(status=dict(previous), leave_status=True)
    # The bot moved to another region: what this region ran for it must go.
    removed = await writer.remove_region_children(owner=owner_of(body), children=children)
    events = (
        [normal(Reason.CHILDREN_REMOVED, f"removed {removed} children left from this region")]
        if removed
        else []
    )
    return finish(
        body=body,
        observed=not_owned_conditions(region=region),
        status={"phase": str(BotPhase.NOT_OWNED), "region": region},
        events=events,
        writes=removed,
    )
