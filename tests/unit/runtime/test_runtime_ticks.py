"""Tick validation: each rule drops what it should, with the reason the metric is labelled by."""

from __future__ import annotations

import math

import pytest
from tradefleet_runtime.marketdata.ticks import BookTick, DropReason, TickValidator

pytestmark = pytest.mark.unit


def tick(*, bid: float = 100.0, ask: float = 100.5, size: float = 1.0, at: int = 1_000) -> BookTick:
    return BookTick(
        symbol="BTC/USDT",
        bid_price=bid,
        bid_size=size,
        ask_price=ask,
        ask_size=size,
        timestamp_ms=at,
    )


def reason(validator: TickValidator, item: BookTick, now_ms: int = 1_000) -> DropReason | None:
    rejection = validator.check(item, now_ms=now_ms)
    return rejection.reason if rejection else None


def test_each_rule_names_its_reason() -> None:
    validator = TickValidator(max_age_ms=5_000, max_jump_pct=5.0)
    assert reason(validator, tick(size=0.0)) is DropReason.NON_POSITIVE
    assert reason(validator, tick(bid=math.nan)) is DropReason.NON_POSITIVE
    assert reason(validator, tick(bid=101.0, ask=100.0)) is DropReason.CROSSED_BOOK
    assert reason(validator, tick(bid=100.0, ask=100.0)) is DropReason.CROSSED_BOOK
    assert reason(validator, tick(at=1_000), now_ms=6_001) is DropReason.STALE
    assert reason(validator, tick(at=2_000), now_ms=2_000) is None
    assert reason(validator, tick(at=1_999), now_ms=2_000) is DropReason.OUT_OF_ORDER
    # mid 100.25 → 105.5: +5.24 % is beyond the 5 % bound.
    assert (
        reason(validator, tick(bid=105.25, ask=105.75, at=2_100), now_ms=2_100)
        is DropReason.PRICE_JUMP
    )


def test_a_jump_confirmed_by_consecutive_ticks_becomes_the_new_level() -> None:
    validator = TickValidator(max_age_ms=5_000, max_jump_pct=5.0, confirmations=3)
    assert reason(validator, tick(at=1_000)) is None
    jumped = [tick(bid=120.0, ask=120.5, at=1_000 + i) for i in range(1, 4)]
    assert [reason(validator, t, now_ms=t.timestamp_ms) for t in jumped] == [
        DropReason.PRICE_JUMP,
        DropReason.PRICE_JUMP,
        None,
    ]
    assert reason(validator, tick(bid=120.5, ask=121.0, at=1_010), now_ms=1_010) is None


def test_an_isolated_bad_print_does_not_move_the_reference() -> None:
    validator = TickValidator(max_age_ms=5_000, max_jump_pct=5.0)
    assert reason(validator, tick(at=1_000)) is None
    assert (
        reason(validator, tick(bid=200.0, ask=200.5, at=1_001), now_ms=1_001)
        is DropReason.PRICE_JUMP
    )
    assert reason(validator, tick(bid=100.1, ask=100.6, at=1_002), now_ms=1_002) is None
