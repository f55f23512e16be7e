"""An operator killed in the middle of reconciling many bots comes back and converges, with
exactly one set of children per bot."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes import client
from support.k8s import condition, wait_for
from tradefleet_devtools.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

BOTS = 50


def test_operator_killed_mid_reconcile_converges_without_duplicates(
    namespace: str,
    restartable_operator: OperatorProcess,
    api_client: client.ApiClient,
    apps_v1: client.AppsV1Api,
    core_v1: client.CoreV1Api,
) -> None:
    custom = client.CustomObjectsApi(api_client)

    def create(i: int) -> None:
        bot = {
            "apiVersion": "tradefleet.io/v1alpha1",
            "kind": "TradingBot",
            "metadata": {"name": f"bot-{i:03d}"},
            "spec": {"exchange": "binance", "symbol": "BTC/USDT"},
        }
        custom.create_namespaced_custom_object(
            "tradefleet.io", "v1alpha1", namespace, "tradingbots", bot
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(BOTS)))

    # Kill it while the first bots are being reconciled and the rest are not yet.
    wait_for(
        lambda: apps_v1.list_namespaced_deployment(namespace).items,
        timeout_s=30,
        what="the first Deployment",
    )
    restartable_operator.kill()
    half_done = len(apps_v1.list_namespaced_deployment(namespace).items)
    restartable_operator.start()

    def all_reconciled() -> bool:
        bots = custom.list_namespaced_custom_object(
            "tradefleet.io", "v1alpha1", namespace, "tradingbots"
        )["items"]
        done = [b for b in bots if (c := condition(b, "Reconciled")) and c["status"] == "True"]
        return len(done) == BOTS

    started = time.monotonic()
    wait_for(
        all_reconciled, timeout_s=120, what=f"all {BOTS} bots to be reconciled after the restart"
    )
    print(
        f"{half_done}/{BOTS} workloads existed at the kill; converged {time.monotonic() - started:.1f}s after restart"
    )

    def per_bot(items: list[client.V1ObjectMeta]) -> Counter[str]:
        return Counter(m.labels["tradefleet.io/bot"] for m in items)

    deployments = per_bot([d.metadata for d in apps_v1.list_namespaced_deployment(namespace).items])
    revisions = per_bot(
        [r.metadata for r in apps_v1.list_namespaced_controller_revision(namespace).items]
    )
    maps = per_bot(
        [
            c.metadata
            for c in core_v1.list_namespaced_config_map(
                namespace, label_selector="tradefleet.io/bot"
            ).items
        ]
    )
    secrets = per_bot(
        [
            s.metadata
            for s in core_v1.list_namespaced_secret(
                namespace, label_selector="tradefleet.io/bot"
            ).items
        ]
    )
    for children in (deployments, revisions, maps, secrets):
        assert len(children) == BOTS
        assert set(children.values()) == {1}, f"duplicate children: {children.most_common(3)}"
