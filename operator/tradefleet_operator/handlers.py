"""Kopf wiring: indexes of the operator's children, what wakes each resource's loop, deletion.

Imported by :mod:`tradefleet_operator.cli`, which passes an
:class:`~tradefleet_operator.passes.OperatorState` (the process's state) in Kopf's memo. Each
TradingBot, SignalSource and ExchangeAccount gets a daemon running its reconcile loop
(:mod:`tradefleet_operator.passes`), woken whenever the resource or one of its children changes
in a way a pass reads, and every ``reconcileIntervalSeconds`` regardless, so a missed event or a
manual edit heals. Children are known from in-memory indexes fed by watches, so a steady-state
reconcile makes no API call at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
import kopf

from tradefleet_operator import admission, deletion
from tradefleet_operator.access import AccessError, read_access_again
from tradefleet_operator.account_terms import AccountView
from tradefleet_operator.accounts import (
    AccountMember,
    account_member,
)
from tradefleet_operator.bot_status import SourceState, source_state
from tradefleet_operator.child_views import view_digest
from tradefleet_operator.kube import (
    KubeClient,
    pack_object,
    resource_version,
)
from tradefleet_operator.notify import Notifier, close_quietly
from tradefleet_operator.passes import (
    CHILD_RESOURCES,
    BotView,
    OperatorState,
    OwnerKey,
    account_of,
    children_of,
    market_holders,
    reconcile_loop,
    wake_bot,
)
from tradefleet_operator.reconcile import Reconciler
from tradefleet_operator.render import (
    GROUP,
    LABEL_ACCOUNT,
    LABEL_BOT,
    LABEL_MANAGED_BY,
    LABEL_SOURCE,
    MANAGED_BY,
    VERSION,
    child_name,
)
from tradefleet_operator.slots import PassSlots
from tradefleet_operator.spec import (
    SpecError,
    account_market_of,
    parse_exchange_account_spec,
)
from tradefleet_operator.spec.vocabulary import Reason
from tradefleet_operator.succession import runtime_pods

log = logging.getLogger("tradefleet.operator")

# Kopf's finalizer on the operator's resources: it holds a deleted bot until its positions are
# settled (tradefleet_operator.deletion).
FINALIZER = f"{GROUP}/finalizer"

# The custom resources themselves, plus Kopf's peering objects.
OWN_RESOURCES = (
    "tradingbots",
    "signalsources",
    "exchangeaccounts",
    "kopfpeerings",
    "clusterkopfpeerings",
)
# Connections for Kopf's patches and events, on top of one per watch: its finalizer on a new bot
# that the admission webhook did not see (tradefleet_operator.admission), and the operator's
# events. Few, for the same reasons as the operator's own client's
# (:class:`~tradefleet_operator.kube.KubeClient`): the control plane's controllers share the
# apiserver, and each TLS connection holds a 256 KiB read buffer.
KOPF_REQUEST_CONNECTIONS = 8


class _NoDiffBaseStorage(kopf.DiffBaseStorage):
    """Kopf keeps no last-handled configuration on the operator's resources.

    Kopf stores one to tell creations from updates for its change handlers. The operator's only
    change handler is on deletion, which needs no diff: the daemons compare desired with actual
    state themselves. Stored, it would cost every new bot one more PATCH (and so one more watch
    event and reconcile pass), a copy of its spec in an annotation, and a deep copy of the whole
    body on every watch event.
    """

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def _state(memo: kopf.Memo) -> OperatorState:
    state: OperatorState = memo.tradefleet
    return state


def _trigger(*, memo: kopf.Memo, key: OwnerKey) -> asyncio.Event:
    return _state(memo).triggers.setdefault(key, asyncio.Event())


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    state = _state(memo)
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = _NoDiffBaseStorage()
    # Our own events are explicit; only errors from Kopf itself become events too.
    settings.posting.level = logging.ERROR
    settings.watching.server_timeout = 300
    # Kopf keeps a worker per changed object, holding its last body, until it has been idle
    # this long (5 s by default): in a burst of a thousand new bots, that is every child of every
    # bot at once, and most of the operator's peak memory.
    settings.queueing.idle_timeout = 0.5
    settings.peering.name = state.settings.peering_name
    settings.peering.mandatory = False
    # Watch only what the operator made, filtered by the apiserver, not in memory.
    for group, version, plural in CHILD_RESOURCES:
        settings.watching.label_selectors[(group, version, plural)] = (
            f"{LABEL_MANAGED_BY}={MANAGED_BY}"
        )
    if state.access is None:
        raise kopf.PermanentError("the operator started without apiserver access")
    kube = KubeClient(access=state.access)
    state.reconciler = Reconciler(kube=kube, settings=state.settings)
    state.notifier = Notifier(
        kube=kube,
        region=state.settings.region,
        counter=state.metrics.notifications,
        wake=lambda namespace, name: wake_bot(state=state, namespace=namespace, name=name),
    )
    state.slots = PassSlots(size=state.settings.max_concurrent_reconciles)
    state.webhook = await admission.serve(settings=state.settings, finalizer=FINALIZER)
    await admission.register(
        kube=kube,
        settings=state.settings,
        registration=state.webhook.registration if state.webhook is not None else None,
    )
    state.metrics.serving(region=state.settings.region)
    if state.settings.metrics_port:
        state.metrics.serve(port=state.settings.metrics_port)
    log.info("tradefleet operator serving region %s", state.settings.region)


@kopf.on.login()
async def login(memo: kopf.Memo, **_: Any) -> kopf.AiohttpSession:
    """Kopf connects exactly as the operator's own client: with the access read at start-up,
    and with it read anew when Kopf logs in again.

    Through a connection pool of bounded size: Kopf's own is unbounded, and every TLS connection
    costs a 256 KiB read buffer, so a burst of a thousand new bots' patches and events otherwise
    opens well over a hundred of them at once.
    """
    state = _state(memo)
    if state.logged_in:
        # Kopf logs in again when the apiserver refuses its token: read it anew (an exec
        # plugin's expires), for the operator's own client too. (That client's own refusals
        # do not log in again: it gets the new token when Kopf's watches or writes next meet
        # the old one's expiry.)
        try:
            state.access = await read_access_again(kubeconfig=state.settings.kubeconfig)
        except AccessError as exc:
            raise kopf.LoginError(str(exc)) from exc
        if state.reconciler is not None:
            await state.reconciler.kube.use(access=state.access)
    access = state.access
    if access is None:
        raise kopf.LoginError("the operator started without apiserver access")
    state.logged_in = True
    authorization = access.current_authorization()
    # Each watched resource holds one connection for good (per namespace when namespaced).
    watches = (len(CHILD_RESOURCES) + len(OWN_RESOURCES)) * max(1, len(state.settings.namespaces))
    connector = aiohttp.TCPConnector(
        limit=watches + KOPF_REQUEST_CONNECTIONS, ssl=access.ssl_context()
    )
    return kopf.AiohttpSession(
        server=access.server,
        default_namespace=access.namespace,
        aiohttp_session=aiohttp.ClientSession(
            connector=connector, headers={"Authorization": authorization} if authorization else {}
        ),
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    state = _state(memo)
    await close_quietly(state.notifier)
    if state.reconciler is not None:
        # New bots' creates stop waiting for this operator at once.
        await admission.register(
            kube=state.reconciler.kube, settings=state.settings, registration=None
        )
        await state.reconciler.kube.close()
        await state.reconciler.runtime.close()
    if state.webhook is not None:
        await state.webhook.runner.cleanup()


def _owner_key(*, namespace: str | None, labels: Mapping[str, str]) -> OwnerKey | None:
    if namespace is None:
        return None
    if LABEL_BOT in labels:
        return (namespace, "TradingBot", labels[LABEL_BOT])
    if LABEL_SOURCE in labels:
        return (namespace, "SignalSource", labels[LABEL_SOURCE])
    if LABEL_ACCOUNT in labels:
        return (namespace, "ExchangeAccount", labels[LABEL_ACCOUNT])
    return None


# Index and event handlers are async on purpose: Kopf runs sync handlers in a thread pool, and
# with an event per child change that hand-off would cost more than the handlers themselves.
async def _index_child(
    body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_: Any
) -> dict[OwnerKey, bytes]:
    key = _owner_key(namespace=namespace, labels=labels)
    # Packed: the indexes hold every child of every bot (about ten each) for good, and a
    # reconcile pass reads only its own bot's few back.
    return {} if key is None else {key: pack_object(body)}


async def _child_changed(
    body: kopf.Body,
    namespace: str | None,
    labels: kopf.Labels,
    memo: kopf.Memo,
    type: str,
    **_: Any,
) -> None:
    key = _owner_key(namespace=namespace, labels=labels)
    if key is None:
        return
    state = _state(memo)
    deleted = type == "DELETED"
    reconciler = state.reconciler
    # The echo of the operator's own write wakes nobody: the pass that wrote it knew it all.
    # A new bot's children would otherwise cost it a pass that finds nothing to do.
    echo = reconciler is not None and reconciler.child_observed(obj=body, deleted=deleted)
    uid = str(body["metadata"].get("uid"))
    viewed = state.child_views.pop(uid, None)
    trigger = state.triggers.get(key)
    if trigger is None:
        # No loop for the owner: not started yet (its first pass reads the index), or the owner
        # is gone and its children are going. Nothing to remember for it.
        return
    # What a pass reads of the child, remembered whether or not this change wakes anyone: a
    # later change is compared with it (see child_views).
    if not deleted:
        state.child_views[uid] = view_digest(body)
    if echo or (not deleted and viewed == state.child_views[uid]):
        return  # our own write, or Kubernetes' bookkeeping: nothing a pass reads changed
    trigger.set()


for _group, _version, _plural in CHILD_RESOURCES:
    _selector = {LABEL_MANAGED_BY: MANAGED_BY}
    kopf.index(_group, _version, _plural, labels=_selector, id=f"children_{_plural}")(_index_child)
    kopf.on.event(_group, _version, _plural, labels=_selector, id=f"changed_{_plural}")(
        _child_changed
    )


@kopf.index(GROUP, VERSION, "signalsources")
async def sources_index(
    body: kopf.Body, namespace: str | None, name: str, **_: Any
) -> dict[tuple[str, str], SourceState]:
    return {(namespace or "", name): source_state(body.get("status") or {})}


@kopf.on.event(GROUP, VERSION, "signalsources")
async def source_changed(namespace: str | None, name: str, memo: kopf.Memo, **_: Any) -> None:
    # Bots that reference this source reflect its health; wake them all in the namespace.
    state = _state(memo)
    for key, event in state.triggers.items():
        if key[0] == namespace and (key[1] != "SignalSource" or key[2] == name):
            event.set()


@kopf.index(GROUP, VERSION, "tradingbots")
async def source_consumers_index(
    spec: kopf.Spec, namespace: str | None, name: str, **_: Any
) -> dict[tuple[str, str], str]:
    """Which bots read which sources, for each source's ``status.consumers``."""
    refs = (spec.get("strategy") or {}).get("signalSources") or []
    return {
        (namespace or "", str(ref.get("name"))): name for ref in refs if isinstance(ref, Mapping)
    }


