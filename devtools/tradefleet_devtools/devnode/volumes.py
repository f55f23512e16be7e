"""A pod's volumes as local directories, and the bind mounts that put them at their mountPath.

Used by the pod worker (:mod:`tradefleet_devtools.devnode.pods`). ConfigMap, Secret, downward-API
and projected (configMap/secret/downwardAPI sources) volumes are written the way the kubelet's
AtomicWriter writes them — a timestamped ``..<time>`` directory, a ``..data`` symlink swapped
atomically, and one symlink per top-level key — so a refresh after the object changes is atomic
for the reading process. emptyDir is a plain directory kept across container restarts; hostPath
is the host path itself. The container process sees each volume at its ``mountPath`` through a
bind mount made by the shim in a private mount namespace (:mod:`tradefleet_devtools.devnode.shim`).
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from tradefleet_devtools.devnode.errors import PodConfigError
from tradefleet_devtools.devnode.podenv import (
    CONFIG_ERROR,
    ObjectSource,
    PodContext,
    expand,
    field_value,
    resource_field_value,
)

JsonObject = dict[str, Any]

FAILED_MOUNT = "FailedMount"
DEFAULT_MODE = 0o644
DATA_LINK = "..data"
SUPPORTED_KINDS = ("configMap", "secret", "downwardAPI", "projected", "emptyDir", "hostPath")
# Kubernetes mounts these read-only whatever the volumeMount says.
READ_ONLY_KINDS = frozenset({"configMap", "secret", "downwardAPI", "projected"})


@dataclass(frozen=True, kw_only=True, slots=True)
class FileContent:
    data: bytes
    mode: int


@dataclass(frozen=True, kw_only=True, slots=True)
class BindMount:
    """One bind mount the shim makes before running the container's command."""

    source: Path
    target: str
    read_only: bool

    def to_json(self) -> JsonObject:
        return {"source": str(self.source), "target": self.target, "read_only": self.read_only}


def _mount_error(*, volume: str, message: str) -> PodConfigError:
    return PodConfigError(
        reason=FAILED_MOUNT, message=f'MountVolume.SetUp failed for volume "{volume}" : {message}'
    )


def _relative_path(*, text: str, what: str) -> PurePosixPath:
    """A path inside a volume: relative, no ``..`` (the apiserver checks too; not relied on)."""
    path = PurePosixPath(text)
    if not text or path.is_absolute() or ".." in path.parts:
        raise PodConfigError(
            reason=CONFIG_ERROR, message=f"{what} {text!r} must be a relative path without '..'"
        )
    return path


def _project(
    *,
    volume: str,
    entries: Mapping[str, bytes],
    items: list[JsonObject] | None,
    default_mode: int,
    optional: bool,
    what: str,
) -> dict[str, FileContent]:
    """Keys (all, or the listed ``items`` at their ``path`` and ``mode``) as files."""
    if not items:
        return {key: FileContent(data=value, mode=default_mode) for key, value in entries.items()}
    files: dict[str, FileContent] = {}
    for item in items:
        key = str(item.get("key", ""))
        if key not in entries:
            if optional:
                continue
            raise _mount_error(volume=volume, message=f"{what} references non-existent key: {key}")
        path = _relative_path(text=str(item.get("path", "")), what="item path")
        files[str(path)] = FileContent(data=entries[key], mode=int(item.get("mode", default_mode)))
    return files


def _config_map_entries(*, volume: str, found: JsonObject) -> dict[str, bytes]:
    entries = {str(k): str(v).encode() for k, v in (found.get("data") or {}).items()}
    for key, value in (found.get("binaryData") or {}).items():
        try:
            entries[str(key)] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _mount_error(
                volume=volume, message=f"binaryData key {key} is not base64"
            ) from exc
    return entries


def _secret_entries(*, volume: str, found: JsonObject) -> dict[str, bytes]:
    entries: dict[str, bytes] = {}
    for key, value in (found.get("data") or {}).items():
        try:
            entries[str(key)] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _mount_error(volume=volume, message=f"secret key {key} is not base64") from exc
    return entries


