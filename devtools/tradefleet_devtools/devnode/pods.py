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
from pathlib import Path
from typing import Any

from tradefleet_devtools.devnode.backoff import BackoffPolicy, restart_wanted
from tradefleet_devtools.devnode.errors import KubeApiError, PodConfigError
from tradefleet_devtools.devnode.events import EventRecorder
from tradefleet_devtools.devnode.images import INVALID_IMAGE_NAME, image_problem
from tradefleet_devtools.devnode.kube import KubeApi
from tradefleet_devtools.devnode.podenv import CONFIG_ERROR, PodContext, container_env, expand
from tradefleet_devtools.devnode.probes import (
    ExecContext,
    ProbeOutcome,
    ProbeSpec,
    container_probes,
    run_probe,
)
from tradefleet_devtools.devnode.process import (
    ContainerProcess,
    Identity,
    Launch,
    read_termination,
    termination_message_file,
)
from tradefleet_devtools.devnode.state import ContainerRecord, PodRecord, StateStore
from tradefleet_devtools.devnode.status import (
    ContainerState,
    ContainerView,
    Running,
    Terminated,
    Waiting,
    pod_status,
)
from tradefleet_devtools.devnode.volumes import FAILED_MOUNT, PodVolumes

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]

NO_COMMAND = "NoCommand"
RETRY_S = 2.0
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


def _format_duration(seconds: float) -> str:
    """Go's time.Duration style, as in the kubelet's back-off message (``10s``, ``5m0s``)."""
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


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


