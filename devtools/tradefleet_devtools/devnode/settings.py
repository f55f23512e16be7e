"""The dev node agent's settings: the nodes it plays, its flags, and the loopback pod network.

Used by ``python -m tradefleet_devtools.devnode`` (flags → :class:`AgentSettings`), by the launcher
(:class:`AgentSettings` → flags, so both directions share one definition) and by the agent.

Pod IPs: every node gets a /24 of the pod network (default ``127.77.0.0/16``; node *k* gets
``127.77.<k+1>.0/24``), its InternalIP is ``.1`` and its pods get ``.2`` … ``.254``. The whole of
127/8 routes to ``lo`` on Linux, so these addresses are bindable and reachable without set-up, and
two pods can listen on the same port. Nothing isolates a process that binds ``0.0.0.0``.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tradefleet_devtools.devnode.errors import AgentConfigError

DEFAULT_STATE_DIR = Path.home() / ".cache" / "tradefleet" / "devnode"
DEFAULT_POD_NETWORK = "127.77.0.0/16"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
# 127.0.0.0/16 holds 127.0.0.1 and resolver stubs such as 127.0.0.53: never hand it to pods.
_RESERVED = ipaddress.IPv4Network("127.0.0.0/16")


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeSpec:
    """One Node object the agent registers and runs pods for."""

    name: str
    region: str

    @classmethod
    def parse(cls, text: str) -> NodeSpec:
        """``NAME=REGION``, e.g. ``tokyo-1=ap-northeast-1``."""
        name, sep, region = text.partition("=")
        node = cls(name=name.strip(), region=region.strip())
        if not sep:
            raise AgentConfigError(
                f"--node {text!r}: expected NAME=REGION, e.g. tokyo-1=ap-northeast-1"
            )
        node.validate()
        return node

    def validate(self) -> None:
        if not _DNS_SUBDOMAIN.match(self.name):
            raise AgentConfigError(f"node name {self.name!r} is not a valid Kubernetes object name")
        if not _LABEL_VALUE.match(self.region):
            raise AgentConfigError(
                f"region {self.region!r} of node {self.name} is not a valid label value"
            )

    def to_flag(self) -> str:
        return f"{self.name}={self.region}"


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentSettings:
    kubeconfig: Path
    nodes: tuple[NodeSpec, ...]
    state_dir: Path = DEFAULT_STATE_DIR
    pod_network: str = DEFAULT_POD_NETWORK
    node_cpu: str = "4"
    node_memory: str = "8Gi"
    node_max_pods: int = 110
    backoff_base_s: float = 10.0
    backoff_max_s: float = 300.0
    backoff_reset_s: float = 600.0
    heartbeat_s: float = 10.0
    resync_s: int = 30
    shutdown_grace_s: float = 10.0
    delete_nodes_on_exit: bool = False

    def validate(self) -> None:
        if not self.nodes:
            raise AgentConfigError("give at least one --node NAME=REGION")
        for node in self.nodes:
            node.validate()
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise AgentConfigError(f"node names must be unique: {names}")
        PodNetwork(cidr=self.pod_network, node_names=names)
        if not 0 < self.backoff_base_s <= self.backoff_max_s:
            raise AgentConfigError("need 0 < --backoff-base <= --backoff-max")
        if not 0 < self.node_max_pods <= 253:
            raise AgentConfigError("--node-max-pods must be 1..253 (one /24 of pod IPs per node)")
        if self.heartbeat_s <= 0 or self.resync_s <= 0:
            raise AgentConfigError("--heartbeat and --resync must be positive")

    def to_argv(self) -> list[str]:
        """The flags that reproduce these settings (what the launcher passes to the subprocess)."""
        argv = ["--kubeconfig", str(self.kubeconfig), "--state-dir", str(self.state_dir)]
        for node in self.nodes:
            argv += ["--node", node.to_flag()]
        argv += [
            "--pod-network",
            self.pod_network,
            "--node-cpu",
            self.node_cpu,
            "--node-memory",
            self.node_memory,
            "--node-max-pods",
            str(self.node_max_pods),
            "--backoff-base",
            str(self.backoff_base_s),
            "--backoff-max",
            str(self.backoff_max_s),
            "--backoff-reset",
            str(self.backoff_reset_s),
            "--heartbeat",
            str(self.heartbeat_s),
            "--resync",
            str(self.resync_s),
            "--shutdown-grace",
            str(self.shutdown_grace_s),
        ]
        if self.delete_nodes_on_exit:
            argv.append("--delete-nodes-on-exit")
        return argv

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> tuple[AgentSettings, str]:
        """Settings and the log level from command-line flags; AgentConfigError on bad values."""
        parsed = _parser().parse_args(list(argv))
        settings = cls(
            kubeconfig=Path(parsed.kubeconfig),
            nodes=tuple(NodeSpec.parse(text) for text in parsed.node),
            state_dir=Path(parsed.state_dir),
            pod_network=parsed.pod_network,
            node_cpu=parsed.node_cpu,
            node_memory=parsed.node_memory,
            node_max_pods=parsed.node_max_pods,
            backoff_base_s=parsed.backoff_base,
            backoff_max_s=parsed.backoff_max,
            backoff_reset_s=parsed.backoff_reset,
            heartbeat_s=parsed.heartbeat,
            resync_s=parsed.resync,
            shutdown_grace_s=parsed.shutdown_grace,
            delete_nodes_on_exit=parsed.delete_nodes_on_exit,
        )
        settings.validate()
        return settings, str(parsed.log_level)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tradefleet_devtools.devnode",
        description="Dev node agent — dev/test tooling, NOT a kubelet. Registers Node objects and"
        " runs the pods the scheduler binds to them as local processes, for machines without a"
        " container runtime. Production clusters use the real kubelet.",
    )
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster")
    parser.add_argument(
        "--node",
        action="append",
        default=[],
        metavar="NAME=REGION",
        help="a node to play, e.g. tokyo-1=ap-northeast-1 (repeat for several nodes/regions)",
    )
    parser.add_argument(
        "--state-dir",
        default=str(DEFAULT_STATE_DIR),
        help="pids, volumes and pod logs (logs/<ns>_<pod>_<uid>/<container>/<restarts>.log)",
    )
    parser.add_argument(
        "--pod-network", default=DEFAULT_POD_NETWORK, help="loopback CIDR for pod IPs"
    )
    parser.add_argument("--node-cpu", default="4", help="cpu capacity of each node")
    parser.add_argument("--node-memory", default="8Gi", help="memory capacity of each node")
    parser.add_argument("--node-max-pods", type=int, default=110, help="pod capacity of each node")
    parser.add_argument(
        "--backoff-base", type=float, default=10.0, help="first crash-loop delay, s"
    )
    parser.add_argument(
        "--backoff-max", type=float, default=300.0, help="longest crash-loop delay, s"
    )
    parser.add_argument(
        "--backoff-reset",
        type=float,
        default=600.0,
        help="a container that ran this long before exiting starts its backoff afresh, s",
    )
    parser.add_argument(
        "--heartbeat", type=float, default=10.0, help="node status and lease period, s"
    )
    parser.add_argument("--resync", type=int, default=30, help="full pod re-list period, s")
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        default=10.0,
        help="on SIGTERM/SIGINT, longest wait per pod before SIGKILL, s",
    )
    parser.add_argument(
        "--delete-nodes-on-exit",
        action="store_true",
        help="delete the Node objects on a clean exit (test fixtures do)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    return parser


class PodNetwork:
    """Loopback addresses: a /24 per node, handed out round-robin (a freed IP waits its turn)."""

    def __init__(self, *, cidr: str, node_names: Sequence[str]) -> None:
        try:
            network = ipaddress.IPv4Network(cidr)
        except ValueError as exc:
            raise AgentConfigError(f"--pod-network {cidr!r}: {exc}") from exc
        if not network.subnet_of(_LOOPBACK) or network.overlaps(_RESERVED):
            raise AgentConfigError(
                f"--pod-network {cidr} must be inside 127.0.0.0/8 and outside 127.0.0.0/16"
            )
        if network.prefixlen > 24:
            raise AgentConfigError(f"--pod-network {cidr} must be /24 or larger")
        subnets = list(network.subnets(new_prefix=24))
        if len(subnets) < len(node_names) + 1:
            raise AgentConfigError(
                f"--pod-network {cidr} has too few /24s for {len(node_names)} nodes"
            )
        self._subnets = {name: subnets[index + 1] for index, name in enumerate(node_names)}
        self._in_use: set[str] = set()
        self._last: dict[str, int] = {}

    def host_ip(self, node: str) -> str:
        return str(self._subnets[node].network_address + 1)

    def reserve(self, ip: str) -> None:
        self._in_use.add(ip)

    def release(self, ip: str) -> None:
        self._in_use.discard(ip)

    def allocate(self, node: str) -> str:
        """The next free pod IP of ``node``'s /24, after the one handed out last."""
        subnet = self._subnets[node]
        start = self._last.get(node, 1)
        for step in range(1, 254):
            offset = (start - 2 + step) % 253 + 2
            candidate = str(subnet.network_address + offset)
            if candidate not in self._in_use:
                self._in_use.add(candidate)
                self._last[node] = offset
                return candidate
        raise AgentConfigError(f"node {node} has no free pod IP left in {subnet}")
