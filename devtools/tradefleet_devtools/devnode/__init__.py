"""The dev node agent — dev/test tooling, NOT a kubelet.

On machines without a container runtime (so without a kubelet) it plays one or more Nodes of a
real control plane and runs the pods the real scheduler binds to them as local processes: volumes,
env, pod IPs on 127/8, probes, restarts with backoff, status and Events, graceful deletion.
Used by the test fixtures and the local demo; production clusters use the real kubelet and nothing
in the operator or the runtime imports this package. See docs/dev-node-agent.md.

Public API::

    start_dev_node_agent(cluster=..., state_dir=..., nodes=[NodeSpec(name=..., region=...)], ...)
        -> DevNodeAgentHandle (.stop(), .kill(), .restart(), .container_pid(), .container_log())
    DevNodeAgent(settings=AgentSettings(...)).run()      # in-process, e.g. in a thread
    python -m tradefleet_devtools.devnode --kubeconfig K --node tokyo-1=ap-northeast-1 ...
"""

from __future__ import annotations

from tradefleet_devtools.devnode.agent import DevNodeAgent
from tradefleet_devtools.devnode.errors import (
    AgentConfigError,
    AgentStartError,
    DevNodeError,
    KubeApiError,
    PodConfigError,
)
from tradefleet_devtools.devnode.launcher import DevNodeAgentHandle, start_dev_node_agent
from tradefleet_devtools.devnode.nodes import AGENT_LABEL, REGION_LABEL
from tradefleet_devtools.devnode.settings import AgentSettings, NodeSpec

__all__ = [
    "AGENT_LABEL",
    "REGION_LABEL",
    "AgentConfigError",
    "AgentSettings",
    "AgentStartError",
    "DevNodeAgent",
    "DevNodeAgentHandle",
    "DevNodeError",
    "KubeApiError",
    "NodeSpec",
    "PodConfigError",
    "start_dev_node_agent",
]
