"""Issue 20, item 3: an optimizer result is adopted only if the operator's own Job wrote it.

Anyone who may create ConfigMaps in the namespace could write a ``<job>-result`` ConfigMap with the
bot's labels. The operator adopts a result only if it is owned by one of the bot's optimization
Jobs (an ownerReference with that Job's name and UID) and carries the digest the Job computes: an
HMAC of the Job's name, its UID and the result, keyed by the bot's control token (a Secret the
Job reads and a ConfigMap writer does not). Anything else is ignored (never adopted), reported
with a Warning event and deleted. Whole passes against a fake API; the Job's side is the runtime's
own ``result_config_map``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pass_support import TOKEN, TokenKube, one_pass
from succession_support import bot_body, stamp
from tradefleet_operator.optimizer import FinishedJob, expired_jobs, parameters_hash, result_digest
from tradefleet_runtime.jobs import optimize

pytestmark = pytest.mark.unit

JOB = "bot-opt-1a2b3c4d"
JOB_UID = "job-uid-7"
BEST = {"emaFast": 10, "emaSlow": 40}


def _body() -> dict[str, Any]:
    body = bot_body(self_healing={})
    body["spec"]["strategy"] = {"parameters": {"emaFast": 12, "emaSlow": 26}}
    return body


def _job(*, uid: str = JOB_UID) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": JOB,
            "namespace": "ns",
            "uid": uid,
            "labels": {"tradefleet.io/bot": "bot"},
            "ownerReferences": [{"kind": "TradingBot", "name": "bot", "uid": "uid-1"}],
        },
        "status": {
            "conditions": [
                {
                    "type": "Complete",
                    "status": "True",
                    "lastTransitionTime": stamp(datetime.now(UTC)),
                }
            ]
        },
    }


def _result(
    *, key: str = TOKEN, job_uid: str = JOB_UID, owned: bool = True, digest: bool = True
) -> dict[str, Any]:
    """The result ConfigMap as the Job writes it (the runtime's own code), with the Job's UID and
    key as the Job's pod would have them."""

    class _Result:
        beats_current_out_of_sample = True
        best_parameters = BEST
        reason = "oos sharpe 1.4 vs 0.9"
        seed = 1
        valid_trials = 10
        trials = 10

        def to_dict(self) -> dict[str, Any]:
            return {}

    class _Config:
        bot_name = "bot"
        namespace = "ns"

    environ = {
        "TRADEFLEET_OPTIMIZER_JOB": JOB,
        "TRADEFLEET_OPTIMIZER_RESULT": f"{JOB}-result",
        "TRADEFLEET_OPTIMIZER_BASED_ON": parameters_hash(_body()["spec"]),
        "TRADEFLEET_OWNER_UID": "uid-1",
        "TRADEFLEET_OPTIMIZER_JOB_UID": job_uid,
        "TRADEFLEET_OPTIMIZER_KEY": key,
    }
    cm = optimize.result_config_map(
        config=_Config(),  # type: ignore[arg-type]
        result=_Result(),  # type: ignore[arg-type]
        environ=environ,
    )
    cm["metadata"]["creationTimestamp"] = stamp(datetime.now(UTC))
    if not owned:
        cm["metadata"]["ownerReferences"] = [
            ref for ref in cm["metadata"]["ownerReferences"] if ref["kind"] != "Job"
        ]
    if not digest:
        cm["metadata"].pop("annotations", None)
    return cm


def _children(*objects: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


async def _pass(*objects: dict[str, Any]) -> tuple[TokenKube, Any]:
    kube = TokenKube()
    _, outcome = await one_pass(body=_body(), children=_children(*objects), port=1, kube=kube)
    return kube, outcome


def _adopted_parameters(kube: TokenKube) -> Any:
    config = json.loads(kube.written[("ConfigMap", "bot-config")]["data"]["config.json"])
    return config["strategy"]["parameters"]


async def test_the_result_the_operators_job_wrote_is_adopted() -> None:
    kube, outcome = await _pass(_job(), _result())
    assert outcome.status["optimizer"].get("appliedJob") == JOB
    assert _adopted_parameters(kube)["emaFast"] == 10
    assert not [e for e in outcome.events if e.reason == "OptimizationResultRejected"]
    assert ("ConfigMap", f"{JOB}-result") not in kube.deleted


@pytest.mark.parametrize(
    ("forged", "why"),
    [
        (lambda: (_job(), _result(digest=False)), "no digest"),
        (lambda: (_job(), _result(key="guessed")), "digest under another key"),
        (lambda: (_job(), _result(owned=False)), "not owned by the Job"),
        (lambda: (_job(uid="other-job-uid"), _result()), "owned by another Job's UID"),
        (lambda: (_result(),), "its Job does not exist"),
    ],
    ids=["no-digest", "wrong-key", "not-owned", "wrong-uid", "no-job"],
)
async def test_a_forged_result_is_ignored_with_a_warning_and_deleted(forged: Any, why: str) -> None:
    kube, outcome = await _pass(*forged())
    assert "appliedJob" not in outcome.status.get("optimizer", {}), why
    assert _adopted_parameters(kube)["emaFast"] == 12, why
    warnings = [e for e in outcome.events if e.reason == "OptimizationResultRejected"]
    assert len(warnings) == 1, (why, outcome.events)
    assert warnings[0].type == "Warning"
    assert f"{JOB}-result" in warnings[0].message
    assert ("ConfigMap", f"{JOB}-result") in kube.deleted, why


def test_the_job_and_the_operator_compute_one_digest() -> None:
    cm = _result()
    payload = cm["data"]["result.json"]
    expected = result_digest(key=TOKEN, job=JOB, job_uid=JOB_UID, payload=payload)
    assert cm["metadata"]["annotations"]["tradefleet.io/optimizer-digest"] == expected
    job_refs = [r for r in cm["metadata"]["ownerReferences"] if r["kind"] == "Job"]
    assert job_refs == [{"apiVersion": "batch/v1", "kind": "Job", "name": JOB, "uid": JOB_UID}]


def test_a_job_whose_result_is_kept_is_never_expired() -> None:
    """Its result is trusted only while it exists: the Job owns it."""
    now = datetime.now(UTC)
    old = stamp(now.replace(year=now.year - 1))
    finished = [
        FinishedJob(name=name, failed=False, at=old, reason="Complete", message="")
        for name in ("newest", JOB, "older")
    ]
    assert expired_jobs(finished=finished, ttl_s=60, now=now, keep=frozenset({JOB})) == [
        "older",
        "newest",
    ]


async def test_the_job_of_the_adopted_result_outlives_its_ttl() -> None:
    job = _job()
    job["status"]["conditions"][0]["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    kube, outcome = await _pass(job, _result())
    assert outcome.status["optimizer"].get("appliedJob") == JOB
    assert ("Job", JOB) not in kube.deleted
