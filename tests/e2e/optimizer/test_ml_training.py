"""The ML fusion input through the operator: a bot that weights ``ml`` has its ensemble trained
by its optimization Job (a pod, in the optimizer's image), stored in Redis, and loaded by its
running runtime at the next bar; ``status.ml`` shows the version, the Job that trained it and its
walk-forward accuracy.

The bot trades LINK, which the stack's exchange moves along a 15-minute price cycle: technical
features foretell its direction, so the ensemble beats a coin flip out of sample.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client
from support.bots import exchange_bot, get_bot, wait_for_phase
from support.k8s import wait_for
from support.optimization import STARTING_PARAMETERS, TIMEFRAME, optimize_now
from tradefleet_devtools.stack import CYCLE_SYMBOL, LocalStack

pytestmark = pytest.mark.e2e

BOT = "learner"
WEIGHTS = {"regime": 0.2, "ofi": 0.2, "whale": 0.05, "sentiment": 0.05, "macro": 0.0, "ml": 0.5}
# Enough candles for the ensemble (500 rows past the features' warm-up); a short search.
OPTIMIZER = {
    "enabled": True,
    "schedule": "0 0 1 1 *",
    "lookbackBars": 700,
    "objective": "pnl",
    "trials": 5,
    "minTrades": 1,
    "seed": 3,
}


def _ml_status(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    return dict((get_bot(api, namespace, BOT).get("status") or {}).get("ml") or {})


def test_the_optimization_job_trains_the_model_the_running_bot_loads(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    custom, core = client.CustomObjectsApi(e2e_api), client.CoreV1Api(e2e_api)
    bot = exchange_bot(
        BOT,
        symbol=CYCLE_SYMBOL,
        strategy={
            "name": "ema_rsi",
            "timeframe": TIMEFRAME,
            "parameters": STARTING_PARAMETERS,
            "fusionWeights": WEIGHTS,
        },
        optimizer=OPTIMIZER,
    )
    custom.create_namespaced_custom_object(
        "tradefleet.io", "v1alpha1", e2e_namespace, "tradingbots", bot
    )
    wait_for_phase(e2e_api, e2e_namespace, BOT, "Running", timeout_s=180)
    waiting = wait_for(
        lambda: (ml := _ml_status(e2e_api, e2e_namespace)) and ml,
        timeout_s=60,
        what="status.ml of a bot that weights the ML input",
    )
    assert waiting["state"] == "WaitingForModel", waiting
    assert "optimizer Job" in waiting["reason"]

    triggered_at = time.monotonic()
    job_name, job = optimize_now(e2e_api, e2e_namespace, BOT, request="train")
    assert job.status.succeeded == 1, f"Job {job_name} failed: {job.status}"
    if stack.real_node is not None:
        (job_pod,) = core.list_namespaced_pod(
            e2e_namespace, label_selector=f"job-name={job_name}"
        ).items
        assert job_pod.spec.containers[0].image == stack.real_node.images.research.ref

    # The running runtime (or, if the Job's parameters were adopted, the next revision's) loads
    # the model at its next closed bar, without a restart of its own.
    ready = wait_for(
        lambda: (ml := _ml_status(e2e_api, e2e_namespace)).get("state") == "Ready" and ml,
        timeout_s=300,
        what="status.ml to show the trained model in use",
    )
    assert ready["version"] == 1
    assert ready["trainedBy"] == job_name
    assert ready["walkForwardAccuracy"] > 0.55, ready
    assert ready["trainedAt"].endswith("Z")
    print(
        f"optimize-now -> model v1 in use: {time.monotonic() - triggered_at:.1f}s "
        f"(walk-forward accuracy {ready['walkForwardAccuracy']:.1%}; {ready['reason']})"
    )