@kopf.index(GROUP, VERSION, "tradingbots")
async def account_markets_index(
    spec: kopf.Spec, meta: kopf.Meta, namespace: str | None, name: str, **_: Any
) -> dict[tuple[str, str], tuple[str, str]]:
    """Which bots trade which symbol on which exchange account, first created first."""
    market = account_market_of(spec)
    if market is None:
        return {}
    return {(namespace or "", market): (str(meta.get("creationTimestamp") or ""), name)}


@kopf.index(GROUP, VERSION, "tradingbots")
async def account_members_index(
    *,
    spec: kopf.Spec,
    status: kopf.Status,
    annotations: kopf.Annotations,
    meta: kopf.Meta,
    namespace: str | None,
    name: str,
    **_: Any,
) -> dict[tuple[str, str], AccountMember]:
    """Which bots trade on which ExchangeAccount, with what their status reports."""
    account = account_of(spec)
    if account is None:
        return {}
    return {
        (namespace or "", account): account_member(
            name=name,
            spec=spec,
            status=status,
            annotations=annotations,
            created=meta.get("creationTimestamp"),
        )
    }


@kopf.index(GROUP, VERSION, "exchangeaccounts")
async def accounts_index(
    body: kopf.Body, namespace: str | None, name: str, **_: Any
) -> dict[tuple[str, str], AccountView]:
    """Each ExchangeAccount's parsed spec (None: unreadable) and status, for its bots' passes."""
    try:
        spec = parse_exchange_account_spec(body.get("spec") or {})
    except SpecError:
        spec = None
    return {(namespace or "", name): AccountView(spec=spec, status=dict(body.get("status") or {}))}