class ContainerRunner:
    """Runs one container (app or init) of a pod: start, supervise, restart; holds its status."""

    def __init__(
        self, *, worker: PodWorker, container: JsonObject, init: bool, record: ContainerRecord
    ) -> None:
        self.worker = worker
        self.container = container
        self.name = str(container.get("name", ""))
        self.init = init
        self.restart_count = record.restart_count
        self.last_terminated = record.last_terminated
        self.final = record.final
        self.backoff_s = record.backoff_s
        self.state: ContainerState = Waiting(reason="ContainerCreating")
        self.ready = False
        self.started = False
        self.process: ContainerProcess | None = None
        self.probes: dict[str, ProbeSpec] = {}
        self._launch: Launch | None = None
        self._ended_away: Terminated | None = None
        # Pulls of an image that cannot be pulled so far (ErrImagePull, then ImagePullBackOff).
        self.failed_pulls = 0
        if self.final is not None:
            self.state = self.final
        elif record.running is not None:
            self._adopt(record.running)

    @property
    def field_path(self) -> str:
        return f"spec.{'initContainers' if self.init else 'containers'}{{{self.name}}}"

    @property
    def restart_policy(self) -> str:
        policy = self.worker.restart_policy
        return policy if not self.init or policy == "Never" else "OnFailure"

    def _adopt(self, identity: Identity) -> None:
        """Take over an instance started before the agent restarted, or learn how it ended."""
        run_dir = self.worker.runtime.store.run_dir(uid=self.worker.uid, container=self.name)
        process = ContainerProcess.adopt(identity=identity, run_dir=run_dir)
        if process is None:
            self._ended_away = read_termination(
                identity=identity, run_dir=run_dir, shim_returncode=None, killed=False
            )
            log.info(
                "%s: container %s ended while the agent was away (%s, exit %s)",
                self.worker.key,
                self.name,
                self._ended_away.reason,
                self._ended_away.exit_code,
            )
            return
        self.process = process
        self.state = Running(started_at=identity.started_at)
        # Probes of an adopted container start over; until they pass, the container is not ready.
        try:
            self.probes = container_probes(self.container)
        except PodConfigError:
            self.probes = {}
        self.started = "startup" not in self.probes
        self.ready = self.started and "readiness" not in self.probes
        log.info(
            "%s: adopted running container %s (process group %s)",
            self.worker.key,
            self.name,
            identity.shim_pid,
        )

    def record(self) -> ContainerRecord:
        return ContainerRecord(
            restart_count=self.restart_count,
            running=self.process.identity if self.process is not None else None,
            last_terminated=self.last_terminated,
            final=self.final,
            backoff_s=self.backoff_s,
        )

    def view(self) -> ContainerView:
        container_id = ""
        if self.process is not None:
            container_id = self.process.container_id
        elif isinstance(self.state, Terminated):
            container_id = self.state.container_id
        return ContainerView(
            name=self.name,
            image=str(self.container.get("image", "")),
            state=self.state,
            last_terminated=self.last_terminated,
            ready=self.ready and isinstance(self.state, Running),
            started=self.started and isinstance(self.state, Running),
            restart_count=self.restart_count,
            container_id=container_id,
        )

    def _changed(self) -> None:
        self.worker.changed()

    # Over the complexity limit on purpose: the container's restart loop, one branch per way a run
    # ends.
    async def run(self) -> Terminated | None:  # noqa: C901
        """Run until the container ends for good; its final termination (None: pod stopping)."""
        worker = self.worker
        if self.final is not None:
            self.state = self.final
            return self.final
        while True:
            ended: Terminated | None = None
            if self._ended_away is not None:
                ended, self._ended_away = self._ended_away, None
            elif self.process is None:
                if worker.terminating:
                    return None
                process = await self._start()
                if process is None:
                    if await worker.sleep(RETRY_S):
                        return None
                    continue
            if ended is None:
                ended = await self._supervise()
            final = not worker.terminating and not restart_wanted(
                restart_policy=self.restart_policy, exit_code=ended.exit_code
            )
            self._ended(ended, final=final)
            if worker.terminating:
                return None
            if final:
                return ended
            if await self._back_off(ended):
                return None

    async def _start(self) -> ContainerProcess | None:
        worker = self.worker
        try:
            launch = await worker.launch(self)
        except PodConfigError as problem:
            self._waiting(reason=problem.reason, message=problem.message)
            return None
        if self.last_terminated is not None:
            self.restart_count += 1
        log_path = worker.runtime.store.log_path(
            namespace=worker.namespace,
            name=worker.name,
            uid=worker.uid,
            container=self.name,
            restart_count=self.restart_count,
        )
        try:
            process = ContainerProcess.spawn(
                launch=launch,
                log_path=log_path,
                unshare=worker.runtime.unshare,
                mount=worker.runtime.mount,
            )
        except OSError as exc:
            self._waiting(reason="RunContainerError", message=f"cannot start the shim: {exc}")
            return None
        self.process = process
        self.state = Running(started_at=process.identity.started_at)
        self.started = "startup" not in self.probes
        self.ready = self.started and "readiness" not in self.probes
        worker.persist()
        self._changed()
        worker.event(
            reason="Created", message=f"Created container {self.name}", field_path=self.field_path
        )
        worker.event(
            reason="Started",
            message=f"Started container {self.name} (process group {process.identity.shim_pid},"
            f" output in {log_path})",
            field_path=self.field_path,
        )
        log.info(
            "%s: started container %s: %s (process group %s, log %s)",
            worker.key,
            self.name,
            " ".join(launch.argv),
            process.identity.shim_pid,
            log_path,
        )
        return process

    def _waiting(self, *, reason: str, message: str) -> None:
        if self.state != Waiting(reason=reason, message=message):
            self.worker.event(
                reason="Failed",
                message=f"Error: {message}",
                field_path=self.field_path,
                warning=True,
            )
            log.warning(
                "%s: container %s cannot start: %s: %s", self.worker.key, self.name, reason, message
            )
        self.state = Waiting(reason=reason, message=message)
        self._changed()

    async def _supervise(self) -> Terminated:
        process = self.process
        assert process is not None, "supervise needs a running instance"
        if self.worker.terminating:
            return await process.stop(grace_s=self.worker.grace_s)
        probing = asyncio.create_task(self._probe(process)) if self.probes else None
        try:
            return await process.wait()
        finally:
            if probing is not None:
                probing.cancel()
                await asyncio.gather(probing, return_exceptions=True)

    def _ended(self, ended: Terminated, *, final: bool) -> None:
        """Record an instance's end. Like the kubelet, lastState shows it only once the container
        is to run again; a final end is the state, and lastState keeps the instance before."""
        self.process = None
        self.ready = False
        self.started = False
        self.state = ended
        if final:
            self.final = ended
        else:
            self.last_terminated = ended
        self.worker.persist()
        self._changed()
        log.info(
            "%s: container %s exited: %s, code %s",
            self.worker.key,
            self.name,
            ended.reason,
            ended.exit_code,
        )

    async def _back_off(self, ended: Terminated) -> bool:
        """Wait out the crash-loop backoff; True when the pod started stopping meanwhile."""
        delay = self.worker.runtime.backoff.after_exit(
            backoff_s=self.backoff_s, ran_for_s=ended.finished_at - ended.started_at
        )
        self.backoff_s = delay.next_backoff_s
        self.worker.persist()
        wait_s = ended.finished_at + delay.delay_s - time.time()
        if wait_s <= 0:
            return False
        self.state = Waiting(
            reason="CrashLoopBackOff",
            message=f"back-off {_format_duration(delay.delay_s)} restarting failed"
            f" container={self.name}"
            f" pod={self.worker.name}_{self.worker.namespace}({self.worker.uid})",
        )
        self._changed()
        self.worker.event(
            reason="BackOff",
            message="Back-off restarting failed container",
            field_path=self.field_path,
            warning=True,
        )
        return await self.worker.sleep(wait_s)

    def remember_launch(self, launch: Launch) -> None:
        self._launch = launch

    async def stop(self) -> None:
        """Stop the running instance (the run loop records how it ended)."""
        if self.process is not None and not self.process.finished:
            self.worker.event(
                reason="Killing",
                message=f"Stopping container {self.name}",
                field_path=self.field_path,
            )
            await self.process.stop(grace_s=self.worker.grace_s)

    # -- probes -----------------------------------------------------------------------------------

    async def _exec_context(self, process: ContainerProcess) -> ExecContext:
        """Where exec probes run: the instance's environment, working dir and mount namespace."""
        launch = self._launch
        if launch is None:
            # Adopted from an earlier agent run: rebuild what the command was started with.
            try:
                launch = await self.worker.launch(self)
            except PodConfigError as problem:
                log.warning(
                    "%s: exec probes of %s run without the pod env: %s",
                    self.worker.key,
                    self.name,
                    problem,
                )
                run_dir = self.worker.runtime.store.run_dir(
                    uid=self.worker.uid, container=self.name
                )
                launch = Launch(
                    argv=[],
                    env=dict(self.worker.runtime.base_env),
                    working_dir=None,
                    run_dir=run_dir,
                )
        return ExecContext(
            env=launch.env,
            working_dir=Path(launch.working_dir) if launch.working_dir else launch.run_dir,
            namespace_pid=process.identity.shim_pid if launch.namespace_needed else None,
            nsenter=self.worker.runtime.nsenter,
        )

    async def _probe(self, process: ContainerProcess) -> None:
        context = await self._exec_context(process)
        startup = self.probes.get("startup")
        if startup is not None and not await self._probe_loop(
            spec=startup, process=process, context=context
        ):
            return
        loops = [
            self._probe_loop(spec=spec, process=process, context=context)
            for kind, spec in self.probes.items()
            if kind != "startup"
        ]
        await asyncio.gather(*loops)

    async def _probe_loop(
        self, *, spec: ProbeSpec, process: ContainerProcess, context: ExecContext
    ) -> bool:
        """Probe until the result settles ``spec.kind``; True for a startup probe that passed."""
        await asyncio.sleep(spec.initial_delay_s)
        successes = failures = 0
        while True:
            try:
                outcome = await run_probe(
                    spec=spec, pod_ip=self.worker.pod_ip, exec_context=context
                )
            except Exception as exc:
                # An odd probe (a host that is not a host, …) fails; it must not end the probing.
                outcome = ProbeOutcome(success=False, message=f"probe error: {exc}")
            if outcome.success:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                self.worker.event(
                    reason="Unhealthy",
                    message=f"{spec.title} probe failed: {outcome.message}",
                    field_path=self.field_path,
                    warning=True,
                )
            if spec.kind == "readiness":
                ready = self.ready
                if successes >= spec.success_threshold:
                    ready = True
                elif failures >= spec.failure_threshold:
                    ready = False
                if ready != self.ready:
                    self.ready = ready
                    self._changed()
            elif spec.kind == "startup" and successes >= spec.success_threshold:
                self.started = True
                self.ready = "readiness" not in self.probes
                self._changed()
                return True
            elif failures >= spec.failure_threshold:
                self.worker.event(
                    reason="Killing",
                    message=f"Container {self.name} failed {spec.kind} probe, will be restarted",
                    field_path=self.field_path,
                )
                await process.stop(grace_s=self.worker.grace_for_pod())
                return False
            await asyncio.sleep(spec.period_s)


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
