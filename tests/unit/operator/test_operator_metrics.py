"""Issue 15, item 10: the operator exports what the alerts need: its region (so one region's
outage is seen while others report) and each bot's phase (Invalid, Progressing, Failed)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from tradefleet_operator.metrics import (
    FLATTEN_NOT_CONFIRMED_KEPT_S,
    BotRecord,
    FlattensNotConfirmed,
    OperatorMetrics,
)

pytestmark = pytest.mark.unit


def test_the_region_and_each_bots_phase_are_exported() -> None:
    metrics = OperatorMetrics()
    metrics.serving(region="ap-northeast-1")
    metrics.fleet.bots["u1"] = BotRecord(namespace="desk", name="typo", status={"phase": "Invalid"})
    metrics.fleet.bots["u2"] = BotRecord(namespace="desk", name="ok", status={"phase": "Running"})
    text = generate_latest(metrics.registry).decode()
    assert 'tradefleet_operator_info{region="ap-northeast-1"} 1.0' in text
    assert 'tradefleet_operator_bot_phase{bot="typo",namespace="desk",phase="Invalid"} 1.0' in text
    assert 'tradefleet_operator_bot_phase{bot="ok",namespace="desk",phase="Running"} 1.0' in text


def test_the_operators_own_cpu_memory_and_garbage_collections_are_exported() -> None:
    text = generate_latest(OperatorMetrics().registry).decode()
    for sample in (
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        'python_gc_collections_total{generation="2"} ',
    ):
        assert sample in text, f"{sample.strip()} is missing from the operator's metrics"


def test_a_deleted_bots_unconfirmed_flatten_is_exported_for_a_day() -> None:
    now = [1_800_000_000.0]
    flattens = FlattensNotConfirmed(clock=lambda: now[0])
    registry = CollectorRegistry()
    registry.register(flattens)
    flattens.record(namespace="desk", bot="btc", reason="FlattenTimedOut")
    now[0] += FLATTEN_NOT_CONFIRMED_KEPT_S
    assert (
        "tradefleet_operator_flatten_not_confirmed_timestamp_seconds"
        '{bot="btc",namespace="desk",reason="FlattenTimedOut"} 1.8e+09'
    ) in generate_latest(registry).decode()
    now[0] += 1
    assert 'bot="btc"' not in generate_latest(registry).decode(), "still exported after a day"