@kopf.on.event(GROUP, VERSION, "exchangeaccounts")
async def account_changed(
    body: kopf.Body, namespace: str | None, name: str, uid: str, memo: kopf.Memo, **kwargs: Any
) -> None:
    # Its own loop for a spec or annotation change (not the echo of its status write); its
    # bots when what they read of it changed: its spec (keys, request budget, sharing), their
    # allocations, its phase.
    state = _state(memo)
    index: kopf.Index[tuple[str, str], AccountMember] = kwargs["account_members_index"]
    if kwargs.get("type") == "DELETED":
        state.account_views.pop(uid, None)
        state.written_status.pop(uid, None)
        state.triggers.pop((namespace or "", "ExchangeAccount", name), None)
        for member in index.get((namespace or "", name), []):
            wake_bot(state=state, namespace=namespace or "", name=member.name)
        return
    meta = body["metadata"]
    status = body.get("status") or {}
    terms = (
        status.get("phase"),
        [(b.get("name"), b.get("allocation")) for b in status.get("bots") or []],
    )
    view = (meta.get("generation"), dict(meta.get("annotations") or {}), repr(terms))
    if state.account_views.get(uid) == view:
        return
    before = state.account_views.get(uid)
    state.account_views[uid] = view
    if before is None or before[:2] != view[:2]:
        _trigger(memo=memo, key=(namespace or "", "ExchangeAccount", name)).set()
    if before is None or before[0] != view[0] or before[2] != view[2]:
        for member in index.get((namespace or "", name), []):
            wake_bot(state=state, namespace=namespace or "", name=member.name)


