"""Runs a bot's optimization Jobs and reports them in ``status.optimizer``.

Called by the reconciler (:mod:`tradefleet_operator.reconcile`) once per pass of a bot whose
optimization is enabled (or requested by annotation). When to run and which result to adopt is
decided in :mod:`tradefleet_operator.optimizer`; this module creates the Job that is due, reports
the newest result and the newest failure (a Warning event once per failed Job), and deletes old
result ConfigMaps and finished Jobs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradefleet_operator.conditions import parse_time
from tradefleet_operator.optimizer import (
    FinishedJob,
    OptimizerResult,
    due_run,
    expired_jobs,
    finished_jobs,
    parameters_hash,
)
from tradefleet_operator.outcome import Event, normal, warning
from tradefleet_operator.render import Owner
from tradefleet_operator.render_optimizer import OPTIMIZER_JOB_TTL_S, render_optimizer_job
from tradefleet_operator.spec import TradingBotSpec
from tradefleet_operator.spec.vocabulary import Reason
from tradefleet_operator.writes import ChildWriter

# Results kept besides the adopted one; older ones only clutter the namespace.
KEPT_RESULTS = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class OptimizerRun:
    """The new ``status.optimizer``, the events of the pass and how many objects it wrote."""

    status: Mapping[str, Any]
    events: tuple[Event, ...]
    writes: int


@dataclass(frozen=True, kw_only=True, slots=True)
class OptimizerInputs:
    owner: Owner
    spec: TradingBotSpec
    raw_spec: Mapping[str, Any]
    body: Mapping[str, Any]
    results: Sequence[OptimizerResult]
    adopted: OptimizerResult | None
    result_maps: Sequence[Mapping[str, Any]]
    # The bot's optimization Jobs and its pods (a Job's are found by their owner), as indexed.
    jobs: Sequence[Mapping[str, Any]]
    pods: Sequence[Mapping[str, Any]]
    now: datetime
    enabled: bool


async def run_optimizer(*, writer: ChildWriter, inputs: OptimizerInputs) -> OptimizerRun:
    """Start the optimization Job that is due and report the results (status.optimizer)."""
    status = dict((inputs.body.get("status") or {}).get("optimizer") or {})
    events: list[Event] = []
    writes = 0
    if inputs.enabled:
        started, started_events = await _start_due(writer=writer, inputs=inputs, status=status)
        writes += started
        events.extend(started_events)
    results, adopted = inputs.results, inputs.adopted
    if results:
        newest = results[0]
        if (status.get("lastResult") or {}).get("job") != newest.job:
            verdict = "beats" if newest.beats_current else "does not beat"
            events.append(
                normal(
                    Reason.OPTIMIZATION_FINISHED,
                    f"{newest.job} {verdict} the running parameters: {newest.message}",
                )
            )
        status["lastResult"] = {
            "job": newest.job,
            "beatsCurrent": newest.beats_current,
            "message": newest.message,
        }
    if adopted is not None:
        status["appliedJob"] = adopted.job
    else:
        status.pop("appliedJob", None)
    finished = finished_jobs(jobs=inputs.jobs, pods=inputs.pods)
    events.extend(_report_failure(status=status, finished=finished))
    keep = {r.job for r in results[:KEPT_RESULTS]} | ({adopted.job} if adopted else set())
    for job in expired_jobs(
        finished=finished, ttl_s=OPTIMIZER_JOB_TTL_S, now=inputs.now, keep=frozenset(keep)
    ):
        if await writer.delete(kind="Job", namespace=inputs.owner.namespace, name=job):
            writes += 1
    events.extend(_rejected(result_maps=inputs.result_maps, results=results))
    for cm in inputs.result_maps:
        job_name = str(cm["metadata"]["name"]).removesuffix("-result")
        if job_name not in keep and await writer.delete(
            kind="ConfigMap", namespace=inputs.owner.namespace, name=cm["metadata"]["name"]
        ):
            writes += 1
    return OptimizerRun(status=status, events=tuple(events), writes=writes)


def _rejected(
    *, result_maps: Sequence[Mapping[str, Any]], results: Sequence[OptimizerResult]
) -> list[Event]:
    """A Warning for each result ConfigMap not verified as the bot's own Job's (or unreadable):
    never adopted, and deleted with the results not kept, so each is reported once."""
    trusted = {f"{r.job}-result" for r in results}
    return [
        warning(
            Reason.OPTIMIZATION_RESULT_REJECTED,
            f"ConfigMap {cm['metadata']['name']} ignored: not written by this bot's optimization "
            "Job (no ownerReference to the Job with its UID, or no valid digest), or unreadable",
        )
        for cm in result_maps
        if cm["metadata"]["name"] not in trusted
    ]


def _report_failure(*, status: dict[str, Any], finished: Sequence[FinishedJob]) -> list[Event]:
    """``status.optimizer.lastFailure``: the newest failed Job, and a Warning event once for it."""
    failed = next((job for job in finished if job.failed), None)
    if failed is None:
        return []
    known = (status.get("lastFailure") or {}).get("job") == failed.name
    status["lastFailure"] = {
        "job": failed.name,
        "reason": failed.reason,
        "message": failed.message,
        **({"at": failed.at} if failed.at else {}),
    }
    if known:
        return []
    return [
        warning(
            Reason.OPTIMIZATION_FAILED,
            f"Job {failed.name} failed ({failed.reason}): {failed.message}",
        )
    ]


async def _start_due(
    *, writer: ChildWriter, inputs: OptimizerInputs, status: dict[str, Any]
) -> tuple[int, list[Event]]:
    """Create the Job of the run that is due, if one is; update ``status`` in place."""
    body = inputs.body
    created = parse_time(body["metadata"].get("creationTimestamp")) or inputs.now
    schedule = due_run(
        spec=inputs.spec.optimizer,
        previous=status,
        annotations=body["metadata"].get("annotations") or {},
        created_at=created,
        now=inputs.now,
    )
    writes = 0
    events: list[Event] = []
    if schedule.run_now is not None:
        job = render_optimizer_job(
            owner=inputs.owner,
            spec=inputs.spec,
            run=schedule.run_now,
            based_on=parameters_hash(inputs.raw_spec),
            settings=writer.settings,
        )
        if await writer.create(body=job):
            writes += 1
        status.update(lastScheduledAt=schedule.run_now, lastJob=job["metadata"]["name"])
        events.append(
            normal(
                Reason.OPTIMIZATION_STARTED, f"Job {job['metadata']['name']} ({schedule.run_now})"
            )
        )
    if inputs.spec.optimizer.enabled:
        status["nextRunAt"] = schedule.next_run_at
    else:
        status.pop("nextRunAt", None)
    return writes, events
