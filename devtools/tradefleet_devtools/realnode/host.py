"""What the host must offer a kubelet, checked before anything starts, and the cgroup root it runs in.

Used by the launcher (:mod:`.launcher`). The kubelet and runc need root, the cgroup v1 hierarchies
(this project's machines have no systemd and no unified-only cgroup v2), overlayfs for
containerd's snapshotter and network namespaces for the pods; a missing piece raises
:class:`RealNodeUnavailableError` with the failing check, so ``auto`` falls back to the dev node agent.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tradefleet_devtools.realnode.errors import RealNodeUnavailableError

CGROUP_FS = Path("/sys/fs/cgroup")
# The v1 controllers the kubelet's container manager needs (cpuset, hugetlb are optional).
REQUIRED_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "devices", "freezer")


def check_host() -> None:
    """Raise :class:`RealNodeUnavailableError` naming the first thing a real node cannot have here."""
    if os.geteuid() != 0:
        raise RealNodeUnavailableError(
            "a real node needs root (kubelet, containerd and runc run as root)"
        )
    missing = [c for c in REQUIRED_CONTROLLERS if not (CGROUP_FS / c / "tasks").is_file()]
    if missing:
        raise RealNodeUnavailableError(
            f"no cgroup v1 hierarchy for {', '.join(missing)} under {CGROUP_FS} "
            "(the kubelet here runs with the cgroupfs driver on cgroup v1)"
        )
    filesystems = Path("/proc/filesystems").read_text()
    if "overlay" not in filesystems:
        raise RealNodeUnavailableError(
            "the kernel offers no overlay filesystem (containerd's snapshotter)"
        )
    if not Path("/proc/self/ns/net").exists():
        raise RealNodeUnavailableError("the kernel offers no network namespaces")


def hierarchies() -> list[Path]:
    """Every mounted cgroup v1 hierarchy (the unified one of a hybrid set-up is left alone)."""
    return sorted(
        path
        for path in CGROUP_FS.iterdir()
        if path.name != "unified" and (path / "tasks").is_file() and not path.is_symlink()
    )


def ensure_cgroup_root(name: str) -> None:
    """Create ``/<name>`` in every hierarchy: the kubelet's ``cgroupRoot`` must exist in all."""
    for hierarchy in hierarchies():
        group = hierarchy / name
        group.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if not (group / knob).read_text().strip():
                    (group / knob).write_text((hierarchy / knob).read_text())


def remove_cgroup_root(name: str) -> None:
    """Remove ``/<name>`` and what the kubelet and runc made below it (in the unified hierarchy of
    a hybrid set-up too), deepest first; busy groups stay."""
    unified = CGROUP_FS / "unified"
    for hierarchy in [*hierarchies(), *([unified] if unified.is_dir() else [])]:
        root = hierarchy / name
        if not root.is_dir():
            continue
        groups = sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for group in [*groups, root]:
            with contextlib.suppress(OSError):
                group.rmdir()
