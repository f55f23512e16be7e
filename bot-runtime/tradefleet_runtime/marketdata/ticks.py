"""Book ticks and their validation: bad market data is dropped, counted and reported, never traded on.

The decision loop builds a :class:`BookTick` from every polled order book and asks
:meth:`TickValidator.check` before the tick reaches the signal engines. Rules, first match wins:

* ``non_positive``: a price or size that is not a finite number > 0;
* ``crossed_book``: best bid >= best ask;
* ``stale``: older than ``max_age_ms`` by the feed's clock;
* ``out_of_order``: older than the last accepted tick;
* ``price_jump``: mid more than ``max_jump_pct`` away from the last accepted mid. A jump that
  ``confirmations`` consecutive ticks agree on (each within the bound of the previous one)
  is a new price level, not a bad print: the last of them is accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class DropReason(StrEnum):
    STALE = "stale"
    OUT_OF_ORDER = "out_of_order"
    CROSSED_BOOK = "crossed_book"
    PRICE_JUMP = "price_jump"
    NON_POSITIVE = "non_positive"


@dataclass(frozen=True, kw_only=True, slots=True)
class BookTick:
    """The top of one order-book snapshot; times in epoch milliseconds."""

    symbol: str
    bid_price: float
    bid_size: float
    ask_price: float
    ask_size: float
    timestamp_ms: int

    @property
    def mid(self) -> float:
        return (self.bid_price + self.ask_price) / 2.0


@dataclass(frozen=True, kw_only=True, slots=True)
class TickRejection:
    reason: DropReason
    message: str


class TickValidator:
    """Stateful check of a tick stream (remembers the last accepted tick)."""

    __slots__ = (
        "_confirmations",
        "_last_mid",
        "_last_ms",
        "_max_age_ms",
        "_max_jump",
        "_pending",
        "_pending_mid",
    )

    def __init__(self, *, max_age_ms: int, max_jump_pct: float, confirmations: int = 3) -> None:
        if max_age_ms <= 0 or not (math.isfinite(max_jump_pct) and max_jump_pct > 0):
            raise ValueError("max_age_ms and max_jump_pct must be positive")
        if confirmations < 1:
            raise ValueError("confirmations must be >= 1")
        self._max_age_ms = max_age_ms
        self._max_jump = max_jump_pct / 100.0
        self._confirmations = confirmations
        self._last_ms: int | None = None
        self._last_mid: float | None = None
        self._pending = 0
        self._pending_mid = 0.0

    def reconfigure(self, *, max_age_ms: int, max_jump_pct: float) -> None:
        """New bounds from a hot-reloaded config; the stream's memory is kept."""
        self._max_age_ms = max_age_ms
        self._max_jump = max_jump_pct / 100.0

    def check(self, tick: BookTick, *, now_ms: int) -> TickRejection | None:
        """None when the tick is usable (and remembered as the last accepted one)."""
        values = (tick.bid_price, tick.bid_size, tick.ask_price, tick.ask_size)
        if not all(math.isfinite(v) and v > 0.0 for v in values):
            return TickRejection(
                reason=DropReason.NON_POSITIVE,
                message=(
                    f"{tick.symbol}: bid {tick.bid_price!r} x {tick.bid_size!r}, "
                    f"ask {tick.ask_price!r} x {tick.ask_size!r} must all be > 0"
                ),
            )
        if tick.bid_price >= tick.ask_price:
            return TickRejection(
                reason=DropReason.CROSSED_BOOK,
                message=f"{tick.symbol}: bid {tick.bid_price} >= ask {tick.ask_price}",
            )
        age_ms = now_ms - tick.timestamp_ms
        if age_ms > self._max_age_ms:
            return TickRejection(
                reason=DropReason.STALE,
                message=f"{tick.symbol}: tick is {age_ms} ms old (limit {self._max_age_ms} ms)",
            )
        if self._last_ms is not None and tick.timestamp_ms < self._last_ms:
            return TickRejection(
                reason=DropReason.OUT_OF_ORDER,
                message=(
                    f"{tick.symbol}: tick at {tick.timestamp_ms} ms is older than the last "
                    f"accepted one at {self._last_ms} ms"
                ),
            )
        mid = tick.mid
        last_mid = self._last_mid
        if last_mid is not None and abs(mid / last_mid - 1.0) > self._max_jump:
            if self._pending and abs(mid / self._pending_mid - 1.0) <= self._max_jump:
                self._pending += 1
            else:
                self._pending = 1
            self._pending_mid = mid
            if self._pending < self._confirmations:
                return TickRejection(
                    reason=DropReason.PRICE_JUMP,
                    message=(
                        f"{tick.symbol}: mid {mid:g} is {100.0 * (mid / last_mid - 1.0):+.2f}% "
                        f"from the last accepted {last_mid:g} "
                        f"(limit ±{100.0 * self._max_jump:g}%)"
                    ),
                )
        self._pending = 0
        self._last_ms = tick.timestamp_ms
        self._last_mid = mid
        return None
