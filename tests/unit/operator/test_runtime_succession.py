"""Never two runtimes of one bot: a new runtime pod waits until every previous one is gone.

The pure decision (:mod:`tradefleet_operator.succession`): when to wait, when a pod on a lost node
is force-deleted, and which pods are the bot's runtime pods (an optimization Job's are not).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from succession_support import OWNER, SETTINGS, SPEC, job_pod, replica_set_pod, stamp
from tradefleet_operator.render import Revision, render_bot_children
from tradefleet_operator.render_optimizer import render_optimizer_job
from tradefleet_operator.settings import OperatorSettings, load_settings
from tradefleet_operator.succession import (
    NodeHealth,
    RuntimePod,
    decide,
    forced_message,
    node_health,
    runtime_pod,
    runtime_pods,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
NODE_LOST_TIMEOUT_S = 60.0


def _pod(
    name: str = "bot-5d8f6c-x2x7q",
    *,
    node: str | None = "node-a",
    deleting_s_ago: float | None = None,
    grace_s: int = 30,
) -> RuntimePod:
    return RuntimePod(
        name=name,
        node=node,
        deleting_since=None if deleting_s_ago is None else NOW - timedelta(seconds=deleting_s_ago),
        grace_s=grace_s,
    )


def _ready(name: str = "node-a") -> NodeHealth:
    return NodeHealth(name=name, state="Ready", lost_since=None)


def _lost(s_ago: float, *, name: str = "node-a", state: str = "Unknown") -> NodeHealth:
    return NodeHealth(name=name, state=state, lost_since=NOW - timedelta(seconds=s_ago))


def _decide(
    *,
    pods: list[RuntimePod],
    nodes: dict[str, NodeHealth] | None = None,
    wanted: int = 1,
    replacing: bool = False,
    deployment_replicas: int | None = 0,
):  # type: ignore[no-untyped-def]
    return decide(
        wanted=wanted,
        replacing=replacing,
        deployment_replicas=deployment_replicas,
        pods=pods,
        nodes=nodes if nodes is not None else {"node-a": _ready()},
        node_lost_timeout_s=NODE_LOST_TIMEOUT_S,
        now=NOW,
    )


# -- the decision ----------------------------------------------------------------------------


def test_one_terminating_pod_means_wait_not_scale_up() -> None:
    """The replacement of a hung runtime: scaled to zero, the old pod still terminating."""
    decision = _decide(pods=[_pod(deleting_s_ago=12)])
    assert decision.replicas == 0, "a new runtime must not start next to a terminating one"
    assert decision.waiting and decision.to_force == ()
    assert decision.message is not None
    assert decision.message.startswith(
        "waiting for the previous runtime pod bot-5d8f6c-x2x7q to terminate (12s)"
    )


def test_the_replacement_starts_once_every_pod_is_gone() -> None:
    decision = _decide(pods=[])
    assert decision.replicas == 1 and not decision.waiting and decision.message is None


def test_a_replacement_in_progress_waits_even_for_a_pod_not_yet_terminating() -> None:
    """The ReplicaSet has not acted on the scale-down yet: the pod still counts."""
    decision = _decide(pods=[_pod()], wanted=0, replacing=True)
    assert decision.replicas == 0 and decision.waiting
    assert decision.message is not None and "(0s)" in decision.message


def test_the_pod_the_deployment_keeps_is_no_reason_to_wait() -> None:
    """Steady state: one replica, its live pod."""
    decision = _decide(pods=[_pod()], deployment_replicas=1)
    assert decision.replicas == 1 and not decision.waiting


def test_a_pod_terminating_next_to_a_live_one_stops_the_bot_until_both_are_gone() -> None:
    """Deleted by someone else (kubectl, eviction): its ReplicaSet has already started another."""
    old, new = _pod("bot-5d8f6c-old", deleting_s_ago=3), _pod("bot-5d8f6c-new")
    decision = _decide(pods=[new, old], deployment_replicas=1)
    assert decision.replicas == 0
    assert [a.pod for a in decision.awaited] == ["bot-5d8f6c-old"]
    # Next pass: the Deployment is at zero, so every pod left must go first.
    assert [a.pod for a in _decide(pods=[new, old], deployment_replicas=0).awaited] == [
        "bot-5d8f6c-old",
        "bot-5d8f6c-new",
    ]


def test_a_held_bot_waits_for_nothing() -> None:
    """Degraded (restart budget spent): scaled to zero, nothing is to start."""
    decision = _decide(pods=[_pod(deleting_s_ago=5)], wanted=0)
    assert decision.replicas == 0 and not decision.waiting


# -- a pod on a lost node --------------------------------------------------------------------


def test_a_pod_on_a_lost_node_is_force_deleted_after_its_grace_plus_the_node_lost_timeout() -> None:
    pod = _pod(deleting_s_ago=200)
    # Lost for 89 s of a 30 + 60 s bound: wait, and say when the pod will be force-deleted.
    early = _decide(pods=[pod], nodes={"node-a": _lost(89)})
    assert early.replicas == 0 and early.to_force == ()
    assert early.message is not None
    assert "node-a is Unknown" in early.message and "force-deleted in 1s" in early.message
    # Past the bound: force-delete it; still no new runtime in this pass.
    due = _decide(pods=[pod], nodes={"node-a": _lost(91)})
    assert due.replicas == 0
    assert [a.pod for a in due.to_force] == [pod.name]
    message = forced_message(due.to_force[0])
    assert "node-a" in message and "91s" in message
    assert "may still be running" in message and "lease" in message and "fencing" in message


def test_a_ready_node_never_leads_to_a_forced_deletion() -> None:
    """A kubelet that answers finishes the deletion itself, however long the grace period is."""
    decision = _decide(pods=[_pod(deleting_s_ago=3600)])
    assert decision.replicas == 0 and decision.to_force == ()


def test_a_node_that_is_gone_counts_from_the_pods_deletion() -> None:
    gone = NodeHealth(name="node-a", state="gone", lost_since=None)
    assert _decide(pods=[_pod(deleting_s_ago=80)], nodes={"node-a": gone}).to_force == ()
    assert len(_decide(pods=[_pod(deleting_s_ago=95)], nodes={"node-a": gone}).to_force) == 1


def test_a_node_the_operator_could_not_read_is_never_taken_for_lost() -> None:
    decision = _decide(pods=[_pod(deleting_s_ago=3600)], nodes={})
    assert decision.replicas == 0 and decision.to_force == ()


def test_a_pod_already_force_deleted_is_not_deleted_again() -> None:
    """Held by a finalizer after the forced deletion: wait for it, without a new event each pass."""
    decision = _decide(pods=[_pod(deleting_s_ago=300, grace_s=0)], nodes={"node-a": _lost(600)})
    assert decision.replicas == 0 and decision.to_force == ()
    assert decision.message is not None and "finalizer" in decision.message


def test_node_health_reads_the_ready_condition() -> None:
    def node(status: str, since: datetime) -> dict[str, Any]:
        return {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": status, "lastTransitionTime": stamp(since)}
                ]
            }
        }

    assert node_health(name="n", node=node("True", NOW)).lost_since is None
    lost = node_health(name="n", node=node("Unknown", NOW - timedelta(seconds=70)))
    assert (lost.state, lost.lost_since) == ("Unknown", NOW - timedelta(seconds=70))
    assert node_health(name="n", node=node("False", NOW)).state == "NotReady"
    assert node_health(name="n", node=None).state == "gone"
    assert node_health(name="n", node={"status": {}}).lost_since is None


def test_the_deletion_request_is_the_deletion_timestamp_minus_the_grace_period() -> None:
    """Kubernetes stamps ``deletionTimestamp`` with the end of the grace period, not its start."""
    pod = runtime_pod(
        {
            "metadata": {
                "name": "p",
                "deletionTimestamp": stamp(NOW + timedelta(seconds=20)),
                "deletionGracePeriodSeconds": 30,
            },
            "spec": {"nodeName": "node-a", "terminationGracePeriodSeconds": 30},
        }
    )
    assert pod.deleting_since == NOW - timedelta(seconds=10) and pod.grace_s == 30
    alive = runtime_pod({"metadata": {"name": "q"}, "spec": {"terminationGracePeriodSeconds": 45}})
    assert alive.deleting_since is None and alive.grace_s == 45 and alive.node is None


# -- which pods are the bot's runtime pods -----------------------------------------------------


def test_optimizer_pods_carry_the_bots_labels_but_are_not_runtime_pods() -> None:
    runtime = replica_set_pod("bot-5d8f6c-x2x7q")
    optimizer = job_pod("bot-opt-1a2b3c4d-k8s9z")
    # The premise: label selection alone cannot tell them apart.
    assert (
        optimizer["metadata"]["labels"]["tradefleet.io/bot"]
        == runtime["metadata"]["labels"]["tradefleet.io/bot"]
    )
    assert runtime_pods(pods=[runtime, optimizer], deployment="bot") == [runtime]


def test_a_replica_set_of_another_bot_whose_name_extends_this_one_is_not_ours() -> None:
    other = replica_set_pod("bot-b-5d8f6c-abcde", deployment="bot-b")
    assert runtime_pods(pods=[other], deployment="bot") == []


def test_an_orphaned_runtime_pod_still_counts() -> None:
    """Its ReplicaSet deleted with --cascade=orphan, the runtime still runs."""
    orphan = replica_set_pod("bot-5d8f6c-x2x7q")
    orphan["metadata"]["ownerReferences"] = []
    assert runtime_pods(pods=[orphan], deployment="bot") == [orphan]


def test_the_runtime_workload_recreates_and_has_an_explicit_grace_period() -> None:
    revision = Revision(number=1, config_hash="h", content={"config": {}})
    children = render_bot_children(
        owner=OWNER,
        spec=SPEC,
        region="ap-northeast-1",
        revision=revision,
        replicas=1,
        settings=SETTINGS,
    )
    deployment = next(c for c in children if c["kind"] == "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 30
    assert "tradefleet.io/revision" in deployment["spec"]["template"]["metadata"]["annotations"]
    job = render_optimizer_job(
        owner=OWNER, spec=SPEC, run="2026-11-21T00:00:00Z", based_on="abc", settings=SETTINGS
    )
    # What tells an orphaned runtime pod from a Job's: only the runtime template is annotated so.
    assert "tradefleet.io/revision" not in (
        job["spec"]["template"]["metadata"].get("annotations") or {}
    )


def test_the_node_lost_timeout_is_a_setting(tmp_path: Any) -> None:
    assert OperatorSettings(region="r").node_lost_timeout_s == 60.0
    path = tmp_path / "operator.yaml"
    path.write_text("region: r\nnodeLostTimeoutSeconds: 120\n")
    assert load_settings(path=path).node_lost_timeout_s == 120.0
