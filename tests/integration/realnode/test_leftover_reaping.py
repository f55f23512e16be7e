"""A real node whose earlier run was killed (SIGKILL of pytest or the demo) leaves its kubelet,
containerd, shims and containers running, each in its own session: the next run's start reaps them
(``reap_leftovers``) before it takes the machine's bridge, ports and socket. Real processes stand
in for the daemons here, named as the reaper finds them: by the pids file the run wrote and by
containerd's socket on the shims' command lines; a reused pid and another socket's shim are spared.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tradefleet_devtools.realnode.launcher import reap_leftovers, record_pids

pytestmark = [
    pytest.mark.integration,
    # As the real node itself: mounts, and killing other sessions' processes.
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root, as the real node does"),
]

Spawn = Callable[..., "subprocess.Popen[bytes]"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    for _ in range(50):
        found = subprocess.run(
            ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
        )
        pids = [int(p) for p in found.stdout.split()]
        if len(pids) == 2:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"the shim {pid} did not start its two containers")


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    started: list[subprocess.Popen[bytes]] = []

    def run(*argv: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, start_new_session=True)
        started.append(proc)
        return proc

    yield run
    for proc in started:
        subprocess.run(["pkill", "-KILL", "-P", str(proc.pid)], check=False)
        proc.kill()
        proc.wait()


def _shim(spawn: Spawn, socket: Path) -> subprocess.Popen[bytes]:
    """A process with a shim's command line (as containerd starts it), with two 'containers'."""
    return spawn(
        "bash",
        "-c",
        "sleep 600 & sleep 600 & wait",
        "containerd-shim-runc-v2",
        "-namespace",
        "k8s.io",
        "-id",
        "0123abcd",
        "-address",
        str(socket),
    )


def test_a_killed_runs_daemons_and_containers_are_reaped_and_nothing_else(
    tmp_path: Path, spawn: Spawn
) -> None:
    socket = tmp_path / "containerd.sock"
    kubelet = spawn("bash", "-c", "exec -a kubelet sleep 600")
    reused = spawn("sleep", "600")  # the pid recorded for containerd now belongs to another program
    shim = _shim(spawn, socket)
    other_shim = _shim(spawn, tmp_path / "elsewhere" / "containerd.sock")
    time.sleep(0.3)  # exec -a has run
    containers, other_containers = _children(shim.pid), _children(other_shim.pid)
    workdir = tmp_path / "run"
    record_pids(
        {"containerd": reused.pid, "kubelet": kubelet.pid, "gone": None},
        run_dir=tmp_path,
        workdir=workdir,
    )
    assert (tmp_path / "pids").read_text().split() == [
        "containerd", str(reused.pid), "kubelet", str(kubelet.pid), "workdir", str(workdir)
    ]  # fmt: skip
    # What the killed run's kubelet left mounted in its workdir (it bind-mounts its root).
    root = workdir / "kubelet-root"
    (root / "pods").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(root), str(root)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root / "pods")], check=True)

    killed = reap_leftovers(socket=socket, run_dir=tmp_path)

    assert sorted(killed) == sorted([kubelet.pid, shim.pid, *containers])
    # Each supervisor dies before what it supervises, so none can react to a death: the kubelet
    # before anything (it would start containers again), a shim before its containers (it reaps
    # them and exits by itself when they die, and then was never killed).
    assert killed[0] == kubelet.pid
    assert all(killed.index(shim.pid) < killed.index(pid) for pid in containers), killed
    assert kubelet.wait(timeout=5) == -9 and shim.wait(timeout=5) == -9
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in containers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in containers)
    assert reused.poll() is None and other_shim.poll() is None
    assert all(_alive(pid) for pid in other_containers)
    assert not (tmp_path / "pids").exists()
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    assert not [m for m in mounts if m.startswith(str(root))], mounts
    # Nothing left: a second start kills nothing.
    assert reap_leftovers(socket=socket, run_dir=tmp_path) == []
