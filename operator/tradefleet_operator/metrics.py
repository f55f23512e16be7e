"""Prometheus metrics of the operator (names in docs/metrics.md), served on ``metricsPort``.

The handlers record each reconcile pass here and keep the last status they wrote per resource;
the fleet gauges (bots by phase, conditions per bot) are computed from those statuses at scrape
time, so a deleted bot's series disappear with it. The deletion handler records the deleted bots
whose flatten was not confirmed, exported for a day.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Conditions exported per bot; the rest are visible in kubectl.
EXPORTED_CONDITIONS = ("Ready", "Trading", "Degraded", "CircuitBreakerOpen", "RolledBack", "Paused")
# How long a deleted bot's unconfirmed flatten stays exported, and its alert firing.
FLATTEN_NOT_CONFIRMED_KEPT_S = 24 * 3600.0


@dataclass(frozen=True, kw_only=True, slots=True)
class BotRecord:
    namespace: str
    name: str
    status: Mapping[str, Any]


class FleetCollector(Collector):
    """Bots by phase and their conditions, from the statuses the operator last wrote."""

    def __init__(self) -> None:
        self.bots: dict[str, BotRecord] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_phase = GaugeMetricFamily(
            "tradefleet_operator_bots", "Bots by phase.", labels=["phase", "region"]
        )
        conditions = GaugeMetricFamily(
            "tradefleet_operator_bot_condition",
            "1 while the bot's condition is True.",
            labels=["namespace", "bot", "condition", "reason"],
        )
        phases = GaugeMetricFamily(
            "tradefleet_operator_bot_phase",
            "1 for the bot's phase (alerts on Invalid, Failed, a Progressing that lasts).",
            labels=["namespace", "bot", "phase"],
        )
        counts: dict[tuple[str, str], int] = {}
        for record in list(self.bots.values()):
            key = (
                str(record.status.get("phase") or "Pending"),
                str(record.status.get("region") or ""),
            )
            counts[key] = counts.get(key, 0) + 1
            phases.add_metric([record.namespace, record.name, key[0]], 1.0)
            for cond in record.status.get("conditions") or []:
                if cond.get("type") in EXPORTED_CONDITIONS:
                    conditions.add_metric(
                        [record.namespace, record.name, cond["type"], str(cond.get("reason", ""))],
                        1.0 if cond.get("status") == "True" else 0.0,
                    )
        for (phase, region), count in sorted(counts.items()):
            by_phase.add_metric([phase, region], count)
        yield by_phase
        yield conditions
        yield phases


class FlattensNotConfirmed(Collector):
    """Deleted bots whose flatten the runtime did not confirm, with the time of their deletion,
    for :data:`FLATTEN_NOT_CONFIRMED_KEPT_S`. Their Warning event says it too, but a namespace
    being deleted refuses new events, and deleting a namespace deletes its bots with their pods:
    this series (and its alert) is then what says that positions may be left open."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._deleted: dict[tuple[str, str], tuple[str, float]] = {}
        # Recorded from the event loop, collected from the metrics server's thread.
        self._lock = threading.Lock()

    def record(self, *, namespace: str, bot: str, reason: str) -> None:
        with self._lock:
            self._deleted[(namespace, bot)] = (reason, self._clock())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "tradefleet_operator_flatten_not_confirmed_timestamp_seconds",
            "Unix time a bot was deleted without a confirmed flatten, for a day after.",
            labels=["namespace", "bot", "reason"],
        )
        now = self._clock()
        with self._lock:
            for key, (reason, at) in list(self._deleted.items()):
                if now - at > FLATTEN_NOT_CONFIRMED_KEPT_S:
                    del self._deleted[key]
                else:
                    family.add_metric([key[0], key[1], reason], at)
        yield family


class OperatorMetrics:
    """All operator metrics in one registry (not the global one, so tests can make several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "tradefleet_operator_reconcile_total",
            "Reconcile passes.",
            ["kind", "result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "tradefleet_operator_reconcile_duration_seconds",
            "Time of one reconcile pass.",
            ["kind"],
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
            registry=self.registry,
        )
        self.last_success = Gauge(
            "tradefleet_operator_last_reconcile_timestamp_seconds",
            "Unix time of the last successful reconcile pass.",
            registry=self.registry,
        )
        self.restarts = Counter(
            "tradefleet_operator_bot_restarts_total",
            "Bot pods replaced by the operator.",
            ["namespace", "bot", "cause"],
            registry=self.registry,
        )
        self.rollbacks = Counter(
            "tradefleet_operator_rollbacks_total",
            "Rollbacks to the last good revision.",
            ["namespace", "bot"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "tradefleet_operator_notifications_total",
            "Notification messages by target kind and result (sent, retried, failed).",
            ["kind", "result"],
            registry=self.registry,
        )
        for kind in ("webhook", "slack", "telegram"):
            for result in ("sent", "retried", "failed"):
                # At 0 from the start: the dashboard and rate() see every series.
                self.notifications.labels(kind=kind, result=result)
        self.info = Gauge(
            "tradefleet_operator_info",
            "1 for the region this operator serves: one region's outage shows while others report.",
            ["region"],
            registry=self.registry,
        )
        self.fleet = FleetCollector()
        self.registry.register(self.fleet)
        self.flattens_not_confirmed = FlattensNotConfirmed()
        self.registry.register(self.flattens_not_confirmed)
        # The process's CPU and memory, and Python's garbage collections by generation: what an
        # alert on the operator's own health and a sizing of its pod read.
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def serving(self, *, region: str) -> None:
        self.info.labels(region=region).set(1)

    def observe_pass(self, *, kind: str, ok: bool, seconds: float) -> None:
        self.reconciles.labels(kind=kind, result="ok" if ok else "error").inc()
        self.duration.labels(kind=kind).observe(seconds)
        if ok:
            self.last_success.set(time.time())

    def serve(self, *, port: int) -> None:
        start_http_server(port, registry=self.registry)
