"""Fault rules of the local exchange: parsing, validation, consumption and windows.

The chaos soak harness posts rules it draws at random; a malformed rule must fail with a
message naming the field, and a valid one must be used up exactly as documented in
``tradefleet_devtools.exchange.faults``.
"""

from __future__ import annotations

from typing import Any

import pytest
from tradefleet_devtools.exchange.chaos import ServerClock
from tradefleet_devtools.exchange.faults import (
    FaultInjector,
    FaultKind,
    FaultRule,
    FaultRuleError,
)
from tradefleet_devtools.exchange.records import RejectionError
from tradefleet_devtools.exchange.rest import check_timestamp

pytestmark = pytest.mark.unit

ORDER = "/fapi/v1/order"
EXAMPLES = [
    FaultRule(kind=FaultKind.HTTP_429, times=3),
    FaultRule(kind=FaultKind.HTTP_5XX, status=502, path=ORDER, method="POST"),
    FaultRule(kind=FaultKind.TIMEOUT, hold_seconds=1.5),
    FaultRule(kind=FaultKind.DROP_AFTER_ACCEPT),
    FaultRule(kind=FaultKind.ACCEPT_THEN_TIMEOUT, hold_seconds=4.0),
    FaultRule(kind=FaultKind.ACCEPT_THEN_5XX, status=504),
    FaultRule(kind=FaultKind.PARTIAL_FILL, fill_ratio=0.25),
    FaultRule(kind=FaultKind.SLOW_FILL, fill_seconds=5.0, fill_steps=4),
    FaultRule(kind=FaultKind.LATE_EXECUTION, hold_seconds=0.8),
    FaultRule(kind=FaultKind.AUTH_FAILURE),
    FaultRule(kind=FaultKind.CLOCK_SKEW, skew_ms=-2_500, hold_seconds=10.0),
    FaultRule(kind=FaultKind.UNREACHABLE, hold_seconds=3.0),
]


def test_every_kind_has_an_example() -> None:
    assert {rule.kind for rule in EXAMPLES} == set(FaultKind)


@pytest.mark.parametrize("rule", EXAMPLES, ids=[r.kind.value for r in EXAMPLES])
def test_rules_survive_the_round_trip_through_json(rule: FaultRule) -> None:
    raw = rule.to_json()
    assert set(raw) == {"kind", "path", "method", "times", *rule.kind.fields}
    assert FaultRule.from_json(raw) == rule


def test_defaults_apply_to_fields_left_out() -> None:
    rule = FaultRule.from_json({"kind": "slow_fill", "method": "post"})
    assert (rule.fill_seconds, rule.fill_steps, rule.times, rule.method) == (3.0, 3, 1, "POST")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "must be a JSON object"),
        ({"kind": "meteor"}, "fault kind must be one of"),
        ({"kind": "http_429", "hold_secs": 1}, "unknown fault rule fields: ['hold_secs']"),
        ({"kind": "http_429", "fill_steps": 3}, "['fill_steps'] do not apply to http_429"),
        ({"kind": "slow_fill", "hold_seconds": 1}, "'fill_seconds', 'fill_steps'"),
        ({"kind": "http_429", "times": 0}, "times must be >= 1"),
        ({"kind": "http_429", "times": 1.5}, "times must be a whole number"),
        ({"kind": "http_429", "times": True}, "times must be a number"),
        ({"kind": "http_5xx", "status": 404}, "status must be a 5xx code"),
        ({"kind": "timeout", "hold_seconds": 0}, "hold_seconds must be in (0, 60]"),
        ({"kind": "unreachable", "hold_seconds": 61}, "hold_seconds must be in (0, 60]"),
        ({"kind": "slow_fill", "fill_steps": 1}, "fill_steps must be in [2, 100]"),
        ({"kind": "slow_fill", "fill_seconds": -1}, "fill_seconds must be in (0, 60]"),
        ({"kind": "partial_fill", "fill_ratio": 1}, "fill_ratio must be strictly between"),
        ({"kind": "clock_skew"}, "clock_skew needs a non-zero skew_ms"),
        ({"kind": "clock_skew", "skew_ms": 10**8}, "skew_ms must be within"),
        ({"kind": "http_429", "method": "FETCH"}, "method must be one of"),
        ({"kind": "http_429", "path": "fapi/v1/order"}, "path must start with '/'"),
        ({"kind": "http_429", "path": 3}, "path must be a string"),
    ],
)
def test_malformed_rules_are_refused_with_a_clear_error(raw: Any, message: str) -> None:
    with pytest.raises(FaultRuleError) as raised:
        FaultRule.from_json(raw)
    assert message in str(raised.value)


