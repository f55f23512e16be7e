"""Self-healing decisions: restart counting, backoff, budget, hung/unhealthy detection, commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tradefleet_operator.healing import (
    PodView,
    RuntimeView,
    assess_restarts,
    backoff_seconds,
    breaker_condition,
    format_time,
    runtime_commands,
    runtime_figures,
)
from tradefleet_operator.spec import SelfHealingSpec

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
POLICY = SelfHealingSpec(
    max_restarts=3,
    restart_window_seconds=600,
    backoff_seconds=5,
    max_backoff_seconds=60,
    heartbeat_timeout_seconds=30,
)


def _pod(*, restarts: int = 0, name: str = "bot-abc", started_s_ago: float = 300) -> PodView:
    return PodView(
        name=name,
        ip="127.77.0.2",
        running=True,
        restart_count=restarts,
        started_at=NOW - timedelta(seconds=started_s_ago),
        last_termination="exit code 1 (Error): boom" if restarts else None,
    )


def _assess(
    previous: dict[str, Any],
    *,
    pod: PodView | None,
    runtime: RuntimeView | None = None,
    generation: int = 1,
    pods_exist: bool = True,
    now: datetime = NOW,
):  # type: ignore[no-untyped-def]
    return assess_restarts(
        policy=POLICY,
        previous=previous,
        generation=generation,
        pod=pod,
        runtime=runtime,
        pods_exist=pods_exist,
        now=now,
    )


def test_container_restarts_are_counted_once_each() -> None:
    first = _assess({}, pod=_pod(restarts=0))
    assert first.restarted == []
    crashed = _assess(first.state, pod=_pod(restarts=2))
    assert crashed.restarted == ["crashed", "crashed"]
    again = _assess(crashed.state, pod=_pod(restarts=2))
    assert again.restarted == [] and len(again.state["recentRestarts"]) == 2


def test_a_new_pod_is_remembered_from_its_first_restart_which_still_counts() -> None:
    """A pod on its way changes nothing the status keeps (a status write each), until it
    restarts; the old pod's count is forgotten with it."""
    old = _assess({}, pod=_pod(restarts=1, name="bot-old"))
    assert old.state["observedPod"] == "bot-old"
    fresh = _assess(old.state, pod=_pod(restarts=0, name="bot-new"))
    assert fresh.restarted == []
    assert "observedPod" not in fresh.state and "observedPodRestarts" not in fresh.state
    assert _assess(fresh.state, pod=_pod(restarts=0, name="bot-new")).state == fresh.state
    crashed = _assess(fresh.state, pod=_pod(restarts=1, name="bot-new"))
    assert crashed.restarted == ["crashed"]
    assert crashed.state["observedPod"] == "bot-new"


def test_budget_exhausted_stops_the_bot_until_the_spec_changes() -> None:
    state = _assess({}, pod=_pod(restarts=0)).state
    exhausted = _assess(state, pod=_pod(restarts=3))
    assert exhausted.degraded and exhausted.replicas == 0
    degraded = next(c for c in exhausted.conditions if c.type == "Degraded")
    assert (
        degraded.status
        and degraded.reason == "RestartBudgetExhausted"
        and "maxRestarts=3" in degraded.message
    )
    # Still degraded on the next pass with no pod (scaled to zero): no restart storm.
    still = _assess(exhausted.state, pod=None, pods_exist=False)
    assert still.degraded and still.replicas == 0 and still.restarted == []
    # A new generation of the spec is the user acting: a fresh budget.
    fresh = _assess(still.state, pod=None, pods_exist=False, generation=2)
    assert not fresh.degraded and fresh.replicas == 1


def test_budget_frees_up_when_the_window_passes() -> None:
    state = _assess(_assess({}, pod=_pod()).state, pod=_pod(restarts=3)).state
    later = _assess(state, pod=None, pods_exist=False, now=NOW + timedelta(seconds=601))
    assert not later.degraded and later.replicas == 1


