"""The reconciler's write path: create what is missing, apply what drifted, delete, remember our writes.

One :class:`ChildWriter` per operator process, owned by the reconciler
(:mod:`tradefleet_operator.reconcile`). Every object it writes is labelled with the operator's
region. It keeps two caches: the objects it wrote, until the watch-fed index has caught up with
them (without it, a pass right after a write would take a not-yet-indexed child for missing), and
the bots whose control-token Secret it has seen exist.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradefleet_operator.drift import object_in_sync
from tradefleet_operator.field_ownership import as_applied
from tradefleet_operator.kube import (
    FIELD_MANAGER,
    KubeApiError,
    KubeClient,
    pack_object,
    resource_version,
    unpack_object,
)
from tradefleet_operator.outcome import Event, warning
from tradefleet_operator.render import LABEL_REGION, Owner, render_control_secret
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec.vocabulary import Reason

ChildKey = tuple[str, str]  # (kind, name)
log = logging.getLogger("tradefleet.operator")

# Children written after the objects a pod needs (its ServiceAccount, configuration, Secret and
# NetworkPolicy): the workloads themselves, and what no pod needs to start (the revision record,
# the Service in front of it), which would otherwise hold the workloads back.
_SECOND_WAVE_KINDS = frozenset({"Deployment", "Job", "ControllerRevision", "Service"})

# Children created by a server-side apply, not a POST. A ControllerRevision's data is kept byte for
# byte and is immutable: POSTed, it would be stored in this client's JSON formatting, and every
# later apply or patch of the revision, which the apiserver encodes anew, would change those
# bytes and be refused ("data: field is immutable").
_CREATED_BY_APPLY = frozenset({"ControllerRevision"})
# Reads and rewrites of a child's field ownership before a conflict fails the pass.
_OWNERSHIP_ATTEMPTS = 3
# How long our own write stands in for a child the index has not delivered yet.
APPLIED_CACHE_TTL_S = 30.0


# What converging one child gives: what was wrong with it (None: in sync), and the child now.
_ChildConverged = tuple[str | None, Mapping[str, Any] | None]


async def _all_ended(jobs: Sequence[Awaitable[Any]]) -> list[Any]:
    """What ``jobs`` gave, run together. The first failure (in the order of ``jobs``) is raised
    only once every job has ended: a write left running would outlive its pass, and its own
    failure would go unread. The other failures are logged."""
    results = await asyncio.gather(*jobs, return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    for other in failures[1:]:
        log.info("also failed in the same wave: %s", other)
    if failures:
        raise failures[0]
    return results


def owner_of(body: Mapping[str, Any]) -> Owner:
    """The resource ``body`` as the owner of its children."""
    meta = body["metadata"]
    return Owner(
        kind=str(body["kind"]), name=meta["name"], namespace=meta["namespace"], uid=meta["uid"]
    )


def of_kind(children: Mapping[ChildKey, Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    """The children of one kind."""
    return [obj for (k, _), obj in children.items() if k == kind]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Applied:
    """A child this process wrote, as the apiserver answered."""

    at_s: float  # when, on the monotonic clock
    resource_version: int
    packed: bytes  # the answer (see :func:`tradefleet_operator.kube.pack_object`)
    created: bool  # the write created the child


@dataclass(frozen=True, kw_only=True, slots=True)
class Converged:
    """What converging a set of children wrote, and the events that say what was repaired."""

    writes: int
    events: tuple[Event, ...] = ()
    # Each desired child as the converge leaves it: the write's answer, else what was known.
    children: Mapping[ChildKey, Mapping[str, Any]] = field(default_factory=dict)


class ChildWriter:
    """Writes a resource's children; one instance per operator process."""

    def __init__(self, *, kube: KubeClient, settings: OperatorSettings) -> None:
        self.kube = kube
        self.settings = settings
        # Bots whose control-token Secret this process has seen exist.
        self._control_secrets: set[str] = set()
        # What this process wrote, until the watch-fed index has caught up with it.
        self._applied: dict[tuple[str, str, str], _Applied] = {}

    async def converge(
        self,
        *,
        desired: Sequence[Mapping[str, Any]],
        children: Mapping[ChildKey, Mapping[str, Any]],
        was_reconciled: bool,
        prerequisites: Awaitable[int] | None = None,
    ) -> Converged:
        """Create every child that is missing and apply every one that drifted.

        Children a workload's pods need (its ServiceAccount is checked when the pod is admitted)
        are written together first; the workloads after them, with what no pod needs to start:
        a new bot costs two round trips, not six.
        ``prerequisites`` (what else the pods read at start, e.g. the control-token Secret; it
        returns how many objects it wrote) runs alongside the first wave, so it too is done
        before any workload exists without a round trip of its own.
        """
        stamped = [self.stamped(obj) for obj in desired]
        waves = (
            [obj for obj in stamped if obj["kind"] not in _SECOND_WAVE_KINDS],
            [obj for obj in stamped if obj["kind"] in _SECOND_WAVE_KINDS],
        )
        writes = 0
        events: list[Event] = []
        now: dict[ChildKey, Mapping[str, Any]] = {}
        for number, wave in enumerate(waves):
            alongside = [prerequisites] if number == 0 and prerequisites is not None else []
            ended = await _all_ended(
                [*(self._converge_child(obj=obj, children=children) for obj in wave), *alongside]
            )
            repairs: list[_ChildConverged] = ended[: len(wave)]
            writes += sum(ended[len(wave) :])
            for obj, (repaired, left) in zip(wave, repairs, strict=True):
                if left is not None:
                    now[(str(obj["kind"]), str(obj["metadata"]["name"]))] = left
                if repaired is None:
                    continue
                writes += 1
                if was_reconciled and obj["kind"] != "ControllerRevision":
                    events.append(
                        warning(
                            Reason.DRIFT_REPAIRED,
                            f"{obj['kind']} {obj['metadata']['name']} {repaired}",
                        )
                    )
        return Converged(writes=writes, events=tuple(events), children=now)

    async def _converge_child(
        self, *, obj: Mapping[str, Any], children: Mapping[ChildKey, Mapping[str, Any]]
    ) -> _ChildConverged:
        """Write ``obj`` if it is missing or drifted: say what was wrong (None if in sync), and
        give the child as it is now."""
        key = (str(obj["kind"]), str(obj["metadata"]["name"]))
        actual = self.observed(
            namespace=str(obj["metadata"]["namespace"]), key=key, indexed=children.get(key)
        )
        if actual is not None and object_in_sync(actual=actual, desired=obj):
            return None, actual
        log.info(
            "%s %s/%s: %s",
            "creating" if actual is None else "repairing",
            obj["metadata"]["namespace"],
            key[1],
            key[0],
        )
        try:
            answer, wrote, created = await self._write(obj=obj, missing=actual is None)
        except KubeApiError as exc:
            # Which child, for the condition that reports it.
            raise KubeApiError(
                status=exc.status,
                reason=exc.reason,
                message=f"{key[0]} {key[1]}: {exc.message}",
                causes=exc.causes,
            ) from exc
        self._applied[(str(obj["metadata"]["namespace"]), *key)] = _Applied(
            at_s=time.monotonic(),
            resource_version=resource_version(answer),
            packed=pack_object(answer),
            created=created,
        )
        if not wrote:
            return None, answer
        repaired = (
            "was missing and was recreated" if actual is None else "had drifted and was restored"
        )
        return repaired, answer

    async def _write(
        self, *, obj: Mapping[str, Any], missing: bool
    ) -> tuple[dict[str, Any], bool, bool]:
        """Write ``obj`` (``missing``: neither the index nor a write of ours has seen it); return
        the child, whether it was written and whether this write created it."""
        if not missing:
            answer, wrote = await self._repair(obj=obj)
            return answer, wrote, False
        if obj["kind"] in _CREATED_BY_APPLY:
            # Applied without reading it first: that read would put a round trip before the
            # bot's Deployment, and an apply of what exists already as rendered changes nothing.
            # Taken as created even then: only the operator writes these, so their echo tells
            # nothing that the apply's answer did not.
            return await self.kube.apply(body=dict(obj)), True, True
        created = await self._create_new(obj=obj)
        if created is not None:
            return created, True, True
        answer, wrote = await self._repair(obj=obj)
        return answer, wrote, False

    async def _create_new(self, *, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create a child that no index or write of ours has seen; None when it exists already.

        A POST, not an apply: it costs the apiserver less (:mod:`tradefleet_operator.field_ownership`).
        """
        try:
            return await self.kube.create(body=dict(obj))
        except KubeApiError as exc:
            if not exc.conflict:
                raise
            return None

    async def _repair(self, *, obj: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Apply ``obj`` over the live child, owning as applied what our plain writes wrote; return
        the child and whether it was written. A child the index had not delivered yet (a POST
        that found it there, a restarted operator) may be as rendered already: then nothing is
        written, not even its field ownership."""
        meta = obj["metadata"]
        live, in_sync = await self._live_owned_as_applied(obj=obj)
        if live is not None and in_sync:
            return live, False
        try:
            return await self.kube.apply(body=dict(obj)), True
        except KubeApiError as exc:
            if exc.status != 422 or live is None:
                raise
            # Someone else's fields make the merged object invalid (a hand-set rollingUpdate
            # under our Recreate): replace the whole object with what we rendered. The next
            # repair owns its fields as applied again.
            version = live["metadata"]["resourceVersion"]
            replaced = await self.kube.replace(
                body={**obj, "metadata": {**meta, "resourceVersion": version}}
            )
            return replaced, True

    async def _live_owned_as_applied(
        self, *, obj: Mapping[str, Any]
    ) -> tuple[dict[str, Any] | None, bool]:
        """The live child of ``obj`` (None if there is none) and whether it holds ``obj`` already;
        if not, with the fields of our creates and replaces of it moved into our Apply entry,
        so that the apply that follows removes what the rendering leaves out. A conflict (a
        controller wrote in between) is retried on a fresh read."""
        kind, meta = str(obj["kind"]), obj["metadata"]
        for attempt in range(_OWNERSHIP_ATTEMPTS):
            live = await self.kube.get(kind=kind, namespace=meta["namespace"], name=meta["name"])
            if live is None:
                return None, False
            if object_in_sync(actual=live, desired=obj):
                return live, True
            version = live["metadata"]["resourceVersion"]
            rewritten = as_applied(
                managed_fields=live["metadata"].get("managedFields") or [], manager=FIELD_MANAGER
            )
            if rewritten is None:
                return live, False
            try:
                owned = await self.kube.patch_json(
                    kind=kind,
                    namespace=meta["namespace"],
                    name=meta["name"],
                    operations=[
                        # A precondition: the apiserver answers 409 if the child changed since.
                        {"op": "replace", "path": "/metadata/resourceVersion", "value": version},
                        {"op": "replace", "path": "/metadata/managedFields", "value": rewritten},
                    ],
                )
                return owned, False
            except KubeApiError as exc:
                if not exc.conflict or attempt == _OWNERSHIP_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable: the loop returns or raises")

    async def create(self, *, body: Mapping[str, Any]) -> bool:
        """Create ``body`` (region-labelled); False when it already exists."""
        try:
            await self.kube.create(body=self.stamped(body))
        except KubeApiError as exc:
            if not exc.conflict:
                raise
            return False
        return True

    async def delete(self, *, kind: str, namespace: str, name: str) -> bool:
        return await self.kube.delete(kind=kind, namespace=namespace, name=name)

    def stamped(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """``obj`` labelled with this operator's region, so another region's operator sharing the
        cluster never takes it for a leftover of its own."""
        meta = dict(obj["metadata"])
        meta["labels"] = {**(meta.get("labels") or {}), LABEL_REGION: self.settings.region}
        return {**obj, "metadata": meta}

    def observed(
        self, *, namespace: str, key: ChildKey, indexed: Mapping[str, Any] | None
    ) -> Mapping[str, Any] | None:
        """The freshest known version of a child: the index's, or our own newer write."""
        cache_key = (namespace, *key)
        applied = self._applied.get(cache_key)
        if applied is None:
            return indexed
        if time.monotonic() - applied.at_s > APPLIED_CACHE_TTL_S or (
            indexed is not None and resource_version(indexed) >= applied.resource_version
        ):
            del self._applied[cache_key]
            return indexed
        return unpack_object(applied.packed)

    def child_observed(self, *, obj: Mapping[str, Any], deleted: bool = False) -> bool:
        """The watch delivered ``obj``, changed or ``deleted``: a write of ours it has caught up
        with is no longer newer than the index. Without this, a child deleted soon after we
        wrote it would look present to the next pass until the cached write expired.

        Return whether ``obj`` is only the echo of that write, when the write created it: the
        pass that created it knew all it says. (An update's answer may carry what someone else
        changed since the pass read the index, such as a Deployment's status.)
        """
        meta = obj.get("metadata") or {}
        cache_key = (str(meta.get("namespace")), str(obj.get("kind")), str(meta.get("name")))
        applied = self._applied.get(cache_key)
        if applied is None or resource_version(obj) < applied.resource_version:
            return False
        del self._applied[cache_key]
        return applied.created and not deleted and resource_version(obj) == applied.resource_version

    async def ensure_control_secret(self, *, owner: Owner) -> int:
        """Create the bot's control-token Secret once; return how many objects were written."""
        if owner.uid in self._control_secrets:
            return 0
        # Create and let a conflict say it exists: for a new bot that is one round trip, not two.
        created = await self.create(
            body=render_control_secret(owner=owner, token=secrets.token_urlsafe(32))
        )
        self._control_secrets.add(owner.uid)
        return 1 if created else 0

    async def prune_revisions(
        self, *, owner: Owner, kept: Sequence[Mapping[str, Any]], current: int, keep: Any
    ) -> int:
        """Delete the ControllerRevisions beyond revisionHistoryLimit, except current and ``keep``."""
        ordered = sorted(kept, key=lambda obj: int(obj.get("revision", 0)), reverse=True)
        deleted = 0
        for obj in ordered[self.settings.revision_history_limit :]:
            if int(obj.get("revision", 0)) in (current, keep):
                continue
            if await self.kube.delete(
                kind="ControllerRevision", namespace=owner.namespace, name=obj["metadata"]["name"]
            ):
                deleted += 1
        return deleted

    async def remove_region_children(
        self, *, owner: Owner, children: Mapping[ChildKey, Mapping[str, Any]]
    ) -> int:
        """Delete what this region made for a resource that another region now owns (pods go
        with their workloads)."""
        removed = 0
        for (kind, name), obj in children.items():
            mine = (obj.get("metadata", {}).get("labels") or {}).get(
                LABEL_REGION
            ) == self.settings.region
            if (
                kind != "Pod"
                and mine
                and await self.kube.delete(kind=kind, namespace=owner.namespace, name=name)
            ):
                removed += 1
        return removed

    def forget(self, *, uid: str) -> None:
        self._control_secrets.discard(uid)
