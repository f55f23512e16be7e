"""A new bot's first pass: what its pod needs exists before its Deployment, in two round trips.

In a burst of new bots every sequential round trip of a first pass delays the bot's pod by one
apiserver answer under load; the control-token Secret used to take a round trip of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from succession_support import SETTINGS, FakeKube, bot_body
from tradefleet_operator.kube import KubeApiError
from tradefleet_operator.reconcile import Reconciler

# When the fake apiserver says it created an object: not the operator's clock.
SERVER_CREATED = "2026-01-02T03:04:05Z"


class RoundTripKube(FakeKube):
    """Records when each write starts and ends (``start Secret``, ``end Secret``, ...), and
    stamps what it creates with its own creation time, as the apiserver does."""

    def __init__(self) -> None:
        super().__init__()
        self.timeline: list[str] = []

    async def _round_trip(self, body: dict[str, Any]) -> None:
        self.timeline.append(f"start {body['kind']}")
        await asyncio.sleep(0.01)
        self.timeline.append(f"end {body['kind']}")

    def _stored(self, body: dict[str, Any]) -> dict[str, Any]:
        stored = super()._stored(body)
        stored["metadata"].setdefault("creationTimestamp", SERVER_CREATED)
        return stored

    async def apply(self, *, body: dict[str, Any]) -> dict[str, Any]:
        await self._round_trip(body)
        return await super().apply(body=body)

    async def create(self, *, body: dict[str, Any]) -> dict[str, Any]:
        await self._round_trip(body)
        # FakeKube creates by its apply: one round trip, not two.
        return await super().apply(body=body)

    async def get(self, *, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        await self._round_trip({"kind": f"read {kind}"})
        return await super().get(kind=kind, namespace=namespace, name=name)


def new_bot() -> dict[str, Any]:
    """The bot ``bot`` as just created: no status yet."""
    body = bot_body(self_healing={})
    del body["status"]
    return body


async def first_pass_timeline() -> list[str]:
    """The round trips of a new bot's first pass, in order."""
    kube = RoundTripKube()
    reconciler = Reconciler(kube=kube, settings=SETTINGS)  # type: ignore[arg-type]
    try:
        await reconciler.reconcile_bot(body=new_bot(), children={}, sources={})
    finally:
        await reconciler.runtime.close()
    return kube.timeline


async def test_a_new_bots_secret_goes_with_its_first_wave_and_before_its_deployment() -> None:
    timeline = await first_pass_timeline()
    at = {step: i for i, step in enumerate(timeline)}
    # What the pod reads or is admitted with exists before its Deployment is written ...
    for needed in ("Secret", "ServiceAccount", "ConfigMap"):
        assert at[f"end {needed}"] < at["start Deployment"], timeline
    # ... and the Secret is written alongside those, not in a round trip of its own before them.
    assert at["start Secret"] < at["end ConfigMap"], timeline
    assert at["start ConfigMap"] < at["end Secret"], timeline


async def test_a_new_bots_deployment_waits_only_for_what_its_pod_needs() -> None:
    """Its revision record and its Service are no part of starting the pod: written in the
    first wave, the slower of them under load would hold the Deployment back."""
    timeline = await first_pass_timeline()
    at = {step: i for i, step in enumerate(timeline)}
    for unneeded in ("ControllerRevision", "Service"):
        assert at["start Deployment"] < at[f"end {unneeded}"], timeline


async def test_a_new_bots_first_pass_reads_nothing_back_before_its_deployment() -> None:
    """Nothing of a new bot exists yet: reading a child before writing it (its revision among
    them) would put a round trip before the Deployment, and delay the pod under load."""
    timeline = await first_pass_timeline()
    assert [step for step in timeline if "read" in step] == [], timeline
    assert "end ControllerRevision" in timeline


async def test_the_pass_after_a_new_bots_first_finds_no_new_status_to_write() -> None:
    """Its children showing up in the index (no pod yet) tell nothing the first status did not."""
    kube = RoundTripKube()
    reconciler = Reconciler(kube=kube, settings=SETTINGS)  # type: ignore[arg-type]
    try:
        first = await reconciler.reconcile_bot(body=new_bot(), children={}, sources={})
        ready = next(c for c in first.status["conditions"] if c["type"] == "Ready")
        assert (ready["reason"], ready["message"]) == (
            "WaitingForPod",
            "waiting for the pod of revision 1",
        )
        second = await reconciler.reconcile_bot(
            body={**new_bot(), "status": first.status}, children=dict(kube.written), sources={}
        )
    finally:
        await reconciler.runtime.close()
    assert first.status["revisionHistory"][0]["createdAt"] == SERVER_CREATED
    assert second.status == first.status


async def test_a_new_revisions_time_is_the_apiservers_even_when_its_echo_comes_first() -> None:
    """Under load the watch delivers the new ControllerRevision while the pass is still writing
    the Deployment: the first status still gives its creation time as the apiserver stamped it,
    not the operator's clock, or the next pass would write the history again."""

    class EchoingKube(RoundTripKube):
        writer: Any = None
        revision: dict[str, Any] | None = None

        def _stored(self, body: dict[str, Any]) -> dict[str, Any]:
            stored = super()._stored(body)
            if body["kind"] == "ControllerRevision":
                self.revision = stored
            elif body["kind"] == "Deployment" and self.revision is not None:
                # The watch delivers the revision while the Deployment is being written.
                self.writer.child_observed(obj=self.revision)
            return stored

    kube = EchoingKube()
    reconciler = Reconciler(kube=kube, settings=SETTINGS)  # type: ignore[arg-type]
    kube.writer = reconciler.writer
    try:
        first = await reconciler.reconcile_bot(body=new_bot(), children={}, sources={})
    finally:
        await reconciler.runtime.close()
    assert first.status["revisionHistory"][0]["createdAt"] == SERVER_CREATED


async def test_a_failed_child_leaves_nothing_running_and_writes_no_deployment() -> None:
    """A child of the first wave fails: what runs alongside (the Secret, the wave's other
    children) ends before the error is raised, and no Deployment is written without what its pod
    needs. A write left running would outlive its pass, and its own failure would go unread."""
    ended: list[str] = []

    class FailingKube(RoundTripKube):
        async def create(self, *, body: dict[str, Any]) -> dict[str, Any]:
            if body["kind"] == "ConfigMap":
                raise KubeApiError(status=422, reason="Invalid", message="bad ConfigMap")
            await asyncio.sleep(0.1)  # still running when the ConfigMap fails, and the Secret ends
            ended.append(body["kind"])
            return await super().create(body=body)

    kube = FailingKube()
    reconciler = Reconciler(kube=kube, settings=SETTINGS)  # type: ignore[arg-type]

    async def alongside() -> int:
        await asyncio.sleep(0.05)
        ended.append("Secret")
        return 1

    rendered = [
        {"apiVersion": "v1", "kind": kind, "metadata": {"name": "bot", "namespace": "ns"}}
        for kind in ("ServiceAccount", "ConfigMap", "Deployment")
    ]
    with pytest.raises(KubeApiError, match="ConfigMap bot: bad ConfigMap"):
        await reconciler.writer.converge(
            desired=rendered, children={}, was_reconciled=False, prerequisites=alongside()
        )
    await reconciler.runtime.close()
    assert sorted(ended) == ["Secret", "ServiceAccount"], (
        f"the error was raised while writes were still running; ended: {ended}"
    )
    assert "start Deployment" not in kube.timeline, kube.timeline
