"""`kubectl tradefleet kill` / `unkill` with the operator running: the operator takes the kill
switch the plugin set, and `status` and `ask` say what it did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.k8s import condition, wait_for
from support.nodes import ready_node
from support.plugin_bots import Plugin, create_bot, get_bot
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.operator_process import OperatorProcess

pytestmark = pytest.mark.integration


def _kill_state(custom: client.CustomObjectsApi, namespace: str) -> str | None:
    status = get_bot(custom, namespace, "killme").get("status") or {}
    kill = (status.get("control") or {}).get("killSwitch") or {}
    return kill.get("state")


def test_kill_is_taken_by_the_operator_and_explained_until_unkill(
    plugin: Plugin,
    cluster: ClusterAccess,
    namespace: str,
    custom: client.CustomObjectsApi,
    apps_v1: client.AppsV1Api,
    tmp_path: Path,
) -> None:
    with ready_node(kubeconfig=cluster.kubeconfig, region="ap-northeast-1", prefix="kubectl-kill"):
        operator = OperatorProcess(
            kubeconfig=cluster.kubeconfig,
            workdir=tmp_path,
            region="ap-northeast-1",
            # No runtime ever answers here: the halt is not confirmed and, after 3 s, the
            # workload is scaled to zero, as for an unreachable runtime.
            settings={
                "reconcileIntervalSeconds": 2,
                "healthPollIntervalSeconds": 1,
                "killSwitchUnreachableSeconds": 3,
            },
        )
        operator.start()
        try:
            create_bot(custom, namespace, "killme")

            def replicas() -> Any:
                try:
                    return apps_v1.read_namespaced_deployment("killme", namespace).spec.replicas
                except client.ApiException:
                    return None

            wait_for(lambda: replicas() == 1, timeout_s=60, what="the bot's Deployment")

            kill = plugin("kill", "killme", "-n", namespace)
            assert kill.code == 0 and "kill switch set" in kill.out
            wait_for(
                lambda: _kill_state(custom, namespace) == "ScaledDown",
                timeout_s=60,
                what="the operator to scale the unconfirmed kill switch down",
            )
            assert replicas() == 0

            detail = plugin("status", "killme", "-n", namespace)
            assert "Kill switch: set (ScaledDown:" in detail.out
            fleet = plugin("status", "-n", namespace)
            assert "Ready=KillSwitchNotConfirmed" in fleet.out

            why = plugin("ask", "killme", "why is it halted?", "-n", namespace)
            assert "The kill switch is set" in why.out
            assert "Kill switch state ScaledDown" in why.out
            assert "Ready=False, reason KillSwitchNotConfirmed" in why.out
            assert "kubectl tradefleet unkill killme" in why.out

            assert plugin("unkill", "killme", "-n", namespace).code == 0

            def lifted() -> Any:
                bot = get_bot(custom, namespace, "killme")
                ready = condition(bot, "Ready") or {}
                applied = (bot["status"].get("control") or {}).get("killSwitchApplied")
                return applied is False and ready.get("reason") != "KillSwitchNotConfirmed"

            wait_for(lifted, timeout_s=60, what="the operator to lift the kill switch")
            after = plugin("ask", "killme", "why is it halted?", "-n", namespace)
            assert "It is not halted" in after.out
            assert "Kill switch: not set" in plugin("status", "killme", "-n", namespace).out
        finally:
            operator.stop()
        assert "Traceback" not in operator.log_text()
