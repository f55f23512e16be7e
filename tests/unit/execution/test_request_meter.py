"""A bot reports the exchange requests of its last minute: older ones drop out of the count."""

from __future__ import annotations

import pytest
from tradefleet_runtime.execution.request_meter import RequestMeter

pytestmark = pytest.mark.unit


def test_the_count_covers_the_last_minute_only() -> None:
    now = [1000.0]
    meter = RequestMeter(clock=lambda: now[0])
    for _ in range(5):
        meter.record()
        now[0] += 10.0
    # Requests at 1000, 1010, ..., 1040; it is 1050.
    assert meter.per_minute() == 5
    now[0] = 1065.0
    assert meter.per_minute() == 4  # the one at 1000 is 65 s old
    now[0] = 2000.0
    assert meter.per_minute() == 0
