"""Start the dev node agent as a subprocess and control it (what fixtures and the demo use).

``start_dev_node_agent(cluster=..., state_dir=..., nodes=[...])`` runs
``python -m tradefleet_devtools.devnode`` with matching flags, waits until it has registered its
nodes and seen its pods, and returns a :class:`DevNodeAgentHandle`. A separate process makes
killing and restarting the agent realistic (its pods' processes outlive a ``kill -9``, as containers
outlive a kubelet). :meth:`DevNodeAgentHandle.stop` also cleans up after an agent that was killed:
leftover container processes and, when asked for, the Node objects.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.devnode.errors import AgentStartError, KubeApiError
from tradefleet_devtools.devnode.kube import KubeApi
from tradefleet_devtools.devnode.nodes import delete_nodes
from tradefleet_devtools.devnode.process import kill_process_group
from tradefleet_devtools.devnode.settings import AgentSettings, NodeSpec
from tradefleet_devtools.devnode.state import StateStore

log = logging.getLogger(__name__)

DEVTOOLS_ROOT = Path(__file__).resolve().parents[2]
AGENT_LOG = "agent.log"


def random_pod_network() -> str:
    """A /16 in 127/8 unlikely to be used by another agent on this machine."""
    return f"127.{random.randint(64, 254)}.0.0/16"


class DevNodeAgentHandle:
    """One agent subprocess, its flags and its state directory."""

    def __init__(self, *, settings: AgentSettings) -> None:
        self.settings = settings
        self.store = StateStore(root=settings.state_dir)
        self.log_path = settings.state_dir / AGENT_LOG
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, timeout_s: float = 60.0) -> None:
        """Start the agent and wait until it is serving its nodes."""
        if self.running:
            raise AgentStartError(f"the dev node agent is already running (pid {self.pid})")
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(DEVTOOLS_ROOT), env.get("PYTHONPATH", "")) if p
        )
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tradefleet_devtools.devnode", *self.settings.to_argv()],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AgentStartError(
                    f"the dev node agent exited with code {self._process.returncode};"
                    f" {self._log_tail()}"
                )
            if self.store.ready_pid() == self._process.pid:
                return
            time.sleep(0.1)
        self.kill()
        raise AgentStartError(
            f"the dev node agent was not ready after {timeout_s}s; {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        lines = (
            self.log_path.read_text(errors="replace").splitlines()[-25:]
            if self.log_path.exists()
            else []
        )
        return f"last lines of {self.log_path}:\n" + "\n".join(lines)

    def kill(self) -> None:
        """SIGKILL the agent alone, as a crash would; its pods' processes keep running."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)

    def restart(self, *, timeout_s: float = 60.0) -> None:
        """Kill the agent and start it again on the same state directory."""
        self.kill()
        self.start(timeout_s=timeout_s)

    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Stop the agent (SIGTERM: it stops its pods), then clean up what a killed agent left."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning(
                    "dev node agent did not stop in %ss; killing it. %s",
                    timeout_s,
                    self._log_tail(),
                )
                self.kill()
        self.clean_up()

    def clean_up(self) -> None:
        """Kill container processes recorded in the state dir; delete the nodes if so configured."""
        for record in self.store.load_all().values():
            for container in record.containers.values():
                if container.running is not None:
                    kill_process_group(
                        pid=container.running.shim_pid, start_ticks=container.running.start_ticks
                    )
        if self.settings.delete_nodes_on_exit:
            api = KubeApi(kubeconfig=self.settings.kubeconfig)
            try:
                delete_nodes(api=api, names=[n.name for n in self.settings.nodes])
            except KubeApiError as exc:
                log.warning("could not delete the dev nodes: %s", exc)
            finally:
                api.close()

    def container_pid(self, *, namespace: str, pod: str, container: str) -> int | None:
        """The pid of a container's command (what ``kill`` would target), from the state dir."""
        record = self.store.find(namespace=namespace, name=pod)
        if record is None:
            return None
        return self.store.command_pid(uid=record.uid, container=container)

    def container_log(
        self, *, namespace: str, pod: str, container: str, restart_count: int = 0
    ) -> Path | None:
        """The output file of one container instance (``kubectl logs`` cannot reach it)."""
        record = self.store.find(namespace=namespace, name=pod)
        if record is None:
            return None
        return self.store.log_path(
            namespace=namespace,
            name=pod,
            uid=record.uid,
            container=container,
            restart_count=restart_count,
        )

    def __enter__(self) -> DevNodeAgentHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_dev_node_agent(
    *,
    cluster: ClusterAccess,
    state_dir: Path,
    nodes: Sequence[NodeSpec],
    backoff_base_s: float = 10.0,
    backoff_max_s: float = 300.0,
    pod_network: str | None = None,
    heartbeat_s: float = 10.0,
    resync_s: int = 30,
    shutdown_grace_s: float = 10.0,
    delete_nodes_on_exit: bool = True,
    timeout_s: float = 60.0,
) -> DevNodeAgentHandle:
    """Start ``python -m tradefleet_devtools.devnode`` for ``cluster``; wait until it is ready."""
    settings = AgentSettings(
        kubeconfig=cluster.kubeconfig,
        nodes=tuple(nodes),
        state_dir=state_dir,
        pod_network=pod_network or random_pod_network(),
        backoff_base_s=backoff_base_s,
        backoff_max_s=backoff_max_s,
        heartbeat_s=heartbeat_s,
        resync_s=resync_s,
        shutdown_grace_s=shutdown_grace_s,
        delete_nodes_on_exit=delete_nodes_on_exit,
    )
    settings.validate()
    handle = DevNodeAgentHandle(settings=settings)
    handle.start(timeout_s=timeout_s)
    return handle
