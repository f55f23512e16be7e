"""The plugin's changes to a bot, each exactly the signal the operator already acts on.

Called by :mod:`tradefleet_kubectl.cli`. Every action is idempotent (running it twice leaves the
bot as running it once) and returns the line the plugin prints:

- ``pause`` / ``resume``: ``spec.paused`` true / false (a command to the running runtime, no new
  revision: :func:`tradefleet_operator.revisions.revision_content` leaves it out);
- ``kill`` / ``unkill``: the ``tradefleet.io/kill-switch`` annotation set to ``true`` / removed
  (:data:`tradefleet_operator.healing.ANNOTATION_KILL_SWITCH`);
- ``reset-breaker``: a new value (the time) of ``tradefleet.io/reset-circuit-breaker``, overwriting
  the previous one: the operator sends one reset per new value and records it in
  ``status.control.breakerResetAcknowledged``;
- ``rollback --to-revision N``: the spec kept in revision N's ControllerRevision written back as
  the bot's spec (keeping ``spec.paused``), as ``kubectl apply`` of the old manifest would. The
  operator knows that configuration by its content hash and rolls it out again, under a new number
  (revision numbers only grow).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tradefleet_operator.healing import ANNOTATION_KILL_SWITCH, ANNOTATION_RESET_BREAKER

from tradefleet_kubectl.cluster import Cluster, PluginError
from tradefleet_kubectl.facts import revision_facts


def _bot_ref(cluster: Cluster, name: str) -> str:
    return f"tradingbot {cluster.namespace}/{name}"


def set_paused(*, cluster: Cluster, name: str, paused: bool) -> str:
    """``pause`` (``paused``) or ``resume``: set ``spec.paused``."""
    bot = cluster.bot(name)
    word = "paused" if paused else "resumed"
    if bool((bot.get("spec") or {}).get("paused")) == paused:
        return f"{_bot_ref(cluster, name)} already {word} (spec.paused={str(paused).lower()})"
    cluster.patch_bot(name, {"spec": {"paused": paused}})
    return f"{_bot_ref(cluster, name)} {word} (spec.paused={str(paused).lower()})"


def set_kill_switch(*, cluster: Cluster, name: str, engaged: bool) -> str:
    """``kill`` (``engaged``): set the kill-switch annotation to ``true``; ``unkill``: remove it."""
    bot = cluster.bot(name)
    annotations = (bot.get("metadata") or {}).get("annotations") or {}
    now_set = str(annotations.get(ANNOTATION_KILL_SWITCH, "")).lower() == "true"
    ref = _bot_ref(cluster, name)
    if engaged:
        if now_set:
            return f"{ref} kill switch already set ({ANNOTATION_KILL_SWITCH}=true)"
        cluster.patch_bot(name, {"metadata": {"annotations": {ANNOTATION_KILL_SWITCH: "true"}}})
        return (
            f"{ref} kill switch set ({ANNOTATION_KILL_SWITCH}=true): the runtime halts and "
            "flattens; see status.control.killSwitch"
        )
    if ANNOTATION_KILL_SWITCH not in annotations:
        return f"{ref} kill switch already not set"
    cluster.patch_bot(name, {"metadata": {"annotations": {ANNOTATION_KILL_SWITCH: None}}})
    return f"{ref} kill switch removed: the runtime resumes"


def reset_breaker(*, cluster: Cluster, name: str, now: datetime | None = None) -> str:
    """A new reset request: the annotation's value is the time, overwriting the last one."""
    bot = cluster.bot(name)
    value = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.patch_bot(name, {"metadata": {"annotations": {ANNOTATION_RESET_BREAKER: value}}})
    breaker = (bot.get("status") or {}).get("circuitBreaker") or {}
    ref = _bot_ref(cluster, name)
    if breaker.get("state") != "Open":
        return f"{ref} reset requested ({ANNOTATION_RESET_BREAKER}={value}); no breaker is open"
    return (
        f"{ref} reset requested ({ANNOTATION_RESET_BREAKER}={value}) for the open "
        f"{breaker.get('reason') or ''} breaker; the runtime acts on it once "
        "(status.control.breakerResetAcknowledged)"
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class RollbackResult:
    message: str
    # The content hash of revision N: the operator runs it again once it rolled out.
    target_hash: str
    generation: int | None


def rollback(*, cluster: Cluster, name: str, to_revision: int) -> RollbackResult:
    """Write the spec kept by revision ``to_revision`` back as the bot's spec."""
    bot = cluster.bot(name)
    status = bot.get("status") or {}
    revisions = {r.number: r for r in revision_facts(status=status, kept=cluster.revisions(name))}
    target = revisions.get(to_revision)
    if target is None or target.spec is None:
        kept = sorted(n for n, r in revisions.items() if r.spec is not None)
        raise PluginError(
            f"revision {to_revision} of {_bot_ref(cluster, name)} is not kept; kept revisions: "
            f"{', '.join(map(str, kept)) or 'none'}"
        )
    spec: dict[str, Any] = dict(bot.get("spec") or {})
    restored: dict[str, Any] = dict(target.spec)
    if "paused" in spec:
        restored["paused"] = spec["paused"]  # not part of a revision: a pause stays a pause
    ref = _bot_ref(cluster, name)
    if restored == spec:
        return RollbackResult(
            message=f"{ref} spec already equals revision {to_revision}'s; nothing to do",
            target_hash=target.hash,
            generation=None,
        )
    body = dict(bot)
    body.pop("status", None)
    body["spec"] = restored
    written = cluster.replace_bot(name, body)
    generation = (written.get("metadata") or {}).get("generation")
    return RollbackResult(
        message=f"{ref} spec of revision {to_revision} restored (hash {target.hash[:12]}); "
        "the operator rolls it out as the newest revision",
        target_hash=target.hash,
        generation=int(generation) if generation is not None else None,
    )


def wait_rolled_out(
    *,
    cluster: Cluster,
    name: str,
    result: RollbackResult,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Wait until the operator reconciled the restored spec; which revision runs it."""
    deadline = time.monotonic() + timeout_s
    status: Mapping[str, Any] = {}
    while time.monotonic() < deadline:
        status = cluster.bot(name).get("status") or {}
        observed = status.get("observedGeneration")
        if result.generation is None or (observed is not None and observed >= result.generation):
            current = status.get("currentRevision")
            history = {int(r.get("revision") or 0): r for r in status.get("revisionHistory") or []}
            row = history.get(int(current)) if current is not None else None
            if row is not None and row.get("hash") == result.target_hash:
                return f"now at revision {current}, the configuration of the restored revision"
            if row is not None:
                return (
                    f"now at revision {current} (hash {str(row.get('hash'))[:12]}): the spec is "
                    "restored, but the runtime image or an adopted optimization changed since, so "
                    "the configuration differs"
                )
        sleep(1.0)
    raise PluginError(
        f"the operator did not roll the restored spec out within {timeout_s:.0f}s "
        f"(currentRevision {status.get('currentRevision')}, observedGeneration "
        f"{status.get('observedGeneration')}); is its region's operator running?"
    )
