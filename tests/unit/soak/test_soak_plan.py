"""Soak trial plans and the span arithmetic of the checks: a seed always gives the same plan,
the clock and authentication faults stay out of the draw unless opted in, kills inside the
accept-then-record window land before the runtime's client timeout, and the summary names
every invariant."""

from __future__ import annotations

from collections import Counter

import pytest
from tradefleet_devtools.exchange.faults import FaultKind
from tradefleet_devtools.soak.invariants import Invariant, Violation
from tradefleet_devtools.soak.plan import (
    CLIENT_TIMEOUT_S,
    KillPoint,
    PlanOptions,
    draw_plan,
)
from tradefleet_devtools.soak.spans import Span, intersect, subtract, total_ms, union
from tradefleet_devtools.soak.summary import SoakReport, TrialOutcome, format_summary

pytestmark = pytest.mark.unit

SEEDS = range(1_000, 1_400)


def kinds(options: PlanOptions | None = None) -> Counter[FaultKind]:
    return Counter(
        f.rule.kind
        for seed in SEEDS
        for f in draw_plan(trial=0, seed=seed, options=options).exchange_faults
    )


def test_a_seed_always_draws_the_same_plan() -> None:
    assert draw_plan(trial=3, seed=42) == draw_plan(trial=3, seed=42)
    assert draw_plan(trial=3, seed=42) != draw_plan(trial=3, seed=43)


def test_every_fault_kind_is_drawn_but_auth_failure_only_when_opted_in() -> None:
    drawn = kinds()
    assert set(drawn) == set(FaultKind) - {FaultKind.AUTH_FAILURE}
    assert FaultKind.AUTH_FAILURE in kinds(PlanOptions(auth_faults=True))


def test_kills_in_the_accept_window_land_while_the_reply_is_still_held() -> None:
    kills = [
        k
        for seed in SEEDS
        for k in draw_plan(trial=0, seed=seed).kills
        if k.point is KillPoint.ACCEPTED_NOT_RECORDED
    ]
    assert kills
    assert all(k.delay_s < CLIENT_TIMEOUT_S < k.hold_s for k in kills)
    assert {k.window for k in kills} == {"/fapi/v1/order", "/fapi/v1/algoOrder"}


def test_plans_hold_every_harness_fault() -> None:
    plans = [draw_plan(trial=0, seed=seed) for seed in SEEDS]
    assert {k.point for p in plans for k in p.kills} == set(KillPoint)
    assert any(p.redis_kills and p.redis_kills[0].lose_unsynced for p in plans)
    assert any(p.second_runtime is not None for p in plans)
    assert {p.first_direction for p in plans} == {-1, 1}


def test_span_arithmetic() -> None:
    a = [Span(start_ms=0, end_ms=10), Span(start_ms=5, end_ms=20), Span(start_ms=30, end_ms=40)]
    assert union(a) == (Span(start_ms=0, end_ms=20), Span(start_ms=30, end_ms=40))
    assert subtract(a, cut=[Span(start_ms=8, end_ms=32)]) == (
        Span(start_ms=0, end_ms=8),
        Span(start_ms=32, end_ms=40),
    )
    assert intersect(a, second=[Span(start_ms=15, end_ms=35)]) == (
        Span(start_ms=15, end_ms=20),
        Span(start_ms=30, end_ms=35),
    )
    assert total_ms(a) == 30


def test_the_summary_counts_trials_faults_and_violations_by_invariant() -> None:
    violation = Violation(invariant=Invariant.SETTLES, trial=1, seed=8, message="stuck")
    report = SoakReport(
        outcomes=(
            TrialOutcome(trial=0, seed=7, seconds=30.0, faults=(("http_5xx", 2),)),
            TrialOutcome(
                trial=1,
                seed=8,
                seconds=40.0,
                faults=(("http_5xx", 1), ("redis kill", 1)),
                violations=(violation,),
            ),
        ),
        seconds=45.0,
        parallel=2,
    )
    text = format_summary(report)
    assert text.startswith("trials 2 ")
    assert "faults injected by kind: http_5xx 3, redis kill 1" in text
    assert "the bot settles once faults clear 1" in text
    assert all(invariant.value in text for invariant in Invariant)
