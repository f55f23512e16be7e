"""Parameter optimization through the operator: an on-demand optimization Job runs as a pod on
the cluster, backtests on the exchange's recent candles over ccxt, and its winning result becomes
the bot's next revision (source optimizer), rolled out like any spec change.

The bot trades LINK, which the stack's exchange moves along a 15-minute price cycle, on
deliberately poor starting parameters. On that market the search beats them out of sample in
every window the Job could be given (``tests/unit/backtest/test_optimize_cycle_market.py``
checks this offline), so the outcome does not depend on when the test runs.
"""

from __future__ import annotations

import json
import time

import pytest
from kubernetes import client
from support.bots import exchange_bot, get_bot, wait_for_phase
from support.k8s import wait_for
from support.optimization import OPTIMIZER, STARTING_PARAMETERS, TIMEFRAME, optimize_now
from tradefleet_devtools.stack import CYCLE_SYMBOL, LocalStack

pytestmark = pytest.mark.e2e

BOT = "tuned"


def _running_pod_revisions(core: client.CoreV1Api, namespace: str) -> set[str]:
    pods = core.list_namespaced_pod(namespace, label_selector=f"tradefleet.io/bot={BOT}").items
    return {
        (pod.metadata.annotations or {}).get("tradefleet.io/revision", "")
        for pod in pods
        if pod.status.phase == "Running"
        and not pod.metadata.deletion_timestamp
        and (pod.metadata.labels or {}).get("app.kubernetes.io/component") != "optimizer"
    }


def test_an_optimization_that_beats_the_running_parameters_is_rolled_out(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    custom = client.CustomObjectsApi(e2e_api)
    core, apps = client.CoreV1Api(e2e_api), client.AppsV1Api(e2e_api)
    bot = exchange_bot(
        BOT,
        symbol=CYCLE_SYMBOL,
        strategy={"name": "ema_rsi", "timeframe": TIMEFRAME, "parameters": STARTING_PARAMETERS},
        optimizer=OPTIMIZER,
    )
    custom.create_namespaced_custom_object(
        "tradefleet.io", "v1alpha1", e2e_namespace, "tradingbots", bot
    )
    running = wait_for_phase(e2e_api, e2e_namespace, BOT, "Running", timeout_s=180)
    assert running["status"]["currentRevision"] == 1

    triggered_at = time.monotonic()
    # The Job runs as a real pod (a container on the real node, else on the dev node agent): fetch
    # candles, search, publish.
    job_name, job = optimize_now(e2e_api, e2e_namespace, BOT, request="first")
    assert job_name.startswith(f"{BOT}-opt-")
    assert job.status.succeeded == 1, f"Job {job_name} failed: {job.status}"
    job_done_after = time.monotonic() - triggered_at
    if stack.real_node is not None:
        # On a real node the Job ran in its own image (the research target: optuna, numba, tqdm),
        # in the bot's region; the runtime image alone would fail with ModuleNotFoundError.
        (job_pod,) = core.list_namespaced_pod(
            e2e_namespace, label_selector=f"job-name={job_name}"
        ).items
        assert job_pod.spec.node_name == stack.real_node.node.name
        assert job_pod.spec.containers[0].image == stack.real_node.images.research.ref
        assert job_pod.status.container_statuses[0].state.terminated.exit_code == 0

    result_map = core.read_namespaced_config_map(f"{job_name}-result", e2e_namespace)
    assert result_map.metadata.labels["tradefleet.io/optimizer-result"] == "true"
    result = json.loads(result_map.data["result.json"])
    assert result["job"] == job_name
    assert result["beatsCurrentOutOfSample"], result["summary"]
    assert result["result"]["seed"] == OPTIMIZER["seed"]
    assert result["result"]["trainBars"] + result["result"]["testBars"] == OPTIMIZER["lookbackBars"]
    assert result["result"]["currentParameters"] == STARTING_PARAMETERS
    assert result["bestParameters"] != STARTING_PARAMETERS

    adopted = wait_for(
        lambda: (
            (b := get_bot(e2e_api, e2e_namespace, BOT))["status"].get("currentRevision") == 2 and b
        ),
        timeout_s=120,
        what="revision 2 from the optimization",
    )
    status = adopted["status"]
    assert status["optimizer"]["appliedJob"] == job_name
    assert status["optimizer"]["lastResult"]["job"] == job_name
    assert status["optimizer"]["lastResult"]["beatsCurrent"] is True
    assert f"seed {OPTIMIZER['seed']}" in status["optimizer"]["lastResult"]["message"]
    newest = status["revisionHistory"][0]
    assert newest["revision"] == 2 and newest["source"] == "optimizer"
    assert job_name in newest["reason"]
    # The user's spec is untouched: the optimized parameters live in the revision only (the
    # apiserver adds the schema's defaults for the parameters the user left out).
    spec_parameters = adopted["spec"]["strategy"]["parameters"]
    assert {name: spec_parameters[name] for name in STARTING_PARAMETERS} == STARTING_PARAMETERS

    template = apps.read_namespaced_deployment(BOT, e2e_namespace).spec.template
    assert template.metadata.annotations["tradefleet.io/revision"] == "2"

    wait_for(
        lambda: _running_pod_revisions(core, e2e_namespace) == {"2"},
        timeout_s=240,
        what="only revision 2's pod to run",
    )
    on_new_revision = wait_for_phase(e2e_api, e2e_namespace, BOT, "Running", timeout_s=240)
    assert on_new_revision["status"]["currentRevision"] == 2
    print(
        f"optimize-now -> Job {job_name} succeeded: {job_done_after:.1f}s; "
        f"-> Running on revision 2: {time.monotonic() - triggered_at:.1f}s "
        f"({result['summary']}; best parameters {result['bestParameters']})"
    )
