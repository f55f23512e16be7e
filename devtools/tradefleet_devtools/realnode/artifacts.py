"""Where the real node's programs and images are: what the build scripts produced.

``scripts/build-node.sh --runtime`` writes ``$TRADEFLEET_CACHE/node/node.env`` (kubelet, kubectl,
the pause image and its archive) and ``scripts/build-images.sh`` writes
``$TRADEFLEET_CACHE/images/images.env`` (the operator, runtime and research images and their OCI
archives); containerd, runc and the CNI plugins are Debian packages. Used by the launcher
(:mod:`.launcher`), by the stack to name the images in the operators' settings, and by the image
tests.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tradefleet_devtools.realnode.errors import RealNodeUnavailableError

CACHE = Path(os.environ.get("TRADEFLEET_CACHE", Path.home() / ".cache" / "tradefleet"))
CNI_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "loopback")
BUILD_HINT = (
    "run `bash scripts/build-node.sh --runtime && bash scripts/build-images.sh` "
    "(scripts/test.sh and scripts/demo.sh run them)"
)


def buildah_argv(*, cache: Path = CACHE) -> list[str]:
    """``buildah`` on the image store scripts/build-images.sh builds into (to run a built image)."""
    storage = cache / "images" / "storage"
    return ["buildah", "--root", str(storage), "--runroot", "/run/tradefleet-buildah"]


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines, as the build scripts write them; empty when the file is missing."""
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


@dataclass(frozen=True, kw_only=True, slots=True)
class Image:
    """One built image: its reference and the OCI archive containerd imports it from."""

    ref: str
    archive: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageSet:
    """The images built from the repository's Dockerfile (its three targets)."""

    operator: Image
    runtime: Image
    research: Image

    @classmethod
    def locate(cls, *, cache: Path = CACHE) -> ImageSet:
        env = read_env_file(cache / "images" / "images.env")
        found: dict[str, Image] = {}
        for target in ("operator", "runtime", "research"):
            ref, archive = env.get(f"IMAGE_{target.upper()}"), env.get(f"ARCHIVE_{target.upper()}")
            if not ref or not archive or not Path(archive).is_file():
                raise RealNodeUnavailableError(f"the {target} image is not built — {BUILD_HINT}")
            found[target] = Image(ref=ref, archive=Path(archive))
        return cls(**found)

    def all(self) -> tuple[Image, ...]:
        return (self.operator, self.runtime, self.research)


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeArtifacts:
    """Every program and image a real node needs."""

    kubelet: Path
    kubectl: Path
    containerd: Path
    ctr: Path
    runc: Path
    cni_dir: Path
    iptables: Path
    pause: Image
    images: ImageSet

    @classmethod
    def locate(cls, *, cache: Path = CACHE) -> NodeArtifacts:
        """All of them, or :class:`RealNodeUnavailableError` naming every missing one."""
        env = read_env_file(cache / "node" / "node.env")
        missing: list[str] = []
        programs: dict[str, Path] = {}
        for name, path in (("kubelet", env.get("KUBELET")), ("kubectl", env.get("KUBECTL"))):
            if path and os.access(path, os.X_OK):
                programs[name] = Path(path)
            else:
                missing.append(f"{name} (scripts/build-node.sh)")
        for name in ("containerd", "ctr", "runc", "iptables"):
            where = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
            if where:
                programs[name] = Path(where)
            else:
                missing.append(f"{name} (Debian package)")
        missing += [f"CNI plugin {p}" for p in CNI_PLUGINS if not (CNI_DIR / p).is_file()]
        pause_ref, pause_archive = env.get("PAUSE_IMAGE"), env.get("PAUSE_ARCHIVE")
        if not pause_ref or not pause_archive or not Path(pause_archive).is_file():
            missing.append("the pause image (scripts/build-node.sh --runtime)")
        if missing:
            raise RealNodeUnavailableError(
                f"missing for a real node: {', '.join(missing)} — {BUILD_HINT}"
            )
        assert pause_ref is not None and pause_archive is not None
        return cls(
            **programs,
            cni_dir=CNI_DIR,
            pause=Image(ref=pause_ref, archive=Path(pause_archive)),
            images=ImageSet.locate(cache=cache),
        )
