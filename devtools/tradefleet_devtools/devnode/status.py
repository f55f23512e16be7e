"""Container states and the pod status the dev node agent writes, computed the way the kubelet does.

Used by the pod worker (:mod:`tradefleet_devtools.devnode.pods`) and the state store. Pure: no I/O.
The phase follows the kubelet's ``getPhase`` (pkg/kubelet/kubelet_pods.go); the conditions are
PodScheduled (copied from the scheduler's), Initialized, ContainersReady and Ready.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JsonObject = dict[str, Any]


def rfc3339(timestamp: float) -> str:
    """A Kubernetes ``Time`` (second precision, UTC)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(timestamp: float) -> str:
    """A Kubernetes ``MicroTime`` (Lease renewTime, Event eventTime)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, kw_only=True, slots=True)
class Waiting:
    reason: str
    message: str = ""

    def to_api(self) -> JsonObject:
        waiting: JsonObject = {"reason": self.reason}
        if self.message:
            waiting["message"] = self.message
        return {"waiting": waiting}


@dataclass(frozen=True, kw_only=True, slots=True)
class Running:
    started_at: float

    def to_api(self) -> JsonObject:
        return {"running": {"startedAt": rfc3339(self.started_at)}}


@dataclass(frozen=True, kw_only=True, slots=True)
class Terminated:
    exit_code: int
    reason: str
    message: str
    started_at: float
    finished_at: float
    signal: int | None
    container_id: str

    def to_api(self) -> JsonObject:
        terminated: JsonObject = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": rfc3339(self.started_at),
            "finishedAt": rfc3339(self.finished_at),
            "containerID": self.container_id,
        }
        if self.message:
            terminated["message"] = self.message
        if self.signal:
            terminated["signal"] = self.signal
        return {"terminated": terminated}

    def to_json(self) -> JsonObject:
        return {
            "exit_code": self.exit_code,
            "reason": self.reason,
            "message": self.message,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "signal": self.signal,
            "container_id": self.container_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Terminated:
        return cls(
            exit_code=int(data["exit_code"]),
            reason=str(data["reason"]),
            message=str(data.get("message", "")),
            started_at=float(data["started_at"]),
            finished_at=float(data["finished_at"]),
            signal=int(data["signal"]) if data.get("signal") else None,
            container_id=str(data.get("container_id", "")),
        )

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


ContainerState = Waiting | Running | Terminated


@dataclass(frozen=True, kw_only=True, slots=True)
class ContainerView:
    """What the status shows about one container."""

    name: str
    image: str
    state: ContainerState
    last_terminated: Terminated | None
    ready: bool
    started: bool
    restart_count: int
    container_id: str

    def to_api(self) -> JsonObject:
        status: JsonObject = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state.to_api(),
            "lastState": self.last_terminated.to_api() if self.last_terminated else {},
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


# Over the complexity limit on purpose: mirrors the kubelet's getPhase branch for branch.
def pod_phase(  # noqa: C901, PLR0912
    *, init: Sequence[ContainerView], containers: Sequence[ContainerView], restart_policy: str
) -> str:
    """The kubelet's getPhase, over the views of the pod's init and app containers."""
    pending_init = 0
    failed_init = 0
    for view in init:
        state = view.state
        if isinstance(state, Terminated):
            failed_init += 0 if state.succeeded else 1
        elif isinstance(state, Waiting) and view.last_terminated is not None:
            failed_init += 0 if view.last_terminated.succeeded else 1
        else:
            pending_init += 1
    running = waiting = stopped = succeeded = 0
    for view in containers:
        state = view.state
        if isinstance(state, Running):
            running += 1
        elif isinstance(state, Terminated):
            stopped += 1
            succeeded += 1 if state.succeeded else 0
        elif view.last_terminated is not None:
            stopped += 1
        else:
            waiting += 1
    if failed_init > 0 and restart_policy == "Never":
        return "Failed"
    if pending_init > 0 or waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if restart_policy == "Never" else "Running"
    return "Pending"


def _condition(
    *,
    kind: str,
    ok: bool,
    reason: str,
    message: str,
    now: float,
    previous: Mapping[str, JsonObject],
) -> JsonObject:
    status = "True" if ok else "False"
    before = previous.get(kind)
    moved_at = (
        before["lastTransitionTime"]
        if before is not None
        and before.get("status") == status
        and before.get("lastTransitionTime")
        else rfc3339(now)
    )
    condition: JsonObject = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": moved_at,
    }
    if not ok:
        condition["reason"] = reason
        condition["message"] = message
    return condition


def pod_status(
    *,
    pod: JsonObject,
    init: Sequence[ContainerView],
    containers: Sequence[ContainerView],
    pod_ip: str,
    host_ip: str,
    start_time: float,
    previous_conditions: Sequence[JsonObject],
    now: float,
) -> JsonObject:
    """The full ``status`` of a pod, for a JSON merge patch (lists are replaced wholesale).

    ``previous_conditions`` are the conditions written last, whose transition times are kept while
    their status does not change; PodScheduled is the scheduler's, copied from ``pod``.
    """
    restart_policy = str(pod.get("spec", {}).get("restartPolicy") or "Always")
    phase = pod_phase(init=init, containers=containers, restart_policy=restart_policy)
    previous = {str(c.get("type")): c for c in previous_conditions}
    from_scheduler = {str(c.get("type")): c for c in pod.get("status", {}).get("conditions") or []}
    incomplete = [
        v.name for v in init if not (isinstance(v.state, Terminated) and v.state.succeeded)
    ]
    unready = [v.name for v in containers if not v.ready]
    completed = phase == "Succeeded"
    ready_reason = "PodCompleted" if completed else "ContainersNotReady"
    ready_message = "" if completed else f"containers with unready status: [{' '.join(unready)}]"
    scheduled = from_scheduler.get("PodScheduled") or {
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": None,
        "lastTransitionTime": rfc3339(start_time),
    }
    conditions = [
        _condition(
            kind="Initialized",
            ok=not incomplete,
            reason="PodCompleted" if completed else "ContainersNotInitialized",
            message=f"containers with incomplete status: [{' '.join(incomplete)}]",
            now=now,
            previous=previous,
        ),
        _condition(
            kind="Ready",
            ok=not unready and not completed,
            reason=ready_reason,
            message=ready_message,
            now=now,
            previous=previous,
        ),
        _condition(
            kind="ContainersReady",
            ok=not unready and not completed,
            reason=ready_reason,
            message=ready_message,
            now=now,
            previous=previous,
        ),
        scheduled,
    ]
    status: JsonObject = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": rfc3339(start_time),
        "containerStatuses": [v.to_api() for v in containers],
    }
    if init:
        status["initContainerStatuses"] = [v.to_api() for v in init]
    return status
