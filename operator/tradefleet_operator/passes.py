"""One reconcile pass of a resource, and the loop that runs its passes; the state they share.

Called by the Kopf wiring (:mod:`tradefleet_operator.handlers`): each TradingBot, SignalSource and
ExchangeAccount has a daemon that runs :func:`reconcile_loop`. A pass reads the resource's
children from the watch-fed indexes, asks the reconciler (:mod:`tradefleet_operator.reconcile`,
:mod:`tradefleet_operator.accounts`) for the outcome, and writes its events and status, paced by
:mod:`tradefleet_operator.status_pacing`. The loop waits for the next wake (a change of the
resource or of a child, see the handlers) or for the reconcile interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import kopf

from tradefleet_operator.access import Access
from tradefleet_operator.account_terms import AccountView
from tradefleet_operator.accounts import AccountMember, AccountPass, reconcile_account
from tradefleet_operator.admission import Webhook
from tradefleet_operator.bot_status import SourceState
from tradefleet_operator.kube import KubeApiError, resource_version, unpack_object
from tradefleet_operator.metrics import BotRecord, OperatorMetrics
from tradefleet_operator.notify import Notifier
from tradefleet_operator.outcome import Outcome, status_merge_patch
from tradefleet_operator.reconcile import PassFailedError, Reconciler
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.slots import PassSlots
from tradefleet_operator.spec import account_market_of, earlier_holders
from tradefleet_operator.status_pacing import hold_s
from tradefleet_operator.writes import ChildKey

log = logging.getLogger("tradefleet.operator")

# (group, version, plural) of every kind the operator creates for a bot or a source.
CHILD_RESOURCES: tuple[tuple[str, str, str], ...] = (
    ("apps", "v1", "deployments"),
    ("apps", "v1", "controllerrevisions"),
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("", "v1", "serviceaccounts"),
    ("", "v1", "pods"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("batch", "v1", "jobs"),
    ("rbac.authorization.k8s.io", "v1", "roles"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
)

# Least time from the start of one pass to the start of the next one woken by a child's change.
PASS_SPACING_S = 1.0
OwnerKey = tuple[str, str, str]  # (namespace, owner kind, owner name)
BotView = tuple[Any, dict[str, str], dict[str, str]]  # (generation, annotations, labels)


class WrittenStatus(NamedTuple):
    resource_version: int  # of the resource right after the write
    status: dict[str, Any]
    written_s: float  # when, on the monotonic clock (what pacing counts from)


class Written(NamedTuple):
    """The status stored after a pass, and how long a held-back new status waits (0: none)."""

    status: Mapping[str, Any]
    held_s: float


@dataclass(kw_only=True, slots=True)
class OperatorState:
    """Process-wide state shared by the handlers (Kopf's memo holds it)."""

    settings: OperatorSettings
    # The apiserver access read at start-up; None in tests that run passes without a cluster.
    access: Access | None = None
    # Kopf has logged in once: a later login reads the access anew.
    logged_in: bool = False
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    reconciler: Reconciler | None = None
    # Sends the bots' notifications (spec.notifications) in the background.
    notifier: Notifier | None = None
    # The admission webhook, once served (tradefleet_operator.admission).
    webhook: Webhook | None = None
    triggers: dict[OwnerKey, asyncio.Event] = field(default_factory=dict)
    slots: PassSlots | None = None
    # The status this process last wrote per resource uid; newer than the watched body until
    # the watch delivers our own write, so a quick second pass never re-emits the same events.
    written_status: dict[str, WrittenStatus] = field(default_factory=dict)
    # A fingerprint of what a pass reads of each child, by the child's uid (see ``child_views``).
    child_views: dict[str, int] = field(default_factory=dict)
    # What of each bot's metadata its loop was last woken for (see ``bot_changed``).
    bot_views: dict[str, BotView] = field(default_factory=dict)
    # What of each account its loop and its bots were last woken for (see ``account_changed``).
    account_views: dict[str, tuple[Any, dict[str, str], str]] = field(default_factory=dict)


def current_status(*, state: OperatorState, body: kopf.Body) -> Mapping[str, Any]:
    """The resource's newest known status: our last write until the watch delivers it, then
    the watched one, which also shows what anyone else (another region's operator, a user)
    wrote since."""
    written = state.written_status.get(body["metadata"]["uid"])
    if written is not None and written.resource_version > resource_version(body):
        return written.status
    status: Mapping[str, Any] = body.get("status") or {}
    return status


def unreconciled(*, state: OperatorState, body: kopf.Body) -> bool:
    """Whether the resource's spec has changed since its last reconciled pass."""
    observed = current_status(state=state, body=body).get("observedGeneration")
    return bool(observed != body["metadata"].get("generation"))


def wake_bot(*, state: OperatorState, namespace: str, name: str) -> None:
    """Run a bot's pass soon (a notification target's health changed)."""
    trigger = state.triggers.get((namespace, "TradingBot", name))
    if trigger is not None:
        trigger.set()


def account_of(spec: Mapping[str, Any]) -> str | None:
    ref = spec.get("accountRef")
    return str(ref["name"]) if isinstance(ref, Mapping) and ref.get("name") else None


def market_holders(
    *, indexes: Mapping[str, Any], namespace: str, spec: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """The bots that trade this spec's symbol on its account, as ``(creationTimestamp, name)``."""
    market = account_market_of(spec)
    if market is None:
        return []
    index: kopf.Index[tuple[str, str], tuple[str, str]] = indexes["account_markets_index"]
    return list(index.get((namespace, market), []))


def symbol_holders(
    *, indexes: Mapping[str, Any], key: OwnerKey, spec: Mapping[str, Any]
) -> list[str]:
    holders = market_holders(indexes=indexes, namespace=key[0], spec=spec)
    return earlier_holders(holders=holders, name=key[2]) if holders else []


def account_view(
    *, indexes: Mapping[str, Any], namespace: str, spec: Mapping[str, Any]
) -> AccountView | None:
    """The ExchangeAccount a bot's spec names, if it has one and it exists."""
    account = account_of(spec)
    if account is None:
        return None
    index: kopf.Index[tuple[str, str], AccountView] = indexes["accounts_index"]
    return next(iter(index.get((namespace, account), [])), None)


def children_of(*, indexes: Mapping[str, Any], key: OwnerKey) -> dict[ChildKey, Mapping[str, Any]]:
    found: dict[ChildKey, Mapping[str, Any]] = {}
    for _group, _version, plural in CHILD_RESOURCES:
        index: kopf.Index[OwnerKey, bytes] = indexes[f"children_{plural}"]
        for packed in index.get(key, []):
            obj = unpack_object(packed)
            found[(str(obj["kind"]), str(obj["metadata"]["name"]))] = obj
    return found


async def write_outcome(
    *, state: OperatorState, body: kopf.Body, kind: str, outcome: Outcome
) -> Written:
    """Write the outcome's events and status (if it changed, and is not paced: see
    :mod:`tradefleet_operator.status_pacing`); return the status now stored."""
    reconciler = state.reconciler
    assert reconciler is not None
    uid = body["metadata"]["uid"]
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    # The live body: the watch may have delivered another writer's status during the pass.
    stored = current_status(state=state, body=body)
    if outcome.leave_status or outcome.status == stored:
        return Written(status=stored, held_s=0.0)
    last = state.written_status.get(uid)
    held = hold_s(
        stored=stored,
        new=outcome.status,
        last_written_s=None if last is None else last.written_s,
        now_s=time.monotonic(),
        interval_s=state.settings.status_interval_s,
        busy=state.slots is not None and state.slots.urgent_waiting,
    )
    if not held:
        answer = await reconciler.kube.patch_merge(
            kind=kind,
            namespace=body["metadata"]["namespace"],
            name=body["metadata"]["name"],
            patch={"status": status_merge_patch(old=stored, new=outcome.status)},
            subresource="status",
        )
        written = WrittenStatus(
            resource_version=resource_version(answer),
            status=answer.get("status") or {},
            written_s=time.monotonic(),
        )
        state.written_status[uid] = written
        stored = written.status
    return Written(status=stored, held_s=held)


async def run_pass(
    *, state: OperatorState, body: kopf.Body, kind: str, key: OwnerKey, indexes: Mapping[str, Any]
) -> float | None:
    """One reconcile pass; return how soon its outcome asks to be looked at again, if sooner.

    A function of its own so that what a pass decodes (its children) is freed when it returns:
    a thousand idle loops each holding their last pass's children would hold tens of MB.
    """
    reconciler = state.reconciler
    assert reconciler is not None
    uid = body["metadata"]["uid"]
    current = dict(body)
    current["status"] = current_status(state=state, body=body)
    children = children_of(indexes=indexes, key=key)
    if kind == "TradingBot":
        sources_idx: kopf.Index[tuple[str, str], SourceState] = indexes["sources_index"]
        sources = {
            name: next(iter(sources_idx[(ns, name)])) for (ns, name) in sources_idx if ns == key[0]
        }
        try:
            outcome = await reconciler.reconcile_bot(
                body=current,
                children=children,
                sources=sources,
                symbol_holders=symbol_holders(
                    indexes=indexes, key=key, spec=current.get("spec") or {}
                ),
                account=account_view(
                    indexes=indexes, namespace=key[0], spec=current.get("spec") or {}
                ),
            )
        except PassFailedError as failed:
            await write_outcome(state=state, body=body, kind=kind, outcome=failed.outcome)
            raise failed.error from failed
    elif kind == "ExchangeAccount":
        members_idx: kopf.Index[tuple[str, str], AccountMember] = indexes["account_members_index"]
        outcome = await reconcile_account(
            writer=reconciler.writer,
            redis_users=reconciler.redis_users,
            account=AccountPass(
                body=current,
                members=list(members_idx.get((key[0], key[2]), [])),
                children=children,
                now=datetime.now(UTC),
            ),
        )
    else:
        bots_idx: kopf.Index[tuple[str, str], str] = indexes["source_consumers_index"]
        consumers = len(list(bots_idx.get((key[0], key[2]), [])))
        outcome = await reconciler.reconcile_source(
            body=current, children=children, consumers=consumers
        )
    notifier = state.notifier if kind == "TradingBot" else None
    prepared = notifier.prepare(body=current, outcome=outcome) if notifier else None
    # Freed before the status write: a pass waiting for a connection to write its status
    # need not hold its decoded children meanwhile.
    del children
    written = await write_outcome(state=state, body=body, kind=kind, outcome=outcome)
    if notifier is not None and prepared is not None and not written.held_s:
        # Only once what they are transitions of is stored: never sent twice.
        notifier.dispatch(prepared)
    for cause in outcome.restarts:
        state.metrics.restarts.labels(namespace=key[0], bot=key[2], cause=cause).inc()
    if outcome.rolled_back:
        state.metrics.rollbacks.labels(namespace=key[0], bot=key[2]).inc()
    if kind == "TradingBot":
        # The stored status, not an equal copy of it: one per bot is enough to hold. The
        # metrics follow what is stored: a held status (live figures, a pod's progress) shows
        # there when it is written.
        state.metrics.fleet.bots[uid] = BotRecord(
            namespace=key[0], name=key[2], status=written.status
        )
    if written.held_s:
        # The held status is written once its time comes (or sooner, should it change).
        return min(written.held_s, outcome.poll_again_s or written.held_s)
    return outcome.poll_again_s


async def reconcile_loop(
    *, state: OperatorState, body: kopf.Body, kind: str, key: OwnerKey, indexes: Mapping[str, Any]
) -> None:
    trigger = state.triggers.setdefault(key, asyncio.Event())
    failures = 0
    while True:
        trigger.clear()
        assert state.slots is not None
        await state.slots.acquire(urgent=unreconciled(state=state, body=body))
        started = time.monotonic()
        try:
            poll_again_s = await run_pass(
                state=state, body=body, kind=kind, key=key, indexes=indexes
            )
            state.metrics.observe_pass(kind=kind, ok=True, seconds=time.monotonic() - started)
            failures = 0
            timeout = state.settings.reconcile_interval_s
            if poll_again_s is not None:
                timeout = min(timeout, poll_again_s)
        except KubeApiError as exc:
            if exc.namespace_terminating:
                # The namespace is being deleted, the owner with it: what the pass would create
                # again cannot be, and need not be. Nothing to retry soon or to count as failed.
                log.info(
                    "%s %s/%s: its namespace is being deleted; its children are not recreated",
                    kind,
                    key[0],
                    key[2],
                )
                timeout = state.settings.reconcile_interval_s
            else:
                state.metrics.observe_pass(kind=kind, ok=False, seconds=time.monotonic() - started)
                failures += 1
                timeout = min(state.settings.reconcile_interval_s, 0.5 * 2**failures)
                log.warning(
                    "reconcile of %s %s/%s failed (%s); retrying in %.1fs",
                    kind,
                    key[0],
                    key[2],
                    exc,
                    timeout,
                )
        except Exception:
            # A bug, not the user's input: keep the loop (and every other bot) alive, back off.
            state.metrics.observe_pass(kind=kind, ok=False, seconds=time.monotonic() - started)
            failures += 1
            timeout = min(state.settings.reconcile_interval_s, 0.5 * 2**failures)
            log.exception(
                "reconcile of %s %s/%s crashed; retrying in %.1fs", kind, key[0], key[2], timeout
            )
        finally:
            state.slots.release()
        try:
            await asyncio.wait_for(trigger.wait(), timeout=timeout)
        except TimeoutError:
            continue
        if not unreconciled(state=state, body=body):
            # Woken by a change of its children: those come in bursts (a new bot's children
            # appear together, a starting pod changes several times); one pass sees them all.
            await asyncio.sleep(started + PASS_SPACING_S - time.monotonic())
