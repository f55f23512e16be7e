"""Status conditions following the Kubernetes conventions (metav1.Condition).

Pure functions used by the reconciler to build a resource's ``status.conditions``:
``lastTransitionTime`` moves only when a condition's status flips, so ``kubectl wait`` and
alerts see real transitions, not every reconcile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

READY = "Ready"
RECONCILED = "Reconciled"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
CIRCUIT_BREAKER_OPEN = "CircuitBreakerOpen"
ROLLED_BACK = "RolledBack"
PAUSED = "Paused"
SIGNAL_SOURCES_READY = "SignalSourcesReady"

# The order conditions are listed in, so `kubectl describe` reads the same every time.
CONDITION_ORDER: tuple[str, ...] = (
    READY,
    RECONCILED,
    PROGRESSING,
    DEGRADED,
    CIRCUIT_BREAKER_OPEN,
    ROLLED_BACK,
    PAUSED,
    SIGNAL_SOURCES_READY,
)


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, kw_only=True, slots=True)
class Condition:
    """One observed condition before it is merged with the previous status."""

    type: str
    status: bool
    reason: str
    message: str

    @property
    def status_word(self) -> str:
        return "True" if self.status else "False"


def merge_conditions(
    *,
    previous: Sequence[Mapping[str, Any]] | None,
    observed: Iterable[Condition],
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """The new ``status.conditions``: observed ones, keeping lastTransitionTime when the status did not flip.

    Conditions that were not observed this time are kept as they were: each reconcile step reports
    only the conditions it owns.
    """
    by_type = {c["type"]: dict(c) for c in previous or [] if "type" in c}
    for cond in observed:
        before = by_type.get(cond.type)
        flipped = before is None or before.get("status") != cond.status_word
        by_type[cond.type] = {
            "type": cond.type,
            "status": cond.status_word,
            "reason": cond.reason,
            "message": cond.message,
            "lastTransitionTime": now
            if flipped or not before
            else before.get("lastTransitionTime", now),
            "observedGeneration": generation,
        }
    rank = {t: i for i, t in enumerate(CONDITION_ORDER)}
    return sorted(by_type.values(), key=lambda c: (rank.get(c["type"], len(rank)), c["type"]))


def condition_status(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> str | None:
    """``True``/``False``/``Unknown`` of a condition, or None when absent."""
    for cond in conditions or []:
        if cond.get("type") == type_:
            status = cond.get("status")
            return str(status) if status is not None else None
    return None
