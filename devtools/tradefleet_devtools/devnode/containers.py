"""One container of a pod on a dev node: start, supervise, probe, restart with backoff.

Used by :class:`~tradefleet_devtools.devnode.pods.PodWorker`, which makes one
:class:`ContainerRunner` per init or app container and runs them in the kubelet's order. A
runner holds the container's status (waiting, running, terminated, restart count, backoff) as
the pod's status shows it, adopts a process an earlier agent left running, and runs the
container's probes while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradefleet_devtools.devnode.backoff import restart_wanted
from tradefleet_devtools.devnode.errors import PodConfigError
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
)
from tradefleet_devtools.devnode.state import ContainerRecord
from tradefleet_devtools.devnode.status import (
    ContainerState,
    ContainerView,
    Running,
    Terminated,
    Waiting,
)

if TYPE_CHECKING:
    from tradefleet_devtools.devnode.pods import PodWorker

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]

# How often a container that cannot start yet (no command, a missing ConfigMap) is retried.
RETRY_S = 2.0


def _format_duration(seconds: float) -> str:
    """Go's time.Duration style, as in the kubelet's back-off message (``10s``, ``5m0s``)."""
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


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
