"""Start a real node (containerd + kubelet + CNI) for one region and control it.

Called by the local stack (:mod:`tradefleet_devtools.stack`) when the node kind is ``real`` or
``auto``, and so by the e2e fixtures and the demo. ``start_real_node(...)`` checks the host, brings
the built pieces up to date (:mod:`.build`), lays out the pod network (publishing the given 127.0.0.1 ports to the pods at the
gateway address), starts containerd, imports the images, starts the kubelet and waits for its Node
to be Ready; it returns a :class:`RealNodeHandle`. One real node runs on a machine at a time (fixed
kubelet port, bridge and iptables chains): a lock file says which process has it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.realnode.artifacts import CACHE, ImageSet, NodeArtifacts
from tradefleet_devtools.realnode.build import ensure_built
from tradefleet_devtools.realnode.cluster import NodeClient
from tradefleet_devtools.realnode.containerd import Containerd, ContainerdPaths
from tradefleet_devtools.realnode.errors import RealNodeError, RealNodeUnavailableError
from tradefleet_devtools.realnode.host import check_host, ensure_cgroup_root, remove_cgroup_root
from tradefleet_devtools.realnode.kubelet import Kubelet, KubeletSpec
from tradefleet_devtools.realnode.network import PodNetwork, Publish

log = logging.getLogger(__name__)

REGION_LABEL = "topology.kubernetes.io/region"
REAL_NODE_LABEL = "tradefleet.io/real-node"
RUN_DIR = Path("/run/tradefleet-realnode")
NETNS_DIR = Path("/var/run/netns")
CGROUP_ROOT = "tradefleet-realnode"


@dataclass(frozen=True, kw_only=True, slots=True)
class RealNodeSpec:
    """The Node a real kubelet registers: its name and region label."""

    name: str
    region: str


class RealNodeHandle:
    """A running real node; :meth:`stop` empties it and removes everything it set up."""

    def __init__(
        self,
        *,
        cluster: ClusterAccess,
        workdir: Path,
        node: RealNodeSpec,
        artifacts: NodeArtifacts,
        network: PodNetwork,
    ) -> None:
        self.node = node
        self.workdir = workdir
        self.artifacts = artifacts
        self.network = network
        self.client = NodeClient(cluster=cluster, node_name=node.name)
        self.containerd = Containerd(
            paths=ContainerdPaths(
                root=CACHE / "realnode" / "containerd",
                state=RUN_DIR / "containerd",
                socket=RUN_DIR / "containerd.sock",
                cni_conf_dir=workdir / "cni",
                config=workdir / "containerd.toml",
                log=workdir / "containerd.log",
            ),
            artifacts=artifacts,
        )
        self.kubelet = Kubelet(
            binary=artifacts.kubelet,
            spec=KubeletSpec(
                node_name=node.name,
                labels={REGION_LABEL: node.region, REAL_NODE_LABEL: "true"},
                node_ip=network.gateway,
                kubeconfig=cluster.kubeconfig,
                containerd_socket=RUN_DIR / "containerd.sock",
                root_dir=workdir / "kubelet-root",
                workdir=workdir / "kubelet",
                cgroup_root=CGROUP_ROOT,
            ),
        )
        self._cluster = cluster
        self._lock: IO[str] | None = None
        self._netns_before: set[str] = set()

    @property
    def images(self) -> ImageSet:
        return self.artifacts.images

    @property
    def gateway(self) -> str:
        """The host's address as pods see it."""
        return self.network.gateway

    def url_for_pods(self, url: str) -> str:
        """``url`` of a service on 127.0.0.1, as pods reach it (its port must be published)."""
        parts = urlsplit(url)
        netloc = parts.netloc.replace(parts.hostname or "", self.gateway, 1)
        return parts._replace(netloc=netloc).geturl()

    def start(self, *, publish_ports: Sequence[int], timeout_s: float = 120.0) -> None:
        self._take_lock()
        reap_leftovers(socket=self.containerd.paths.socket, run_dir=RUN_DIR)
        try:
            self._start(publish_ports=publish_ports, timeout_s=timeout_s)
        except BaseException:
            self.stop()
            raise

    def _start(self, *, publish_ports: Sequence[int], timeout_s: float) -> None:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._netns_before = _netns_names()
        service_ip, service_port = self.client.kubernetes_service()
        apiserver_port = urlsplit(self._cluster.server).port or 443
        publish = [Publish(address=service_ip, port=service_port, target_port=apiserver_port)]
        publish += [Publish(address=self.gateway, port=p, target_port=p) for p in publish_ports]
        self.network.set_up(publish=publish)
        self.network.write_cni_config(
            conf_dir=self.workdir / "cni", data_dir=self.workdir / "cni-ipam"
        )
        ensure_cgroup_root(CGROUP_ROOT)
        self.containerd.start()
        self._record_pids()
        # The operators run as host processes here: the node needs the pods' images only.
        pod_images = (self.artifacts.pause, self.images.runtime, self.images.research)
        imported = self.containerd.import_images(pod_images, prune_prefix="localhost/tradefleet/")
        if imported:
            log.info("imported into containerd: %s", ", ".join(imported))
        self.kubelet.start()
        self._record_pids()
        self.client.wait_ready(
            timeout_s=max(10.0, timeout_s - (time.monotonic() - started)),
            alive=self.kubelet.check_alive,
        )
        log.info(
            "real node %s (%s) Ready in %.1fs",
            self.node.name,
            self.node.region,
            time.monotonic() - started,
        )

    def _record_pids(self) -> None:
        pids = {"containerd": self.containerd.pid, "kubelet": self.kubelet.pid}
        record_pids(pids, run_dir=RUN_DIR, workdir=self.workdir)

    def container_pid(self, *, namespace: str, pod: str, container: str) -> int | None:
        """Host PID of the pod's running container (its main process), or None."""
        container_id = self.client.container_id(namespace=namespace, pod=pod, container=container)
        if container_id is None:
            return None
        return self.containerd.task_pids().get(container_id)

    def running_containers(self, *, namespace: str, container: str) -> dict[str, str]:
        """Container id → pod name of every running ``container`` in ``namespace`` on this node."""
        return self.containerd.running_containers(namespace=namespace, container=container)

    def stop(self, *, drain_timeout_s: float = 30.0) -> None:
        """Empty the node (the kubelet stops its pods and their networks), then stop everything."""
        if self.kubelet.running:
            self.client.drain()
            deadline = time.monotonic() + drain_timeout_s
            while time.monotonic() < deadline and self._has_tasks():
                time.sleep(0.5)
        self.kubelet.stop()
        with contextlib.suppress(RealNodeError, OSError, subprocess.SubprocessError):
            if self.containerd.kill_all():
                log.warning("real node %s: killed containers left after the drain", self.node.name)
        self.containerd.stop()
        (RUN_DIR / "pids").unlink(missing_ok=True)
        _unmount_under(self.workdir / "kubelet-root")
        for name in _netns_names() - self._netns_before:
            if name.startswith("cni-"):
                subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
        self.network.tear_down()
        remove_cgroup_root(CGROUP_ROOT)
        self._release_lock()

    def _has_tasks(self) -> bool:
        try:
            return bool(self.containerd.task_pids())
        except RealNodeError:
            return False

    def _take_lock(self) -> None:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        lock = (RUN_DIR / "lock").open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise RealNodeUnavailableError(
                f"a real node is already running on this machine (pid {holder})"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def record_pids(pids: dict[str, int | None], *, run_dir: Path, workdir: Path) -> None:
    """Remember this run's daemons and workdir in ``run_dir/pids``: a run that was killed leaves
    the daemons running (they have their own sessions) and its kubelet's root mounted, and the
    next run's :func:`reap_leftovers` kills and unmounts them."""
    lines = [f"{name} {pid}" for name, pid in pids.items() if pid is not None]
    (run_dir / "pids").write_text("\n".join([*lines, f"workdir {workdir}"]) + "\n")


def clear_leftovers(*, workdir: Path | None = None) -> list[int]:
    """:func:`reap_leftovers` for this machine's real node, unless a live one holds its lock (then
    nothing: that run's node is not a leftover). For callers about to remove an earlier run's
    ``workdir`` (the demo), whose kubelet root a killed run left mounted: what is mounted there is
    unmounted too (a run killed before it recorded its workdir)."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with (RUN_DIR / "lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []
        try:
            killed = reap_leftovers(socket=RUN_DIR / "containerd.sock", run_dir=RUN_DIR)
            if workdir is not None:
                _unmount_under(workdir)
            return killed
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def reap_leftovers(*, socket: Path, run_dir: Path) -> list[int]:
    """SIGKILL what a killed earlier run left: its kubelet first (so it starts nothing more), then
    its containerd (``run_dir/pids``, each killed only while its command line still names it: a
    pid may have been reused), then each shim and its containers (found by containerd's socket
    path on the shims' command lines); then unmount what its kubelet left mounted in its workdir.
    Called with the machine's real-node lock held, so nothing of a live run is touched. Returns
    the pids killed."""
    daemons: dict[str, int] = {}
    workdir: Path | None = None
    recorded = run_dir / "pids"
    if recorded.exists():
        for line in recorded.read_text().splitlines():
            name, _, pid = line.partition(" ")
            if name == "workdir" and pid:
                workdir = Path(pid)
                continue
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
                if name and pid.isdigit() and name in cmdline:
                    daemons[name] = int(pid)
        recorded.unlink()
    victims = [daemons[name] for name in ("kubelet", "containerd") if name in daemons]
    for shim in _pgrep("-f", f"containerd-shim.*-address {socket}"):
        # The shim before its containers (found first: once it is dead they are init's), so it
        # cannot react to their deaths, as the kubelet goes first so it starts nothing more.
        victims += [shim, *_pgrep("-P", str(shim))]
    killed = []
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            log.warning("killed pid %d left by an earlier real node", victim)
    if killed:
        time.sleep(1.0)
    if workdir is not None:
        _unmount_under(workdir / "kubelet-root")
    return killed


def _pgrep(*args: str) -> list[int]:
    found = subprocess.run(["pgrep", *args], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def _netns_names() -> set[str]:
    return {p.name for p in NETNS_DIR.iterdir()} if NETNS_DIR.is_dir() else set()


def _unmount_under(root: Path) -> None:
    """Lazily unmount what the kubelet left mounted at and below ``root``: volumes of killed pods,
    and ``root`` itself (the kubelet bind-mounts its root directory to make it a shared mount)."""
    base = str(root.resolve())
    with contextlib.suppress(OSError):
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        ours = (m for m in mounts if m == base or m.startswith(base + "/"))
        for target in sorted(ours, key=len, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def start_real_node(
    *,
    cluster: ClusterAccess,
    workdir: Path,
    node: RealNodeSpec,
    publish_ports: Sequence[int] = (),
    timeout_s: float = 120.0,
) -> RealNodeHandle:
    """Check, build (cached), start and return a real node; :class:`RealNodeUnavailableError` when
    this machine cannot."""
    check_host()
    ensure_built()
    artifacts = NodeArtifacts.locate()
    handle = RealNodeHandle(
        cluster=cluster,
        workdir=workdir,
        node=node,
        artifacts=artifacts,
        network=PodNetwork(iptables=artifacts.iptables),
    )
    handle.start(publish_ports=publish_ports, timeout_s=timeout_s)
    return handle
