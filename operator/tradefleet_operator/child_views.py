"""What of a child a reconcile pass reads, to tell a change that matters from bookkeeping.

Pure. Called by the Kopf wiring (:mod:`tradefleet_operator.handlers`) for every watched change
of a child: the owner's pass loop is woken only when this view of the child changed (or the
child was deleted).

Kubernetes' own controllers change the operator's children in ways no pass reads. The
Deployment controller stamps its revision annotation and rewrites the rollout's counters and
conditions at each step; the token controller lists a ServiceAccount's token Secrets. Each of
those woke the bot's loop, and in a burst of new bots each such pass decoded and re-rendered
every child of its bot to find nothing to do, while the apiserver and the controllers waited
for CPU.

What a pass reads: a child's labels and annotations (drift, revisions), whether it is being
deleted, its owners and generation, everything outside metadata and status (drift compares
what the operator rendered), a Pod's and a Job's whole status (readiness, restarts, why it
waits, completion), and of a Deployment's status the counters the rollout is judged by.
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping
from typing import Any

# Of a Deployment's status, what the passes read (bot_status, sources, market_workloads).
DEPLOYMENT_STATUS_READ = (
    "observedGeneration",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
)
# Kinds whose whole status a pass reads.
WHOLE_STATUS_KINDS = frozenset({"Pod", "Job"})
# Metadata a pass reads besides labels and annotations: deletion (a pod terminating), owners (a
# runtime pod's ReplicaSet, an optimization Job's pod), the generation a rollout is judged by.
READ_METADATA = ("deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "generation")
# Annotations that Kubernetes' controllers keep on a child and no pass reads.
UNREAD_ANNOTATIONS = frozenset({"deployment.kubernetes.io/revision"})
# Fields outside metadata and status that Kubernetes keeps and no pass reads, by kind: the
# token controller lists a ServiceAccount's token Secrets (clusters before 1.24).
UNREAD_FIELDS: Mapping[str, frozenset[str]] = {"ServiceAccount": frozenset({"secrets"})}


def read_view(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``obj`` that a reconcile pass reads."""
    kind = str(obj.get("kind"))
    unread = UNREAD_FIELDS.get(kind, frozenset())
    view = {k: v for k, v in obj.items() if k not in ("metadata", "status") and k not in unread}
    meta = obj.get("metadata") or {}
    view["metadata"] = {
        "labels": meta.get("labels"),
        "annotations": {
            k: v for k, v in (meta.get("annotations") or {}).items() if k not in UNREAD_ANNOTATIONS
        },
        **{k: meta.get(k) for k in READ_METADATA},
    }
    status = obj.get("status") or {}
    if kind in WHOLE_STATUS_KINDS:
        view["status"] = status
    elif kind == "Deployment":
        view["status"] = {k: status.get(k) for k in DEPLOYMENT_STATUS_READ}
    return view


def view_digest(obj: Mapping[str, Any]) -> int:
    """A fingerprint of :func:`read_view`, to compare two versions of one child in this process.

    In marshal's format 2, fast and without the back-references of later formats (whose bytes
    depend on how often an object is referenced, not only on what it holds). The apiserver sends
    one object's fields in the same order every time, so an equal view gives equal bytes; a
    reordering would only cost a pass, never hide a change.
    """
    return hash(marshal.dumps(read_view(obj), 2))
