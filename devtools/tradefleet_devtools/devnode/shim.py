"""The per-container supervisor ("shim") of the dev node agent — dev/test tooling, not a runtime.

Started by :mod:`tradefleet_devtools.devnode.process` as ``python -I -S shim.py <launch.json>``
(under ``unshare -m`` when the container mounts volumes). It makes the bind mounts, changes to the
working directory, runs the container's command as its child, writes the child's pid, waits, and
writes the exit code to a file. The shim outlives an agent that is killed, so a restarted agent
still learns how an adopted container ended — the job containerd-shim or conmon do for a kubelet.

Standard library only, and run with ``-I``: the pod's environment (PYTHONPATH, …) is the child's,
and must not change how the shim itself starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

START_ERROR_CODE = 128


class StartFailureError(Exception):
    """The command could not be started; the message is the kubelet-style StartError message."""


def _write_json(*, directory: int, name: str, content: dict[str, Any]) -> None:
    # Relative to a directory descriptor opened before the mounts: a pod volume mounted over an
    # ancestor of the agent's state directory (an emptyDir at /tmp) must not hide it from us.
    temporary = f"{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=directory)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(content))
    os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)


def _bind(*, mount: dict[str, Any], source_fd: int, mount_command: str) -> None:
    source, target = str(mount["source"]), str(mount["target"])
    try:
        if os.path.isdir(f"/proc/self/fd/{source_fd}"):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
            if not os.path.exists(target):
                Path(target).touch()
    except OSError as exc:
        raise StartFailureError(f"cannot create mount point {target}: {exc}") from exc
    # The source by descriptor, opened before any mount: an earlier mount may cover its path.
    commands = [
        [mount_command, "--no-canonicalize", "--bind", f"/proc/self/fd/{source_fd}", target]
    ]
    if mount["read_only"]:
        commands.append([mount_command, "-o", "remount,bind,ro", target])
    for command in commands:
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, pass_fds=(source_fd,)
            )
        except OSError as exc:
            raise StartFailureError(f"{' '.join(command)}: {exc}") from exc
        if done.returncode != 0:
            raise StartFailureError(f"{' '.join(command)} ({source}): {done.stderr.strip()}")


def _hidden_code_paths(mounts: list[dict[str, Any]]) -> list[str]:
    """The project's code directories (the pod's PYTHONPATH) and Python environment (the
    virtualenv the command runs from) that a volume would cover.

    The command runs from the host's environment, not an image: when a checkout or the
    virtualenv lives under a volume's mount path (a repository or a cache in /tmp and an
    emptyDir at /tmp), it is mounted back.
    """
    targets = [str(m["target"]).rstrip("/") or "/" for m in mounts]
    # The shim runs with -S, so sys.prefix is not the virtualenv: take it from the interpreter's
    # path (<venv>/bin/python), unresolved, as the pod's command names it.
    environment = os.path.dirname(os.path.dirname(sys.executable))
    candidates = [*os.environ.get("PYTHONPATH", "").split(os.pathsep), environment]
    paths = list(dict.fromkeys(p for p in candidates if p and os.path.isdir(p)))
    return [p for p in paths if any(p == t or p.startswith(f"{t}/") or t == "/" for t in targets)]


def _start(spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    sources: list[int] = []
    mounts = list(spec["mounts"])
    try:
        code = _hidden_code_paths(mounts) if mounts else []
        mounts += [{"source": path, "target": path, "read_only": True} for path in code]
        for mount in mounts:
            sources.append(os.open(str(mount["source"]), os.O_PATH))
        for mount, fd in zip(mounts, sources, strict=True):
            _bind(mount=mount, source_fd=fd, mount_command=str(spec["mount_command"]))
    except OSError as exc:
        raise StartFailureError(f"volume source missing: {exc}") from exc
    finally:
        for fd in sources:
            os.close(fd)
    working_dir = spec.get("working_dir")
    if working_dir:
        try:
            os.makedirs(working_dir, exist_ok=True)
            os.chdir(working_dir)
        except OSError as exc:
            raise StartFailureError(f"chdir to workingDir {working_dir}: {exc}") from exc
    argv = [str(a) for a in spec["argv"]]
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise StartFailureError(f'exec: "{argv[0]}": executable file not found in $PATH') from exc
    except PermissionError as exc:
        raise StartFailureError(f'exec: "{argv[0]}": permission denied') from exc
    except OSError as exc:
        raise StartFailureError(f'exec: "{argv[0]}": {exc}') from exc


def run(launch_file: Path) -> int:
    spec = json.loads(launch_file.read_text())
    exit_file, pid_file = Path(spec["exit_file"]), Path(spec["pid_file"])
    exit_dir = os.open(exit_file.parent, os.O_RDONLY | os.O_DIRECTORY)
    pid_dir = os.open(pid_file.parent, os.O_RDONLY | os.O_DIRECTORY)
    # The agent signals the whole process group; the shim itself must outlive the command to
    # record its exit. A handler (not SIG_IGN) so the command starts with default dispositions.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: None)
    try:
        child = _start(spec)
    except StartFailureError as failure:
        print(f"dev node agent shim: {failure}", file=sys.stderr, flush=True)
        _write_json(
            directory=exit_dir,
            name=exit_file.name,
            content={
                "exit_code": START_ERROR_CODE,
                "reason": "StartError",
                "message": str(failure),
                "signal": None,
                "finished_at": time.time(),
            },
        )
        return START_ERROR_CODE
    pid_fd = os.open(pid_file.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=pid_dir)
    with os.fdopen(pid_fd, "w") as handle:
        handle.write(str(child.pid))
    returncode = child.wait()
    exit_code = returncode if returncode >= 0 else 128 - returncode
    _write_json(
        directory=exit_dir,
        name=exit_file.name,
        content={
            "exit_code": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "message": "",
            "signal": -returncode if returncode < 0 else None,
            "finished_at": time.time(),
        },
    )
    return exit_code


def main() -> None:
    if len(sys.argv) != 2:
        print("usage: shim.py <launch.json> (started by the dev node agent)", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