class PodVolumes:
    """Materialises one pod's volumes under ``root`` (``<state>/pods/<uid>/volumes``)."""

    def __init__(self, *, context: PodContext, root: Path) -> None:
        self._context = context
        self._root = root
        self._volumes: dict[str, JsonObject] = {
            str(v.get("name")): v for v in context.pod.get("spec", {}).get("volumes") or []
        }

    def _kind(self, volume: JsonObject) -> str:
        kinds = [k for k in volume if k != "name"]
        supported = [k for k in kinds if k in SUPPORTED_KINDS]
        if not supported:
            raise _mount_error(
                volume=str(volume.get("name")),
                message=f"volume type {'/'.join(kinds) or '(none)'} is not supported by the dev"
                f" node agent (supported: {', '.join(SUPPORTED_KINDS)})",
            )
        return supported[0]

    def _directory(self, name: str) -> Path:
        return self._root / name

    def materialise(self, *, source: ObjectSource) -> None:
        """Write (or refresh) every volume from ``source``'s current ConfigMaps and Secrets.

        Raises PodConfigError(FailedMount) naming the volume.
        """
        for name, volume in self._volumes.items():
            kind = self._kind(volume)
            if kind == "hostPath":
                self._prepare_host_path(name=name, spec=volume["hostPath"])
            elif kind == "emptyDir":
                self._directory(name).mkdir(parents=True, exist_ok=True)
            else:
                write_atomically(
                    target=self._directory(name),
                    files=self._payload(name=name, kind=kind, spec=volume[kind], source=source),
                )

    def _payload(
        self, *, name: str, kind: str, spec: JsonObject, source: ObjectSource
    ) -> dict[str, FileContent]:
        default_mode = int(spec.get("defaultMode", DEFAULT_MODE))
        if kind == "projected":
            files: dict[str, FileContent] = {}
            for projection in spec.get("sources") or []:
                for source_kind, source_spec in projection.items():
                    files.update(
                        self._source_payload(
                            volume=name,
                            kind=source_kind,
                            spec=source_spec,
                            default_mode=default_mode,
                            source=source,
                        )
                    )
            return files
        return self._source_payload(
            volume=name, kind=kind, spec=spec, default_mode=default_mode, source=source
        )

    def _source_payload(
        self, *, volume: str, kind: str, spec: JsonObject, default_mode: int, source: ObjectSource
    ) -> dict[str, FileContent]:
        namespace = self._context.namespace
        optional = bool(spec.get("optional", False))
        if kind == "configMap":
            object_name = str(spec.get("name", ""))
            found = source.config_map(namespace=namespace, name=object_name)
            if found is None:
                if optional:
                    return {}
                raise _mount_error(volume=volume, message=f'configmap "{object_name}" not found')
            return _project(
                volume=volume,
                entries=_config_map_entries(volume=volume, found=found),
                items=spec.get("items"),
                default_mode=default_mode,
                optional=optional,
                what="configmap",
            )
        if kind == "secret":
            object_name = str(spec.get("secretName") or spec.get("name") or "")
            found = source.secret(namespace=namespace, name=object_name)
            if found is None:
                if optional:
                    return {}
                raise _mount_error(volume=volume, message=f'secret "{object_name}" not found')
            return _project(
                volume=volume,
                entries=_secret_entries(volume=volume, found=found),
                items=spec.get("items"),
                default_mode=default_mode,
                optional=optional,
                what="secret",
            )
        if kind == "downwardAPI":
            return self._downward_payload(spec=spec, default_mode=default_mode)
        raise _mount_error(
            volume=volume, message=f"projected source {kind} is not supported by the dev node agent"
        )

    def _downward_payload(self, *, spec: JsonObject, default_mode: int) -> dict[str, FileContent]:
        files: dict[str, FileContent] = {}
        containers = self._context.pod.get("spec", {}).get("containers") or [{}]
        for item in spec.get("items") or []:
            path = _relative_path(text=str(item.get("path", "")), what="downwardAPI item path")
            if "fieldRef" in item:
                value = field_value(
                    context=self._context, field_path=str(item["fieldRef"].get("fieldPath", ""))
                )
            else:
                value = resource_field_value(
                    context=self._context,
                    container=containers[0],
                    reference=item.get("resourceFieldRef") or {},
                )
            files[str(path)] = FileContent(
                data=value.encode(), mode=int(item.get("mode", default_mode))
            )
        return files

    def _prepare_host_path(self, *, name: str, spec: JsonObject) -> None:
        path = Path(str(spec.get("path", "")))
        kind = str(spec.get("type") or "")
        if kind == "DirectoryOrCreate":
            path.mkdir(parents=True, exist_ok=True)
        elif kind == "FileOrCreate":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
        elif kind == "Directory" and not path.is_dir():
            raise _mount_error(
                volume=name, message=f"hostPath type check failed: {path} is not a directory"
            )
        elif kind == "File" and not path.is_file():
            raise _mount_error(
                volume=name, message=f"hostPath type check failed: {path} is not a file"
            )

    def mounts_for(self, *, container: JsonObject, env: Mapping[str, str]) -> list[BindMount]:
        """The bind mounts of one container, parents before children (so nested mounts stack)."""
        mounts: list[BindMount] = []
        for mount in container.get("volumeMounts") or []:
            name = str(mount.get("name", ""))
            volume = self._volumes.get(name)
            if volume is None:
                raise PodConfigError(
                    reason=CONFIG_ERROR, message=f'volumeMount refers to unknown volume "{name}"'
                )
            kind = self._kind(volume)
            target = str(mount.get("mountPath", ""))
            if not target.startswith("/"):
                raise PodConfigError(
                    reason=CONFIG_ERROR, message=f"mountPath {target!r} must be an absolute path"
                )
            base = Path(volume["hostPath"]["path"]) if kind == "hostPath" else self._directory(name)
            sub_text = str(
                mount.get("subPath") or expand(str(mount.get("subPathExpr") or ""), env=env)
            )
            source = base
            if sub_text:
                source = base / _relative_path(text=sub_text, what="subPath")
                if kind in READ_ONLY_KINDS and not source.exists():
                    raise PodConfigError(
                        reason=CONFIG_ERROR,
                        message=f"subPath {sub_text!r} does not exist in volume {name}",
                    )
                if not source.exists():
                    source.mkdir(parents=True)
            mounts.append(
                BindMount(
                    source=source,
                    target=target,
                    read_only=kind in READ_ONLY_KINDS or bool(mount.get("readOnly", False)),
                )
            )
        return sorted(mounts, key=lambda m: len(PurePosixPath(m.target).parts))


