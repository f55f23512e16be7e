"""Self-healing inside the runtime: classify errors, act, and record every attempt.

The bot service reports every error it handles to :class:`HealingLog.record` with the action it
took, or to :meth:`HealingLog.escalate_to_human` when only a human can fix it (the report then
says ``needs_human`` until ``clear_human_needed``, on ``resume``). The log keeps the latest
attempts in a ring buffer, counts them per error class (the ``on_record`` hook increments the
``tradefleet_bot_healing_attempts_total`` counter) and renders the
``/api/advanced/self-healing/health`` report the operator escalates from.

Policy per error class (what the service does; see ``docs/runtime-api.md``):

* ``connection`` (timeouts, dropped connections, 5xx): retry with backoff; after
  ``RESET_AFTER_FAILURES`` consecutive failures the venue's connection is rebuilt.
* ``rate_limited``: back off and double the polling interval (up to 8×), restored after a
  quiet minute.
* ``redis``: no order is sent without its intent in Redis; reconnect with exponential backoff,
  to once a second.
  A stored paper account that cannot be continued halts and asks for a human.
* ``insufficient_funds``: pause (no new positions) until ``POST /control/resume``.
* ``authentication``: halt and ask for a human; retrying cannot help.
* ``partial_fill``: adopt the filled quantity as the position and protect it.
* ``exchange`` / ``invalid_order``: the decision is dropped; trading goes on.
* ``market_data``: the tick is dropped and the feed polled again; at start-up, the paper
  account's book is read again until the replay or synthetic feed gives a tick.
* ``config``: a hot reload that fails validation is refused; the old config stays.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tradefleet_runtime.execution.errors import ErrorClassification, ExchangeError

RESET_AFTER_FAILURES = 3
RECENT_WINDOW_S = 600.0


class HealingCause(StrEnum):
    """What the runtime healed from: an exchange error (by its
    :class:`~tradefleet_runtime.execution.errors.ErrorClassification`, see :func:`classify`), an
    order filled in part, Redis or market data failing, or a refused config change. The health
    report's ``error_class``."""

    CONNECTION = "connection"
    RATE_LIMITED = "rate_limited"
    REDIS = "redis"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    AUTHENTICATION = "authentication"
    PARTIAL_FILL = "partial_fill"
    INVALID_ORDER = "invalid_order"
    EXCHANGE = "exchange"
    MARKET_DATA = "market_data"
    CONFIG = "config"


class HealingAction(StrEnum):
    RETRY = "retry"
    RESET_CONNECTION = "reset_connection"
    SLOW_POLLING = "slow_polling"
    RECONNECT = "reconnect"
    PAUSE = "pause"
    HALT = "halt"
    ADOPT_FILL = "adopt_filled_quantity"
    SKIP_DECISION = "skip_decision"
    REFUSE_CONFIG = "refuse_config"


_BY_CLASSIFICATION = {
    ErrorClassification.TEMPORARY: HealingCause.CONNECTION,
    ErrorClassification.RATE_LIMITED: HealingCause.RATE_LIMITED,
    ErrorClassification.AUTHENTICATION: HealingCause.AUTHENTICATION,
    ErrorClassification.INSUFFICIENT_FUNDS: HealingCause.INSUFFICIENT_FUNDS,
    ErrorClassification.INVALID_ORDER: HealingCause.INVALID_ORDER,
}


def classify(error: ExchangeError) -> HealingCause:
    return _BY_CLASSIFICATION.get(error.classification, HealingCause.EXCHANGE)


def classify_classification(classification: ErrorClassification) -> HealingCause:
    return _BY_CLASSIFICATION.get(classification, HealingCause.EXCHANGE)


@dataclass(frozen=True, kw_only=True, slots=True)
class HealingAttempt:
    at: float
    error_class: HealingCause
    action: HealingAction
    component: str
    message: str
    resolved: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "at": self.at,
            "error_class": self.error_class.value,
            "action": self.action.value,
            "component": self.component,
            "message": self.message,
            "resolved": self.resolved,
        }


class HealingLog:
    """Ring buffer and per-class counts of healing attempts, and component health."""

    def __init__(
        self,
        *,
        capacity: int = 200,
        on_record: Callable[[HealingCause], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._attempts: deque[HealingAttempt] = deque(maxlen=capacity)
        self._counts: Counter[HealingCause] = Counter()
        self._on_record = on_record
        self._clock = clock
        self._components: dict[str, dict[str, object]] = {}
        self._human_reason: str | None = None

    def record(
        self,
        *,
        error_class: HealingCause,
        action: HealingAction,
        component: str,
        message: str,
        resolved: bool = False,
    ) -> HealingAttempt:
        attempt = HealingAttempt(
            at=self._clock(),
            error_class=error_class,
            action=action,
            component=component,
            message=message,
            resolved=resolved,
        )
        self._attempts.append(attempt)
        self._counts[error_class] += 1
        if self._on_record is not None:
            self._on_record(error_class)
        self.set_component(component=component, healthy=resolved, detail=message)
        return attempt

    def set_component(self, *, component: str, healthy: bool, detail: str = "") -> None:
        previous = self._components.get(component)
        unchanged = previous is not None and previous["healthy"] == healthy
        since = previous["since"] if previous is not None and unchanged else self._clock()
        self._components[component] = {"healthy": healthy, "detail": detail, "since": since}

    def escalate_to_human(
        self, *, error_class: HealingCause, action: HealingAction, component: str, message: str
    ) -> HealingAttempt:
        """Record an attempt the runtime cannot finish itself: the report says
        ``needs_human`` with this reason until :meth:`clear_human_needed`."""
        attempt = self.record(
            error_class=error_class, action=action, component=component, message=message
        )
        self._human_reason = f"{error_class.value}: {message}"
        return attempt

    @property
    def human_needed(self) -> str | None:
        """Why a human must act (the latest escalation), or None."""
        return self._human_reason

    def clear_human_needed(self) -> None:
        self._human_reason = None

    @property
    def last(self) -> HealingAttempt | None:
        """The latest attempt recorded, if any."""
        return self._attempts[-1] if self._attempts else None

    @property
    def counts(self) -> dict[str, int]:
        return {error_class.value: count for error_class, count in self._counts.items()}

    def report(self, *, extra: dict[str, object] | None = None) -> dict[str, object]:
        now = self._clock()
        recent = [a for a in self._attempts if now - a.at <= RECENT_WINDOW_S]
        resolved = sum(1 for a in recent if a.resolved)
        unhealthy = [name for name, c in self._components.items() if not c["healthy"]]
        if self.human_needed:
            overall = "needs_human"
        elif unhealthy:
            overall = "degraded"
        else:
            overall = "healthy"
        return {
            "overall_status": overall,
            "needs_human": self.human_needed is not None,
            "human_reason": self.human_needed,
            "metrics": {
                "recent_errors": len(recent),
                "recent_healings": resolved,
                "healing_success_rate": resolved / len(recent) if recent else 1.0,
                "attempts_by_error_class": self.counts,
            },
            "component_health": dict(self._components),
            "recent_healing_attempts": [a.to_dict() for a in list(self._attempts)[-50:]],
            **(extra or {}),
        }
