"""Closed sets of values of the CRDs' ``status`` (the spec's are generated with the models,
in ``tradefleet_api.models``).

Used by the operator when it writes status
(phases, circuit-breaker state, position side, signal action, revision source).
tests/unit/api checks every class here against the CRD enum it mirrors.
"""

from __future__ import annotations

from enum import StrEnum


class BotPhase(StrEnum):
    """TradingBot ``status.phase``."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    RUNNING = "Running"
    HALTED = "Halted"
    PAUSED = "Paused"
    DEGRADED = "Degraded"
    FAILED = "Failed"
    NOT_OWNED = "NotOwned"
    INVALID = "Invalid"


class SignalSourcePhase(StrEnum):
    """SignalSource ``status.phase``."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    RUNNING = "Running"
    PAUSED = "Paused"
    DEGRADED = "Degraded"
    FAILED = "Failed"
    NOT_OWNED = "NotOwned"
    INVALID = "Invalid"


class AccountPhase(StrEnum):
    """ExchangeAccount ``status.phase``."""

    READY = "Ready"
    HALTED = "Halted"
    INVALID = "Invalid"


class ConditionStatus(StrEnum):
    """``status`` of a condition (metav1.Condition)."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class CircuitState(StrEnum):
    """TradingBot ``status.circuitBreaker.state``."""

    OPEN = "Open"
    CLOSED = "Closed"


class PositionSide(StrEnum):
    """TradingBot ``status.position.side``."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


class SignalAction(StrEnum):
    """TradingBot ``status.lastSignal.action``: the decision class of the fused score."""

    STRONG_BUY = "strong_buy"
    BUY = "buy"
    NEUTRAL = "neutral"
    SELL = "sell"
    STRONG_SELL = "strong_sell"


class RevisionSource(StrEnum):
    """TradingBot ``status.revisionHistory[].source``: who created a revision."""

    SPEC = "spec"
    OPTIMIZER = "optimizer"
    ROLLBACK = "rollback"
