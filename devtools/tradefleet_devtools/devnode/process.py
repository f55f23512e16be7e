"""Container instances as local process groups: start, adopt after an agent restart, wait, signal.

Used by the pod worker (:mod:`tradefleet_devtools.devnode.pods`) and by the leftover clean-up in
:mod:`tradefleet_devtools.devnode.launcher`. Each instance is a shim (:mod:`~.shim`) that leads its
own process group (``start_new_session``) with the container's command as its child; signals go to
the whole group. The agent waits on a pidfd, which also works for a shim it did not start itself
(adopted from a previous agent run); pid + kernel start time identify a process, so a recycled pid
is never mistaken for a container.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradefleet_devtools.devnode import shim
from tradefleet_devtools.devnode.errors import AgentConfigError
from tradefleet_devtools.devnode.status import Terminated
from tradefleet_devtools.devnode.volumes import BindMount

log = logging.getLogger(__name__)

SHIM_SCRIPT = Path(shim.__file__)
LAUNCH_FILE = "launch.json"
EXIT_FILE = "exit.json"
PID_FILE = "command.pid"
# The container's termination message file, bind-mounted at its terminationMessagePath.
TERMINATION_FILE = "termination-log"
DEFAULT_TERMINATION_PATH = "/dev/termination-log"
# The kubelet's limits: 4096 bytes of the file; of the log, 80 lines and 2048 bytes.
MAX_MESSAGE_BYTES = 4096
FALLBACK_LINES = 80
FALLBACK_BYTES = 2048
# The kubelet's words for a container whose end nobody saw (the shim died with it).
STATUS_UNKNOWN = "ContainerStatusUnknown"


def process_start_ticks(pid: int) -> int | None:
    """The kernel's start time of ``pid``; None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 22; the command name (field 2) is in parentheses and may contain spaces.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def kill_process_group(*, pid: int, start_ticks: int) -> bool:
    """SIGKILL the group led by ``pid`` if that is still the process started at ``start_ticks``."""
    if process_start_ticks(pid) != start_ticks:
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def required_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise AgentConfigError(f"{name} is not installed; the dev node agent needs it (util-linux)")
    return found


@dataclass(frozen=True, kw_only=True, slots=True)
class Launch:
    """Everything needed to start one container instance."""

    argv: list[str]
    env: dict[str, str]
    working_dir: str | None
    mounts: list[BindMount] = field(default_factory=list)
    run_dir: Path
    # terminationMessagePolicy: File, or FallbackToLogsOnError (the log's tail when the file is
    # empty and the container failed).
    termination_policy: str = "File"

    @property
    def namespace_needed(self) -> bool:
        """Whether the command runs in a private mount namespace (it has volume mounts)."""
        return bool(self.mounts)


