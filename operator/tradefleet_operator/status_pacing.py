"""When a pass's new status is written: at once when it says something new, else paced.

Pure. Called by the pass loop (:func:`tradefleet_operator.passes.write_outcome`) before
each status write of a TradingBot, SignalSource or ExchangeAccount.

A running bot's live figures (equity, PnL, the last signal, the runtime's heartbeat) change on
nearly every look at its runtime, every ``healthPollIntervalSeconds``. Written each time, 1,000
bots would make the apiserver store and fan out 200 status writes a second that tell nobody
anything new. So a status whose substance is unchanged waits until ``statusIntervalSeconds``
after the previous write of the resource; its substance is everything else: the phase, every
condition (a message may say what to do, e.g. how to mark a credentials Secret), the generation
it observed, revisions, self-healing and kill-switch state, a position's side, the breaker, and
what was notified (a fill changes it, so a fill is written at once); of an ExchangeAccount, its
phase, conditions, allocations, rebalance times and peak equity (its equity, drawdown, balances
and each bot's figures are live).

A rollout's progress is paced too. While a new pod is on its way, its steps (the Deployment
made, the pod created, scheduled onto a node, its containers starting) each changed the Ready and
Progressing messages and the node, and each cost a status write, for a bot that is in all of
them simply not ready yet. So a condition that says only that (:data:`PROGRESS_REASONS`) keeps
its type and status as substance, not its reason or message: the pod becoming ready, or a
problem with a reason of its own (unschedulable, an image that cannot be pulled, a crash loop),
is written at once, and the progress in between every third interval (:data:`PROGRESS_INTERVALS`).

While passes that create or change children wait for their turn (a burst of new or edited bots),
a status that tells nothing new waits one more interval, at most three after the previous write:
the apiserver's capacity goes to the children first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradefleet_operator.spec.vocabulary import Reason

# Status keys that change on every look at a runtime and are written at the paced interval.
LIVE_KEYS = frozenset(
    {
        "equity",
        "pnl",
        "pnlPct",
        "drawdownPct",
        "lastSignal",
        "lastHeartbeat",
        "regime",
        "ml",
        "requestsPerMinute",
        # The exchange balance a bot read (its margin in use moves with the price).
        "balance",
        # A SignalSource's latest readings.
        "lastPublished",
        "lastValues",
        # An ExchangeAccount's measures. Not its peak equity: the next pass measures the drawdown
        # from the stored peak, so a new peak held back and then lost to a fall would let the
        # account's drawdown halt trip late.
        "grossExposure",
        "balances",
        # The node of the bot's pod: a pod that moves to another node is replaced, and its
        # readiness, written at once, says so.
        "node",
    }
)
# Reasons of a rollout under way that name no problem: the steps of a pod on its way.
PROGRESS_REASONS = frozenset(
    {
        str(Reason.WORKLOAD_CREATING),
        str(Reason.WAITING_FOR_POD),
        str(Reason.POD_NOT_READY),
        str(Reason.ROLLOUT_IN_PROGRESS),
    }
)
# How many intervals a status whose only news is the step of a pod on its way waits: each step
# says the bot is still not ready, and in a rollout of many bots every bot takes each step.
PROGRESS_INTERVALS = 3
# How many intervals after its previous write a paced status waits at most while the operator is
# busy with specs not yet reconciled: live figures stay at most this many intervals old.
BUSY_HOLD_INTERVALS = 3
# Of each bot row of an ExchangeAccount's ``status.bots``, what is written at once.
_BOT_ROW_SUBSTANCE = ("name", "allocation", "periodStartPnl", "returns")


def substance(status: Mapping[str, Any]) -> dict[str, Any]:
    """``status`` without what is written only at the paced interval."""
    kept: dict[str, Any] = {k: v for k, v in status.items() if k not in LIVE_KEYS}
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        kept["conditions"] = [_condition_substance(c) for c in conditions]
    position = status.get("position")
    if isinstance(position, Mapping):
        kept["position"] = position.get("side")
    rows = status.get("bots")
    if isinstance(rows, list):
        kept["bots"] = [
            {k: row.get(k) for k in _BOT_ROW_SUBSTANCE} if isinstance(row, Mapping) else row
            for row in rows
        ]
    return kept


def _condition_substance(condition: Any) -> Any:
    """A condition as substance: whole, unless it says only that a pod is on its way."""
    if not isinstance(condition, Mapping) or condition.get("reason") not in PROGRESS_REASONS:
        return condition
    return {k: condition.get(k) for k in ("type", "status", "observedGeneration")}


def _without_progress(status: Mapping[str, Any]) -> dict[str, Any]:
    """``status`` without the steps of a pod on its way (and its node): what is left changes
    with live figures."""
    kept: dict[str, Any] = {k: v for k, v in status.items() if k != "node"}
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        kept["conditions"] = [_condition_substance(c) for c in conditions]
    return kept


def hold_s(
    *,
    stored: Mapping[str, Any],
    new: Mapping[str, Any],
    last_written_s: float | None,
    now_s: float,
    interval_s: float,
    busy: bool = False,
) -> float:
    """How long to hold ``new`` back (0: write it now).

    ``last_written_s`` is when this process last wrote the resource's status (a monotonic
    clock), None when it has not since it started: then nothing is held. ``busy``: passes that
    act on a spec not yet reconciled are waiting (a burst of new bots); a status that tells
    nothing new then waits one more interval, so that the apiserver serves their children
    first, up to :data:`BUSY_HOLD_INTERVALS` intervals after the previous write.
    """
    if last_written_s is None or substance(stored) != substance(new):
        return 0.0
    only_progress = _without_progress(stored) == _without_progress(new)
    due = last_written_s + interval_s * (PROGRESS_INTERVALS if only_progress else 1)
    if busy:
        due = max(due, min(now_s + interval_s, last_written_s + BUSY_HOLD_INTERVALS * interval_s))
    return max(0.0, due - now_s)
