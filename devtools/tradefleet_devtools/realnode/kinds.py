"""Which kind of node the local stack runs pods on: ``real``, ``dev`` or ``auto``.

Read by the stack (:mod:`tradefleet_devtools.stack`), the demo's CLI and the e2e fixtures (their
``--node-kind`` option); ``TRADEFLEET_NODE`` sets it for the README's two commands, and
``scripts/bootstrap.sh`` builds the real node's pieces unless it is ``dev``.

- ``real``: a real kubelet with containerd for the first operator region; failing to start one is
  an error.
- ``dev``: the dev node agent for every region (pods are local processes), as before issue 16.
- ``auto`` (the default): ``real`` when this machine can run it, else ``dev`` with a message that
  says why.
"""

from __future__ import annotations

import os

NODE_KINDS = ("auto", "real", "dev")
ENV_VAR = "TRADEFLEET_NODE"


def node_kind(requested: str | None = None) -> str:
    """``requested``, else ``$TRADEFLEET_NODE``, else ``auto``; a ValueError for anything else."""
    kind = (requested or os.environ.get(ENV_VAR) or "auto").strip().lower()
    if kind not in NODE_KINDS:
        raise ValueError(f"{ENV_VAR} must be one of {', '.join(NODE_KINDS)}, got {kind!r}")
    return kind
