"""The operator killed in the middle of self-healing scenarios — a crash and a pause, a rollout of
a bad revision — comes back and converges with the right conditions (the breaker and restart
budget scenarios restart the operator in their own tests).
Bot runtimes keep running without it; what happened meanwhile is read from the cluster and the
bots, not from the operator's memory."""

from __future__ import annotations

import os
import signal
import time

import pytest
from kubernetes import client
from support.bots import (
    exchange_bot,
    get_bot,
    operator_down,
    runtime_pid,
    wait_for_condition,
    wait_for_phase,
)
from support.k8s import wait_for
from tradefleet_devtools.stack import LocalStack

pytestmark = pytest.mark.e2e


def test_operator_restart_converges_on_what_happened_while_it_was_down(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    custom = client.CustomObjectsApi(e2e_api)
    custom.create_namespaced_custom_object(
        "tradefleet.io",
        "v1alpha1",
        e2e_namespace,
        "tradingbots",
        exchange_bot("orphaned", symbol="ETH/USDT:USDT"),
    )
    wait_for_phase(e2e_api, e2e_namespace, "orphaned", "Running", timeout_s=120)
    with operator_down(stack):
        # While no operator runs: the bot crashes (the node restarts it) and the user pauses it.
        os.kill(runtime_pid(stack, e2e_api, e2e_namespace, "orphaned"), signal.SIGKILL)
        custom.patch_namespaced_custom_object(
            "tradefleet.io",
            "v1alpha1",
            e2e_namespace,
            "tradingbots",
            "orphaned",
            {"spec": {"paused": True}},
        )

    paused = wait_for_phase(e2e_api, e2e_namespace, "orphaned", "Paused", timeout_s=90)
    assert paused["status"]["observedGeneration"] == paused["metadata"]["generation"]
    # The node reports the restarted container on its own schedule, which may be after the
    # operator's first reconcile has already shown the pause.
    wait_for(
        lambda: (
            int(get_bot(e2e_api, e2e_namespace, "orphaned")["status"].get("restarts") or 0) >= 1
        ),
        timeout_s=60,
        what="the crash during the outage counted in status.restarts",
    )
    wait_for_condition(e2e_api, e2e_namespace, "orphaned", "Paused", status="True", timeout_s=10)
    # The restarted runtime is ready after its start and a readiness probe (every 5 s).
    wait_for_condition(e2e_api, e2e_namespace, "orphaned", "Ready", status="True", timeout_s=60)
    # Pausing is a command to the running bot, not a new revision.
    assert get_bot(e2e_api, e2e_namespace, "orphaned")["status"]["currentRevision"] == 1
    wait_for(
        lambda: get_bot(e2e_api, e2e_namespace, "orphaned")["status"].get("control") is not None,
        timeout_s=10,
        what="the control state",
    )


def test_operator_killed_during_a_rollout_still_rolls_the_bad_revision_back(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    custom = client.CustomObjectsApi(e2e_api)
    custom.create_namespaced_custom_object(
        "tradefleet.io",
        "v1alpha1",
        e2e_namespace,
        "tradingbots",
        exchange_bot("wobbly", symbol="ETH/USDT:USDT"),
    )
    wait_for_phase(e2e_api, e2e_namespace, "wobbly", "Running", timeout_s=120)
    custom.patch_namespaced_custom_object(
        "tradefleet.io",
        "v1alpha1",
        e2e_namespace,
        "tradingbots",
        "wobbly",
        {"spec": {"symbol": "DOGE/USDT:USDT"}},  # not listed: revision 2 never becomes ready
    )
    changed_at = time.monotonic()
    wait_for(
        lambda: get_bot(e2e_api, e2e_namespace, "wobbly")["status"].get("currentRevision") == 2,
        timeout_s=30,
        what="revision 2 rolled out",
    )
    # Down for most of the progress deadline: the deadline runs from the rollout recorded in
    # status, not from the operator's start.
    with operator_down(stack):
        time.sleep(15)

    rolled = wait_for_condition(
        e2e_api, e2e_namespace, "wobbly", "RolledBack", status="True", timeout_s=120
    )
    detected_after = time.monotonic() - changed_at
    assert rolled["reason"] == "ProgressDeadlineExceeded"
    assert "revision 1" in rolled["message"] and "revision 2" in rolled["message"]
    running = wait_for_phase(e2e_api, e2e_namespace, "wobbly", "Running", timeout_s=90)
    assert running["status"]["currentRevision"] == 1
    assert running["status"]["rollback"] == {
        **running["status"]["rollback"],
        "fromRevision": 2,
        "toRevision": 1,
    }
    template = (
        client.AppsV1Api(e2e_api).read_namespaced_deployment("wobbly", e2e_namespace).spec.template
    )
    assert template.metadata.annotations["tradefleet.io/revision"] == "1"
    print(
        f"bad revision applied, operator down 15 s -> RolledBack: {detected_after:.1f}s "
        "(progressDeadlineSeconds=25; target: detection -> rollback <= 60 s)"
    )


def test_another_regions_operator_never_overwrites_the_owners_status(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    custom = client.CustomObjectsApi(e2e_api)
    # Created while its own region's operator is down: only Singapore's has reported on it.
    with operator_down(stack):
        custom.create_namespaced_custom_object(
            "tradefleet.io", "v1alpha1", e2e_namespace, "tradingbots", exchange_bot("shared")
        )
        wait_for_phase(e2e_api, e2e_namespace, "shared", "NotOwned", timeout_s=60)
    wait_for_phase(e2e_api, e2e_namespace, "shared", "Running", timeout_s=120)

    # Edited while the owner is down again: Singapore's operator sees the new generation, and
    # must leave Tokyo's report (and the revision history rollbacks need) as it is.
    with operator_down(stack):
        custom.patch_namespaced_custom_object(
            "tradefleet.io",
            "v1alpha1",
            e2e_namespace,
            "tradingbots",
            "shared",
            {"spec": {"paused": True}},
        )
        time.sleep(5)
        status = get_bot(e2e_api, e2e_namespace, "shared")["status"]
        assert status["phase"] == "Running"
        assert status["region"] == "ap-northeast-1"
        assert status["lastGoodRevision"] == 1 and status["currentRevision"] == 1
    wait_for_phase(e2e_api, e2e_namespace, "shared", "Paused", timeout_s=90)