def test_hung_runtime_is_replaced_by_scaling_to_zero() -> None:
    stale = RuntimeView(status={"heartbeat": (NOW - timedelta(seconds=45)).timestamp()}, error=None)
    decision = _assess(
        {"observedPod": "bot-abc", "observedPodRestarts": 0}, pod=_pod(), runtime=stale
    )
    assert decision.restarted == ["hung"]
    assert decision.replicas == 0 and decision.state["replacing"] is True
    # The old pod is gone: the replacement is done and the workload scales back up.
    done = _assess(decision.state, pod=None, pods_exist=False, now=NOW + timedelta(seconds=3))
    assert done.replicas == 1 and not done.state["replacing"]


def test_fresh_heartbeat_is_left_alone() -> None:
    fresh = RuntimeView(status={"heartbeat": (NOW - timedelta(seconds=2)).timestamp()}, error=None)
    assert _assess({}, pod=_pod(), runtime=fresh).restarted == []


def test_unreachable_runtime_is_replaced_only_after_the_heartbeat_timeout() -> None:
    down = RuntimeView(status=None, error="connection refused")
    first = _assess({"observedPod": "bot-abc"}, pod=_pod(), runtime=down)
    assert first.restarted == [] and first.state["unreachableSince"] == format_time(NOW)
    before = _assess(first.state, pod=_pod(), runtime=down, now=NOW + timedelta(seconds=29))
    assert before.restarted == []
    after = _assess(before.state, pod=_pod(), runtime=down, now=NOW + timedelta(seconds=31))
    assert after.restarted == ["unhealthy"]
    assert "connection refused" in after.state["recentRestarts"][0]["message"]


def test_a_just_started_pod_gets_the_full_timeout_before_it_counts_as_unhealthy() -> None:
    down = RuntimeView(status=None, error="connection refused")
    state = {
        "observedPod": "bot-abc",
        "unreachableSince": format_time(NOW - timedelta(seconds=120)),
    }
    decision = _assess(state, pod=_pod(started_s_ago=10), runtime=down)
    assert decision.restarted == []


def test_backoff_grows_exponentially_and_is_capped() -> None:
    assert [backoff_seconds(policy=POLICY, restarts_in_window=n) for n in range(6)] == [
        0,
        5,
        10,
        20,
        40,
        60,
    ]


def test_replacement_waits_for_the_backoff() -> None:
    stale = RuntimeView(status={"heartbeat": (NOW - timedelta(seconds=45)).timestamp()}, error=None)
    recent = [{"at": format_time(NOW - timedelta(seconds=3)), "cause": "crashed", "message": ""}]
    waiting = _assess(
        {"observedPod": "bot-abc", "recentRestarts": recent}, pod=_pod(), runtime=stale
    )
    assert waiting.restarted == [] and waiting.replicas == 1
    later = _assess(waiting.state, pod=_pod(), runtime=stale, now=NOW + timedelta(seconds=3))
    assert later.restarted == ["hung"]


def test_commands_follow_spec_and_annotations() -> None:
    running = {
        "paused": False,
        "halted": False,
        "userPaused": False,
        "userHalted": False,
        "circuitBreaker": {"state": "Closed"},
    }
    assert runtime_commands(paused=True, annotations={}, control={}, runtime=running).names == (
        "pause",
    )
    user_paused = {**running, "paused": True, "userPaused": True}
    assert runtime_commands(
        paused=False, annotations={}, control={}, runtime=user_paused
    ).names == ("resume",)
    # A pause the runtime made itself (insufficient funds) is not lifted by the operator.
    self_paused = {**running, "paused": True, "pauseReason": "insufficient funds: margin"}
    assert (
        runtime_commands(paused=False, annotations={}, control={}, runtime=self_paused).names == ()
    )
    kill = runtime_commands(
        paused=False, annotations={"tradefleet.io/kill-switch": "true"}, control={}, runtime=running
    )
    assert kill.names == ("halt",) and kill.kill_switch
    lifted = runtime_commands(
        paused=False,
        annotations={},
        control={"killSwitchApplied": True},
        runtime={**running, "halted": True, "userHalted": True},
    )
    assert lifted.names == ("unhalt",)
    # A halt the runtime made itself (authentication failure) is not lifted by the operator.
    assert (
        runtime_commands(
            paused=False, annotations={}, control={}, runtime={**running, "halted": True}
        ).names
        == ()
    )


