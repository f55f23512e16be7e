"""Rate limiting slows the runtime's polling, in proportion and not for longer than needed.

A burst of 429s (one order resent a few times) is one signal, not six: polling slows one step
per burst, and relaxes step by step once the exchange has been quiet, so the account loop keeps
reading positions and balances at a pace a person watching the bot would call current.
"""

from __future__ import annotations

from typing import cast

import pytest
from tradefleet_runtime.service.error_policy import ErrorPolicy
from tradefleet_runtime.service.healing import HealingLog
from tradefleet_runtime.service.metrics import BotMetrics
from tradefleet_runtime.service.store_access import FlagKeeper

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def _never(_: str) -> None:
    raise AssertionError("no reset expected")


def policy(clock: Clock) -> ErrorPolicy:
    return ErrorPolicy(
        healing=HealingLog(clock=clock),
        metrics=BotMetrics(bot="b", namespace="n", exchange="binance", symbol="BTC/USDT:USDT"),
        flags=cast(FlagKeeper, None),  # rate limiting never touches the flags
        reset_connection=_never,
        clock=clock,
    )


def test_a_burst_of_rate_limits_slows_polling_one_step() -> None:
    clock = Clock()
    errors = policy(clock)
    for _ in range(6):  # one order resent through a burst of 429s
        errors.slow_down(message="429", component="orders")
        clock.now += 0.3
    assert errors.poll_slowdown == 2.0


def test_sustained_rate_limits_slow_polling_up_to_the_cap() -> None:
    clock = Clock()
    errors = policy(clock)
    for _ in range(10):
        errors.slow_down(message="429", component="orders")
        clock.now += 3.0
    assert errors.poll_slowdown == 8.0


def test_polling_recovers_step_by_step_once_the_exchange_is_quiet() -> None:
    clock = Clock()
    errors = policy(clock)
    for _ in range(4):
        errors.slow_down(message="429", component="orders")
        clock.now += 3.0
    assert errors.poll_slowdown == 8.0
    seen = []
    for _ in range(80):  # 40 s of decision-loop polls, every 0.5 s
        clock.now += 0.5
        errors.relax()
        seen.append(errors.poll_slowdown)
    assert seen[0] == 8.0
    assert sorted(set(seen), reverse=True) == [8.0, 4.0, 2.0, 1.0]
    assert seen.index(1.0) <= 70  # normal pace within 35 s of the last 429
    assert seen[-1] == 1.0
