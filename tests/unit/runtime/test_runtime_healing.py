"""Self-healing bookkeeping: classification, counts, the health report's verdict."""

from __future__ import annotations

import pytest
from tradefleet_runtime.execution.errors import (
    AuthenticationFailed,
    InsufficientFunds,
    RateLimitedError,
    TemporaryExchangeError,
)
from tradefleet_runtime.service.healing import HealingAction, HealingCause, HealingLog, classify

pytestmark = pytest.mark.unit


def test_exchange_errors_map_to_the_documented_classes() -> None:
    assert classify(TemporaryExchangeError("timeout")) is HealingCause.CONNECTION
    assert classify(RateLimitedError("429")) is HealingCause.RATE_LIMITED
    assert classify(InsufficientFunds("margin")) is HealingCause.INSUFFICIENT_FUNDS
    assert classify(AuthenticationFailed("-2015")) is HealingCause.AUTHENTICATION


def test_the_report_counts_attempts_and_says_when_a_human_is_needed() -> None:
    seen: list[HealingCause] = []
    clock = iter(float(t) for t in range(100))
    log = HealingLog(on_record=seen.append, clock=lambda: next(clock))
    log.record(
        error_class=HealingCause.CONNECTION,
        action=HealingAction.RETRY,
        component="exchange",
        message="a",
        resolved=True,
    )
    report = log.report()
    assert report["overall_status"] == "healthy"
    log.record(
        error_class=HealingCause.REDIS,
        action=HealingAction.RECONNECT,
        component="redis",
        message="down",
    )
    assert log.report()["overall_status"] == "degraded"
    log.escalate_to_human(
        error_class=HealingCause.AUTHENTICATION,
        action=HealingAction.HALT,
        component="exchange",
        message="-2015",
    )
    report = log.report()
    assert report["overall_status"] == "needs_human"
    assert report["human_reason"] == "authentication: -2015"
    assert report["metrics"] == {
        "recent_errors": 3,
        "recent_healings": 1,
        "healing_success_rate": pytest.approx(1 / 3),
        "attempts_by_error_class": {"connection": 1, "redis": 1, "authentication": 1},
    }
    assert seen == [HealingCause.CONNECTION, HealingCause.REDIS, HealingCause.AUTHENTICATION]
    log.clear_human_needed()
    assert log.report()["needs_human"] is False


def test_an_escalation_is_recorded_and_holds_until_cleared() -> None:
    seen: list[HealingCause] = []
    log = HealingLog(on_record=seen.append)
    log.record(
        error_class=HealingCause.REDIS,
        action=HealingAction.RECONNECT,
        component="redis",
        message="down",
    )
    assert log.report()["needs_human"] is False
    attempt = log.escalate_to_human(
        error_class=HealingCause.REDIS,
        action=HealingAction.HALT,
        component="paper_account",
        message="p:paper: field 'wallet' must be a finite number",
    )
    assert (attempt.component, attempt.resolved) == ("paper_account", False)
    # Later attempts that a retry can fix leave the escalation in place.
    log.record(
        error_class=HealingCause.REDIS,
        action=HealingAction.RECONNECT,
        component="redis",
        message="Redis reachable again",
        resolved=True,
    )
    report = log.report()
    assert report["overall_status"] == "needs_human"
    assert report["human_reason"] == "redis: p:paper: field 'wallet' must be a finite number"
    components = report["component_health"]
    assert isinstance(components, dict)
    assert components["paper_account"]["healthy"] is False
    assert seen == [HealingCause.REDIS] * 3
    log.clear_human_needed()
    assert log.human_needed is None
    assert log.report()["overall_status"] == "degraded"