def test_breaker_reset_is_sent_once_per_annotation_value() -> None:
    tripped = {
        "paused": False,
        "halted": False,
        "circuitBreaker": {"state": "Open", "reason": "drawdown"},
    }
    ask = {"tradefleet.io/reset-circuit-breaker": "2026-11-21T12:00"}
    first = runtime_commands(paused=False, annotations=ask, control={}, runtime=tripped)
    assert first.names == ("reset-breaker",) and first.breaker_reset_value == "2026-11-21T12:00"
    acked = runtime_commands(
        paused=False,
        annotations=ask,
        control={"breakerResetAcknowledged": "2026-11-21T12:00"},
        runtime=tripped,
    )
    assert acked.names == ()


def test_breaker_condition_names_the_reason() -> None:
    opened = breaker_condition(
        {
            "circuitBreaker": {
                "state": "Open",
                "reason": "daily_loss",
                "message": "daily loss 10.2% >= 10%",
            }
        },
        None,
    )
    assert opened.status and opened.reason == "DailyLoss" and "10.2%" in opened.message
    # While the runtime is silent, the last known state stands.
    assert breaker_condition(None, {"state": "Open", "reason": "drawdown"}).reason == "Drawdown"
    assert not breaker_condition({"circuitBreaker": {"state": "Closed"}}, None).status


def test_runtime_figures_fit_the_status_schema() -> None:
    figures = runtime_figures(
        {
            "equity": 10_250.123456789,
            "pnl": float("nan"),
            "position": {"side": "SHORT", "size": -0.5, "entryPrice": 30_000},
            "lastSignal": {"action": "STRONG_SELL", "score": -1.7, "at": 1_795_000_000},
            "circuitBreaker": {
                "state": "Open",
                "reason": "atr",
                "since": "2026-11-21T11:59:00+00:00",
            },
            "heartbeat": 1_795_000_000.5,
            "regime": "bearish_volatile",
        }
    )
    assert figures["equity"] == 10_250.123457
    assert "pnl" not in figures
    assert figures["position"] == {"side": "short", "size": 0.5, "entryPrice": 30_000.0}
    assert (
        figures["lastSignal"]["action"] == "strong_sell" and figures["lastSignal"]["score"] == -1.0
    )
    assert figures["circuitBreaker"]["since"] == "2026-11-21T11:59:00Z"
    assert figures["lastHeartbeat"].endswith("Z")


def test_acknowledge_is_sent_once_per_annotation_value_and_never_lifts_by_itself() -> None:
    """Issue 15 items 1 and 5: only a human's acknowledge lifts the runtime's own halt or pause."""
    self_halted = {
        "paused": False,
        "halted": True,
        "userPaused": False,
        "userHalted": False,
        "haltReason": "binance refused the API key",
        "circuitBreaker": {"state": "Closed"},
    }
    # Nothing the operator compares lifts it: not spec.paused, not the kill switch's absence.
    assert (
        runtime_commands(paused=False, annotations={}, control={}, runtime=self_halted).names == ()
    )
    ask = {"tradefleet.io/acknowledge": "2026-11-21T12:00:00Z"}
    first = runtime_commands(paused=False, annotations=ask, control={}, runtime=self_halted)
    assert first.names == ("acknowledge",)
    assert first.acknowledge_value == "2026-11-21T12:00:00Z"
    again = runtime_commands(
        paused=False,
        annotations=ask,
        control={"acknowledged": "2026-11-21T12:00:00Z"},
        runtime=self_halted,
    )
    assert again.names == () and again.acknowledge_value is None