def _read_tree(root: Path) -> dict[str, FileContent]:
    files: dict[str, FileContent] = {}
    for path in root.rglob("*"):
        if path.is_file():
            files[str(path.relative_to(root))] = FileContent(
                data=path.read_bytes(), mode=path.stat().st_mode & 0o7777
            )
    return files


def write_atomically(*, target: Path, files: Mapping[str, FileContent]) -> bool:
    """Make ``target`` show exactly ``files``; True when something changed.

    Readers never see a half-written set: the new files go to a fresh ``..<time>`` directory and
    the ``..data`` symlink is swapped with one rename.
    """
    target.mkdir(parents=True, exist_ok=True)
    data_link = target / DATA_LINK
    old_dir = target / os.readlink(data_link) if data_link.is_symlink() else None
    if old_dir is not None and old_dir.is_dir() and _read_tree(old_dir) == dict(files):
        return False
    stamp = datetime.now(UTC).strftime("..%Y_%m_%d_%H_%M_%S.%f")
    new_dir = target / stamp
    new_dir.mkdir()
    for relative, content in files.items():
        path = new_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.data)
        path.chmod(content.mode)
    temporary_link = target / "..data_tmp"
    temporary_link.unlink(missing_ok=True)
    temporary_link.symlink_to(stamp)
    temporary_link.replace(data_link)
    wanted = {PurePosixPath(relative).parts[0] for relative in files}
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in wanted and entry.is_symlink():
            entry.unlink()
    for name in wanted:
        link = target / name
        if not link.is_symlink():
            link.symlink_to(f"{DATA_LINK}/{name}")
    if old_dir is not None and old_dir.is_dir():
        shutil.rmtree(old_dir)
    return True
