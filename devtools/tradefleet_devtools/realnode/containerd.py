"""containerd for the real node: its configuration, the daemon, images and the containers' tasks.

Used by the launcher (:mod:`.launcher`) and, through the handle, by tests that need a container's
host PID (to SIGKILL a runtime as a crash would). containerd's root (image content and snapshots) is
kept in the cache, ``$TRADEFLEET_CACHE/realnode/containerd``, so images are imported once per build;
its state, socket and the pods' network state are per run. The CRI plugin serves the kubelet
(``k8s.io`` namespace) with runc (cgroupfs driver) and the node's CNI configuration.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tradefleet_devtools.realnode.artifacts import Image, NodeArtifacts
from tradefleet_devtools.realnode.errors import RealNodeError

log = logging.getLogger(__name__)

NAMESPACE = "k8s.io"


@dataclass(frozen=True, kw_only=True, slots=True)
class ContainerdPaths:
    root: Path
    state: Path
    socket: Path
    cni_conf_dir: Path
    config: Path
    log: Path


def render_config(*, paths: ContainerdPaths, artifacts: NodeArtifacts) -> str:
    """containerd's config.toml (version 2).

    ``restrict_oom_score_adj``: the machines this runs on deny lowering a process's
    ``oom_score_adj`` (no CAP_SYS_RESOURCE: runc's write to /proc/self/oom_score_adj fails with
    EACCES for the pod sandbox's -998), so no container asks for less than containerd's own.
    No registry is configured: every image the node runs is imported; a pull goes nowhere else.
    """
    return f"""version = 2
root = "{paths.root}"
state = "{paths.state}"
[grpc]
  address = "{paths.socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{artifacts.pause.ref}"
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{artifacts.runc}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{artifacts.cni_dir}"
    conf_dir = "{paths.cni_conf_dir}"
"""


class Containerd:
    """One containerd daemon on private paths."""

    def __init__(self, *, paths: ContainerdPaths, artifacts: NodeArtifacts) -> None:
        self.paths = paths
        self.artifacts = artifacts
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 30.0) -> None:
        for directory in (self.paths.root, self.paths.state, self.paths.socket.parent):
            directory.mkdir(parents=True, exist_ok=True)
        self.paths.config.write_text(render_config(paths=self.paths, artifacts=self.artifacts))
        logfile = self.paths.log.open("ab")
        self._proc = subprocess.Popen(
            [str(self.artifacts.containerd), "--config", str(self.paths.config)],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        logfile.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RealNodeError(
                    f"containerd exited with {self._proc.returncode}: {self._tail()}"
                )
            if self.paths.socket.exists() and self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RealNodeError(f"containerd did not answer on {self.paths.socket}: {self._tail()}")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None

    def _tail(self) -> str:
        if not self.paths.log.exists():
            return "(no log)"
        return "\n".join(self.paths.log.read_text(errors="replace").splitlines()[-15:])

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [
            str(self.artifacts.ctr),
            "--address",
            str(self.paths.socket),
            "-n",
            NAMESPACE,
            *args,
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
        if check and done.returncode != 0:
            raise RealNodeError(f"`ctr {' '.join(args)}` failed: {done.stderr.strip()}")
        return done

    def import_images(self, images: tuple[Image, ...], *, prune_prefix: str = "") -> list[str]:
        """Import each image whose reference containerd does not have yet; returns those imported.
        Images under ``prune_prefix`` that are not in ``images`` (older builds) are removed."""
        present = set(self.ctr("images", "list", "--quiet").stdout.split())
        wanted = {image.ref for image in images}
        stale = sorted(r for r in present if prune_prefix and r.startswith(prune_prefix))
        for ref in stale:
            if ref not in wanted:
                self.ctr("images", "remove", ref, check=False)
        imported = []
        for image in images:
            if image.ref in present:
                continue
            log.info("importing %s into containerd (%s)", image.ref, image.archive)
            self.ctr("images", "import", str(image.archive))
            imported.append(image.ref)
        return imported

    def task_pids(self) -> dict[str, int]:
        """Container id → host PID of its running task."""
        pids: dict[str, int] = {}
        for line in self.ctr("tasks", "list").stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 3 and fields[2] == "RUNNING" and fields[1].isdigit():
                pids[fields[0]] = int(fields[1])
        return pids

    def running_containers(self, *, namespace: str, container: str) -> dict[str, str]:
        """Container id → pod name of the running ``container`` containers of pods in ``namespace``
        (the kubelet's labels on each container), as containerd sees them now."""
        labels = (
            f'labels."io.kubernetes.pod.namespace"=={namespace},'
            f'labels."io.kubernetes.container.name"=={container}'
        )
        ids = self.ctr("containers", "list", "--quiet", labels).stdout.split()
        running = self.task_pids()
        found: dict[str, str] = {}
        for container_id in ids:
            if container_id not in running:
                continue
            info = self.ctr("containers", "info", container_id, check=False).stdout
            match = re.search(r'"io\.kubernetes\.pod\.name":\s*"([^"]+)"', info)
            found[container_id] = match.group(1) if match else "?"
        return found

    def kill_all(self) -> int:
        """SIGKILL and delete every task and container (what a stopped node leaves behind)."""
        killed = 0
        for container_id, pid in self.task_pids().items():
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
            self.ctr("tasks", "delete", "--force", container_id, check=False)
        for container_id in self.ctr("containers", "list", "--quiet", check=False).stdout.split():
            if re.fullmatch(r"[0-9a-f]{64}", container_id):
                self.ctr("tasks", "delete", "--force", container_id, check=False)
                self.ctr("containers", "delete", container_id, check=False)
        return killed
