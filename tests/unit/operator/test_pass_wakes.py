"""What wakes a resource's reconcile loop: what a pass reads, never the echo of the operator's own
writes. Under a burst of new bots each needless wake is a pass, and a thousand of them compete
with the passes that create the next bots' pods.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kopf
from tradefleet_operator.handlers import _child_changed, bot_changed
from tradefleet_operator.passes import OperatorState, WrittenStatus
from tradefleet_operator.reconcile import Reconciler
from tradefleet_operator.settings import OperatorSettings

KEY = ("bots", "TradingBot", "alpha")


def _state() -> tuple[OperatorState, kopf.Memo]:
    state = OperatorState(settings=OperatorSettings(region="ap-northeast-1"))
    memo = kopf.Memo()
    memo.tradefleet = state
    return state, memo


def _bot(*, rv: int, status: dict[str, Any] | None = None, **meta: Any) -> kopf.Body:
    body: dict[str, Any] = {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {
            "name": "alpha",
            "namespace": "bots",
            "uid": "u-1",
            "resourceVersion": str(rv),
            "generation": 1,
            **meta,
        },
        "spec": {"exchange": "binance", "market": "futures", "symbol": "BTC/USDT:USDT"},
    }
    if status is not None:
        body["status"] = status
    return kopf.Body(body)


async def _deliver(state: OperatorState, memo: kopf.Memo, body: kopf.Body) -> bool:
    """Hand ``body`` to the bot's event handler; whether it woke the loop."""
    state.triggers.setdefault(KEY, asyncio.Event()).clear()
    await bot_changed(
        body=body,
        namespace="bots",
        name="alpha",
        uid="u-1",
        memo=memo,
        type="MODIFIED",
        account_markets_index={},
    )
    return state.triggers[KEY].is_set()


async def test_a_bot_wakes_for_what_a_pass_reads_and_not_for_its_own_echoes() -> None:
    state, memo = _state()
    assert await _deliver(state, memo, _bot(rv=10)), "a new bot did not wake its loop"
    # Kopf adds its finalizer to the new bot before the first status is written.
    finalized = _bot(rv=11, finalizers=["tradefleet.io/finalizer"])
    assert not await _deliver(state, memo, finalized), "the finalizer woke the loop"
    written = {"phase": "Pending", "observedGeneration": 1}
    state.written_status["u-1"] = WrittenStatus(
        resource_version=12, status=written, written_s=time.monotonic()
    )
    assert not await _deliver(state, memo, _bot(rv=12, status=written)), "own status woke it"
    assert await _deliver(state, memo, _bot(rv=13, status={**written, "phase": "Halted"})), (
        "a status someone else wrote did not wake the loop"
    )
    state.written_status["u-1"] = WrittenStatus(
        resource_version=14, status=written, written_s=time.monotonic()
    )
    annotated = _bot(rv=15, status=written, annotations={"tradefleet.io/kill-switch": "true"})
    assert await _deliver(state, memo, annotated), "an annotation did not wake the loop"


class _StampingKube:
    """Answers each write with the next resourceVersion, as the apiserver does."""

    def __init__(self) -> None:
        self.version = 20

    async def apply(self, *, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        return {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}

    create = apply

    async def get(self, **_: Any) -> None:
        return None  # no managedFields to rewrite before a repair


async def test_a_childs_change_wakes_its_bot_but_the_echo_of_our_write_does_not() -> None:
    state, memo = _state()
    kube = _StampingKube()
    state.reconciler = Reconciler(kube=kube, settings=OperatorSettings(region="ap-northeast-1"))  # type: ignore[arg-type]
    writer = state.reconciler.writer
    labels = {"tradefleet.io/bot": "alpha", "app.kubernetes.io/managed-by": "tradefleet-operator"}
    meta = {"name": "alpha", "namespace": "bots", "labels": labels}
    rendered = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"a": "1"}}

    def config_map(rv: int, **data: str) -> kopf.Body:
        return kopf.Body(
            {**rendered, "metadata": {**meta, "resourceVersion": str(rv)}, "data": data}
        )

    async def deliver(body: kopf.Body, kind: str = "MODIFIED") -> bool:
        state.triggers.setdefault(KEY, asyncio.Event()).clear()
        await _child_changed(body=body, namespace="bots", labels=labels, memo=memo, type=kind)
        return state.triggers[KEY].is_set()

    try:
        await writer.converge(desired=[rendered], children={}, was_reconciled=False)
        assert not await deliver(config_map(21, a="1")), "the echo of our creation woke the bot"
        assert await deliver(config_map(22, a="2")), "someone else's change did not wake it"
        # A repair's answer may carry what changed since the pass read the index: it wakes.
        await writer.converge(
            desired=[rendered],
            children={("ConfigMap", "alpha"): config_map(22, a="2")},
            was_reconciled=True,
        )
        assert await deliver(config_map(23, a="1")), "the echo of a repair did not wake the bot"
        await writer.converge(desired=[rendered], children={}, was_reconciled=False)
        assert await deliver(config_map(24, a="1"), kind="DELETED"), "its deletion did not"
    finally:
        await state.reconciler.runtime.close()