@dataclass(frozen=True, kw_only=True, slots=True)
class Identity:
    """How a container instance is found again after an agent restart."""

    shim_pid: int
    start_ticks: int
    started_at: float

    @property
    def container_id(self) -> str:
        return f"devnode://{self.shim_pid}"

    def to_json(self) -> dict[str, Any]:
        return {
            "shim_pid": self.shim_pid,
            "start_ticks": self.start_ticks,
            "started_at": self.started_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Identity:
        return cls(
            shim_pid=int(data["shim_pid"]),
            start_ticks=int(data["start_ticks"]),
            started_at=float(data["started_at"]),
        )


def termination_message_file(*, container: dict[str, Any], run_dir: Path) -> BindMount:
    """An empty file of the container's own, to mount at its ``terminationMessagePath``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    source = run_dir / TERMINATION_FILE
    source.write_bytes(b"")
    target = str(container.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH)
    return BindMount(source=source, target=target, read_only=False)


def termination_message(*, run_dir: Path, exit_code: int) -> str:
    """What the container left in its termination message file; with FallbackToLogsOnError and
    an empty file, the tail of its log when it failed."""
    try:
        message = (run_dir / TERMINATION_FILE).read_bytes()[:MAX_MESSAGE_BYTES]
    except OSError:
        message = b""
    if message.strip() or exit_code == 0:
        return message.decode(errors="replace")
    try:
        launch = json.loads((run_dir / LAUNCH_FILE).read_text())
        if launch.get("termination_policy") != "FallbackToLogsOnError":
            return ""
        with Path(str(launch["log_path"])).open("rb") as log_file:
            log_file.seek(max(0, log_file.seek(0, os.SEEK_END) - 64 * FALLBACK_BYTES))
            lines = log_file.read().splitlines()[-FALLBACK_LINES:]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return b"\n".join(lines)[-FALLBACK_BYTES:].decode(errors="replace")


def read_termination(
    *, identity: Identity, run_dir: Path, shim_returncode: int | None, killed: bool
) -> Terminated:
    """How an instance ended: the shim's exit file, else what the shim's own end tells.

    ``shim_returncode`` is known only for a shim this agent started; for an adopted one (or one
    that ended while no agent ran) a missing exit file means the shim died with its command.
    """
    started_at = identity.started_at
    try:
        recorded = json.loads((run_dir / EXIT_FILE).read_text())
        exit_code = int(recorded["exit_code"])
        return Terminated(
            exit_code=exit_code,
            reason=str(recorded["reason"]),
            message=str(recorded.get("message") or "")
            or termination_message(run_dir=run_dir, exit_code=exit_code),
            started_at=started_at,
            finished_at=float(recorded["finished_at"]),
            signal=recorded.get("signal"),
            container_id=identity.container_id,
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        pass
    now = time.time()
    if shim_returncode is not None and shim_returncode >= 0:
        return Terminated(
            exit_code=shim.START_ERROR_CODE,
            reason="StartError",
            message=f"the shim exited with code {shim_returncode} before starting the command"
            " (see the container log)",
            started_at=started_at,
            finished_at=now,
            signal=None,
            container_id=identity.container_id,
        )
    if shim_returncode is not None or killed:
        signum = -shim_returncode if shim_returncode is not None else int(signal.SIGKILL)
        return Terminated(
            exit_code=128 + signum,
            reason="Error",
            message="",
            started_at=started_at,
            finished_at=now,
            signal=signum,
            container_id=identity.container_id,
        )
    return Terminated(
        exit_code=128 + signal.SIGKILL,
        reason=STATUS_UNKNOWN,
        message="The container could not be located when the pod was terminated",
        started_at=started_at,
        finished_at=now,
        signal=None,
        container_id=identity.container_id,
    )


class ContainerProcess:
    """One running container instance; made by :meth:`spawn` or :meth:`adopt` in the event loop."""

    def __init__(
        self,
        *,
        identity: Identity,
        run_dir: Path,
        pidfd: int,
        child: subprocess.Popen[bytes] | None,
    ) -> None:
        self.identity = identity
        self._run_dir = run_dir
        self._child = child
        self._killed = False
        loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[Terminated] = loop.create_future()
        self._pidfd = pidfd
        loop.add_reader(pidfd, self._on_exit)

    @property
    def container_id(self) -> str:
        return self.identity.container_id

    @classmethod
    def spawn(cls, *, launch: Launch, log_path: Path, unshare: str, mount: str) -> ContainerProcess:
        """Start the shim; it makes the mounts and runs the command (failures: StartError)."""
        launch.run_dir.mkdir(parents=True, exist_ok=True)
        for stale in (EXIT_FILE, PID_FILE):
            (launch.run_dir / stale).unlink(missing_ok=True)
        # Each instance starts with an empty message (the mount source must stay the same file).
        termination = launch.run_dir / TERMINATION_FILE
        if termination.exists():
            termination.write_bytes(b"")
        launch_file = launch.run_dir / LAUNCH_FILE
        launch_file.write_text(
            json.dumps(
                {
                    "argv": launch.argv,
                    "working_dir": launch.working_dir,
                    "mounts": [m.to_json() for m in launch.mounts],
                    "mount_command": mount,
                    "exit_file": str(launch.run_dir / EXIT_FILE),
                    "pid_file": str(launch.run_dir / PID_FILE),
                    # Read back by termination_message(), for adopted containers too.
                    "termination_policy": launch.termination_policy,
                    "log_path": str(log_path),
                }
            )
        )
        argv = [sys.executable, "-I", "-S", str(SHIM_SCRIPT), str(launch_file)]
        if launch.namespace_needed:
            argv = [unshare, "-m", "--propagation", "private", *argv]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started_at = time.time()
        with log_path.open("ab") as log_file:
            child = subprocess.Popen(
                argv,
                env=launch.env,
                cwd=launch.run_dir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,
            )
        # The pid cannot be recycled before we reap it, so these two reads are about our shim.
        pidfd = os.pidfd_open(child.pid)
        ticks = process_start_ticks(child.pid) or 0
        identity = Identity(shim_pid=child.pid, start_ticks=ticks, started_at=started_at)
        return cls(identity=identity, run_dir=launch.run_dir, pidfd=pidfd, child=child)

    @classmethod
    def adopt(cls, *, identity: Identity, run_dir: Path) -> ContainerProcess | None:
        """Watch a shim started by an earlier agent run; None when it is gone (or pid reused)."""
        try:
            pidfd = os.pidfd_open(identity.shim_pid)
        except (ProcessLookupError, OSError):
            return None
        # Checked after opening the pidfd: if the ticks match now, the pidfd is our shim's.
        if process_start_ticks(identity.shim_pid) != identity.start_ticks:
            os.close(pidfd)
            return None
        return cls(identity=identity, run_dir=run_dir, pidfd=pidfd, child=None)

    def _on_exit(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        shim_returncode: int | None = None
        if self._child is not None:
            # Kill what the command left behind in its group, as a runtime does when a container's
            # main process ends; safe because the unreaped shim still holds the group's id.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.identity.shim_pid, signal.SIGKILL)
            shim_returncode = self._child.wait()
        if not self._exited.done():
            self._exited.set_result(
                read_termination(
                    identity=self.identity,
                    run_dir=self._run_dir,
                    shim_returncode=shim_returncode,
                    killed=self._killed,
                )
            )

    @property
    def finished(self) -> bool:
        return self._exited.done()

    async def wait(self) -> Terminated:
        return await asyncio.shield(self._exited)

    def signal_group(self, signum: int) -> None:
        if self._exited.done():
            return
        if (
            self._child is None
            and process_start_ticks(self.identity.shim_pid) != self.identity.start_ticks
        ):
            return
        if signum == signal.SIGKILL:
            self._killed = True
        try:
            os.killpg(self.identity.shim_pid, signum)
        except (ProcessLookupError, PermissionError) as exc:
            log.debug("signal %s to group %s: %s", signum, self.identity.shim_pid, exc)

    async def stop(self, *, grace_s: float) -> Terminated:
        """SIGTERM the group, SIGKILL it after ``grace_s``; the instance's termination."""
        self.signal_group(signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.shield(self._exited), timeout=max(grace_s, 0.0))
        except TimeoutError:
            self.signal_group(signal.SIGKILL)
            return await self.wait()
