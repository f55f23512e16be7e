"""`kubectl tradefleet rollback` and `pause` with the operator running: the plugin writes what the
operator acts on, and the operator rolls the restored configuration out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.k8s import condition, wait_for
from support.nodes import operator_with_ready_node
from support.plugin_bots import Plugin, create_bot, get_bot
from tradefleet_devtools.controlplane import ClusterAccess

pytestmark = pytest.mark.integration


def _settled(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any] | None:
    """The bot once the operator reconciled its latest spec."""
    bot = get_bot(custom, namespace, name)
    reconciled = condition(bot, "Reconciled")
    status = bot.get("status") or {}
    if (
        reconciled
        and reconciled["status"] == "True"
        and status.get("observedGeneration") == bot["metadata"]["generation"]
    ):
        return bot
    return None


def _history(bot: dict[str, Any]) -> dict[int, str]:
    return {int(r["revision"]): r["hash"] for r in bot["status"]["revisionHistory"]}


def test_rollback_restores_a_kept_revision_and_the_operator_rolls_it_out(
    plugin: Plugin,
    cluster: ClusterAccess,
    namespace: str,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
    tmp_path: Path,
) -> None:
    with operator_with_ready_node(
        kubeconfig=cluster.kubeconfig,
        workdir=tmp_path,
        region="ap-northeast-1",
        prefix="kubectl-rollback",
    ):
        create_bot(custom, namespace, "rolly")
        first = wait_for(
            lambda: (
                (b := _settled(custom, namespace, "rolly"))
                and b["status"].get("currentRevision") == 1
                and b
            ),
            timeout_s=60,
            what="revision 1",
        )
        hash_1 = _history(first)[1]

        custom.patch_namespaced_custom_object(
            "tradefleet.io",
            "v1alpha1",
            namespace,
            "tradingbots",
            "rolly",
            {"spec": {"risk": {"maxPositionPct": 5}}},
        )
        wait_for(
            lambda: (
                (b := _settled(custom, namespace, "rolly")) and b["status"]["currentRevision"] == 2
            ),
            timeout_s=60,
            what="revision 2",
        )

        # A pause is a command to the runtime, not a revision.
        assert plugin("pause", "rolly", "-n", namespace).code == 0
        paused = wait_for(
            lambda: _settled(custom, namespace, "rolly"), timeout_s=60, what="the pause reconciled"
        )
        assert paused["status"]["currentRevision"] == 2

        run = plugin(
            "rollback", "rolly", "-n", namespace, "--to-revision", "1", "--wait", "--timeout", "60"
        )
        assert run.code == 0, run.out
        assert "spec of revision 1 restored" in run.out
        assert "now at revision 3, the configuration of the restored revision" in run.out

        bot = get_bot(custom, namespace, "rolly")
        assert bot["status"]["currentRevision"] == 3
        assert _history(bot)[3] == hash_1
        assert bot["spec"]["paused"] is True  # the pause survives the rollback
        assert bot["spec"]["risk"]["maxPositionPct"] == first["spec"]["risk"]["maxPositionPct"] != 5
        config = core_v1.read_namespaced_config_map("rolly-config", namespace).data["config.json"]
        assert '"maxPositionPct":5' not in config

        again = plugin("rollback", "rolly", "-n", namespace, "--to-revision", "3")
        assert again.code == 0 and "nothing to do" in again.out

        missing = plugin("rollback", "rolly", "-n", namespace, "--to-revision", "99")
        assert missing.code == 1

        changed = plugin("ask", "rolly", "what changed since yesterday?", "-n", namespace)
        assert "revision 3 created" in changed.out
        assert "revision 2 created" in changed.out
