"""The soak trial's market: a price path the harness can push and freeze, and a tap on the
local exchange's fault injector that records every fault the exchange applied.

Used by the trial runner (``tradefleet_devtools.soak.trial``), which runs one
``LocalExchange`` per trial in its own event loop. ``drive_prices`` pushes the price so that
the bot's order-flow signal trades it both ways: towards flat while the exchange holds a
position, on in the same direction once flat (so the next position is the other side).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tradefleet_devtools.exchange import (
    ExchangeAdminClient,
    LocalExchange,
    PricePoint,
    RandomWalkPriceSource,
)
from tradefleet_devtools.exchange.faults import FaultRule
from tradefleet_devtools.soak.evidence import FaultHit
from tradefleet_devtools.soak.processes import SYMBOL, now_ms

EXCHANGE_SYMBOL = "BTCUSDT"


class FreezablePrice:
    """A slow random walk; frozen, every step repeats the level (a market at rest)."""

    def __init__(self, *, seed: int, start_price: float, volatility: float = 0.0002) -> None:
        self._walk = RandomWalkPriceSource(
            seed=seed, start_price=start_price, volatility=volatility
        )
        self._price = start_price
        self.frozen = False

    @property
    def start_price(self) -> float:
        return self._walk.start_price

    def next_point(self) -> PricePoint:
        if not self.frozen:
            self._price = self._walk.next_point().price
        return PricePoint(price=self._price, volume=1.0)


class FaultTap:
    """Records each fault rule the exchange applies, when and to which request.

    Wraps the ``take`` and ``open_windows`` of the exchange's ``FaultInjector`` instance
    (the one its fault layer asks for every API request); nothing else changes.
    """

    def __init__(self, exchange: LocalExchange) -> None:
        self.hits: list[FaultHit] = []
        injector = exchange.faults
        take = injector.take
        open_windows = injector.open_windows

        def tapped_take(*, method: str, path: str, places_order: bool) -> FaultRule | None:
            rule = take(method=method, path=path, places_order=places_order)
            if rule is not None:
                self._record(rule, method=method, path=path)
            return rule

        def tapped_windows(*, method: str, path: str, now_s: float) -> list[FaultRule]:
            opened = open_windows(method=method, path=path, now_s=now_s)
            for rule in opened:
                self._record(rule, method=method, path=path)
            return opened

        setattr(injector, "take", tapped_take)  # noqa: B010 - an instance attribute on purpose
        setattr(injector, "open_windows", tapped_windows)  # noqa: B010

    def _record(self, rule: FaultRule, *, method: str, path: str) -> None:
        self.hits.append(
            FaultHit(
                at_ms=now_ms(),
                kind=rule.kind.value,
                method=method,
                path=path,
                hold_s=rule.hold_seconds,
            )
        )

    def hits_since(self, at_ms: int, *, kind: str, path: str) -> list[FaultHit]:
        return [h for h in self.hits if h.at_ms >= at_ms and h.kind == kind and h.path == path]


def position_of(state: dict[str, Any]) -> float:
    return sum(float(p["positionAmt"]) for p in state["positions"])


async def drive_prices(
    *,
    admin: ExchangeAdminClient,
    price: FreezablePrice,
    step: float,
    period_s: float,
    first_direction: int,
    until: Callable[[], bool],
) -> int:
    """Push the price by ``step`` (a ratio) every ``period_s`` until ``until()``; returns how
    many times the push turned. Long on the exchange → down, short → up, flat → onwards."""
    direction, turns = first_direction, 0
    price.frozen = False
    level = float((await admin.state())["prices"][EXCHANGE_SYMBOL])
    while not until():
        begun = time.monotonic()
        state = await admin.state()
        position = position_of(state)
        wanted = -1 if position > 0 else 1 if position < 0 else direction
        if wanted != direction:
            direction, turns = wanted, turns + 1
        level = float(state["prices"][EXCHANGE_SYMBOL]) * (1.0 + direction * step)
        await admin.set_price(symbol=SYMBOL, price=level)
        await asyncio.sleep(max(0.0, period_s - (time.monotonic() - begun)))
    price.frozen = True
    return turns
