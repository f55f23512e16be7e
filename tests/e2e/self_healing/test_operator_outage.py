"""The operator killed while bots change under it comes back and converges with the right conditions."""

from __future__ import annotations

import os
import signal

import pytest
from kubernetes import client
from support.bots import condition_of, exchange_bot, get_bot, wait_for_phase
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
    operator = stack.operators["ap-northeast-1"]
    operator.kill()
    try:
        # While no operator runs: the bot crashes (the node restarts it) and the user pauses it.
        assert stack.agent is not None
        pods = (
            client.CoreV1Api(e2e_api)
            .list_namespaced_pod(e2e_namespace, label_selector="tradefleet.io/bot=orphaned")
            .items
        )
        pid = stack.agent.container_pid(
            namespace=e2e_namespace, pod=pods[0].metadata.name, container="runtime"
        )
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        custom.patch_namespaced_custom_object(
            "tradefleet.io",
            "v1alpha1",
            e2e_namespace,
            "tradingbots",
            "orphaned",
            {"spec": {"paused": True}},
        )
    finally:
        operator.start()

    paused = wait_for_phase(e2e_api, e2e_namespace, "orphaned", "Paused", timeout_s=90)
    assert paused["status"]["observedGeneration"] == paused["metadata"]["generation"]
    assert int(paused["status"]["restarts"]) >= 1, "the crash during the outage is counted"
    assert (condition_of(e2e_api, e2e_namespace, "orphaned", "Paused") or {}).get(
        "status"
    ) == "True"
    assert (condition_of(e2e_api, e2e_namespace, "orphaned", "Ready") or {}).get("status") == "True"
    # Pausing is a command to the running bot, not a new revision.
    assert get_bot(e2e_api, e2e_namespace, "orphaned")["status"]["currentRevision"] == 1
    wait_for(
        lambda: get_bot(e2e_api, e2e_namespace, "orphaned")["status"].get("control") is not None,
        timeout_s=10,
        what="the control state",
    )