@kopf.on.event(GROUP, VERSION, "tradingbots")
async def bot_changed(
    *,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    uid: str,
    memo: kopf.Memo,
    type: str,
    **kwargs: Any,
) -> None:
    # Wake the bot's loop only for what a pass reads: spec (by generation), annotations, labels,
    # and a status this process did not write. The echo of our own status patch would cost a
    # pass that finds nothing to do. Metadata is compared with what last woke the loop, not
    # taken as unchanged in an echo: Kopf may fold a user's edit and our echo into one event.
    state = _state(memo)
    account = account_of(body.get("spec") or {})
    if account is not None:
        # Its account measures itself from its bots' status, and allocates its bots.
        _trigger(memo=memo, key=(namespace or "", "ExchangeAccount", account)).set()
    if type == "DELETED":
        # Gone from the API (its runtime too): a bot refused its symbol on the same account may
        # trade it now. Kopf has already dropped the bot from its indexes.
        # Kopf hands each index over as an argument named after it.
        holders = market_holders(indexes=kwargs, namespace=namespace or "", spec=body["spec"])
        for _created, peer in holders:
            wake_bot(state=state, namespace=namespace or "", name=peer)
        return
    meta = body["metadata"]
    view: BotView = (
        meta.get("generation"),
        dict(meta.get("annotations") or {}),
        dict(meta.get("labels") or {}),
    )
    if state.bot_views.get(uid) == view and _status_known(state=state, body=body):
        return
    state.bot_views[uid] = view
    _trigger(memo=memo, key=(namespace or "", "TradingBot", name)).set()


