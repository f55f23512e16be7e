"""Parameter optimisation through the operator: an on-demand optimisation Job for a bot runs on the
cluster, backtests on the exchange's recent candles, and a winning result becomes the bot's next
revision (source optimizer), rolled out like any spec change."""

from __future__ import annotations

import time

import pytest
from kubernetes import client
from support.bots import exchange_bot, get_bot, wait_for_phase
from support.k8s import wait_for
from tradefleet_devtools.stack import LocalStack

pytestmark = pytest.mark.e2e


def test_on_demand_optimisation_becomes_a_new_revision(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    custom = client.CustomObjectsApi(e2e_api)
    bot = exchange_bot(
        "tuned",
        symbol="ETH/USDT:USDT",
        strategy={
            "name": "ema_rsi",
            # Deliberately poor starting parameters: slow, lagging, tiny targets.
            "parameters": {
                "emaFast": 30,
                "emaSlow": 31,
                "rsiPeriod": 30,
                "stopLossPct": 0.2,
                "takeProfitPct": 0.4,
            },
        },
        optimizer={"lookbackBars": 1200, "trials": 40, "objective": "pnl", "minTrades": 1},
    )
    custom.create_namespaced_custom_object(
        "tradefleet.io", "v1alpha1", e2e_namespace, "tradingbots", bot
    )
    wait_for_phase(e2e_api, e2e_namespace, "tuned", "Running", timeout_s=120)
    started = time.monotonic()
    custom.patch_namespaced_custom_object(
        "tradefleet.io",
        "v1alpha1",
        e2e_namespace,
        "tradingbots",
        "tuned",
        {"metadata": {"annotations": {"tradefleet.io/optimize-now": "1"}}},
    )

    def finished() -> dict[str, object] | None:
        status = get_bot(e2e_api, e2e_namespace, "tuned").get("status") or {}
        return status if (status.get("optimizer") or {}).get("lastResult") else None

    status = wait_for(finished, timeout_s=300, what="the optimisation Job's result")
    result = status["optimizer"]["lastResult"]
    print(
        f"optimisation finished {time.monotonic() - started:.0f}s after the request: {result['message']}"
    )
    job = status["optimizer"]["lastJob"]
    assert result["job"] == job
    jobs = client.BatchV1Api(e2e_api).list_namespaced_job(e2e_namespace).items
    assert [j.metadata.name for j in jobs] == [job]
    assert result["beatsCurrent"], "the deliberately poor parameters are beaten out of sample"

    def optimized_revision() -> dict[str, object] | None:
        bot_status = get_bot(e2e_api, e2e_namespace, "tuned").get("status") or {}
        history = bot_status.get("revisionHistory") or []
        newest = history[0] if history else {}
        return (
            bot_status
            if newest.get("source") == "optimizer"
            and bot_status.get("lastGoodRevision") == newest.get("revision")
            else None
        )

    rolled = wait_for(
        optimized_revision, timeout_s=120, what="the optimised revision to roll out and become good"
    )
    assert rolled["optimizer"]["appliedJob"] == job
    assert rolled["currentRevision"] == 2
    assert job in rolled["revisionHistory"][0]["reason"]
    config = (
        client.CoreV1Api(e2e_api)
        .read_namespaced_config_map("tuned-config", e2e_namespace)
        .data["config.json"]
    )
    assert '"emaFast":30,"emaSlow":31' not in config.replace(" ", "")
