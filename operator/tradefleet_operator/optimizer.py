"""When to run a bot's optimization Job and which finished result its next revision adopts.

Pure functions called by the reconciler. A Job runs at each slot of ``spec.optimizer.schedule``
(missed slots collapse into one) or when the ``tradefleet.io/optimize-now`` annotation gets a new
value. A Job writes its result as a ConfigMap; a result is adopted only if its best parameters beat
the running ones out of sample and it was computed against the parameters the spec still has, so a
user's later edit always wins over an older optimization.

A result is trusted only if the bot's own optimization Job wrote it (:func:`verified_result_maps`):
the ConfigMap is owned by one of the bot's Jobs (name and UID) and carries the digest the Job
computes, an HMAC keyed by the bot's control token, which a mere ConfigMap writer cannot read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradefleet_api import content_hash

from tradefleet_operator.conditions import format_time, parse_time
from tradefleet_operator.render import RESULT_FILE
from tradefleet_operator.spec import OptimizerSpec
from tradefleet_operator.spec.schedule import next_fire_time

ANNOTATION_OPTIMIZE_NOW = "tradefleet.io/optimize-now"
# The HMAC a Job signs its result with (tradefleet_runtime.jobs.optimize computes the same).
ANNOTATION_RESULT_DIGEST = "tradefleet.io/optimizer-digest"


def result_digest(*, key: str, job: str, job_uid: str, payload: str) -> str:
    """HMAC-SHA256, keyed by the bot's control token, of the Job's name and UID and the result."""
    message = f"{job}\n{job_uid}\n{payload}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _trusted(*, cm: Mapping[str, Any], jobs: Mapping[str, str], key: str) -> bool:
    meta = cm.get("metadata") or {}
    payload = str((cm.get("data") or {}).get(RESULT_FILE, ""))
    digest = str((meta.get("annotations") or {}).get(ANNOTATION_RESULT_DIGEST, ""))
    for ref in meta.get("ownerReferences") or []:
        job, uid = str(ref.get("name") or ""), str(ref.get("uid") or "")
        if (
            ref.get("kind") == "Job"
            and jobs.get(job) == uid
            and meta.get("name") == f"{job}-result"
            and hmac.compare_digest(
                digest, result_digest(key=key, job=job, job_uid=uid, payload=payload)
            )
        ):
            return True
    return False


def verified_result_maps(
    *,
    config_maps: Sequence[Mapping[str, Any]],
    jobs: Sequence[Mapping[str, Any]],
    key: str | None,
) -> list[Mapping[str, Any]]:
    """The result ConfigMaps the bot's own Jobs wrote: owned by one of ``jobs`` (its name and
    UID) and signed with ``key`` (the bot's control token); none without a key."""
    if key is None:
        return []
    uids = {str(j["metadata"]["name"]): str(j["metadata"].get("uid") or "") for j in jobs}
    return [cm for cm in config_maps if _trusted(cm=cm, jobs=uids, key=key)]


def parameters_hash(raw_spec: Mapping[str, Any]) -> str:
    """Identity of the strategy parameters an optimization starts from."""
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
        # Only the latest missed slot runs: a backlog of optimizations helps nobody.
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
    """One finished optimization, as its Job wrote it."""

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
    """The spec with an optimization's parameters laid over ``strategy.parameters``."""
    strategy = dict(raw_spec.get("strategy") or {})
    strategy["parameters"] = {**(strategy.get("parameters") or {}), **parameters}
    return {**raw_spec, "strategy": strategy}


@dataclass(frozen=True, kw_only=True, slots=True)
class FinishedJob:
    """An optimization Job that has ended, and how."""

    name: str
    failed: bool
    at: str  # when it ended (RFC 3339)
    reason: str
    message: str


def finished_jobs(
    *, jobs: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]]
) -> list[FinishedJob]:
    """Every Job that has ended, newest first; a failed one says why, with its pod's last
    termination message (the optimizer writes its fatal error there, else its log's tail)."""
    ended = []
    for job in jobs:
        conditions = (job.get("status") or {}).get("conditions") or []
        end = next(
            (
                c
                for c in conditions
                if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            ),
            None,
        )
        if end is None:
            continue
        name = str(job["metadata"]["name"])
        failed = end.get("type") == "Failed"
        message = str(end.get("message") or "")
        if failed:
            last_words = _pod_message(job=name, pods=pods)
            message = (
                f"{message}: {last_words}" if message and last_words else message or last_words
            )
        ended.append(
            FinishedJob(
                name=name,
                failed=failed,
                at=str(end.get("lastTransitionTime") or ""),
                reason=str(end.get("reason") or ("Failed" if failed else "Complete")),
                message=message[:2048],
            )
        )
    return sorted(ended, key=lambda j: (j.at, j.name), reverse=True)


def _pod_message(*, job: str, pods: Sequence[Mapping[str, Any]]) -> str:
    for pod in pods:
        owners = (pod.get("metadata") or {}).get("ownerReferences") or []
        if not any(o.get("kind") == "Job" and o.get("name") == job for o in owners):
            continue
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated") or (
                status.get("lastState") or {}
            ).get("terminated")
            if terminated and terminated.get("message"):
                return " ".join(str(terminated["message"]).split())[-1024:]
    return ""


def expired_jobs(
    *, finished: Sequence[FinishedJob], ttl_s: float, now: datetime, keep: frozenset[str]
) -> list[str]:
    """The finished Jobs to delete: all but the newest, and the newest too once ``ttl_s`` old
    (clusters without the TTL controller keep them forever otherwise); never one in ``keep``, a
    Job whose result is kept: its result is trusted only while it exists (it owns the result)."""
    expired = [job.name for job in finished[1:]]
    if finished:
        ended = parse_time(finished[0].at)
        if ended is not None and (now - ended).total_seconds() > ttl_s:
            expired.append(finished[0].name)
    return [name for name in expired if name not in keep]
