"""One pod's life on a dev node: volumes, processes, probes, restarts, status, deletion.

Used by the agent (:mod:`tradefleet_devtools.devnode.agent`), which makes one :class:`PodWorker` per
pod bound to its nodes and feeds it the pod's updates. A worker runs the init containers in order,
then every app container concurrently (one :class:`ContainerRunner` each), restarts them per
``restartPolicy`` with the kubelet's crash-loop backoff, runs their probes, and writes the pod's
status whenever something changes. A pod that cannot be run (no command, a missing ConfigMap, an
unsupported volume …) waits with the reason in its status and an Event; the worker retries, as
the kubelet does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tradefleet_devtools.devnode.backoff import BackoffPolicy
from tradefleet_devtools.devnode.containers import RETRY_S, ContainerRunner
from tradefleet_devtools.devnode.errors import KubeApiError, PodConfigError
from tradefleet_devtools.devnode.events import EventRecorder
from tradefleet_devtools.devnode.images import INVALID_IMAGE_NAME, image_problem
from tradefleet_devtools.devnode.kube import KubeApi
from tradefleet_devtools.devnode.podenv import CONFIG_ERROR, PodContext, container_env, expand
from tradefleet_devtools.devnode.probes import (
    container_probes,
)
from tradefleet_devtools.devnode.process import (
    Launch,
    termination_message_file,
)
from tradefleet_devtools.devnode.state import ContainerRecord, PodRecord, StateStore
from tradefleet_devtools.devnode.status import (
    Running,
    Waiting,
    pod_status,
)
from tradefleet_devtools.devnode.volumes import FAILED_MOUNT, PodVolumes

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]

NO_COMMAND = "NoCommand"
DEFAULT_GRACE_S = 30.0
# Variables of the agent's own environment a container process inherits (then the pod's env).
INHERITED_ENV = ("PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeRuntime:
    """What every pod worker of one agent shares."""

    api: KubeApi
    events: EventRecorder
    store: StateStore
    backoff: BackoffPolicy
    node_allocatable: Mapping[str, str]
    unshare: str
    mount: str
    nsenter: str
    base_env: Mapping[str, str]
    # KUBERNETES_SERVICE_* for every container (podenv.apiserver_service_env).
    service_env: Mapping[str, str]


def agent_base_env() -> dict[str, str]:
    return {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}


class ApiObjectSource:
    """ConfigMaps and Secrets read from the API, cached for the duration of one start."""

    def __init__(self, *, api: KubeApi) -> None:
        self._api = api
        self._cache: dict[tuple[str, str, str], JsonObject | None] = {}

    def _read(self, *, kind: str, namespace: str, name: str) -> JsonObject | None:
        key = (kind, namespace, name)
        if key not in self._cache:
            try:
                self._cache[key] = self._api.get_or_none(
                    path=f"/api/v1/namespaces/{namespace}/{kind}/{name}"
                )
            except KubeApiError as exc:
                raise PodConfigError(
                    reason=CONFIG_ERROR, message=f"cannot read {kind} {namespace}/{name}: {exc}"
                ) from exc
        return self._cache[key]

    def config_map(self, *, namespace: str, name: str) -> JsonObject | None:
        return self._read(kind="configmaps", namespace=namespace, name=name)

    def secret(self, *, namespace: str, name: str) -> JsonObject | None:
        return self._read(kind="secrets", namespace=namespace, name=name)


class PodWorker:
    """Owns one pod (by uid) on one of the agent's nodes."""

    def __init__(
        self, *, pod: JsonObject, record: PodRecord, host_ip: str, runtime: NodeRuntime
    ) -> None:
        self.pod = pod
        self.runtime = runtime
        self.uid = record.uid
        self.namespace = record.namespace
        self.name = record.name
        self.node = record.node
        self.pod_ip = record.pod_ip
        self.host_ip = host_ip
        self.start_time = record.start_time
        self.grace_s = DEFAULT_GRACE_S
        self._terminating = asyncio.Event()
        self._dirty = asyncio.Event()
        self._pod_gone = False
        self._last_status: JsonObject | None = None
        self._context = PodContext(
            pod=pod,
            pod_ip=self.pod_ip,
            host_ip=host_ip,
            node_allocatable=runtime.node_allocatable,
            service_env=runtime.service_env,
        )
        self._volumes = PodVolumes(context=self._context, root=runtime.store.volumes_dir(self.uid))
        self._volumes_ready = False
        self._refreshing: asyncio.Task[None] | None = None
        self._forget_on_stop = False
        spec = pod.get("spec", {})

        def runners(field: str, *, init: bool) -> list[ContainerRunner]:
            return [
                ContainerRunner(
                    worker=self,
                    container=c,
                    init=init,
                    record=record.containers.get(str(c.get("name")), ContainerRecord()),
                )
                for c in spec.get(field) or []
            ]

        self.init_runners = runners("initContainers", init=True)
        self.runners = runners("containers", init=False)
        if self.init_runners:
            for runner in self.runners:
                if runner.process is None:
                    runner.state = Waiting(reason="PodInitializing")
        self._main: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._stopping: asyncio.Task[None] | None = None

    @property
    def key(self) -> str:
        return f"pod {self.namespace}/{self.name}"

    @property
    def restart_policy(self) -> str:
        return str(self.pod.get("spec", {}).get("restartPolicy") or "Always")

    @property
    def terminating(self) -> bool:
        return self._terminating.is_set()

    @property
    def done(self) -> bool:
        return self._stopping is not None and self._stopping.done()

    def grace_for_pod(self) -> float:
        """The termination grace: the deletion's, else terminationGracePeriodSeconds (30 s)."""
        metadata, spec = self.pod.get("metadata", {}), self.pod.get("spec", {})
        for value in (
            metadata.get("deletionGracePeriodSeconds"),
            spec.get("terminationGracePeriodSeconds"),
        ):
            if value is not None:
                return float(value)
        return DEFAULT_GRACE_S

    def event(
        self, *, reason: str, message: str, field_path: str = "", warning: bool = False
    ) -> None:
        self.runtime.events.record(
            pod=self.pod,
            node=self.node,
            reason=reason,
            message=message,
            field_path=field_path,
            warning=warning,
        )

    def changed(self) -> None:
        self._dirty.set()

    def persist(self) -> None:
        if self._stopping is not None and self._forget_on_stop:
            return
        self.runtime.store.save(
            PodRecord(
                uid=self.uid,
                namespace=self.namespace,
                name=self.name,
                node=self.node,
                pod_ip=self.pod_ip,
                start_time=self.start_time,
                containers={r.name: r.record() for r in [*self.init_runners, *self.runners]},
            )
        )

    async def sleep(self, seconds: float) -> bool:
        """Sleep; True (early) when the pod starts stopping."""
        try:
            await asyncio.wait_for(self._terminating.wait(), timeout=max(seconds, 0.0))
        except TimeoutError:
            return False
        return True

    # -- lifecycle, driven by the agent -----------------------------------------------------------

    def start(self) -> None:
        self.persist()
        self._main = asyncio.create_task(self._run(), name=f"{self.key} main")
        self._writer = asyncio.create_task(self._write_status_loop(), name=f"{self.key} status")
        self.changed()

    def update(self, pod: JsonObject) -> None:
        """A newer version of the pod; a deletionTimestamp starts graceful termination."""
        self.pod = pod
        if pod.get("metadata", {}).get("deletionTimestamp") and self._stopping is None:
            log.info(
                "%s: deleted; stopping its containers (grace %ss)", self.key, self.grace_for_pod()
            )
            self._begin_stop(grace_s=self.grace_for_pod(), delete_object=True, forget=True)

    def refresh_volumes(self) -> None:
        """Periodic resync: rewrite ConfigMap/Secret volumes whose objects changed."""
        if (
            self._volumes_ready
            and not self.terminating
            and (self._refreshing is None or self._refreshing.done())
        ):
            self._refreshing = asyncio.create_task(self._refresh_volumes())

    def abandon(self) -> None:
        """The pod is gone from the API (force-deleted): stop its processes and forget it."""
        if self._stopping is None:
            self._pod_gone = True
            log.info("%s: gone from the API; stopping its containers", self.key)
            self._begin_stop(grace_s=self.grace_for_pod(), delete_object=False, forget=True)

    async def shutdown(self, *, grace_cap_s: float) -> None:
        """The agent is exiting: stop the containers, report them terminated, keep the record."""
        if self._stopping is None:
            self._begin_stop(
                grace_s=min(self.grace_for_pod(), grace_cap_s), delete_object=False, forget=False
            )
        assert self._stopping is not None
        await self._stopping

    def _begin_stop(self, *, grace_s: float, delete_object: bool, forget: bool) -> None:
        self.grace_s = grace_s
        self._forget_on_stop = forget
        self._terminating.set()
        self._stopping = asyncio.create_task(self._stop(delete_object=delete_object, forget=forget))

    async def _stop(self, *, delete_object: bool, forget: bool) -> None:
        runners = [*self.init_runners, *self.runners]
        await asyncio.gather(*(r.stop() for r in runners))
        if self._main is not None:
            await asyncio.gather(self._main, return_exceptions=True)
        if not forget:
            self._forget_on_stop = False
            self.persist()
        if not self._pod_gone:
            await self._write_status()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if delete_object:
            try:
                await asyncio.to_thread(
                    self.runtime.api.delete,
                    path=f"/api/v1/namespaces/{self.namespace}/pods/{self.name}",
                    body={"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}},
                )
                log.info("%s: containers stopped; pod object deleted", self.key)
            except KubeApiError as exc:
                if not exc.conflict:
                    log.warning("%s: could not delete the pod object: %s", self.key, exc)
        if forget:
            await asyncio.to_thread(self.runtime.store.forget, self.uid)

    # -- running ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            if not await self._prepare_volumes():
                return
            for runner in self.init_runners:
                ended = await runner.run()
                if ended is None or not ended.succeeded:
                    return
            await asyncio.gather(*(r.run() for r in self.runners))
        except Exception as exc:
            # A bug or an unforeseen spec must not take the agent down: show it on the pod.
            log.exception("%s: unexpected error", self.key)
            for runner in [*self.init_runners, *self.runners]:
                if not isinstance(runner.state, Running):
                    runner.state = Waiting(
                        reason="DevNodeAgentError", message=f"{type(exc).__name__}: {exc}"
                    )
            self.changed()

    async def _prepare_volumes(self) -> bool:
        last_message = ""
        while not self.terminating:
            try:
                await asyncio.to_thread(
                    self._volumes.materialise, source=ApiObjectSource(api=self.runtime.api)
                )
                self._volumes_ready = True
                return True
            except (PodConfigError, OSError) as problem:
                message = problem.message if isinstance(problem, PodConfigError) else str(problem)
                for runner in [*self.init_runners, *self.runners]:
                    if not isinstance(runner.state, Running):
                        runner.state = Waiting(reason="ContainerCreating")
                self.event(reason=FAILED_MOUNT, message=message, warning=True)
                if message != last_message:
                    log.warning("%s: %s (retrying every %ss)", self.key, message, RETRY_S)
                    last_message = message
                self.changed()
                if await self.sleep(RETRY_S):
                    return False
        return False

    async def _refresh_volumes(self) -> None:
        try:
            await asyncio.to_thread(
                self._volumes.materialise, source=ApiObjectSource(api=self.runtime.api)
            )
        except (PodConfigError, OSError) as problem:
            log.warning("%s: keeping the old volume contents: %s", self.key, problem)

    async def launch(self, runner: ContainerRunner) -> Launch:
        """Everything to start ``runner``'s container now; PodConfigError when it cannot start."""
        container = runner.container
        image_error = image_problem(
            image=str(container.get("image") or ""), failed_pulls=runner.failed_pulls
        )
        if image_error is not None:
            if image_error.reason != INVALID_IMAGE_NAME:
                runner.failed_pulls += 1
            raise image_error
        command = [str(part) for part in container.get("command") or []]
        if not command:
            raise PodConfigError(
                reason=NO_COMMAND,
                message="the dev node agent runs containers as local processes and cannot read"
                f" image entrypoints: container {runner.name} (image {container.get('image')!r},"
                " not pulled)"
                " needs an explicit command",
            )
        probes = container_probes(container)
        source = ApiObjectSource(api=self.runtime.api)
        env = await asyncio.to_thread(
            container_env, context=self._context, container=container, source=source
        )
        argv = [
            expand(part, env=env)
            for part in [*command, *(str(a) for a in container.get("args") or [])]
        ]
        mounts = await asyncio.to_thread(self._volumes.mounts_for, container=container, env=env)
        if mounts and os.geteuid() != 0:
            raise PodConfigError(
                reason="CreateContainerError",
                message="mounting volumes at their mountPath needs root; the agent runs as"
                f" uid {os.geteuid()}",
            )
        run_dir = self.runtime.store.run_dir(uid=self.uid, container=runner.name)
        working_dir = str(container.get("workingDir") or "") or None
        if os.geteuid() == 0:
            # The container's own file at terminationMessagePath, as a kubelet mounts it; without
            # root there are no mounts, and no message but the log's tail.
            mounts = [*mounts, termination_message_file(container=container, run_dir=run_dir)]
        launch = Launch(
            argv=argv,
            env={**self.runtime.base_env, "HOSTNAME": self.name, **env},
            working_dir=working_dir,
            mounts=mounts,
            run_dir=run_dir,
            termination_policy=str(container.get("terminationMessagePolicy") or "File"),
        )
        runner.probes = probes
        runner.remember_launch(launch)
        return launch

    # -- status -----------------------------------------------------------------------------------

    async def _write_status_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await asyncio.sleep(0.05)  # fold a burst of changes into one write
            try:
                written = await self._write_status()
            except Exception:
                log.exception("%s: cannot compute or write the status", self.key)
                written = False
            if not written:
                await asyncio.sleep(1.0)
                self.changed()

    async def _write_status(self) -> bool:
        """Write the status if it changed; False when the write failed and should be retried."""
        if self._pod_gone:
            return True
        # After an agent restart, the conditions it wrote before (transition times carry over).
        previous = (self._last_status or self.pod.get("status") or {}).get("conditions") or []
        status = pod_status(
            pod=self.pod,
            init=[r.view() for r in self.init_runners],
            containers=[r.view() for r in self.runners],
            pod_ip=self.pod_ip,
            host_ip=self.host_ip,
            start_time=self.start_time,
            previous_conditions=previous,
            now=time.time(),
        )
        if status == self._last_status:
            return True
        try:
            await asyncio.to_thread(
                self.runtime.api.merge_patch,
                path=f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status",
                body={"metadata": {"uid": self.uid}, "status": status},
            )
        except KubeApiError as exc:
            if exc.not_found or exc.conflict:
                self._pod_gone = True
                return True
            log.warning("%s: status update failed (will retry): %s", self.key, exc)
            return False
        self._last_status = status
        return True
