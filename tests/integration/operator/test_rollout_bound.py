"""Issue 15, item 8: a Helm upgrade that changes the runtime image rolls a region's bots forward a
bounded number at a time.

Against a real apiserver, controller-manager and scheduler, with the region's one node kept Ready
and the kubelet played by the test (pods are set Running and Ready by hand). Three bots run
revision 1 healthy; the operator is then restarted with another runtime image, as a Helm upgrade
restarts it, and ``maxConcurrentRollouts: 1``: one bot's Deployment takes the new image as revision
2 while the two others keep theirs (``Progressing`` ``RolloutQueued``); once that bot's new pod is
ready, the next one rolls.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.k8s import condition, wait_for
from support.nodes import play_pod, ready_node
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

GROUP, VERSION = "tradefleet.io", "v1alpha1"
REGION = "test-rollouts"
OLD_IMAGE = "registry.example/bot-runtime:1.0"
NEW_IMAGE = "registry.example/bot-runtime:1.1"
BOTS = ("roll-a", "roll-b", "roll-c")
# A loopback address nothing listens on: /status fails at once (the bots' heartbeat timeout is
# long enough that no runtime is taken for hung meanwhile).
SILENT_IP = "127.231.47.10"


@pytest.fixture
def kept_node(cluster: ClusterAccess) -> Iterator[str]:
    """REGION's only node, kept Ready while the test runs."""
    with ready_node(kubeconfig=cluster.kubeconfig, region=REGION, prefix="rollouts") as name:
        yield name


def _operator(*, cluster: ClusterAccess, workdir: Path, image: str) -> OperatorProcess:
    return OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=workdir,
        region=REGION,
        settings={
            "reconcileIntervalSeconds": 2,
            "healthPollIntervalSeconds": 1,
            "runtimeImage": image,
            "maxConcurrentRollouts": 1,
        },
    )


def _create_bot(custom: client.CustomObjectsApi, namespace: str, name: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {
            "exchange": "binance",
            "market": "futures",
            "symbol": "BTC/USDT:USDT",
            "region": REGION,
            "selfHealing": {"heartbeatTimeoutSeconds": 3600},
        },
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", body)


def _bot(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", name
    )
    return found


def _image(apps_v1: client.AppsV1Api, namespace: str, bot: str) -> str:
    deployment = apps_v1.read_namespaced_deployment(bot, namespace)
    return str(deployment.spec.template.spec.containers[0].image)


def _play_ready(core_v1: client.CoreV1Api, namespace: str, bot: str, image: str) -> bool:
    """Set the bot's scheduled runtime pod of ``image`` Running and Ready, as a kubelet would."""
    pods = core_v1.list_namespaced_pod(namespace, label_selector=f"tradefleet.io/bot={bot}").items
    for pod in pods:
        if (
            pod.spec.node_name
            and pod.spec.containers[0].image == image
            and not pod.metadata.deletion_timestamp
        ):
            play_pod(core_v1, pod=pod, ip=SILENT_IP, container="runtime")
            return True
    return False


def _play_stopped(core_v1: client.CoreV1Api, namespace: str, bot: str) -> None:
    """Remove the bot's terminating pods, as their kubelet would once their containers stop."""
    pods = core_v1.list_namespaced_pod(namespace, label_selector=f"tradefleet.io/bot={bot}").items
    for pod in pods:
        if pod.metadata.deletion_timestamp:
            core_v1.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)


def _rolling(apps_v1: client.AppsV1Api, namespace: str) -> list[str]:
    return [bot for bot in BOTS if _image(apps_v1, namespace, bot) == NEW_IMAGE]


def test_a_new_runtime_image_rolls_one_bot_at_a_time(
    namespace: str,
    cluster: ClusterAccess,
    crds: None,
    kept_node: str,
    tmp_path: Path,
    core_v1: client.CoreV1Api,
    apps_v1: client.AppsV1Api,
) -> None:
    custom = client.CustomObjectsApi(core_v1.api_client)
    before = _operator(cluster=cluster, workdir=tmp_path / "before", image=OLD_IMAGE)
    before.start()
    try:
        for bot in BOTS:
            _create_bot(custom, namespace, bot)
        for bot in BOTS:
            wait_for(
                lambda bot=bot: _play_ready(core_v1, namespace, bot, OLD_IMAGE),
                timeout_s=60,
                what=f"{bot}'s pod scheduled",
            )
        for bot in BOTS:
            wait_for(
                lambda bot=bot: (
                    (_bot(custom, namespace, bot).get("status") or {}).get("lastGoodRevision") == 1
                ),
                timeout_s=60,
                what=f"{bot} healthy on revision 1",
            )
    finally:
        before.stop()
    assert "Traceback" not in before.log_text()

    # The Helm upgrade: the operator restarts with the new runtime image.
    after = _operator(cluster=cluster, workdir=tmp_path / "after", image=NEW_IMAGE)
    after.start()
    try:
        first = wait_for(
            lambda: _rolling(apps_v1, namespace), timeout_s=60, what="the first bot to roll"
        )
        assert len(first) == 1, first
        queued = [bot for bot in BOTS if bot not in first]
        for bot in queued:
            wait_for(
                lambda bot=bot: (
                    (condition(_bot(custom, namespace, bot), "Progressing") or {}).get("reason")
                    == "RolloutQueued"
                ),
                timeout_s=30,
                what=f"{bot} queued",
            )
        # Every bot passes every second or two: still only the first rolls.
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            assert _rolling(apps_v1, namespace) == first
            time.sleep(1)
        assert _bot(custom, namespace, first[0])["status"]["currentRevision"] == 2
        assert all(_bot(custom, namespace, b)["status"]["currentRevision"] == 1 for b in queued)
        # The first one's old pod stops and its new pod becomes ready: the next bot rolls.
        wait_for(
            lambda: (
                _play_stopped(core_v1, namespace, first[0])
                or _play_ready(core_v1, namespace, first[0], NEW_IMAGE)
            ),
            timeout_s=60,
            what=f"{first[0]}'s new pod scheduled",
        )
        second = wait_for(
            lambda: len(_rolling(apps_v1, namespace)) == 2 and _rolling(apps_v1, namespace),
            timeout_s=60,
            what="the next bot to roll",
        )
        assert first[0] in second
        assert len(_rolling(apps_v1, namespace)) == 2
    finally:
        after.stop()
    assert "Traceback" not in after.log_text()
