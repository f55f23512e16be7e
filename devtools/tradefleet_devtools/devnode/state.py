"""The dev node agent's state directory: what it needs to pick up its pods after its own restart.

Used by the agent and the pod worker (writes) and by the launcher (reads, to find a container's pid
or log and to clean up after a killed agent). Layout under ``<state-dir>``::

    agent.json                                   pid of the running agent, written once it is ready
    pods/<uid>/record.json                       pod IP, and per container: restarts, running
                                                 instance (shim pid + kernel start time), last exit
    pods/<uid>/volumes/<volume>/                 materialised volumes
    pods/<uid>/containers/<name>/                the shim's launch.json, command.pid, exit.json
    logs/<namespace>_<pod>_<uid>/<container>/<restartCount>.log   stdout+stderr, kept after deletion
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradefleet_devtools.devnode.process import PID_FILE, Identity
from tradefleet_devtools.devnode.status import Terminated

log = logging.getLogger(__name__)

RECORD_FILE = "record.json"
AGENT_FILE = "agent.json"


@dataclass(frozen=True, kw_only=True, slots=True)
class ContainerRecord:
    restart_count: int = 0
    running: Identity | None = None
    last_terminated: Terminated | None = None
    final: Terminated | None = None
    """Set when the container will not run again (a completed init container, restartPolicy)."""
    backoff_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "restart_count": self.restart_count,
            "running": self.running.to_json() if self.running else None,
            "last_terminated": self.last_terminated.to_json() if self.last_terminated else None,
            "final": self.final.to_json() if self.final else None,
            "backoff_s": self.backoff_s,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContainerRecord:
        return cls(
            restart_count=int(data.get("restart_count", 0)),
            running=Identity.from_json(data["running"]) if data.get("running") else None,
            last_terminated=Terminated.from_json(data["last_terminated"])
            if data.get("last_terminated")
            else None,
            final=Terminated.from_json(data["final"]) if data.get("final") else None,
            backoff_s=float(data["backoff_s"]) if data.get("backoff_s") is not None else None,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class PodRecord:
    uid: str
    namespace: str
    name: str
    node: str
    pod_ip: str
    start_time: float
    containers: dict[str, ContainerRecord] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "namespace": self.namespace,
            "name": self.name,
            "node": self.node,
            "pod_ip": self.pod_ip,
            "start_time": self.start_time,
            "containers": {name: c.to_json() for name, c in self.containers.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PodRecord:
        return cls(
            uid=str(data["uid"]),
            namespace=str(data["namespace"]),
            name=str(data["name"]),
            node=str(data["node"]),
            pod_ip=str(data["pod_ip"]),
            start_time=float(data["start_time"]),
            containers={
                str(name): ContainerRecord.from_json(c)
                for name, c in (data.get("containers") or {}).items()
            },
        )


def _write_json(*, path: Path, content: Mapping[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(content, indent=1))
    temporary.replace(path)


class StateStore:
    def __init__(self, *, root: Path) -> None:
        self.root = root

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def pod_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid

    def volumes_dir(self, uid: str) -> Path:
        return self.pod_dir(uid) / "volumes"

    def run_dir(self, *, uid: str, container: str) -> Path:
        return self.pod_dir(uid) / "containers" / container

    def log_path(
        self, *, namespace: str, name: str, uid: str, container: str, restart_count: int
    ) -> Path:
        """Where one container instance's output goes, as the kubelet lays out /var/log/pods."""
        return self.logs_dir / f"{namespace}_{name}_{uid}" / container / f"{restart_count}.log"

    def save(self, record: PodRecord) -> None:
        directory = self.pod_dir(record.uid)
        directory.mkdir(parents=True, exist_ok=True)
        _write_json(path=directory / RECORD_FILE, content=record.to_json())

    def load_all(self) -> dict[str, PodRecord]:
        """Every pod record; an unreadable one is logged and skipped (its pod starts afresh)."""
        records: dict[str, PodRecord] = {}
        for path in sorted((self.root / "pods").glob(f"*/{RECORD_FILE}")):
            try:
                record = PodRecord.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable pod record %s: %s", path, exc)
                continue
            records[record.uid] = record
        return records

    def find(self, *, namespace: str, name: str) -> PodRecord | None:
        """The newest record of the pod called ``namespace/name`` (names are reused across uids)."""
        matching = [
            r for r in self.load_all().values() if (r.namespace, r.name) == (namespace, name)
        ]
        return max(matching, key=lambda r: r.start_time, default=None)

    def command_pid(self, *, uid: str, container: str) -> int | None:
        try:
            return int((self.run_dir(uid=uid, container=container) / PID_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def forget(self, uid: str) -> None:
        """Remove a pod's record, volumes and run files; its logs stay for the user."""
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)

    def mark_ready(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _write_json(path=self.root / AGENT_FILE, content={"pid": os.getpid()})

    def clear_ready(self) -> None:
        (self.root / AGENT_FILE).unlink(missing_ok=True)

    def ready_pid(self) -> int | None:
        try:
            return int(json.loads((self.root / AGENT_FILE).read_text())["pid"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