async def test_kubernetes_bookkeeping_on_a_child_wakes_nobody_but_what_a_pass_reads_does() -> None:
    state, memo = _state()
    labels = {"tradefleet.io/bot": "alpha", "app.kubernetes.io/managed-by": "tradefleet-operator"}
    version = iter(range(100, 200))

    async def deliver(obj: dict[str, Any], kind: str = "MODIFIED") -> bool:
        body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(next(version))}}
        state.triggers.setdefault(KEY, asyncio.Event()).clear()
        await _child_changed(
            body=kopf.Body(body), namespace="bots", labels=labels, memo=memo, type=kind
        )
        return state.triggers[KEY].is_set()

    meta = {"name": "alpha", "namespace": "bots", "uid": "d-1", "labels": labels, "generation": 1}
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {"replicas": 1},
        "status": {},
    }
    assert await deliver(deployment, kind="ADDED"), "a child first seen did not wake its bot"
    assert not await deliver(deployment), "a change of nothing woke the bot"
    stamped = {
        **deployment,
        "metadata": {**meta, "annotations": {"deployment.kubernetes.io/revision": "1"}},
    }
    assert not await deliver(stamped), "the Deployment controller's revision stamp woke the bot"
    counting = {
        **stamped,
        "status": {"observedGeneration": 1, "updatedReplicas": 1, "replicas": 1},
    }
    assert await deliver(counting), "the rollout's first step did not wake the bot"
    noted = {
        **counting,
        "status": {
            **counting["status"],
            "unavailableReplicas": 1,
            "conditions": [{"type": "Progressing", "lastUpdateTime": "2026-12-06T17:16:06Z"}],
        },
    }
    assert not await deliver(noted), "counters and conditions no pass reads woke the bot"
    available = {**noted, "status": {**noted["status"], "availableReplicas": 1}}
    assert await deliver(available), "the pod becoming available did not wake the bot"
    edited = {**available, "metadata": {**available["metadata"], "labels": {**labels, "x": "y"}}}
    assert await deliver(edited), "a label edited by hand (drift) did not wake the bot"
    assert await deliver(edited, kind="DELETED"), "the Deployment's deletion did not wake the bot"

    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {**meta, "uid": "s-1"},
        "automountServiceAccountToken": False,
    }
    assert await deliver(account, kind="ADDED")
    tokens = {**account, "secrets": [{"name": "alpha-token-x7k2p"}]}
    assert not await deliver(tokens), "the token controller listing its Secret woke the bot"
    assert await deliver({**tokens, "automountServiceAccountToken": True}), "drift did not"

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "uid": "p-1"}, "status": {}}
    assert await deliver(pod, kind="ADDED")
    assert await deliver({**pod, "status": {"phase": "Pending"}}), "a pod's progress did not"
    adopted = {**pod, "status": {"phase": "Pending"}}
    adopted["metadata"] = {**pod["metadata"], "ownerReferences": [{"kind": "ReplicaSet"}]}
    assert await deliver(adopted), "a change of the pod's owners did not wake the bot"
    hurried = {**adopted, "metadata": {**adopted["metadata"], "deletionGracePeriodSeconds": 0}}
    assert await deliver(hurried), "a shortened grace period did not wake the bot"
