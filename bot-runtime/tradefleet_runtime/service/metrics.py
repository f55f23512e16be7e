"""The bot's Prometheus metrics, exactly the ``tradefleet_bot_*`` names of ``docs/metrics.md``.

The bot service owns one :class:`BotMetrics` (its own registry, served on ``GET /metrics``);
every series carries the ``bot``, ``namespace``, ``exchange`` and ``symbol`` labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BASE_LABELS = ("bot", "namespace", "exchange", "symbol")
# tick → order intent is microseconds; the tail buckets catch a slow event loop.
LATENCY_BUCKETS = (
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0,
)  # fmt: skip
SIGNAL_COMPONENTS = ("regime", "ofi", "whale", "sentiment", "macro", "strategy", "ml")
BREAKER_REASONS = ("drawdown", "daily_loss", "consecutive_losses", "atr")


class BotMetrics:
    """Gauges, counters and the latency histogram of one bot."""

    def __init__(self, *, bot: str, namespace: str, exchange: str, symbol: str) -> None:
        self.registry = CollectorRegistry()
        self._base = {"bot": bot, "namespace": namespace, "exchange": exchange, "symbol": symbol}

        def gauge(name: str, doc: str, extra: Iterable[str] = ()) -> Gauge:
            return Gauge(name, doc, [*BASE_LABELS, *extra], registry=self.registry)

        def counter(name: str, doc: str, extra: Iterable[str]) -> Counter:
            return Counter(name, doc, [*BASE_LABELS, *extra], registry=self.registry)

        self._equity = gauge("tradefleet_bot_equity", "Account equity, quote currency")
        self._pnl = gauge("tradefleet_bot_pnl", "Realised + unrealised PnL since start")
        self._drawdown = gauge("tradefleet_bot_drawdown_pct", "Drawdown from the high-water mark")
        self._position = gauge("tradefleet_bot_position_size", "Signed position size, base units")
        self._orders = counter("tradefleet_bot_orders_total", "Orders by outcome", ["outcome"])
        self._signal = gauge(
            "tradefleet_bot_signal_score", "Normalised signal in [-1, 1]", ["component"]
        )
        self._fusion = gauge("tradefleet_bot_fusion_score", "Fused score in [-1, 1]")
        self._fusion_weight = gauge(
            "tradefleet_bot_fusion_weight",
            "Weight of each fusion input in force (learned when spec.strategy.fusionLearning is on)",
            ["signal"],
        )
        self._regime = gauge("tradefleet_bot_regime", "1 for the current regime", ["regime"])
        self._breaker = gauge(
            "tradefleet_bot_circuit_breaker_open", "1 while a breaker is open", ["reason"]
        )
        self._paused = gauge("tradefleet_bot_paused", "1 while paused (no new positions)")
        self._latency = Histogram(
            "tradefleet_bot_tick_to_decision_seconds",
            "Market tick to order intent latency",
            BASE_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._exchange_errors = counter(
            "tradefleet_bot_exchange_errors_total",
            "Exchange errors after translation",
            ["classification"],
        )
        self._dropped = counter(
            "tradefleet_bot_ticks_dropped_total", "Market data refused by validation", ["reason"]
        )
        self._heartbeat = gauge(
            "tradefleet_bot_heartbeat_timestamp_seconds", "Unix time of the last decision loop"
        )
        self._healing = counter(
            "tradefleet_bot_healing_attempts_total",
            "Self-healing actions taken by the runtime",
            ["error_class"],
        )
        self._loop_failures = counter(
            "tradefleet_bot_loop_failures_total",
            "Unexpected exceptions in a runtime loop (each is logged with its traceback)",
            ["loop"],
        )
        self._unprotected = gauge(
            "tradefleet_bot_position_unprotected_seconds",
            "How long the open position has been without a stop (0 when protected or flat)",
        )
        self._stop_kind = gauge(
            "tradefleet_bot_stop_kind",
            "1 for the kind of stop protecting the open position (exchange or software)",
            ["kind"],
        )
        self._orders_blocked = gauge(
            "tradefleet_bot_orders_blocked",
            "1 while new entries wait: an order in flight, a failed refresh or no lease",
        )
        for reason in BREAKER_REASONS:
            self._breaker.labels(**self._base, reason=reason).set(0)
        self._paused.labels(**self._base).set(0)

    def account(self, *, equity: float, pnl: float, drawdown_pct: float, position: float) -> None:
        self._equity.labels(**self._base).set(equity)
        self._pnl.labels(**self._base).set(pnl)
        self._drawdown.labels(**self._base).set(drawdown_pct)
        self._position.labels(**self._base).set(position)

    def order(self, outcome: str) -> None:
        self._orders.labels(**self._base, outcome=outcome).inc()

    def signals(self, *, components: dict[str, float], fused: float) -> None:
        for component, value in components.items():
            if component in SIGNAL_COMPONENTS:
                self._signal.labels(**self._base, component=component).set(value)
        self._fusion.labels(**self._base).set(fused)

    def fusion_weights(self, weights: Mapping[str, float]) -> None:
        for signal, weight in weights.items():
            self._fusion_weight.labels(**self._base, signal=signal).set(weight)

    def regime(self, *, current: str, labels: Iterable[str]) -> None:
        for label in labels:
            self._regime.labels(**self._base, regime=label).set(1 if label == current else 0)

    def breaker(self, *, open_reason: str | None) -> None:
        for reason in BREAKER_REASONS:
            self._breaker.labels(**self._base, reason=reason).set(1 if reason == open_reason else 0)

    def paused(self, value: bool) -> None:
        self._paused.labels(**self._base).set(1 if value else 0)

    def latency(self, seconds: float) -> None:
        self._latency.labels(**self._base).observe(seconds)

    def exchange_error(self, classification: str) -> None:
        self._exchange_errors.labels(**self._base, classification=classification).inc()

    def tick_dropped(self, reason: str) -> None:
        self._dropped.labels(**self._base, reason=reason).inc()

    def heartbeat(self, unix_seconds: float) -> None:
        self._heartbeat.labels(**self._base).set(unix_seconds)

    def healing(self, error_class: str) -> None:
        self._healing.labels(**self._base, error_class=error_class).inc()

    def loop_failure(self, loop: str) -> None:
        self._loop_failures.labels(**self._base, loop=loop).inc()

    def protection(self, *, kind: str | None, unprotected_s: float) -> None:
        self._unprotected.labels(**self._base).set(unprotected_s)
        for name in ("exchange", "software"):
            self._stop_kind.labels(**self._base, kind=name).set(1 if name == kind else 0)

    def orders_blocked(self, blocked: bool) -> None:
        self._orders_blocked.labels(**self._base).set(1 if blocked else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
