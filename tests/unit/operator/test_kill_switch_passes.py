"""Issue 15, item 4: the kill switch reaches the runtime whatever else is wrong with the bot, and
when it cannot, the bot is stopped anyway and says that the flatten is not confirmed; deleting a
bot with ``deletionPolicy: Flatten`` waits for the runtime to confirm its flatten.

Whole reconcile passes (and the deletion step) against a stub runtime that answers as the real
one does: ``halt`` and ``flatten`` return at once and the outcome shows in ``/status``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pass_support import (
    TokenKube,
    available_children,
    condition,
    one_pass,
    runtime_status,
    stub_runtime,
)
from succession_support import SETTINGS, bot_body, stamp
from tradefleet_operator.deletion import settle_positions
from tradefleet_runtime.service.trading_state import TradingReason

pytestmark = pytest.mark.unit

KILL = {"tradefleet.io/kill-switch": "true"}


def _ours(children: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    """The children as this region's operator made them (its region label on the Deployment)."""
    deployment = children[("Deployment", "bot")]
    deployment["metadata"]["labels"] = {"tradefleet.io/region": SETTINGS.region}
    return children


def _body(*, spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    body = bot_body(self_healing={})
    body["metadata"]["annotations"] = dict(KILL)
    if spec is not None:
        body["spec"] = spec
    body["status"].update(status)
    return body


async def test_the_kill_switch_reaches_the_runtime_of_a_bot_whose_spec_became_invalid() -> None:
    invalid = {"exchange": "binance", "market": "spot", "symbol": "BTC/USDT:USDT"}
    async with stub_runtime(runtime_status()) as stub:
        _, outcome = await one_pass(
            body=_body(spec=invalid), children=_ours(available_children()), port=stub.port
        )
    assert outcome.status["phase"] == "Invalid"
    assert stub.commands == ["halt"], "the kill switch was not delivered"
    assert outcome.status["control"]["killSwitch"]["state"] == "Requested"
    assert any(e.reason == "CommandDelivered" and "halt" in e.message for e in outcome.events)


async def test_the_kill_switch_reaches_the_runtime_when_the_credentials_secret_is_gone() -> None:
    spec = {
        "exchange": "binance",
        "market": "futures",
        "symbol": "BTC/USDT:USDT",
        "mode": "testnet",
        "credentials": {"secretRef": {"name": "deleted-keys"}},
    }
    halted = runtime_status(
        reason=TradingReason.KILL_SWITCH,
        halted=True,
        userHalted=True,
        flatten={"state": "done", "flattened": True, "reason": "halt command (kill switch)"},
    )
    async with stub_runtime(halted) as stub:
        _, outcome = await one_pass(
            body=_body(spec=spec), children=_ours(available_children()), port=stub.port
        )
    assert condition(outcome, "Ready")["reason"] == "CredentialsMissing"
    assert stub.commands == [], "the runtime had the halt already"
    control = outcome.status["control"]
    assert control["killSwitch"]["state"] == "Halted"
    assert control["flatten"]["state"] == "done"
    assert outcome.status["phase"] == "Halted"


async def test_an_unreachable_runtime_is_scaled_to_zero_and_the_flatten_is_not_confirmed() -> None:
    async with stub_runtime(runtime_status()) as stub:
        port = stub.port  # gone once the block ends: the runtime does not answer
    requested = stamp(datetime.now(UTC) - timedelta(seconds=SETTINGS.kill_switch_unreachable_s + 5))
    kube, outcome = await one_pass(
        body=_body(control={"killSwitch": {"state": "Requested", "since": requested}}),
        children=_ours(available_children()),
        port=port,
    )
    assert kube.written[("Deployment", "bot")]["spec"]["replicas"] == 0
    kill = outcome.status["control"]["killSwitch"]
    assert kill["state"] == "ScaledDown"
    assert "flatten not confirmed" in kill["message"]
    assert outcome.status["phase"] == "Halted"
    ready = condition(outcome, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "KillSwitchNotConfirmed"
    assert any(e.type == "Warning" and e.reason == "KillSwitchNotConfirmed" for e in outcome.events)


async def test_before_the_bound_an_unreachable_runtime_keeps_running() -> None:
    async with stub_runtime(runtime_status()) as stub:
        port = stub.port
    kube, outcome = await one_pass(body=_body(), children=_ours(available_children()), port=port)
    assert kube.written[("Deployment", "bot")]["spec"]["replicas"] == 1
    assert outcome.status["control"]["killSwitch"]["state"] == "Requested"
    assert outcome.poll_again_s is not None


def _flattening_runtime() -> dict[str, Any]:
    return runtime_status(position={"side": "long", "size": 0.5, "entryPrice": 30_000.0})


async def test_deletion_waits_for_the_runtime_to_confirm_its_flatten() -> None:
    async with stub_runtime(_flattening_runtime()) as stub:
        loop = asyncio.get_running_loop()

        def done() -> None:
            stub.status["flatten"] = {
                "state": "done",
                "flattened": True,
                "reason": "flatten command",
            }

        def flatten(name: str) -> None:
            # The close fills at once, but the flatten (cancelling the stops, checking the
            # exchange) is done only 2.5 s later: the outcome shows in /status.
            if name == "flatten":
                stub.status["position"] = {"side": "flat", "size": 0.0, "entryPrice": 0.0}
                stub.status["flatten"] = {"state": "running", "reason": "flatten command"}
                loop.call_later(2.5, done)

        stub.on_command = flatten
        started = time.monotonic()
        outcome = await settle_positions(
            kube=TokenKube(),  # type: ignore[arg-type]
            settings=replace(SETTINGS, runtime_port=stub.port, deletion_timeout_s=10),
            body=_body(),
            pods=[available_children()[("Pod", "bot-5d8f6c-x2x7q")]],
        )
    elapsed = time.monotonic() - started
    assert outcome.reason == "PositionsFlattened", outcome
    assert elapsed >= 2.4, f"returned after {elapsed:.1f}s, while the flatten was still running"


async def test_deletion_gives_up_at_its_deadline_and_says_the_flatten_is_not_confirmed() -> None:
    async with stub_runtime(_flattening_runtime()) as stub:
        stub.status["flatten"] = {"state": "running", "reason": "flatten command"}
        outcome = await settle_positions(
            kube=TokenKube(),  # type: ignore[arg-type]
            settings=replace(SETTINGS, runtime_port=stub.port, deletion_timeout_s=2),
            body=_body(),
            pods=[available_children()[("Pod", "bot-5d8f6c-x2x7q")]],
        )
    assert outcome.type == "Warning" and outcome.reason == "FlattenTimedOut"
    assert "not confirmed" in outcome.message
