"""The whole product on one machine: control plane, nodes, Redis, local exchange, operators.

Dev/test tooling. The local demo (``scripts/demo.sh``) and the e2e suite start the same stack, so
what the README tells a user to try is what the tests check. Production uses real clusters (one per
region, one Helm release each), real kubelets, the region's Redis and real exchanges.

Nodes (``node_kind``, see :mod:`tradefleet_devtools.realnode.kinds`): with ``real`` (or ``auto`` where
it works) the first operator region's node is a real kubelet with containerd running the images
built from the Dockerfile (:mod:`tradefleet_devtools.realnode`), and that region's operator names
those images and gives its pods the addresses pods reach (the pod network's gateway); the other
regions' nodes are the dev node agent's. With ``dev`` every node is the dev node agent's.

An external cluster (:class:`ExternalCluster`: kind, or any cluster named by a kubeconfig, as the
e2e suite takes it from ``TRADEFLEET_KUBECONFIG``) replaces the control plane and the nodes: the
stack installs the CRDs there and runs Redis, the local exchange and the operators on this machine,
Redis and the exchange listening where that cluster's pods reach this machine.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client, config

from tradefleet_devtools.controlplane import ClusterAccess, LocalControlPlane, free_port
from tradefleet_devtools.crds import install_crds
from tradefleet_devtools.devnode import DevNodeAgentHandle, NodeSpec, start_dev_node_agent
from tradefleet_devtools.operator_process import OperatorProcess
from tradefleet_devtools.realnode import (
    RealNodeError,
    RealNodeHandle,
    RealNodeSpec,
    node_kind,
    start_real_node,
)
from tradefleet_devtools.redis_server import LocalRedis, RedisAccess

# One node per region the demo shows; each region gets its own operator, as one cluster each would.
DEMO_NODES = (
    NodeSpec(name="tokyo-1", region="ap-northeast-1"),
    NodeSpec(name="singapore-1", region="ap-southeast-1"),
    NodeSpec(name="frankfurt-1", region="eu-central-1"),
)
OPERATOR_REGIONS = ("ap-northeast-1", "ap-southeast-1")
# LINK follows a 15-minute price cycle: a market whose every window looks alike, for tests
# whose expected outcome must not depend on when they run (the optimization e2e).
CYCLE_SYMBOL = "LINK/USDT:USDT"
# XRP and DOT: the bots of the ExchangeAccount e2e, whose prices it gaps (their synthetic paths,
# seeded by their place in this list, let a bot size above the lot size); ADA: its shared
# market data.
EXCHANGE_SYMBOLS = (
    f"BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT,{CYCLE_SYMBOL},XRP/USDT:USDT,ADA/USDT:USDT,"
    "DOT/USDT:USDT"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class MarketShape:
    """How the local exchange's regime-switching market runs (one price step a second).

    ``history_hours`` of prices exist before the exchange starts: the klines a starting bot warms
    its models up on. ``bar_seconds`` is the time one generated bar spans: one step makes every
    second a bar (fast moves, regimes a few minutes long: tests see trades at once); 60 makes
    1m candles show the generated bars. ``regime_bars`` set, the regimes follow each other in
    turn, each that many bars on average, so the history a bot fits its regime model on holds
    every regime; unset, they switch at random (200 bars on average).
    """

    # 12 h: 720 one-minute candles, enough for a bot's ML ensemble to train on (500 rows past
    # the features' warm-up).
    history_hours: float = 12.0
    bar_seconds: float = 1.0
    regime_bars: int | None = None

    def exchange_args(self) -> list[str]:
        """The local exchange's command-line arguments for this market."""
        args = ["--history-hours", str(self.history_hours), "--bar-seconds", str(self.bar_seconds)]
        if self.regime_bars is not None:
            args += ["--regime-bars", str(self.regime_bars)]
        return args


# A day of 1m candles whose regimes (90 minutes each on average) the demo bots' regime models
# find as soon as they start.
DEMO_MARKET = MarketShape(history_hours=24.0, bar_seconds=60.0, regime_bars=90)


log = logging.getLogger(__name__)


