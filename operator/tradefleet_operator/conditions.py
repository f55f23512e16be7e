"""Status conditions following the Kubernetes conventions (metav1.Condition).

Pure functions used by the reconciler to build a resource's ``status.conditions``:
``lastTransitionTime`` moves only when a condition's status flips, so ``kubectl wait`` and
alerts see real transitions, not every reconcile. Also the status's timestamp format
(:func:`format_time`, :func:`parse_time`), which every status field shares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tradefleet_operator.spec.vocabulary import ConditionType

# The condition types, by their old names (the vocabulary is :mod:`tradefleet_operator.spec.vocabulary`).
READY = ConditionType.READY
RECONCILED = ConditionType.RECONCILED
PROGRESSING = ConditionType.PROGRESSING
DEGRADED = ConditionType.DEGRADED
CIRCUIT_BREAKER_OPEN = ConditionType.CIRCUIT_BREAKER_OPEN
ROLLED_BACK = ConditionType.ROLLED_BACK
PAUSED = ConditionType.PAUSED
SIGNAL_SOURCES_READY = ConditionType.SIGNAL_SOURCES_READY

# The order conditions are listed in, so `kubectl describe` reads the same every time.
CONDITION_ORDER: tuple[str, ...] = tuple(ConditionType)


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, kw_only=True, slots=True)
class Condition:
    """One observed condition before it is merged with the previous status."""

    type: str
    # None: Unknown (what it states cannot be told yet).
    status: bool | None
    reason: str
    message: str

    @property
    def status_word(self) -> str:
        if self.status is None:
            return "Unknown"
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
        # Plain strings, not the vocabulary's enum members: the status is compared and stored.
        by_type[str(cond.type)] = {
            "type": str(cond.type),
            "status": cond.status_word,
            "reason": str(cond.reason),
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
