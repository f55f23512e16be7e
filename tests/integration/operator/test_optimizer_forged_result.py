"""Issue 20, item 3: against a real apiserver, a forged optimizer result is ignored with an event.

Anyone allowed to create ConfigMaps in the bot's namespace can write one that looks like a result
(the bot's labels, a TradingBot ownerReference, a winning payload for the current parameters). The
operator adopts a result only if the bot's own optimization Job owns it (name and UID) and it
carries the HMAC that Job computes with the bot's control token. Here: a result without any Job,
and one naming the real Job with its UID but signed with a guessed key, are each deleted with a
Warning event and never adopted; the same result signed with the control token (as the Job's pod,
which reads that Secret, signs it) is adopted.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.k8s import wait_for
from support.nodes import operator_with_ready_node
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.operator_process import OperatorProcess
from tradefleet_operator.optimizer import parameters_hash, result_digest

pytestmark = pytest.mark.integration

GROUP, VERSION = "tradefleet.io", "v1alpha1"
REGION = "test-forged"
BOT = "guarded"
SPEC = {
    "exchange": "binance",
    "market": "futures",
    "symbol": "BTC/USDT:USDT",
    "region": REGION,
    "selfHealing": {"heartbeatTimeoutSeconds": 3600},
}


@pytest.fixture
def operator(cluster: ClusterAccess, crds: None, tmp_path: Path) -> Iterator[OperatorProcess]:
    with operator_with_ready_node(
        kubeconfig=cluster.kubeconfig, workdir=tmp_path / "operator", region=REGION, prefix="forged"
    ) as process:
        yield process


def _result(*, bot: dict[str, Any], job: str, owners: list[dict[str, Any]]) -> dict[str, Any]:
    payload = {
        "job": job,
        "beatsCurrentOutOfSample": True,
        "basedOnParameters": parameters_hash(bot["spec"]),
        "bestParameters": {"emaFast": 7},
        "summary": "forged",
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{job}-result",
            "labels": {
                "app.kubernetes.io/name": "tradefleet-bot",
                "app.kubernetes.io/instance": BOT,
                "app.kubernetes.io/managed-by": "tradefleet-operator",
                "tradefleet.io/bot": BOT,
                "tradefleet.io/optimizer-result": "true",
            },
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "TradingBot",
                    "name": BOT,
                    "uid": bot["metadata"]["uid"],
                },
                *owners,
            ],
        },
        "data": {"result.json": json.dumps(payload, sort_keys=True)},
    }


def _signed(cm: dict[str, Any], *, key: str, job: str, uid: str) -> dict[str, Any]:
    digest = result_digest(key=key, job=job, job_uid=uid, payload=cm["data"]["result.json"])
    cm["metadata"]["annotations"] = {"tradefleet.io/optimizer-digest": digest}
    return cm


def _rejected(core_v1: client.CoreV1Api, namespace: str, name: str) -> list[Any]:
    return [
        e
        for e in core_v1.list_namespaced_event(namespace).items
        if e.involved_object.name == BOT
        and e.reason == "OptimizationResultRejected"
        and name in (e.message or "")
    ]


def _gone(core_v1: client.CoreV1Api, namespace: str, name: str) -> bool:
    return not core_v1.list_namespaced_config_map(
        namespace, field_selector=f"metadata.name={name}"
    ).items


def test_only_the_result_signed_for_the_bots_own_job_is_adopted(
    namespace: str, operator: OperatorProcess, core_v1: client.CoreV1Api
) -> None:
    custom = client.CustomObjectsApi(core_v1.api_client)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TradingBot",
        "metadata": {"name": BOT, "annotations": {"tradefleet.io/optimize-now": "first"}},
        "spec": SPEC,
    }
    bot = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", body)
    batch = client.BatchV1Api(core_v1.api_client)
    job = wait_for(
        lambda: (
            batch.list_namespaced_job(namespace, label_selector=f"tradefleet.io/bot={BOT}").items
        ),
        timeout_s=30,
        what="the optimization Job",
    )[0]
    job_ref = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": job.metadata.name,
        "uid": job.metadata.uid,
    }

    # 1. No Job at all, no digest.
    orphan = _result(bot=bot, job=f"{BOT}-opt-0badc0de", owners=[])
    core_v1.create_namespaced_config_map(namespace, orphan)
    # 2. The real Job and its UID, signed with a guessed key.
    guessed = _signed(
        _result(bot=bot, job=job.metadata.name, owners=[job_ref]),
        key="guessed",
        job=job.metadata.name,
        uid=job.metadata.uid,
    )
    core_v1.create_namespaced_config_map(namespace, guessed)
    for cm in (orphan, guessed):
        name = cm["metadata"]["name"]
        warnings = wait_for(
            lambda name=name: _rejected(core_v1, namespace, name),
            timeout_s=30,
            what=f"OptimizationResultRejected for {name}",
        )
        assert warnings[0].type == "Warning"
        wait_for(lambda name=name: _gone(core_v1, namespace, name), timeout_s=30, what="deleted")
    status = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", BOT)
    assert "appliedJob" not in (status.get("status") or {}).get("optimizer", {})

    # 3. Signed with the bot's control token, as the Job's pod signs it: adopted.
    secret = core_v1.read_namespaced_secret(f"{BOT}-control", namespace)
    token = base64.b64decode(secret.data["token"]).decode()
    genuine = _signed(
        _result(bot=bot, job=job.metadata.name, owners=[job_ref]),
        key=token,
        job=job.metadata.name,
        uid=job.metadata.uid,
    )
    name = genuine["metadata"]["name"]  # the guessed one's name: count its warnings so far
    before = sum(e.count or 1 for e in _rejected(core_v1, namespace, name))
    core_v1.create_namespaced_config_map(namespace, genuine)

    def adopted() -> str | None:
        got = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", BOT)
        applied: str | None = ((got.get("status") or {}).get("optimizer") or {}).get("appliedJob")
        return applied

    assert wait_for(adopted, timeout_s=30, what="the signed result adopted") == job.metadata.name
    assert sum(e.count or 1 for e in _rejected(core_v1, namespace, name)) == before
    assert not _gone(core_v1, namespace, name)
