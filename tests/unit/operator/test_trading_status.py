"""Issue 15, item 1: what the runtime says about trading shows in the TradingBot's status.

One reconcile pass against a stub runtime that answers ``/status`` as the real one does: a halt or
pause the runtime made itself (a rejected key, insufficient funds, Redis down, stale market data)
is a ``Trading`` condition with the runtime's reason, the matching phase, and ``Ready=False`` when
the bot cannot do its job; the runtime's pause and halt flags are in ``status.runtime``.
"""

from __future__ import annotations

from typing import Any

import pytest
from pass_support import available_children, condition, one_pass, runtime_status, stub_runtime
from succession_support import bot_body
from tradefleet_runtime.service.trading_state import TradingReason

pytestmark = pytest.mark.unit


def _body() -> dict[str, Any]:
    return bot_body(self_healing={})


CASES = [
    # reason, runtime fields, phase, Ready
    (
        TradingReason.AUTHENTICATION_FAILED,
        {"halted": True, "haltReason": "the exchange refused the API key (-2015)"},
        "Halted",
        "False",
    ),
    (
        TradingReason.RUNTIME_HALTED,
        {"halted": True, "haltReason": "the paper account cannot be trusted"},
        "Halted",
        "False",
    ),
    (
        TradingReason.INSUFFICIENT_FUNDS,
        {"paused": True, "pauseReason": "insufficient funds: margin is insufficient"},
        "Paused",
        "False",
    ),
    (TradingReason.STATE_STORE_UNAVAILABLE, {}, "Degraded", "False"),
    (TradingReason.MARKET_DATA_STALE, {}, "Degraded", "False"),
    (
        TradingReason.POSITION_UNPROTECTED,
        {"protection": {"stopKind": None, "unprotectedSeconds": 7.5}},
        "Degraded",
        "False",
    ),
    (TradingReason.KILL_SWITCH, {"halted": True, "userHalted": True}, "Halted", "True"),
    (TradingReason.PAUSED_BY_USER, {"paused": True, "userPaused": True}, "Paused", "True"),
    (TradingReason.STARTING, {}, "Progressing", "False"),
    (TradingReason.RATE_LIMITED, {}, "Running", "True"),
    (TradingReason.TRADING, {}, "Running", "True"),
]


@pytest.mark.parametrize(("reason", "fields", "phase", "ready"), CASES, ids=[c[0] for c in CASES])
async def test_the_runtimes_trading_state_is_a_condition_and_a_phase(
    reason: TradingReason, fields: dict[str, Any], phase: str, ready: str
) -> None:
    message = f"the runtime says: {reason}"
    status = runtime_status(reason=reason, message=message, **fields)
    async with stub_runtime(status) as stub:
        _, outcome = await one_pass(body=_body(), children=available_children(), port=stub.port)
    trading = condition(outcome, "Trading")
    assert trading["reason"] == str(reason)
    assert trading["message"] == message
    assert trading["status"] == ("True" if reason in ("Trading", "RateLimited") else "False")
    assert outcome.status["phase"] == phase
    assert condition(outcome, "Ready")["status"] == ready
    if ready == "False":
        assert condition(outcome, "Ready")["reason"] == str(reason)


async def test_the_runtimes_own_halt_and_pause_are_in_the_status() -> None:
    status = runtime_status(
        reason=TradingReason.AUTHENTICATION_FAILED,
        message="binance refused the key",
        halted=True,
        haltReason="binance refused the key",
        paused=True,
        pauseReason="insufficient funds: margin",
        ordersBlocked="an order's outcome is unknown",
        protection={"stopKind": "software", "unprotectedSeconds": 0.0},
    )
    async with stub_runtime(status) as stub:
        _, outcome = await one_pass(body=_body(), children=available_children(), port=stub.port)
    shown = outcome.status["runtime"]
    assert shown["halted"] is True and shown["haltReason"] == "binance refused the key"
    assert shown["paused"] is True and shown["pauseReason"] == "insufficient funds: margin"
    assert shown["userHalted"] is False and shown["userPaused"] is False
    assert shown["ordersBlocked"] == "an order's outcome is unknown"
    assert shown["protection"] == {"stopKind": "software", "unprotectedSeconds": 0.0}
    # A halt is news: a Warning event names the cause.
    assert any(
        e.type == "Warning" and e.reason == "AuthenticationFailed" and "refused" in e.message
        for e in outcome.events
    )


async def test_a_silent_runtime_is_no_claim_that_the_bot_trades() -> None:
    async with stub_runtime(runtime_status()) as stub:
        port = stub.port
    # The stub is gone: the pod runs but its status endpoint does not answer.
    _, outcome = await one_pass(body=_body(), children=available_children(), port=port)
    trading = condition(outcome, "Trading")
    assert trading["status"] == "False" and trading["reason"] == "RuntimeUnreachable"
    assert "/status" in trading["message"]


async def test_without_a_running_runtime_the_bot_does_not_trade() -> None:
    _, outcome = await one_pass(body=_body(), children={}, port=1)
    trading = condition(outcome, "Trading")
    assert trading["status"] == "False" and trading["reason"] == "RuntimeNotRunning"


async def test_a_runtime_halted_at_start_is_halted_though_its_pod_never_becomes_ready() -> None:
    """A rejected key halts the runtime before it reconciles: /readyz never answers 200, the
    rollout never completes, and still the bot says Halted, and why, with a Warning event."""
    children = available_children()
    children[("Deployment", "bot")]["status"] = {
        "observedGeneration": 1,
        "updatedReplicas": 1,
        "availableReplicas": 0,
    }
    status = runtime_status(
        reason=TradingReason.AUTHENTICATION_FAILED,
        message="binance refused the API key: -2015 Invalid API-key",
        halted=True,
    )
    async with stub_runtime(status) as stub:
        _, outcome = await one_pass(body=_body(), children=children, port=stub.port)
    assert outcome.status["phase"] == "Halted"
    ready = condition(outcome, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "AuthenticationFailed"
    assert "-2015" in ready["message"]
    assert any(e.type == "Warning" and e.reason == "AuthenticationFailed" for e in outcome.events)