def test_rules_built_in_python_are_checked_too() -> None:
    with pytest.raises(FaultRuleError, match="fill_steps"):
        FaultRule(kind=FaultKind.SLOW_FILL, fill_steps=0)


def test_order_only_rules_wait_for_an_order_and_window_rules_are_never_taken() -> None:
    faults = FaultInjector()
    faults.add(
        [
            FaultRule(kind=FaultKind.UNREACHABLE),
            FaultRule(kind=FaultKind.LATE_EXECUTION),
            FaultRule(kind=FaultKind.HTTP_5XX, times=2),
        ]
    )
    taken = [
        faults.take(method="GET", path="/fapi/v1/depth", places_order=False),
        faults.take(method="POST", path=ORDER, places_order=True),
        faults.take(method="POST", path=ORDER, places_order=True),
        faults.take(method="POST", path=ORDER, places_order=True),
    ]
    assert [rule.kind if rule else None for rule in taken] == [
        FaultKind.HTTP_5XX,
        FaultKind.LATE_EXECUTION,
        FaultKind.HTTP_5XX,
        None,
    ]
    assert [rule.kind for rule in faults.pending()] == [FaultKind.UNREACHABLE]


def test_a_window_opens_on_the_first_matching_request_and_lasts_hold_seconds() -> None:
    faults = FaultInjector()
    faults.add([FaultRule(kind=FaultKind.UNREACHABLE, path=ORDER, hold_seconds=2.0, times=2)])

    assert faults.open_windows(method="GET", path="/fapi/v1/depth", now_s=10.0) == []
    assert faults.active(kind=FaultKind.UNREACHABLE, now_s=10.0) is None
    (opened,) = faults.open_windows(method="POST", path=ORDER, now_s=11.0)
    assert opened.kind is FaultKind.UNREACHABLE
    # Open: it affects every request, and further matching requests do not stack windows.
    assert faults.open_windows(method="POST", path=ORDER, now_s=12.0) == []
    assert faults.active(kind=FaultKind.UNREACHABLE, now_s=12.9) is not None
    assert faults.active(kind=FaultKind.UNREACHABLE, now_s=13.0) is None
    # The second use opens the next window on the next matching request.
    assert len(faults.open_windows(method="POST", path=ORDER, now_s=20.0)) == 1
    assert faults.pending() == []
    faults.clear()
    assert faults.active(kind=FaultKind.UNREACHABLE, now_s=20.5) is None


def test_the_server_clock_carries_the_skew_while_its_window_is_open() -> None:
    faults = FaultInjector()
    now = {"wall": 1_000.0, "mono": 50.0}
    clock = ServerClock(faults=faults, wall=lambda: now["wall"], monotonic=lambda: now["mono"])
    faults.add([FaultRule(kind=FaultKind.CLOCK_SKEW, skew_ms=-3_000, hold_seconds=5.0)])

    assert clock.now_ms() == 1_000_000
    faults.open_windows(method="GET", path="/fapi/v1/time", now_s=50.0)
    assert clock.now_ms() == 997_000
    now["mono"] = 55.0
    assert clock.now_ms() == 1_000_000


@pytest.mark.parametrize(
    ("timestamp_ms", "accepted"),
    [
        (10_999, True),  # up to 999 ms ahead of the server is fine
        (11_000, False),  # timestamp >= serverTime + 1000
        (9_000, True),  # exactly recvWindow old
        (8_999, False),  # serverTime - timestamp > recvWindow
    ],
)
def test_the_timestamp_check_is_binances_to_the_millisecond(
    timestamp_ms: int, accepted: bool
) -> None:
    def check() -> None:
        check_timestamp(timestamp_ms=timestamp_ms, recv_window_ms=1_000, server_ms=10_000)

    if accepted:
        check()
    else:
        with pytest.raises(RejectionError) as raised:
            check()
        assert raised.value.code == -1021