def _status_known(*, state: OperatorState, body: kopf.Body) -> bool:
    """Whether the bot's status is what this process knows of: the echo of its own write, or
    a status it wrote (or none yet) carried by another change it need not look at, such as
    Kopf adding its finalizer to a new bot."""
    written = state.written_status.get(body["metadata"]["uid"])
    status = body.get("status") or {}
    if written is None:
        return not status
    return written.resource_version == resource_version(body) or status == written.status


@kopf.daemon(GROUP, VERSION, "tradingbots", cancellation_timeout=1.0)
async def bot_daemon(
    body: kopf.Body, namespace: str | None, name: str, memo: kopf.Memo, **kwargs: Any
) -> None:
    await reconcile_loop(
        state=_state(memo),
        body=body,
        kind="TradingBot",
        key=(namespace or "", "TradingBot", name),
        indexes=kwargs,
    )


@kopf.daemon(GROUP, VERSION, "signalsources", cancellation_timeout=1.0)
async def source_daemon(
    body: kopf.Body, namespace: str | None, name: str, memo: kopf.Memo, **kwargs: Any
) -> None:
    await reconcile_loop(
        state=_state(memo),
        body=body,
        kind="SignalSource",
        key=(namespace or "", "SignalSource", name),
        indexes=kwargs,
    )


@kopf.daemon(GROUP, VERSION, "exchangeaccounts", cancellation_timeout=1.0)
async def account_daemon(
    body: kopf.Body, namespace: str | None, name: str, memo: kopf.Memo, **kwargs: Any
) -> None:
    await reconcile_loop(
        state=_state(memo),
        body=body,
        kind="ExchangeAccount",
        key=(namespace or "", "ExchangeAccount", name),
        indexes=kwargs,
    )


@kopf.on.delete(GROUP, VERSION, "tradingbots")
async def bot_deleted(
    body: kopf.Body, namespace: str | None, name: str, uid: str, memo: kopf.Memo, **kwargs: Any
) -> None:
    state = _state(memo)
    assert state.reconciler is not None
    key = (namespace or "", "TradingBot", name)
    children = children_of(indexes=kwargs, key=key).items()
    # Only a runtime pod can flatten: an optimization Job's pod carries the bot's labels too.
    pods = runtime_pods(
        pods=[obj for (kind, _), obj in children if kind == "Pod"],
        deployment=child_name(owner=name),
    )
    if (body.get("spec") or {}).get("deletionPolicy", "Flatten") != "Keep" and pods:
        kopf.event(
            body,
            type="Normal",
            reason=str(Reason.FLATTEN_STARTED),
            message=f"deletionPolicy Flatten: waiting up to {state.settings.deletion_timeout_s:.0f}s"
            " for the runtime to confirm its flatten before the bot goes",
        )
    outcome = await deletion.settle_positions(
        kube=state.reconciler.kube, settings=state.settings, body=body, pods=pods
    )
    kopf.event(body, type=outcome.type, reason=outcome.reason, message=outcome.message)
    if outcome.type == "Warning":
        # In the log and the metrics too: a namespace being deleted refuses the event above.
        log.warning("bot %s/%s deleted: %s: %s", namespace, name, outcome.reason, outcome.message)
        state.metrics.flattens_not_confirmed.record(
            namespace=namespace or "", bot=name, reason=outcome.reason
        )
    state.reconciler.forget(uid=uid)
    for _, child in children:
        # Their deletions may come while a watch is away, and then never as an event; later
        # changes of them are not remembered (the bot has no loop any more).
        state.child_views.pop(str(child["metadata"].get("uid")), None)
    if state.notifier is not None:
        state.notifier.forget(uid=uid)
    state.written_status.pop(uid, None)
    state.bot_views.pop(uid, None)
    state.metrics.fleet.bots.pop(uid, None)
    state.triggers.pop(key, None)
