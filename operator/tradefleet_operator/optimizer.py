"""When to run a bot's optimisation Job and which finished result its next revision adopts.

Pure functions called by the reconciler. A Job runs at each slot of ``spec.optimizer.schedule``
(missed slots collapse into one) or when the ``tradefleet.io/optimize-now`` annotation gets a new
value. A Job writes its result as a ConfigMap; a result is adopted only if its best parameters beat
the running ones out of sample and it was computed against the parameters the spec still has, so a
user's later edit always wins over an older optimisation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradefleet_operator.conditions import format_time, parse_time
from tradefleet_operator.render import RESULT_FILE, content_hash
from tradefleet_operator.spec import OptimizerSpec
from tradefleet_operator.spec.schedule import next_fire_time

ANNOTATION_OPTIMIZE_NOW = "tradefleet.io/optimize-now"


def parameters_hash(raw_spec: Mapping[str, Any]) -> str:
    """Identity of the strategy parameters an optimisation starts from."""
    return content_hash((raw_spec.get("strategy") or {}).get("parameters") or {})


@dataclass(frozen=True, kw_only=True, slots=True)
class Schedule:
    """The run to start now (a slot or an on-demand request), if any, and the next slot."""

    run_now: str | None
    next_run_at: str


def due_run(
    *,
    spec: OptimizerSpec,
    previous: Mapping[str, Any],
    annotations: Mapping[str, str],
    created_at: datetime,
    now: datetime,
) -> Schedule:
    last = str(previous.get("lastScheduledAt") or "")
    requested = annotations.get(ANNOTATION_OPTIMIZE_NOW)
    if requested and f"request-{requested}" != last:
        after = parse_time(previous.get("nextRunAt")) or now
        return Schedule(run_now=f"request-{requested}", next_run_at=format_time(max(after, now)))
    since = parse_time(last) or created_at
    slot = next_fire_time(expression=spec.schedule, after=since)
    if slot <= now:
        # Only the latest missed slot runs: a backlog of optimisations helps nobody.
        latest = slot
        while (following := next_fire_time(expression=spec.schedule, after=latest)) <= now:
            latest = following
        return Schedule(
            run_now=format_time(latest),
            next_run_at=format_time(next_fire_time(expression=spec.schedule, after=latest)),
        )
    return Schedule(run_now=None, next_run_at=format_time(slot))


@dataclass(frozen=True, kw_only=True, slots=True)
class OptimizerResult:
    """One finished optimisation, as its Job wrote it."""

    job: str
    created_at: str
    beats_current: bool
    based_on: str
    parameters: Mapping[str, Any]
    message: str


def read_results(config_maps: Sequence[Mapping[str, Any]]) -> list[OptimizerResult]:
    """Every readable result, newest first; a malformed one is skipped, never trusted."""
    results = []
    for cm in config_maps:
        try:
            payload = json.loads((cm.get("data") or {}).get(RESULT_FILE, ""))
            results.append(
                OptimizerResult(
                    job=str(payload["job"]),
                    created_at=str(cm["metadata"].get("creationTimestamp") or ""),
                    beats_current=bool(payload["beatsCurrentOutOfSample"]),
                    based_on=str(payload["basedOnParameters"]),
                    parameters=dict(payload["bestParameters"]),
                    message=str(payload.get("summary") or "")[:2048],
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(results, key=lambda r: (r.created_at, r.job), reverse=True)


def adopted_result(
    *, results: Sequence[OptimizerResult], raw_spec: Mapping[str, Any]
) -> OptimizerResult | None:
    """The newest result that beat the current parameters, computed against the spec's parameters."""
    current = parameters_hash(raw_spec)
    return next((r for r in results if r.beats_current and r.based_on == current), None)


def with_parameters(
    *, raw_spec: Mapping[str, Any], parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """The spec with an optimisation's parameters laid over ``strategy.parameters``."""
    strategy = dict(raw_spec.get("strategy") or {})
    strategy["parameters"] = {**(strategy.get("parameters") or {}), **parameters}
    return {**raw_spec, "strategy": strategy}
