"""``kubectl tradefleet report NAME``: a debug bundle of one bot, safe to attach to an issue.

Called by :mod:`tradefleet_kubectl.cli`. Writes a ``.tar.gz`` holding the bot (spec and status),
the status view, the ``ask`` answers, its events, its kept revisions, its pods and the recent logs
of each pod's runtime container. Secrets are never read; anything that could carry a credential —
a field named like a password, token or key, an environment variable so named, the user and
password part of a URL — is replaced by ``<redacted>`` (:func:`redact`).
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tradefleet_kubectl.ask import Topic, answer
from tradefleet_kubectl.cluster import Cluster, PluginError
from tradefleet_kubectl.facts import bot_facts
from tradefleet_kubectl.status_view import bot_detail

REDACTED = "<redacted>"
LOG_TAIL_LINES = 2000
_SECRET_NAME = re.compile(
    r"(pass(word|phrase)?|secret|token|api[-_]?key|private[-_]?key|credential)", re.I
)
# Keys that name a Secret or a key of one rather than hold a value; what a ``…Ref`` holds is such
# names too (``secretRef``, ``secretKeyRef``).
_REFERENCES = frozenset({"secretName", "secretKey"})
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def _redact_text(text: str) -> str:
    return _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)


def redact(value: Any, *, key: str = "", reference: bool = False) -> Any:
    """``value`` with every credential-like field, env value and URL userinfo replaced."""
    if isinstance(value, Mapping):
        inner = reference or key.endswith("Ref")
        items = {str(k): redact(v, key=str(k), reference=inner) for k, v in value.items()}
        if "value" in value and _SECRET_NAME.search(str(value.get("name") or "")):
            items["value"] = REDACTED  # an env variable named like a credential
        return items
    if isinstance(value, list):
        return [redact(v, key=key, reference=reference) for v in value]
    if isinstance(value, str):
        if not reference and key not in _REFERENCES and _SECRET_NAME.search(key):
            return REDACTED
        return _redact_text(value)
    return value


def _clean(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An API object without its managedFields and last-applied copy, redacted."""
    metadata = dict(obj.get("metadata") or {})
    metadata.pop("managedFields", None)
    annotations = {
        k: v
        for k, v in (metadata.get("annotations") or {}).items()
        if k not in _DROPPED_ANNOTATIONS
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    return dict(redact({**obj, "metadata": metadata}))


@dataclass(frozen=True, kw_only=True, slots=True)
class Bundle:
    path: Path
    files: tuple[str, ...]


def _add(tar: tarfile.TarFile, *, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _dump(objs: Any) -> str:
    return yaml.safe_dump(objs, sort_keys=False, allow_unicode=True)


def _pod_logs(cluster: Cluster, pod: Mapping[str, Any]) -> dict[str, str]:
    name = str(pod["metadata"]["name"])
    restarted = any(
        int(c.get("restartCount") or 0) > 0
        for c in (pod.get("status") or {}).get("containerStatuses") or []
    )
    logs: dict[str, str] = {}
    for previous in (False, True) if restarted else (False,):
        suffix = ".previous" if previous else ""
        try:
            text = cluster.logs(name, tail=LOG_TAIL_LINES, previous=previous)
            logs[f"logs/{name}{suffix}.log"] = _redact_text(text)
        except PluginError as exc:
            logs[f"logs/{name}{suffix}.error.txt"] = f"{exc}\n"
    return logs


def write_report(*, cluster: Cluster, name: str, output: Path | None = None) -> Bundle:
    """Collect the bot's bundle and write it to ``output`` (default: a file named after it)."""
    bot = cluster.bot(name)
    events = cluster.events(name)
    kept = cluster.revisions(name)
    pods = cluster.pods(name)
    facts = bot_facts(bot=bot, events=events, kept=kept, pod=cluster.current_pod(name, bot=bot))
    stamp = facts.now.strftime("%Y%m%dT%H%M%SZ")
    path = output or Path(f"tradefleet-report-{cluster.namespace}-{name}-{stamp}.tar.gz")
    root = f"tradefleet-report-{cluster.namespace}-{name}"
    files: dict[str, str] = {
        "bot.yaml": _dump(_clean(bot)),
        "status.txt": _redact_text(bot_detail(facts)) + "\n",
        "answers.txt": "\n\n".join(
            f"Q: {t.value}\n" + _redact_text(answer(facts=facts, question=t.value).text)
            for t in Topic
            if t is not Topic.UNKNOWN
        )
        + "\n",
        "events.yaml": _dump([_clean(e) for e in events]),
        "revisions.yaml": _dump([_clean(r) for r in kept]),
        "pods.yaml": _dump([_clean(p) for p in pods]),
    }
    for pod in pods:
        files.update(_pod_logs(cluster, pod))
    with tarfile.open(path, "w:gz") as tar:
        for file_name, text in files.items():
            _add(tar, name=f"{root}/{file_name}", text=text)
    return Bundle(path=path, files=tuple(files))
