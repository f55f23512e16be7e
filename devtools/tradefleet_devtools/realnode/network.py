"""The pod network of the real node: a Linux bridge, the CNI configuration, and the host services
the pods may reach.

Used by the launcher (:mod:`.launcher`); the kubelet's containerd runs the CNI plugins (bridge,
host-local, loopback from Debian's containernetworking-plugins) with :func:`cni_config`.

Pods live on ``subnet`` behind ``bridge`` whose address, ``gateway``, is the host as pods see it;
the host reaches pod IPs directly (probes, the operator's health polls). The stack's services
(kube-apiserver, Redis, the local exchange) listen on 127.0.0.1 only, so each published port is a
DNAT rule from the gateway to 127.0.0.1 (``route_localnet`` on the bridge) whose source becomes
127.0.0.1 too (SNAT on local delivery: Redis' protected mode serves loopback clients only), and
the cluster's
``kubernetes`` Service IP (what in-cluster clients such as the optimizer Job dial) is the apiserver
the same way. Nothing else leaves the bridge: a FORWARD rule drops every packet from the pods to
anywhere but the bridge, so pod traffic stays on this machine. All rules live in chains of their own,
removed with the bridge by :meth:`PodNetwork.tear_down`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tradefleet_devtools.realnode.errors import RealNodeError

log = logging.getLogger(__name__)

NAT_CHAIN = "TRADEFLEET-PODS-DNAT"
SNAT_CHAIN = "TRADEFLEET-PODS-SNAT"
FORWARD_CHAIN = "TRADEFLEET-PODS-FWD"


@dataclass(frozen=True, kw_only=True, slots=True)
class Publish:
    """A host port on 127.0.0.1 made reachable from pods at ``address:port``."""

    address: str
    port: int
    target_port: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PodNetwork:
    """The bridge, its subnet and the host's address on it."""

    bridge: str = "tfpods0"
    subnet: str = "10.244.0.0/24"
    iptables: Path = Path("/usr/sbin/iptables")

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.subnet).hosts()))

    def cni_config(self, *, data_dir: Path) -> dict[str, object]:
        """The CNI conflist (bridge + host-local IPAM + loopback is implicit in containerd)."""
        return {
            "cniVersion": "0.4.0",
            "name": "tradefleet",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(data_dir),
                        "ranges": [[{"subnet": self.subnet, "gateway": self.gateway}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                }
            ],
        }

    def write_cni_config(self, *, conf_dir: Path, data_dir: Path) -> None:
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "10-tradefleet.conflist").write_text(
            json.dumps(self.cni_config(data_dir=data_dir), indent=2)
        )

    # -- host side -------------------------------------------------------------------------------

    def set_up(self, *, publish: list[Publish]) -> None:
        """The bridge with the gateway address (before any pod, so the kubelet can serve on it),
        the DNAT rules for ``publish`` and the FORWARD guard."""
        self.tear_down()
        prefix = ipaddress.ip_network(self.subnet).prefixlen
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        _run(["ip", "addr", "add", f"{self.gateway}/{prefix}", "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])
        Path(f"/proc/sys/net/ipv4/conf/{self.bridge}/route_localnet").write_text("1\n")
        ipt = str(self.iptables)
        _run([ipt, "-t", "nat", "-N", NAT_CHAIN])
        _run([ipt, "-t", "nat", "-I", "PREROUTING", "-i", self.bridge, "-j", NAT_CHAIN])
        for rule in publish:
            match = ["-d", rule.address, "-p", "tcp", "--dport", str(rule.port)]
            target = ["-j", "DNAT", "--to-destination", f"127.0.0.1:{rule.target_port}"]
            _run([ipt, "-t", "nat", "-A", NAT_CHAIN, *match, *target])
        pods = ["-s", self.subnet, "-d", "127.0.0.1"]
        _run([ipt, "-t", "nat", "-N", SNAT_CHAIN])
        _run([ipt, "-t", "nat", "-I", "INPUT", *pods, "-j", SNAT_CHAIN])
        _run(
            [
                ipt,
                "-t",
                "nat",
                "-A",
                SNAT_CHAIN,
                "-p",
                "tcp",
                "-j",
                "SNAT",
                "--to-source",
                "127.0.0.1",
            ]
        )
        _run([ipt, "-N", FORWARD_CHAIN])
        _run([ipt, "-I", "FORWARD", "-i", self.bridge, "-j", FORWARD_CHAIN])
        _run([ipt, "-A", FORWARD_CHAIN, "-o", self.bridge, "-j", "ACCEPT"])
        _run([ipt, "-A", FORWARD_CHAIN, "-j", "DROP"])

    def tear_down(self) -> None:
        """Remove the rules and the bridge; what is already gone is skipped."""
        ipt = str(self.iptables)
        for argv in (
            [ipt, "-t", "nat", "-D", "PREROUTING", "-i", self.bridge, "-j", NAT_CHAIN],
            [ipt, "-t", "nat", "-F", NAT_CHAIN],
            [ipt, "-t", "nat", "-X", NAT_CHAIN],
            [
                ipt,
                "-t",
                "nat",
                "-D",
                "INPUT",
                "-s",
                self.subnet,
                "-d",
                "127.0.0.1",
                "-j",
                SNAT_CHAIN,
            ],
            [ipt, "-t", "nat", "-F", SNAT_CHAIN],
            [ipt, "-t", "nat", "-X", SNAT_CHAIN],
            [ipt, "-D", "FORWARD", "-i", self.bridge, "-j", FORWARD_CHAIN],
            [ipt, "-F", FORWARD_CHAIN],
            [ipt, "-X", FORWARD_CHAIN],
            ["ip", "link", "del", self.bridge],
        ):
            with contextlib.suppress(RealNodeError):
                _run(argv, quiet=True)


def _run(argv: list[str], *, quiet: bool = False) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if not quiet:
            log.error("%s failed: %s", " ".join(argv), done.stderr.strip())
        raise RealNodeError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")
