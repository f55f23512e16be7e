"""Kubernetes Events about pods, as the kubelet emits them, for ``kubectl describe pod``.

Used by the pod worker (Created, Started, Killing, BackOff, Unhealthy, Failed, FailedMount).
Repeats of the same event are folded into one object with a growing ``count``, like the kubelet's
event correlator. Events are best effort: a failure to write one is logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from tradefleet_devtools.devnode.errors import KubeApiError
from tradefleet_devtools.devnode.kube import KubeApi
from tradefleet_devtools.devnode.status import rfc3339

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]

COMPONENT = "dev-node-agent"
_REMEMBERED = 2000


@dataclass(frozen=True, kw_only=True, slots=True)
class _Seen:
    name: str
    count: int


class EventRecorder:
    def __init__(self, *, api: KubeApi) -> None:
        self._api = api
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._pending: set[asyncio.Task[None]] = set()

    def record(
        self,
        *,
        pod: JsonObject,
        node: str,
        reason: str,
        message: str,
        field_path: str = "",
        warning: bool = False,
    ) -> None:
        """Emit in the background; returns at once."""
        task = asyncio.get_running_loop().create_task(
            self._emit(
                pod=pod,
                node=node,
                reason=reason,
                message=message,
                field_path=field_path,
                kind="Warning" if warning else "Normal",
            )
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _emit(
        self, *, pod: JsonObject, node: str, reason: str, message: str, field_path: str, kind: str
    ) -> None:
        metadata = pod["metadata"]
        namespace, name = str(metadata["namespace"]), str(metadata["name"])
        key = (str(metadata.get("uid")), field_path, reason, message)
        now = rfc3339(time.time())
        events_path = f"/api/v1/namespaces/{namespace}/events"
        seen = self._seen.get(key)
        try:
            if seen is not None:
                try:
                    await asyncio.to_thread(
                        self._api.merge_patch,
                        path=f"{events_path}/{seen.name}",
                        body={"count": seen.count + 1, "lastTimestamp": now},
                    )
                    self._seen[key] = _Seen(name=seen.name, count=seen.count + 1)
                    self._seen.move_to_end(key)
                    return
                except KubeApiError as exc:
                    if not exc.not_found:
                        raise
            involved: JsonObject = {
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": namespace,
                "name": name,
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            }
            if field_path:
                involved["fieldPath"] = field_path
            event_name = f"{name}.{time.time_ns():x}"
            await asyncio.to_thread(
                self._api.create,
                path=events_path,
                body={
                    "metadata": {"name": event_name, "namespace": namespace},
                    "involvedObject": involved,
                    "reason": reason,
                    "message": message,
                    "type": kind,
                    "source": {"component": COMPONENT, "host": node},
                    "reportingComponent": COMPONENT,
                    "reportingInstance": node,
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                },
            )
            self._seen[key] = _Seen(name=event_name, count=1)
            while len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)
        except KubeApiError as exc:
            # A namespace being deleted refuses new events; that is expected, not worth a warning.
            level = logging.DEBUG if "being terminated" in exc.message else logging.WARNING
            log.log(
                level, "could not record event %s for pod %s/%s: %s", reason, namespace, name, exc
            )
