"""Issue 15, item 10: the operator exports what the alerts need: its region (so one region's
outage is seen while others report) and each bot's phase (Invalid, Progressing, Failed)."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from tradefleet_operator.metrics import BotRecord, OperatorMetrics

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
