"""A real Kubernetes node on this machine — dev/test tooling: kubelet, containerd, runc and CNI.

Where the dev node agent (:mod:`tradefleet_devtools.devnode`) runs pods as local processes from the
development virtualenv, a real node runs them as containers of the images built from the
repository's Dockerfile (``scripts/build-images.sh``), with everything a cluster enforces:
``securityContext`` (non-root uid, read-only root filesystem, dropped capabilities), probes,
termination grace, ``kubectl logs``/``exec``, image errors. The kubelet and kubectl are built from
Debian's kubernetes source (``scripts/build-node.sh``); containerd, runc and the CNI plugins are
Debian packages. Used by the local stack (the e2e fixtures and the demo) for one region — the
others stay on the dev node agent (a Node has one region label; one kubelet per machine here).
Production uses real clusters; nothing in the operator or the runtime imports this package.
See docs/development.md ("Node kinds").

Public API::

    node_kind(requested) -> "real" | "dev" | "auto"      # TRADEFLEET_NODE, validated
    start_real_node(cluster=..., workdir=..., node=RealNodeSpec(name=..., region=...),
                    publish_ports=[...]) -> RealNodeHandle
        (.stop(), .container_pid(), .url_for_pods(), .images, .gateway, .artifacts.kubectl)
    NodeArtifacts.locate(), ImageSet.locate()             # what the build scripts produced
    clear_leftovers()       # kill and unmount what a killed earlier run left (start() does too)
"""

from __future__ import annotations

from tradefleet_devtools.realnode.artifacts import Image, ImageSet, NodeArtifacts
from tradefleet_devtools.realnode.errors import RealNodeError, RealNodeUnavailableError
from tradefleet_devtools.realnode.kinds import NODE_KINDS, node_kind
from tradefleet_devtools.realnode.launcher import (
    REAL_NODE_LABEL,
    RealNodeHandle,
    RealNodeSpec,
    clear_leftovers,
    start_real_node,
)

__all__ = [
    "NODE_KINDS",
    "REAL_NODE_LABEL",
    "Image",
    "ImageSet",
    "NodeArtifacts",
    "RealNodeError",
    "RealNodeHandle",
    "RealNodeSpec",
    "RealNodeUnavailableError",
    "clear_leftovers",
    "node_kind",
    "start_real_node",
]
