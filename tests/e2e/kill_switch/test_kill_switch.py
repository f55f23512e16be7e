"""Issue 15, item 4: the kill switch reaches the runtime whatever else is wrong, or stops the bot.

A running bot whose spec turns invalid keeps its runtime (the last good revision): the kill switch
still reaches it, the runtime confirms its halt, and deleting the bot waits for the runtime to
confirm its flatten. A runtime that does not answer (SIGSTOPped) while the kill switch is set is
scaled to zero after the operator's bound, and the bot says that the flatten is not confirmed.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from kubernetes import client
from support.bots import (
    condition_of,
    exchange_bot,
    get_bot,
    runtime_pid,
    set_annotation,
    wait_for_phase,
)
from support.k8s import wait_for
from tradefleet_devtools.stack import LocalStack

pytestmark = pytest.mark.e2e

GROUP, VERSION = "tradefleet.io", "v1alpha1"


def _kill_switch(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    control = (get_bot(api, namespace, name).get("status") or {}).get("control") or {}
    kill: dict[str, Any] = control.get("killSwitch") or {}
    return kill


def _events(api: client.ApiClient, namespace: str, name: str) -> list[client.CoreV1Event]:
    return [
        e
        for e in client.CoreV1Api(api).list_namespaced_event(namespace).items
        if e.involved_object.name == name
    ]


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The process SIGSTOPped for the block: alive, but answering nothing."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def test_the_kill_switch_reaches_the_runtime_of_an_invalid_bot_and_deletion_waits_for_the_flatten(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    custom = client.CustomObjectsApi(e2e_api)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, e2e_namespace, "tradingbots", exchange_bot("invalidated")
    )
    wait_for_phase(e2e_api, e2e_namespace, "invalidated", "Running", timeout_s=120)
    # The CRD accepts it; the operator does not: strongBuy below buy.
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        e2e_namespace,
        "tradingbots",
        "invalidated",
        {"spec": {"strategy": {"thresholds": {"buy": 0.6, "strongBuy": 0.4}}}},
    )
    wait_for_phase(e2e_api, e2e_namespace, "invalidated", "Invalid", timeout_s=30)

    set_annotation(e2e_api, e2e_namespace, "invalidated", "tradefleet.io/kill-switch", "true")
    wait_for(
        lambda: _kill_switch(e2e_api, e2e_namespace, "invalidated").get("state") == "Halted",
        timeout_s=60,
        what="the runtime to confirm the kill switch",
    )
    status = get_bot(e2e_api, e2e_namespace, "invalidated")["status"]
    assert status["phase"] == "Invalid", "the spec problem is still what the user must fix"
    assert status["runtime"]["userHalted"] is True
    assert status["control"]["killSwitchApplied"] is True
    trading = condition_of(e2e_api, e2e_namespace, "invalidated", "Trading")
    assert trading is not None and trading["reason"] == "KillSwitch"

    custom.delete_namespaced_custom_object(
        GROUP, VERSION, e2e_namespace, "tradingbots", "invalidated"
    )

    def gone() -> bool:
        try:
            get_bot(e2e_api, e2e_namespace, "invalidated")
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout_s=60, what="the bot to be deleted")
    reasons = wait_for(
        lambda: (
            {e.reason for e in _events(e2e_api, e2e_namespace, "invalidated")}
            >= {"FlattenStarted", "PositionsFlattened"}
            and {e.reason for e in _events(e2e_api, e2e_namespace, "invalidated")}
        ),
        timeout_s=15,
        what="the deletion's flatten events",
    )
    assert "FlattenTimedOut" not in reasons


def test_an_unreachable_runtime_is_scaled_to_zero_and_the_flatten_is_not_confirmed(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    # Self-healing would replace the silent runtime first; here the kill switch's bound acts.
    bot = exchange_bot(
        "silent", symbol="ETH/USDT:USDT", selfHealing={"heartbeatTimeoutSeconds": 600}
    )
    client.CustomObjectsApi(e2e_api).create_namespaced_custom_object(
        GROUP, VERSION, e2e_namespace, "tradingbots", bot
    )
    wait_for_phase(e2e_api, e2e_namespace, "silent", "Running", timeout_s=120)
    apps = client.AppsV1Api(e2e_api)
    with stopped(runtime_pid(stack, e2e_api, e2e_namespace, "silent")):
        set_annotation(e2e_api, e2e_namespace, "silent", "tradefleet.io/kill-switch", "true")
        wait_for(
            lambda: _kill_switch(e2e_api, e2e_namespace, "silent").get("state") == "Requested",
            timeout_s=30,
            what="the kill switch requested",
        )
        kill = wait_for(
            lambda: (
                (k := _kill_switch(e2e_api, e2e_namespace, "silent")).get("state") == "ScaledDown"
                and k
            ),
            timeout_s=90,
            what="the workload scaled to zero",
        )
        assert "flatten not confirmed" in kill["message"]
        assert apps.read_namespaced_deployment("silent", e2e_namespace).spec.replicas == 0
        ready = condition_of(e2e_api, e2e_namespace, "silent", "Ready")
        assert ready is not None and ready["reason"] == "KillSwitchNotConfirmed"
        assert get_bot(e2e_api, e2e_namespace, "silent")["status"]["phase"] == "Halted"
        wait_for(
            lambda: any(
                e.type == "Warning" and e.reason == "KillSwitchNotConfirmed"
                for e in _events(e2e_api, e2e_namespace, "silent")
            ),
            timeout_s=15,
            what="a Warning event KillSwitchNotConfirmed",
        )
