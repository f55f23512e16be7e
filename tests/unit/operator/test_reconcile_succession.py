"""One whole reconcile pass against a fake API: the Deployment stays at zero while an old runtime
pod terminates, and an optimization Job's pod is no runtime pod. Checks the wiring of
:mod:`tradefleet_operator.succession` into the reconciler without a cluster."""

from __future__ import annotations

from typing import Any

import pytest
from succession_support import SETTINGS, FakeKube, bot_body, job_pod, replica_set_pod, terminating
from tradefleet_operator.outcome import Outcome
from tradefleet_operator.reconcile import Reconciler

pytestmark = pytest.mark.unit


async def _pass(
    *, children: list[dict[str, Any]], self_healing: dict[str, Any]
) -> tuple[FakeKube, Outcome]:
    """A pass for a bot whose Deployment is at zero replicas (a replacement under way)."""
    kube = FakeKube()
    reconciler = Reconciler(kube=kube, settings=SETTINGS)  # type: ignore[arg-type]
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "bot", "namespace": "ns", "resourceVersion": "7"},
        "spec": {"replicas": 0},
    }
    indexed = {(c["kind"], c["metadata"]["name"]): c for c in [deployment, *children]}
    try:
        outcome = await reconciler.reconcile_bot(
            body=bot_body(self_healing=self_healing), children=indexed, sources={}
        )
    finally:
        await reconciler.runtime.close()
    return kube, outcome


async def test_a_replacement_stays_at_zero_while_the_old_runtime_pod_terminates() -> None:
    old = terminating(replica_set_pod("bot-5d8f6c-x2x7q"))
    kube, outcome = await _pass(
        children=[old], self_healing={"replacing": True, "observedPod": "bot-5d8f6c-x2x7q"}
    )
    replicas = kube.written[("Deployment", "bot")]["spec"]["replicas"]
    assert replicas == 0, "scaled back up while the old runtime pod is still terminating"
    ready = next(c for c in outcome.status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "WaitingForPreviousRuntime"
    assert ready["message"].startswith(
        "waiting for the previous runtime pod bot-5d8f6c-x2x7q to terminate (5s)"
    )
    assert outcome.status["phase"] == "Progressing"
    assert outcome.status["selfHealing"]["replacing"] is True
    assert kube.deleted == [], "a pod on a Ready node is never force-deleted"
    assert outcome.poll_again_s == SETTINGS.health_poll_interval_s


async def test_a_running_optimizer_pod_does_not_hold_back_a_finished_replacement() -> None:
    kube, outcome = await _pass(
        children=[job_pod("bot-opt-1a2b3c4d-k8s9z")], self_healing={"replacing": True}
    )
    assert kube.written[("Deployment", "bot")]["spec"]["replicas"] == 1
    assert outcome.status["selfHealing"]["replacing"] is False
