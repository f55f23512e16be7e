"""Kopf wiring: indexes of the operator's children, one reconcile loop per resource, deletion.

Imported by :mod:`tradefleet_operator.__main__`, which passes an :class:`OperatorState` (the
process's state) in Kopf's memo. Each TradingBot and SignalSource gets a daemon that reconciles it
whenever the resource or one of its children changes, and every ``reconcileIntervalSeconds``
regardless, so a missed event or a manual edit heals. Children are known from in-memory indexes fed by watches, so a
steady-state reconcile makes no API call at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import aiohttp
import kopf

from tradefleet_operator import deletion
from tradefleet_operator.account_terms import AccountView
from tradefleet_operator.accounts import (
    AccountMember,
    AccountPass,
    account_member,
    reconcile_account,
)
from tradefleet_operator.bot_status import SourceState, source_state
from tradefleet_operator.kube import (
    KubeApiError,
    KubeClient,
    bearer_token,
    client_configuration,
    load_credentials,
    pack_object,
    resource_version,
    unpack_object,
)
from tradefleet_operator.metrics import BotRecord, OperatorMetrics
from tradefleet_operator.notify import Notifier, close_quietly
from tradefleet_operator.outcome import Outcome, status_merge_patch
from tradefleet_operator.reconcile import PassFailedError, Reconciler
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
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.slots import PassSlots
from tradefleet_operator.spec import (
    SpecError,
    account_market_of,
    earlier_holders,
    parse_exchange_account_spec,
)
from tradefleet_operator.spec.vocabulary import Reason
from tradefleet_operator.status_pacing import hold_s
from tradefleet_operator.succession import runtime_pods
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
# The custom resources themselves, plus Kopf's peering objects.
OWN_RESOURCES = (
    "tradingbots",
    "signalsources",
    "exchangeaccounts",
    "kopfpeerings",
    "clusterkopfpeerings",
)
# Connections for Kopf's patches and events, on top of one per watch.
KOPF_REQUEST_CONNECTIONS = 32
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
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    reconciler: Reconciler | None = None
    # Sends the bots' notifications (spec.notifications) in the background.
    notifier: Notifier | None = None
    triggers: dict[OwnerKey, asyncio.Event] = field(default_factory=dict)
    slots: PassSlots | None = None
    # The status this process last wrote per resource uid; newer than the watched body until
    # the watch delivers our own write, so a quick second pass never re-emits the same events.
    written_status: dict[str, WrittenStatus] = field(default_factory=dict)
    # What of each bot's metadata its loop was last woken for (see ``bot_changed``).
    bot_views: dict[str, BotView] = field(default_factory=dict)
    # What of each account its loop and its bots were last woken for (see ``account_changed``).
    account_views: dict[str, tuple[Any, dict[str, str], str]] = field(default_factory=dict)


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


def _current_status(*, state: OperatorState, body: kopf.Body) -> Mapping[str, Any]:
    """The resource's newest known status: our last write until the watch delivers it, then
    the watched one, which also shows what anyone else (another region's operator, a user)
    wrote since."""
    written = state.written_status.get(body["metadata"]["uid"])
    if written is not None and written.resource_version > resource_version(body):
        return written.status
    status: Mapping[str, Any] = body.get("status") or {}
    return status


def _unreconciled(*, state: OperatorState, body: kopf.Body) -> bool:
    """Whether the resource's spec has changed since its last reconciled pass."""
    observed = _current_status(state=state, body=body).get("observedGeneration")
    return bool(observed != body["metadata"].get("generation"))


def _state(memo: kopf.Memo) -> OperatorState:
    state: OperatorState = memo.tradefleet
    return state


def _trigger(*, memo: kopf.Memo, key: OwnerKey) -> asyncio.Event:
    return _state(memo).triggers.setdefault(key, asyncio.Event())


def _wake_bot(*, state: OperatorState, namespace: str, name: str) -> None:
    """Run a bot's pass soon (a notification target's health changed)."""
    trigger = state.triggers.get((namespace, "TradingBot", name))
    if trigger is not None:
        trigger.set()


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    state = _state(memo)
    settings.persistence.finalizer = f"{GROUP}/finalizer"
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
    kube = KubeClient(credentials=load_credentials(kubeconfig=state.settings.kubeconfig))
    state.reconciler = Reconciler(kube=kube, settings=state.settings)
    state.notifier = Notifier(
        kube=kube,
        region=state.settings.region,
        counter=state.metrics.notifications,
        wake=lambda namespace, name: _wake_bot(state=state, namespace=namespace, name=name),
    )
    state.slots = PassSlots(size=state.settings.max_concurrent_reconciles)
    state.metrics.serving(region=state.settings.region)
    if state.settings.metrics_port:
        state.metrics.serve(port=state.settings.metrics_port)
    log.info("tradefleet operator serving region %s", state.settings.region)


@kopf.on.login()
async def login(memo: kopf.Memo, **kwargs: Any) -> kopf.AiohttpSession:
    """Kopf connects exactly as the operator's own client: the given kubeconfig, else in-cluster.

    Through a connection pool of bounded size: Kopf's own is unbounded, and every TLS connection
    costs a 256 KiB read buffer, so a burst of a thousand new bots' patches and events otherwise
    opens well over a hundred of them at once.
    """
    settings = _state(memo).settings
    info: kopf.ConnectionInfo
    if settings.kubeconfig is None:
        # Through the official client: it honours KUBERNETES_SERVICE_HOST/PORT like kubectl does.
        found = kopf.login_via_client(**kwargs)
        if found is None:
            raise kopf.LoginError("no in-cluster credentials and no kubeconfig given")
        info = found
    else:
        cfg = client_configuration(kubeconfig=settings.kubeconfig)
        token = bearer_token(cfg)
        info = kopf.ConnectionInfo(
            server=cfg.host,
            ca_path=cfg.ssl_ca_cert,
            insecure=not cfg.verify_ssl,
            scheme="Bearer" if token else None,
            token=token,
            certificate_path=cfg.cert_file,
            private_key_path=cfg.key_file,
        )
    # Each watched resource holds one connection for good (per namespace when namespaced).
    watches = (len(CHILD_RESOURCES) + len(OWN_RESOURCES)) * max(1, len(settings.namespaces))
    connector = aiohttp.TCPConnector(
        limit=watches + KOPF_REQUEST_CONNECTIONS, ssl=info.as_ssl_context()
    )
    return kopf.AiohttpSession(
        server=info.server,
        default_namespace=info.default_namespace,
        expiration=info.expiration,
        aiohttp_session=aiohttp.ClientSession(connector=connector, headers=info.as_http_headers()),
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    state = _state(memo)
    await close_quietly(state.notifier)
    if state.reconciler is not None:
        await state.reconciler.kube.close()
        await state.reconciler.runtime.close()


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
    reconciler = _state(memo).reconciler
    # The echo of the operator's own write wakes nobody: the pass that wrote it knew it all.
    # A new bot's children would otherwise cost it a pass that finds nothing to do.
    if reconciler is not None and reconciler.child_observed(obj=body, deleted=type == "DELETED"):
        return
    _trigger(memo=memo, key=key).set()


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
    spec: kopf.Spec,
    status: kopf.Status,
    annotations: kopf.Annotations,
    namespace: str | None,
    name: str,
    **_: Any,
) -> dict[tuple[str, str], AccountMember]:
    """Which bots trade on which ExchangeAccount, with what their status reports."""
    account = _account_of(spec)
    if account is None:
        return {}
    return {
        (namespace or "", account): account_member(
            name=name, spec=spec, status=status, annotations=annotations
        )
    }


def _account_of(spec: Mapping[str, Any]) -> str | None:
    ref = spec.get("accountRef")
    return str(ref["name"]) if isinstance(ref, Mapping) and ref.get("name") else None


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
            _wake_bot(state=state, namespace=namespace or "", name=member.name)
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
            _wake_bot(state=state, namespace=namespace or "", name=member.name)


def _market_holders(
    *, indexes: Mapping[str, Any], namespace: str, spec: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """The bots that trade this spec's symbol on its account, as ``(creationTimestamp, name)``."""
    market = account_market_of(spec)
    if market is None:
        return []
    index: kopf.Index[tuple[str, str], tuple[str, str]] = indexes["account_markets_index"]
    return list(index.get((namespace, market), []))


def _symbol_holders(
    *, indexes: Mapping[str, Any], key: OwnerKey, spec: Mapping[str, Any]
) -> list[str]:
    holders = _market_holders(indexes=indexes, namespace=key[0], spec=spec)
    return earlier_holders(holders=holders, name=key[2]) if holders else []


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
    account = _account_of(body.get("spec") or {})
    if account is not None:
        # Its account measures itself from its bots' status, and allocates its bots.
        _trigger(memo=memo, key=(namespace or "", "ExchangeAccount", account)).set()
    if type == "DELETED":
        # Gone from the API (its runtime too): a bot refused its symbol on the same account may
        # trade it now. Kopf has already dropped the bot from its indexes.
        # Kopf hands each index over as an argument named after it.
        holders = _market_holders(indexes=kwargs, namespace=namespace or "", spec=body["spec"])
        for _created, peer in holders:
            _wake_bot(state=state, namespace=namespace or "", name=peer)
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


def _account_view(
    *, indexes: Mapping[str, Any], namespace: str, spec: Mapping[str, Any]
) -> AccountView | None:
    """The ExchangeAccount a bot's spec names, if it has one and it exists."""
    account = _account_of(spec)
    if account is None:
        return None
    index: kopf.Index[tuple[str, str], AccountView] = indexes["accounts_index"]
    return next(iter(index.get((namespace, account), [])), None)


def _children(*, indexes: Mapping[str, Any], key: OwnerKey) -> dict[ChildKey, Mapping[str, Any]]:
    found: dict[ChildKey, Mapping[str, Any]] = {}
    for _group, _version, plural in CHILD_RESOURCES:
        index: kopf.Index[OwnerKey, bytes] = indexes[f"children_{plural}"]
        for packed in index.get(key, []):
            obj = unpack_object(packed)
            found[(str(obj["kind"]), str(obj["metadata"]["name"]))] = obj
    return found


async def _write_outcome(
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
    stored = _current_status(state=state, body=body)
    if outcome.leave_status or outcome.status == stored:
        return Written(status=stored, held_s=0.0)
    last = state.written_status.get(uid)
    held = hold_s(
        stored=stored,
        new=outcome.status,
        last_written_s=None if last is None else last.written_s,
        now_s=time.monotonic(),
        interval_s=state.settings.status_interval_s,
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


async def _pass(
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
    current["status"] = _current_status(state=state, body=body)
    children = _children(indexes=indexes, key=key)
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
                symbol_holders=_symbol_holders(
                    indexes=indexes, key=key, spec=current.get("spec") or {}
                ),
                account=_account_view(
                    indexes=indexes, namespace=key[0], spec=current.get("spec") or {}
                ),
            )
        except PassFailedError as failed:
            await _write_outcome(state=state, body=body, kind=kind, outcome=failed.outcome)
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
    written = await _write_outcome(state=state, body=body, kind=kind, outcome=outcome)
    if notifier is not None and prepared is not None and not written.held_s:
        # Only once what they are transitions of is stored: never sent twice.
        notifier.dispatch(prepared)
    for cause in outcome.restarts:
        state.metrics.restarts.labels(namespace=key[0], bot=key[2], cause=cause).inc()
    if outcome.rolled_back:
        state.metrics.rollbacks.labels(namespace=key[0], bot=key[2]).inc()
    if kind == "TradingBot":
        # The stored status, not an equal copy of it: one per bot is enough to hold. A held
        # status differs only in live figures, which the metrics do not read.
        state.metrics.fleet.bots[uid] = BotRecord(
            namespace=key[0], name=key[2], status=written.status
        )
    if written.held_s:
        # The held status is written once its time comes (or sooner, should it change).
        return min(written.held_s, outcome.poll_again_s or written.held_s)
    return outcome.poll_again_s


async def _loop(
    *, state: OperatorState, body: kopf.Body, kind: str, key: OwnerKey, indexes: Mapping[str, Any]
) -> None:
    trigger = state.triggers.setdefault(key, asyncio.Event())
    failures = 0
    while True:
        trigger.clear()
        assert state.slots is not None
        await state.slots.acquire(urgent=_unreconciled(state=state, body=body))
        started = time.monotonic()
        try:
            poll_again_s = await _pass(state=state, body=body, kind=kind, key=key, indexes=indexes)
            state.metrics.observe_pass(kind=kind, ok=True, seconds=time.monotonic() - started)
            failures = 0
            timeout = state.settings.reconcile_interval_s
            if poll_again_s is not None:
                timeout = min(timeout, poll_again_s)
        except KubeApiError as exc:
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
        if not _unreconciled(state=state, body=body):
            # Woken by a change of its children: those come in bursts (a new bot's children
            # appear together, a starting pod changes several times); one pass sees them all.
            await asyncio.sleep(started + PASS_SPACING_S - time.monotonic())


@kopf.daemon(GROUP, VERSION, "tradingbots", cancellation_timeout=1.0)
async def bot_daemon(
    body: kopf.Body, namespace: str | None, name: str, memo: kopf.Memo, **kwargs: Any
) -> None:
    await _loop(
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
    await _loop(
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
    await _loop(
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
    children = _children(indexes=kwargs, key=key).items()
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
    state.reconciler.forget(uid=uid)
    if state.notifier is not None:
        state.notifier.forget(uid=uid)
    state.written_status.pop(uid, None)
    state.bot_views.pop(uid, None)
    state.metrics.fleet.bots.pop(uid, None)
    state.triggers.pop(key, None)