class StackError(RuntimeError):
    """A component of the local stack did not start; the message says which and why."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ExternalCluster:
    """A cluster the stack does not start, with nodes of its own labelled with the regions.

    ``pod_host`` is this machine's address as the cluster's pods reach it (kind: its docker
    network's gateway): the exchange listens there, Redis there and on 127.0.0.1. The runtime's
    pods run ``runtime_image`` (the optimizer's Jobs ``optimizer_image``, else the runtime's), or,
    without one, the project's Python from this machine (nodes that run commands: the dev agent).
    """

    kubeconfig: Path
    pod_host: str = "127.0.0.1"
    runtime_image: str = ""
    optimizer_image: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ExternalCluster | None:
        """``TRADEFLEET_KUBECONFIG`` (None without it), ``TRADEFLEET_POD_HOST``,
        ``TRADEFLEET_RUNTIME_IMAGE``, ``TRADEFLEET_OPTIMIZER_IMAGE``."""
        kubeconfig = env.get("TRADEFLEET_KUBECONFIG", "")
        if not kubeconfig:
            return None
        if not Path(kubeconfig).is_file():
            raise StackError(f"TRADEFLEET_KUBECONFIG names no file: {kubeconfig}")
        return cls(
            kubeconfig=Path(kubeconfig),
            pod_host=env.get("TRADEFLEET_POD_HOST") or "127.0.0.1",
            runtime_image=env.get("TRADEFLEET_RUNTIME_IMAGE", ""),
            optimizer_image=env.get("TRADEFLEET_OPTIMIZER_IMAGE", ""),
        )

    def access(self) -> ClusterAccess:
        """The cluster's address, as its kubeconfig's current context names it."""
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=cfg)  # type: ignore[no-untyped-call]
        return ClusterAccess(server=cfg.host, token="", kubeconfig=self.kubeconfig)

    def pod_settings(self, *, redis_port: int, exchange_url: str) -> dict[str, Any]:
        """Image (or command) and addresses for the pods of every region."""
        runtime: dict[str, Any] = (
            {"runtimeImage": self.runtime_image}
            if self.runtime_image
            else {"runtimeCommand": [sys.executable, "-m", "tradefleet_runtime"]}
        )
        if self.optimizer_image:
            runtime["optimizerImage"] = self.optimizer_image
        return {
            **runtime,
            "redisUrl": f"redis://{self.pod_host}:{redis_port}/0",
            "exchangeUrls": {"binance": exchange_url, "binanceusdm": exchange_url},
        }


@dataclass(kw_only=True, slots=True)
class ExchangeProcess:
    """The local Binance USDⓈ-M exchange server as a subprocess."""

    workdir: Path
    market: MarketShape = MarketShape()
    # Where it listens: 127.0.0.1, or an address the pods of an external cluster reach.
    host: str = "127.0.0.1"
    api_key: str = field(default_factory=lambda: secrets.token_hex(16))
    api_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    url: str = ""
    _proc: subprocess.Popen[str] | None = None

    def start(self, *, timeout_s: float = 30.0) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "exchange.log").open("a")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tradefleet_devtools.exchange",
                "--host",
                self.host,
                "--port",
                str(free_port()),
                "--symbols",
                EXCHANGE_SYMBOLS,
                "--prices",
                "synthetic",
                "--cycle-symbols",
                CYCLE_SYMBOL,
                "--step-seconds",
                "1",
                *self.market.exchange_args(),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={
                **os.environ,
                "TRADEFLEET_EXCHANGE_API_KEY": self.api_key,
                "TRADEFLEET_EXCHANGE_API_SECRET": self.api_secret,
            },
            start_new_session=True,
        )
        log.close()
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        line = self._proc.stdout.readline().strip()
        if not line.startswith("http") or time.monotonic() > deadline:
            self.stop()
            raise StackError(f"local exchange did not start; see {self.workdir / 'exchange.log'}")
        self.url = line.split()[0]
        return self.url

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None


@dataclass(kw_only=True, slots=True)
class LocalStack:
    """Everything the demo and the e2e tests run against; ``start()`` brings it up in order."""

    workdir: Path
    regions: tuple[str, ...] = OPERATOR_REGIONS
    operator_settings: dict[str, Any] = field(default_factory=dict)
    backoff_base_s: float = 2.0
    market: MarketShape = MarketShape()
    plane: LocalControlPlane | None = None
    cluster: ClusterAccess | None = None
    agent: DevNodeAgentHandle | None = None
    redis: LocalRedis | None = None
    redis_access: RedisAccess | None = None
    exchange: ExchangeProcess | None = None
    operators: dict[str, OperatorProcess] = field(default_factory=dict)
    # "dev", "real" or "auto" (real where this machine can run it, else dev with node_note saying why).
    node_kind: str = "dev"
    real_node: RealNodeHandle | None = None
    node_note: str = ""
    # A cluster to use instead of the local control plane and nodes (kind, or a real one).
    external: ExternalCluster | None = None

    def start(self) -> None:
        try:
            if self.external is not None:
                self.cluster = self.external.access()
            else:
                self.plane = LocalControlPlane(workdir=self.workdir / "control-plane")
                self.cluster = self.plane.start()
            install_crds(api_client=self.api_client())
            host = self.external.pod_host if self.external is not None else "127.0.0.1"
            self.redis = LocalRedis(workdir=self.workdir / "redis", bind=host)
            self.redis_access = self.redis.start()
            self.exchange = ExchangeProcess(
                workdir=self.workdir / "exchange", market=self.market, host=host
            )
            exchange_url = self.exchange.start()
            if self.external is not None:
                self.node_note = (
                    f"the external cluster at {self.cluster.server} (its own nodes; "
                    f"pods reach this machine at {host})"
                )
            else:
                self._start_nodes()
            for region in self.regions:
                operator = OperatorProcess(
                    kubeconfig=self.cluster.kubeconfig,
                    workdir=self.workdir / f"operator-{region}",
                    region=region,
                    settings={
                        **self._pod_settings(region=region, exchange_url=exchange_url),
                        "healthPollIntervalSeconds": 2,
                        # Live figures move on screen within seconds in the demo.
                        "statusIntervalSeconds": 5,
                        "reconcileIntervalSeconds": 10,
                        "deletionTimeoutSeconds": 15,
                        **self.operator_settings,
                    },
                )
                operator.start()
                self.operators[region] = operator
        except BaseException:
            self.stop()
            raise

    def _start_nodes(self) -> None:
        """The real node for the first region (kind real/auto), the dev agent for the rest."""
        assert self.cluster is not None and self.redis_access is not None
        assert self.exchange is not None
        kind = node_kind(self.node_kind)
        dev_nodes = list(DEMO_NODES)
        if kind != "dev":
            (spec,) = [n for n in DEMO_NODES if n.region == self.regions[0]]
            try:
                self.real_node = start_real_node(
                    cluster=self.cluster,
                    workdir=self.workdir / "real-node",
                    node=RealNodeSpec(name=spec.name, region=spec.region),
                    publish_ports=[self.redis_access.port, _port_of(self.exchange.url)],
                )
                dev_nodes.remove(spec)
                self.node_note = (
                    f"{spec.name} ({spec.region}) is a real node (kubelet + containerd, the built "
                    "images); the other regions' nodes are the dev node agent's"
                )
            except RealNodeError as exc:
                if kind == "real":
                    raise StackError(f"the real node did not start: {exc}") from exc
                self.node_note = (
                    f"no real node ({exc}); every region's pods run on the dev node agent"
                )
                log.warning("%s", self.node_note)
        self.agent = start_dev_node_agent(
            cluster=self.cluster,
            state_dir=self.workdir / "node-agent",
            nodes=dev_nodes,
            backoff_base_s=self.backoff_base_s,
            backoff_max_s=30.0,
        )

    def _pod_settings(self, *, region: str, exchange_url: str) -> dict[str, Any]:
        """Image, command and addresses for a region's pods, as its node runs them."""
        assert self.redis_access is not None
        if self.external is not None:
            return self.external.pod_settings(
                redis_port=self.redis_access.port, exchange_url=exchange_url
            )
        redis_url = self.redis_access.url
        real = self.real_node
        if real is not None and real.node.region == region:
            return {
                "runtimeImage": real.images.runtime.ref,
                "optimizerImage": real.images.research.ref,
                "redisUrl": real.url_for_pods(redis_url),
                "exchangeUrls": {
                    name: real.url_for_pods(exchange_url) for name in ("binance", "binanceusdm")
                },
            }
        return {
            "runtimeCommand": [sys.executable, "-m", "tradefleet_runtime"],
            "redisUrl": redis_url,
            # Every exchange id the demo bots use speaks the local server's dialect.
            "exchangeUrls": {"binance": exchange_url, "binanceusdm": exchange_url},
        }

    def container_pid(self, *, namespace: str, pod: str, container: str) -> int | None:
        """Host PID of a pod's running container, on whichever node runs it."""
        if self.real_node is not None:
            pid = self.real_node.container_pid(namespace=namespace, pod=pod, container=container)
            if pid is not None:
                return pid
        if self.agent is not None:
            pid = self.agent.container_pid(namespace=namespace, pod=pod, container=container)
            if pid is not None or self.external is None:
                return pid
        # An external cluster's container: this machine's kernel runs it (kind's nodes are
        # containers here), found by its container id in the process's cgroup.
        core = client.CoreV1Api(self.api_client())
        pod_status = core.read_namespaced_pod(pod, namespace).status
        for status in (pod_status.container_statuses if pod_status else None) or []:
            running = status.state is not None and status.state.running is not None
            if status.name == container and running and status.container_id:
                return container_main_pid(status.container_id.partition("://")[2])
        return None

    def api_client(self) -> client.ApiClient:
        if self.cluster is None:
            raise StackError("the stack is not started")
        api: client.ApiClient = config.new_client_from_config(
            config_file=str(self.cluster.kubeconfig)
        )  # type: ignore[no-untyped-call]
        return api

    def stop(self) -> None:
        for operator in self.operators.values():
            operator.stop()
        self.operators.clear()
        if self.real_node is not None:
            self.real_node.stop()
            self.real_node = None
        if self.agent is not None:
            self.agent.stop()
            self.agent = None
        if self.exchange is not None:
            self.exchange.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.plane is not None:
            self.plane.stop()


def container_main_pid(container_id: str) -> int | None:
    """Host PID of a container's main process: of the processes whose cgroup path names the
    container's id, the (lowest) one whose parent is not among them (a `kubectl exec`'s process
    is the shim's child too, but started later). None when no process has it."""
    if not re.fullmatch(r"[0-9a-f]{12,}", container_id):
        return None
    members: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if container_id not in (entry / "cgroup").read_text():
                continue
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        members[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    mains = sorted(pid for pid, parent in members.items() if parent not in members)
    return mains[0] if mains else None


def _port_of(url: str) -> int:
    port = urlsplit(url).port
    if port is None:
        raise StackError(f"no port in {url}")
    return port
