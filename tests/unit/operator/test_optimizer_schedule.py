"""When optimization Jobs run and which result a bot adopts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from tradefleet_operator.optimizer import (
    adopted_result,
    due_run,
    parameters_hash,
    read_results,
    with_parameters,
)
from tradefleet_operator.render import Owner
from tradefleet_operator.render_optimizer import render_optimizer_job
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import OptimizerSpec, parse_trading_bot_spec
from tradefleet_operator.spec.schedule import next_fire_time

pytestmark = pytest.mark.unit

SIX_HOURLY = OptimizerSpec(enabled=True, schedule="0 */6 * * *")
CREATED = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 */6 * * *", datetime(2026, 11, 21, 18, 0, tzinfo=UTC)),
        ("*/5 * * * *", datetime(2026, 11, 21, 15, 55, tzinfo=UTC)),
        ("@daily", datetime(2026, 11, 22, 0, 0, tzinfo=UTC)),
        ("30 9 * * 1-5", datetime(2026, 11, 23, 9, 30, tzinfo=UTC)),  # 21 Nov 2026 is a Saturday
        ("15 10 13 * 5", datetime(2026, 11, 27, 10, 15, tzinfo=UTC)),  # day 13 OR Friday
    ],
)
def test_next_fire_time_follows_cron(expression: str, expected: datetime) -> None:
    assert (
        next_fire_time(expression=expression, after=datetime(2026, 11, 21, 15, 52, 30, tzinfo=UTC))
        == expected
    )


def test_nothing_runs_before_the_first_slot() -> None:
    schedule = due_run(
        spec=SIX_HOURLY,
        previous={},
        annotations={},
        created_at=CREATED,
        now=datetime(2026, 11, 21, 11, 0, tzinfo=UTC),
    )
    assert schedule.run_now is None and schedule.next_run_at == "2026-11-21T12:00:00Z"


def test_missed_slots_collapse_into_the_latest_one() -> None:
    schedule = due_run(
        spec=SIX_HOURLY,
        previous={},
        annotations={},
        created_at=CREATED,
        now=datetime(2026, 11, 22, 1, 0, tzinfo=UTC),
    )
    assert schedule.run_now == "2026-11-22T00:00:00Z"
    assert schedule.next_run_at == "2026-11-22T06:00:00Z"
    again = due_run(
        spec=SIX_HOURLY,
        previous={"lastScheduledAt": schedule.run_now},
        annotations={},
        created_at=CREATED,
        now=datetime(2026, 11, 22, 1, 5, tzinfo=UTC),
    )
    assert again.run_now is None


def test_annotation_requests_one_run_per_value() -> None:
    now = datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
    ask = {"tradefleet.io/optimize-now": "1"}
    first = due_run(spec=SIX_HOURLY, previous={}, annotations=ask, created_at=CREATED, now=now)
    assert first.run_now == "request-1"
    done = due_run(
        spec=SIX_HOURLY,
        previous={"lastScheduledAt": "request-1"},
        annotations=ask,
        created_at=CREATED,
        now=now,
    )
    assert done.run_now is None


def _result_map(job: str, *, beats: bool, based_on: str, created: str) -> dict[str, object]:
    payload = {
        "job": job,
        "beatsCurrentOutOfSample": beats,
        "basedOnParameters": based_on,
        "bestParameters": {"emaFast": 10, "emaSlow": 40},
        "summary": "oos sharpe 1.4 vs 0.9",
    }
    return {
        "metadata": {"name": f"{job}-result", "creationTimestamp": created},
        "data": {"result.json": json.dumps(payload)},
    }


def test_only_a_winning_result_for_the_current_parameters_is_adopted() -> None:
    spec = {"strategy": {"parameters": {"emaFast": 12, "emaSlow": 26}}}
    current = parameters_hash(spec)
    results = read_results(
        [
            _result_map("old-win", beats=True, based_on=current, created="2026-11-21T10:00:00Z"),
            _result_map("new-loss", beats=False, based_on=current, created="2026-11-21T12:00:00Z"),
            {
                "metadata": {"name": "garbage-result", "creationTimestamp": "2026-11-21T13:00:00Z"},
                "data": {"result.json": "{"},
            },
        ]
    )
    assert [r.job for r in results] == ["new-loss", "old-win"]
    adopted = adopted_result(results=results, raw_spec=spec)
    assert adopted is not None and adopted.job == "old-win"
    assert with_parameters(raw_spec=spec, parameters=adopted.parameters)["strategy"][
        "parameters"
    ] == {"emaFast": 10, "emaSlow": 40}
    # The user edits the parameters: the older optimization no longer applies.
    edited = {"strategy": {"parameters": {"emaFast": 9, "emaSlow": 26}}}
    assert adopted_result(results=results, raw_spec=edited) is None


def _seed_of(*, run: str, optimizer: dict[str, object]) -> int:
    spec = parse_trading_bot_spec(
        {"exchange": "binance", "symbol": "BTC/USDT", "optimizer": optimizer}
    )
    owner = Owner(kind="TradingBot", name="tuned", namespace="desk", uid="0000")
    job = render_optimizer_job(
        owner=owner,
        spec=spec,
        run=run,
        based_on="abc",
        settings=OperatorSettings(region="ap-northeast-1"),
    )
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    return int(env["TRADEFLEET_OPTIMIZER_SEED"])


def test_each_run_searches_with_its_own_seed_unless_the_spec_fixes_one() -> None:
    seeds = {_seed_of(run=f"now:{n}", optimizer={"enabled": True}) for n in range(20)}
    assert len(seeds) == 20
    assert all(0 <= seed < 2**31 for seed in seeds)
    # The same run (a Job retried or re-rendered) keeps its seed.
    assert _seed_of(run="now:1", optimizer={}) == _seed_of(run="now:1", optimizer={})
    fixed = {_seed_of(run=f"now:{n}", optimizer={"seed": 11}) for n in range(5)}
    assert fixed == {11}


def test_the_optimizer_job_runs_the_research_image_in_the_operators_region() -> None:
    """The runtime image has no optuna/numba/tqdm: the Job uses the research image (issue 16)."""
    owner = Owner(kind="TradingBot", name="tuned", namespace="desk", uid="0000")
    settings = OperatorSettings(
        region="ap-northeast-1",
        runtime_image="example.test/bot-runtime:1",
        optimizer_image="example.test/research:1",
    )
    plain = parse_trading_bot_spec({"exchange": "binance", "symbol": "BTC/USDT"})
    job = render_optimizer_job(
        owner=owner, spec=plain, run="now:1", based_on="a", settings=settings
    )
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "example.test/research:1"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    (expression,) = terms["nodeSelectorTerms"][0]["matchExpressions"]
    assert expression["key"] == "topology.kubernetes.io/region"
    assert expression["values"] == ["ap-northeast-1"]
    # A bot's own image wins (it must then carry the research extra, as the docs say).
    custom = parse_trading_bot_spec(
        {"exchange": "binance", "symbol": "BTC/USDT", "image": "example.test/mine:2"}
    )
    job = render_optimizer_job(
        owner=owner, spec=custom, run="now:1", based_on="a", settings=settings
    )
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "example.test/mine:2"
