"""A new bot's first pass: what its pod needs exists before its Deployment, in two round trips.

In a burst of new bots every sequential round trip of a first pass delays the bot's pod by one
apiserver answer under load; the control-token Secret used to take a round trip of its own.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from succession_support import SETTINGS, FakeKube, stamp
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
        return await super().create(body=body)


def new_bot() -> dict[str, Any]:
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {
            "name": "bot",
            "namespace": "ns",
            "uid": "uid-1",
            "generation": 1,
            "creationTimestamp": stamp(datetime.now(UTC)),
        },
        "spec": {"exchange": "binance", "market": "futures", "symbol": "BTC/USDT:USDT"},
    }


async def test_a_new_bots_secret_goes_with_its_first_wave_and_before_its_deployment() -> None:
    kube = RoundTripKube()
    reconciler = Reconciler(kube=kube, settings=SETTINGS)  # type: ignore[arg-type]
    try:
        await reconciler.reconcile_bot(body=new_bot(), children={}, sources={})
    finally:
        await reconciler.runtime.close()
    at = {step: i for i, step in enumerate(kube.timeline)}
    # What the pod reads or is admitted with exists before its Deployment is written ...
    for needed in ("Secret", "ServiceAccount", "ConfigMap"):
        assert at[f"end {needed}"] < at["start Deployment"], kube.timeline
    # ... and the Secret is written alongside those, not in a round trip of its own before them.
    assert at["start Secret"] < at["end ConfigMap"], kube.timeline
    assert at["start ConfigMap"] < at["end Secret"], kube.timeline


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
            body={**new_bot(), "status": first.status}, children=dict(kube.applied), sources={}
        )
    finally:
        await reconciler.runtime.close()
    assert first.status["revisionHistory"][0]["createdAt"] == SERVER_CREATED
    assert second.status == first.status
