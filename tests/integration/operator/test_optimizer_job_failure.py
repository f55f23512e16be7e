"""Issue 15, item 6: a failed optimization Job shows in ``status.optimizer`` with its reason, and its
pods never pass for the bot's runtime.

Against a real apiserver, controller-manager (its Job controller) and scheduler, with the region's
node kept Ready and the kubelet played by the test: the bot runs; an optimization requested with
``tradefleet.io/optimize-now`` starts a Job whose pods the test fails with the optimizer's last
words in their termination message, until the Job controller gives up (BackoffLimitExceeded). The
operator reads that from the Job and its pods (its index holds both) into
``status.optimizer.lastFailure`` and says it once with a Warning event, and the bot's Service never
selects the optimizer's pods. (The operator deletes finished Jobs itself: they carry no
``ttlSecondsAfterFinished``, since a Job owns its result, trusted only while the Job exists; the
unit tests cover it.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.k8s import wait_for
from support.nodes import operator_with_ready_node, play_pod
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

GROUP, VERSION = "tradefleet.io", "v1alpha1"
REGION = "test-optimizer"
BOT = "tuned"
SILENT_IP = "127.231.47.11"
LAST_WORDS = "ModuleNotFoundError: No module named 'optuna'"


@pytest.fixture
def operator(cluster: ClusterAccess, crds: None, tmp_path: Path) -> Iterator[OperatorProcess]:
    with operator_with_ready_node(
        kubeconfig=cluster.kubeconfig,
        workdir=tmp_path / "operator",
        region=REGION,
        prefix="optimizer",
    ) as process:
        yield process


def _bot(custom: client.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", BOT
    )
    return found


def _fail_job_pods(core_v1: client.CoreV1Api, namespace: str, job: str) -> None:
    """Fail every scheduled pod of ``job`` that has not ended, as the optimizer's crash would."""
    for pod in core_v1.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items:
        if pod.spec.node_name and pod.status.phase not in ("Failed", "Succeeded"):
            play_pod(
                core_v1,
                pod=pod,
                ip=SILENT_IP,
                container="optimizer",
                terminated={"exitCode": 1, "reason": "Error", "message": LAST_WORDS},
            )


def test_a_failed_optimization_job_is_in_the_status_with_its_reason(
    namespace: str,
    operator: OperatorProcess,
    core_v1: client.CoreV1Api,
) -> None:
    custom = client.CustomObjectsApi(core_v1.api_client)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TradingBot",
        "metadata": {"name": BOT, "annotations": {"tradefleet.io/optimize-now": "first"}},
        "spec": {
            "exchange": "binance",
            "market": "futures",
            "symbol": "BTC/USDT:USDT",
            "region": REGION,
            "selfHealing": {"heartbeatTimeoutSeconds": 3600},
        },
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", body)
    batch = client.BatchV1Api(core_v1.api_client)
    job = wait_for(
        lambda: (
            batch.list_namespaced_job(namespace, label_selector=f"tradefleet.io/bot={BOT}").items
        ),
        timeout_s=30,
        what="the optimization Job",
    )[0]
    name = job.metadata.name

    def failure() -> dict[str, Any] | None:
        _fail_job_pods(core_v1, namespace, name)
        optimizer = (_bot(custom, namespace).get("status") or {}).get("optimizer") or {}
        found: dict[str, Any] | None = optimizer.get("lastFailure")
        return found

    # backoffLimit 1: two pods fail, the second one after the Job controller's 10 s backoff.
    last = wait_for(failure, timeout_s=90, what="status.optimizer.lastFailure")
    assert last["job"] == name
    assert last["reason"] == "BackoffLimitExceeded"
    assert LAST_WORDS in last["message"]
    # The operator found the Job's pods (they are its children too) but never as the bot's.
    service = core_v1.read_namespaced_service(BOT, namespace)
    selected = core_v1.list_namespaced_pod(
        namespace,
        label_selector=",".join(f"{k}={v}" for k, v in service.spec.selector.items()),
    ).items
    assert selected and all(not p.metadata.name.startswith(name) for p in selected)
    time.sleep(5)  # passes every 1-2 s: the Warning must still be one
    warnings = [
        e
        for e in core_v1.list_namespaced_event(namespace).items
        if e.involved_object.name == BOT and e.reason == "OptimizationFailed"
    ]
    assert len(warnings) == 1 and warnings[0].type == "Warning", warnings
    assert (warnings[0].count or 1) == 1
