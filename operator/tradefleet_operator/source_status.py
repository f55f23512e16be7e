"""A SignalSource's phase and Ready condition from its workload and what it last published.

Pure, called by the reconciler (:mod:`tradefleet_operator.reconcile`) once per pass of a source.
A source is healthy while it publishes: three missed intervals make it stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tradefleet_operator import conditions as cond
from tradefleet_operator.conditions import parse_time
from tradefleet_operator.spec import SignalSourcePhase, SignalSourceSpec
from tradefleet_operator.spec.vocabulary import ConditionType, Reason

# Published intervals a source may miss before it counts as stale.
STALE_INTERVALS = 3


def source_readiness(
    *, spec: SignalSourceSpec, available: bool, published: Mapping[str, Any], now: datetime
) -> tuple[SignalSourcePhase, cond.Condition]:
    """The source's phase and Ready condition."""
    last = parse_time(published.get("lastPublished"))
    stale_after = STALE_INTERVALS * spec.interval_seconds
    fresh = last is not None and (now - last).total_seconds() <= stale_after

    def ready(status: bool, reason: Reason, message: str) -> cond.Condition:
        return cond.Condition(
            type=ConditionType.READY, status=status, reason=reason, message=message
        )

    if spec.paused:
        return SignalSourcePhase.PAUSED, ready(False, Reason.PAUSED, "spec.paused is true")
    if available and fresh:
        return SignalSourcePhase.RUNNING, ready(
            True, Reason.PUBLISHING, f"last value published at {published['lastPublished']}"
        )
    if available:
        return (
            SignalSourcePhase.DEGRADED if last else SignalSourcePhase.RUNNING,
            ready(
                False,
                Reason.NOT_PUBLISHING,
                f"no value published in the last {stale_after}s"
                if last
                else "waiting for the first published value",
            ),
        )
    return SignalSourcePhase.PENDING, ready(
        False, Reason.WAITING_FOR_POD, "source pod is not ready yet"
    )
