"""Issue 15, item 5: the operator never lifts a stop the runtime made itself.

Whole reconcile passes against a stub runtime that paused itself (insufficient funds) or halted
itself (a rejected key): with ``spec.paused: false`` and no kill switch, the operator sends no
``resume`` and no ``unhalt`` — it compares the spec with the runtime's *user* flags only — and only
a human's ``tradefleet.io/acknowledge`` reaches the runtime, once per value.
"""

from __future__ import annotations

import pytest
from pass_support import available_children, one_pass, runtime_status, stub_runtime
from succession_support import bot_body
from tradefleet_runtime.service.trading_state import TradingReason

pytestmark = pytest.mark.unit

SELF_PAUSED = runtime_status(
    reason=TradingReason.INSUFFICIENT_FUNDS,
    message="insufficient funds: margin is insufficient",
    paused=True,
    pauseReason="insufficient funds: margin is insufficient",
)
SELF_HALTED = runtime_status(
    reason=TradingReason.AUTHENTICATION_FAILED,
    message="binance refused the API key",
    halted=True,
    haltReason="binance refused the API key",
)


@pytest.mark.parametrize("runtime", [SELF_PAUSED, SELF_HALTED], ids=["self-paused", "self-halted"])
async def test_the_operator_sends_nothing_that_would_lift_the_runtimes_own_stop(
    runtime: dict[str, object],
) -> None:
    async with stub_runtime(runtime) as stub:
        _, outcome = await one_pass(
            body=bot_body(self_healing={}), children=available_children(), port=stub.port
        )
    assert stub.commands == [], f"the operator lifted the runtime's own stop: {stub.commands}"
    assert outcome.status["phase"] in ("Paused", "Halted")


async def test_only_acknowledge_reaches_the_runtime_once_per_value() -> None:
    body = bot_body(self_healing={})
    body["metadata"]["annotations"] = {"tradefleet.io/acknowledge": "keys-rotated"}
    async with stub_runtime(SELF_HALTED) as stub:
        _, outcome = await one_pass(body=body, children=available_children(), port=stub.port)
        assert stub.commands == ["acknowledge"]
        assert outcome.status["control"]["acknowledged"] == "keys-rotated"
        body["status"] = outcome.status
        await one_pass(body=body, children=available_children(), port=stub.port)
    assert stub.commands == ["acknowledge"], "sent again for the same value"
