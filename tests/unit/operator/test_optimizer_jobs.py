"""Issue 15, item 6: optimization Jobs never pass for the bot's runtime, never pile up, and a
failed one shows in ``status.optimizer`` with its reason.

The Job's pods are labelled as optimizer pods, not bot pods, so the bot's Service, NetworkPolicy and
Deployment selectors never take them (the optimizer's own NetworkPolicy does); a finished Job expires (the
operator deletes finished Jobs but the newest itself, and those whose results it keeps); a
failed Job's reason, and its pod's termination message, are in ``status.optimizer.lastFailure``
with a Warning event, once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pass_support import one_pass
from succession_support import OWNER, SETTINGS, SPEC, FakeKube, bot_body, stamp
from tradefleet_operator.render import Revision, render_bot_children
from tradefleet_operator.render_optimizer import render_optimizer_access, render_optimizer_job

pytestmark = pytest.mark.unit


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_an_optimizer_pod_is_no_bot_pod_to_any_of_the_bots_selectors() -> None:
    job = render_optimizer_job(owner=OWNER, spec=SPEC, run="now:1", based_on="a", settings=SETTINGS)
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    children = render_bot_children(
        owner=OWNER,
        spec=SPEC,
        region="ap-northeast-1",
        revision=Revision(number=1, config_hash="h", content={"config": {}}),
        replicas=1,
        settings=SETTINGS,
    )
    by_kind = {c["kind"]: c for c in children}
    selectors = {
        "Service": by_kind["Service"]["spec"]["selector"],
        "NetworkPolicy": by_kind["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"],
        "Deployment": by_kind["Deployment"]["spec"]["selector"]["matchLabels"],
    }
    for kind, selector in selectors.items():
        assert not _matches(selector, pod_labels), f"the bot's {kind} selects optimizer pods"
    assert pod_labels["app.kubernetes.io/name"] == "tradefleet-optimizer"
    # Still the bot's child to the operator: its watches select managed-by, its index the bot label.
    assert pod_labels["app.kubernetes.io/managed-by"] == "tradefleet-operator"
    assert pod_labels["tradefleet.io/bot"] == OWNER.name
    assert job["metadata"]["labels"]["app.kubernetes.io/name"] == "tradefleet-optimizer"
    # No TTL (issue 20): a Job owns its result, trusted only while the Job exists; the operator
    # deletes finished Jobs itself.
    assert "ttlSecondsAfterFinished" not in job["spec"]
    # Not left without a policy either: the optimizer's own selects them.
    policy = next(o for o in render_optimizer_access(owner=OWNER) if o["kind"] == "NetworkPolicy")
    assert _matches(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
    assert policy["spec"]["ingress"] == []


def _job(name: str, *, finished_s_ago: float, failed: bool) -> dict[str, Any]:
    at = stamp(datetime.now(UTC) - timedelta(seconds=finished_s_ago))
    condition = {
        "type": "Failed" if failed else "Complete",
        "status": "True",
        "lastTransitionTime": at,
        **(
            {
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
            if failed
            else {}
        ),
    }
    return {
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {
                "tradefleet.io/bot": "bot",
                "app.kubernetes.io/name": "tradefleet-optimizer",
            },
            "creationTimestamp": at,
        },
        "status": {"conditions": [condition], **({"failed": 2} if failed else {"succeeded": 1})},
    }


def _job_pod(job: str, *, message: str) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {
            "name": f"{job}-x7k2p",
            "labels": {"tradefleet.io/bot": "bot", "job-name": job},
            "ownerReferences": [{"kind": "Job", "name": job, "controller": True}],
        },
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {
                    "name": "optimizer",
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": message}},
                }
            ],
        },
    }


def _children(*objs: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


async def test_a_failed_job_is_in_the_status_with_its_reason_once() -> None:
    failed = _job("bot-opt-2b2b2b2b", finished_s_ago=30, failed=True)
    pod = _job_pod("bot-opt-2b2b2b2b", message="ModuleNotFoundError: No module named 'optuna'")
    _, outcome = await one_pass(
        body=bot_body(self_healing={}), children=_children(failed, pod), port=1
    )
    failure = outcome.status["optimizer"]["lastFailure"]
    assert failure["job"] == "bot-opt-2b2b2b2b"
    assert failure["reason"] == "BackoffLimitExceeded"
    assert "No module named 'optuna'" in failure["message"]
    warnings = [e for e in outcome.events if e.reason == "OptimizationFailed"]
    assert len(warnings) == 1 and warnings[0].type == "Warning"
    body = bot_body(self_healing={})
    body["status"] = outcome.status
    _, again = await one_pass(body=body, children=_children(failed, pod), port=1)
    assert not [e for e in again.events if e.reason == "OptimizationFailed"], "reported twice"


async def test_finished_jobs_but_the_newest_are_deleted() -> None:
    older = _job("bot-opt-1a1a1a1a", finished_s_ago=7200, failed=False)
    newer = _job("bot-opt-2b2b2b2b", finished_s_ago=60, failed=True)
    kube, _ = await one_pass(
        body=bot_body(self_healing={}), children=_children(older, newer), port=1, kube=FakeKube()
    )
    assert ("Job", "bot-opt-1a1a1a1a") in kube.deleted
    assert ("Job", "bot-opt-2b2b2b2b") not in kube.deleted
