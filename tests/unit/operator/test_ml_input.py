"""The ML fusion input as the operator sees it: the weight in the spec, the rule its learning
floor must keep, the Job's Redis access only where a model is trained, and ``status.ml``."""

from __future__ import annotations

from typing import Any

import pytest
from succession_support import OWNER
from tradefleet_operator.healing import runtime_figures
from tradefleet_operator.render_optimizer import render_optimizer_job
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import (
    ProblemReason,
    ValidationProblem,
    parse_trading_bot_spec,
    validate_trading_bot_spec,
)

pytestmark = pytest.mark.unit

BOT: dict[str, Any] = {"exchange": "binance", "symbol": "BTC/USDT"}
WITH_ML = {"regime": 0.2, "ofi": 0.2, "whale": 0.1, "sentiment": 0.1, "macro": 0.1, "ml": 0.3}
ACL = OperatorSettings(region="ap-northeast-1", redis_acl=True)


def _problems(spec: dict[str, Any]) -> list[ValidationProblem]:
    return validate_trading_bot_spec(parse_trading_bot_spec(spec))


def test_the_ml_weight_counts_in_the_sum_of_the_weights() -> None:
    assert _problems({**BOT, "strategy": {"fusionWeights": WITH_ML}}) == []
    (problem,) = _problems({**BOT, "strategy": {"fusionWeights": {"ml": 0.3}}})
    assert problem.reason is ProblemReason.FUSION_WEIGHTS_INVALID
    assert problem.message == "fusion weights must sum to 1, they sum to 1.3"


def test_a_learning_floor_the_weighted_inputs_cannot_all_keep_is_refused() -> None:
    learning = {"enabled": True, "floor": 0.16}
    # Six inputs (five signals and a plugin) at 0.16 fit in 1; with the ML input, seven do not.
    plugin = {"name": "ema_rsi", "fusionLearning": learning}
    assert _problems({**BOT, "strategy": plugin}) == []
    (problem,) = _problems({**BOT, "strategy": {**plugin, "fusionWeights": WITH_ML}})
    assert problem == ValidationProblem(
        field="spec.strategy.fusionLearning.floor",
        reason=ProblemReason.FUSION_WEIGHTS_INVALID,
        message="fusionLearning.floor 0.16 x 7 weighted inputs exceeds 1: lower it to at most 0.143",
    )
    # Learning off: the floor is not used.
    off = {**plugin, "fusionWeights": WITH_ML, "fusionLearning": {"floor": 0.16}}
    assert _problems({**BOT, "strategy": off}) == []


def _job_env(strategy: dict[str, Any]) -> dict[str, Any]:
    spec = parse_trading_bot_spec({**BOT, "strategy": strategy})
    job = render_optimizer_job(owner=OWNER, spec=spec, run="now:1", based_on="a", settings=ACL)
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    return {item["name"]: item for item in env}


def test_only_a_job_that_trains_a_model_logs_in_to_the_bots_redis() -> None:
    assert "TRADEFLEET_REDIS_USERNAME" not in _job_env({})
    env = _job_env({"fusionWeights": WITH_ML})
    secret = env["TRADEFLEET_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": f"{OWNER.name}-redis", "key": "password"}


def test_status_ml_shows_the_model_its_score_and_prediction_within_the_schema() -> None:
    figures = runtime_figures(
        {
            "ml": {
                "state": "Ready",
                "reason": "ensemble v3 (trained by tuned-opt-1), walk-forward accuracy 61.2%",
                "model": {
                    "version": 3,
                    "trainedBy": "tuned-opt-1",
                    "trainedAtMs": 1_795_000_000_000,
                    "walkForwardAccuracy": 0.6123456789,
                    "foldAccuracies": [0.6, 0.62],
                },
                "prediction": {"probability_up": 0.71, "confidence": 1.7, "as_of_ms": 1},
            }
        }
    )
    assert figures["ml"] == {
        "state": "Ready",
        "reason": "ensemble v3 (trained by tuned-opt-1), walk-forward accuracy 61.2%",
        "version": 3,
        "trainedBy": "tuned-opt-1",
        "trainedAt": "2026-11-18T11:06:40Z",
        "walkForwardAccuracy": 0.612346,
        # A confidence outside [0, 1] does not fit the schema and is left out.
        "probabilityUp": 0.71,
    }
    waiting = runtime_figures({"ml": {"state": "WaitingForModel", "reason": "no model"}})
    assert waiting["ml"] == {"state": "WaitingForModel", "reason": "no model"}
    assert "ml" not in runtime_figures({"ml": None})
    assert "ml" not in runtime_figures({"ml": {"state": "Bogus"}})
