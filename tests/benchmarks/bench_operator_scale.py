"""Benchmark: 1,000 TradingBots applied to a real local control plane and reconciled by one operator.

Prints the wall time until every bot is reconciled (children created, ``Reconciled=True`` at its
generation), the operator's peak RSS, and apply → pod-scheduled latency (p50, p95), each next to
its target, with the CPU each process spent, what the apiserver served and the writes per bot by
kind. ``--baseline`` also runs the control plane alone on a fresh cluster — the same children,
rendered by the operator's code but created directly by the client — and prints the two side by
side with the three ratios that measure the operator's overhead (wall time, apply -> scheduled
p50, apiserver CPU) over the control plane's own work, and how much slower the scheduler and
controller-manager ran the same work with the operator (its own CPU competing for the cores, or
the machine's speed changing between the runs).

Both runs apply the bots alike: as fast as the client's threads can, as a user applying a
fleet's manifests would. In the baseline, as many more threads (``--baseline-workers``) create
each applied bot's children as soon as it is applied, in apply order: a plain client doing a
controller's writes, with no reconcile logic, no status and no finalizer (its own queue and
this process's CPU are part of its figures). Had the applying threads created the children
themselves, the bots would arrive about half as fast as in the operator's run, and the
baseline's apply -> scheduled latency would leave out the queue that a burst builds up in front
of any controller. Run: ``python tests/benchmarks/bench_operator_scale.py [--bots 1000]
[--baseline] [--baseline-workers 8]``.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apiserver_load import (
    ApiLoad,
    api_load,
    cpu_seconds,
    idle_cpu_per_s,
    ms_per_write,
)
from kubernetes import client, config, utils, watch
from tradefleet_devtools.controlplane import ClusterAccess, LocalControlPlane
from tradefleet_devtools.crds import install_crds
from tradefleet_devtools.devnode.kube import KubeApi
from tradefleet_devtools.devnode.nodes import NodeKeeper
from tradefleet_devtools.devnode.settings import AgentSettings, NodeSpec, PodNetwork
from tradefleet_devtools.operator_process import OperatorProcess
from tradefleet_operator.render import (
    Owner,
    render_bot_children,
    render_control_secret,
    render_controller_revision,
    render_runtime_config,
)
from tradefleet_operator.revisions import choose_revision, revision_content
from tradefleet_operator.settings import OperatorSettings, load_settings
from tradefleet_operator.spec.parsing import parse_trading_bot_spec

NAMESPACE = "bench"
# Verbs the apiserver counts as writes (its apiserver_request_total labels).
WRITE_VERBS = ("POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION")
# The operator's overhead over the control plane alone: (ratio, target), asked of one run.
RATIO_TARGETS = {"wall": 1.10, "scheduled_p50": 1.5, "apiserver_cpu": 1.3}
RSS_TARGET_MB = 200.0
# Threads applying the bots, in both runs; in the baseline as many more create their children
# (``--baseline-workers``).
CLIENT_THREADS = 8
# The control plane's processes that do the same work in both runs (the same pods scheduled, the
# same Deployments rolled out; their writes differ by a few percent): their CPU, compared, tells
# how much slower the machine ran the control plane in one run than in the other.
SAME_WORK = ("kube-scheduler", "kube-controller-manager")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True, kw_only=True)
class OperatorCounts:
    """What the operator's /metrics counted since it started."""

    passes: float  # TradingBot reconcile passes
    pass_seconds: float  # the time they took
    gc_collections: tuple[float, float, float]  # Python's garbage collections, by generation


def _operator_counts(port: int) -> OperatorCounts:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    passes = seconds = 0.0
    collections = [0.0, 0.0, 0.0]
    for line in text.splitlines():
        value = line.rsplit(" ", 1)[-1]
        if line.startswith("python_gc_collections_total{"):
            collections[int(line.split('generation="', 1)[1][0])] = float(value)
        elif 'kind="TradingBot"' not in line:
            continue
        elif line.startswith("tradefleet_operator_reconcile_total{"):
            passes += float(value)
        elif line.startswith("tradefleet_operator_reconcile_duration_seconds_sum{"):
            seconds += float(value)
    return OperatorCounts(
        passes=passes,
        pass_seconds=seconds,
        gc_collections=(collections[0], collections[1], collections[2]),
    )


def _keep_nodes_ready(*, kubeconfig: Path, stop: threading.Event) -> threading.Thread:
    """Two nodes (Tokyo, Singapore) kept Ready with the dev node agent's heartbeat, but no pod
    runs: the benchmark measures the operator and the scheduler, not 1,000 bot processes. Without
    the Lease renewals the node controller taints the nodes after 40 s and scheduling stops."""
    settings = AgentSettings(
        kubeconfig=kubeconfig,
        nodes=(
            NodeSpec(name="bench-tokyo", region="ap-northeast-1"),
            NodeSpec(name="bench-singapore", region="ap-southeast-1"),
        ),
        node_cpu="1000",
        node_memory="4Ti",
        node_max_pods=5000,
    )
    keeper = NodeKeeper(
        api=KubeApi(kubeconfig=kubeconfig),
        settings=settings,
        network=PodNetwork(cidr=settings.pod_network, node_names=[n.name for n in settings.nodes]),
    )
    keeper.register()

    def beat() -> None:
        while not stop.wait(settings.heartbeat_s):
            keeper.heartbeat()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True, kw_only=True)
class RunFigures:
    applied_s: float
    settled_s: float
    settled: int
    reconciled_p50_s: float | None
    created_p50_s: float | None
    scheduled_p50_s: float | None
    scheduled_p95_s: float | None
    scheduled: int
    operator_rss_mb: float | None
    operator_counts: OperatorCounts | None
    cpu_s: Mapping[str, float]
    api: ApiLoad
    # What the apiserver served in the statusIntervalSeconds after (with the operator): the
    # status writes the operator held back while the pods were on their way.
    held: ApiLoad | None
    events: Counter[str]
    operator_log_clean: bool | None
    # One bot's status as the operator wrote it (with the operator), for the write-cost probe.
    sample_status: Mapping[str, Any] | None = None
    # The apiserver's CPU per TradingBot write, by kind of write (in the baseline, when probed).
    write_costs_ms: Mapping[str, float] | None = None


def _reconciled(bot: Mapping[str, Any]) -> bool:
    status = bot.get("status") or {}
    return status.get("observedGeneration") == bot["metadata"]["generation"] and any(
        c["type"] == "Reconciled" and c["status"] == "True" for c in status.get("conditions") or []
    )


def _watch(
    list_call: Callable[..., Any], *args: Any, seen: Callable[[Any], None], stop: threading.Event
) -> None:
    """Hand every object the watch delivers to ``seen`` until ``stop`` is set.

    Each reconnection resumes from the last resourceVersion seen: a watch started afresh makes
    the apiserver send every object again, which at 1,000 bots with their statuses would load
    the apiserver this benchmark measures (and more so with the operator, whose bots have one).
    """
    stream = watch.Watch()
    while not stop.is_set():
        since = {"resource_version": stream.resource_version} if stream.resource_version else {}
        try:
            for event in stream.stream(list_call, *args, timeout_seconds=5, **since):
                seen(event["object"])
                if stop.is_set():
                    return
        except client.ApiException as gone:
            if gone.status != 410:
                raise
            stream = watch.Watch()  # too old to resume: start afresh


def _start_watches(
    *,
    access: ClusterAccess,
    pod_seen: Callable[[Any], None],
    bot_seen: Callable[[Any], None],
    stop: threading.Event,
) -> None:
    """Watch the bench's pods and bots until ``stop``.

    Watches, not a list of every bot each second: the measurement must not load the apiserver
    it measures. Each on a client of its own, apart from the creating threads.
    """

    def own_client() -> client.ApiClient:
        return config.new_client_from_config(config_file=str(access.kubeconfig))

    for seen, list_call, args in (
        (pod_seen, client.CoreV1Api(own_client()).list_namespaced_pod, (NAMESPACE,)),
        (
            bot_seen,
            client.CustomObjectsApi(own_client()).list_namespaced_custom_object,
            ("tradefleet.io", "v1alpha1", NAMESPACE, "tradingbots"),
        ),
    ):
        threading.Thread(
            target=_watch,
            args=(list_call, *args),
            kwargs={"seen": seen, "stop": stop},
            daemon=True,
        ).start()


def _write_costs_ms(
    *,
    custom: client.CustomObjectsApi,
    names: list[str],
    apiserver_pid: int,
    status: Mapping[str, Any],
) -> dict[str, float]:
    """The apiserver's CPU per write of each kind the operator makes to a TradingBot, measured
    on the baseline's settled cluster: Kopf's finalizer, then ``status`` (as the operator wrote
    it), each written once to every bot; a ConfigMap's creation for scale.

    What an operator writes to its own resource is overhead that no way of writing children
    avoids: the per-write cost times the writes per bot estimates that part of the apiserver CPU
    ratio.
    """
    idle_per_s = idle_cpu_per_s(apiserver_pid)
    group = ("tradefleet.io", "v1alpha1", NAMESPACE, "tradingbots")
    core = client.CoreV1Api(custom.api_client)
    writes: dict[str, Callable[[int], Any]] = {
        "PATCH tradingbots (finalizer)": lambda i: custom.patch_namespaced_custom_object(
            *group, names[i], {"metadata": {"finalizers": ["tradefleet.io/finalizer"]}}
        ),
        "PATCH tradingbots/status": lambda i: custom.patch_namespaced_custom_object_status(
            *group, names[i], {"status": status}
        ),
        "POST configmaps": lambda i: core.create_namespaced_config_map(
            NAMESPACE,
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=f"probe-{i}"), data={"config": "x" * 2000}
            ),
        ),
    }
    return {
        what: ms_per_write(
            pid=apiserver_pid,
            write=write,
            count=len(names),
            threads=CLIENT_THREADS,
            idle_per_s=idle_per_s,
        )
        for what, write in writes.items()
    }


def _since(applied_at: Mapping[str, float], at: Mapping[str, float]) -> list[float]:
    """Seconds from each bot's apply to its moment in ``at``, shortest first."""
    return sorted(at[b] - applied_at[b] for b in at if b in applied_at)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _bot_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {"exchange": "binance", "market": "futures", "symbol": "BTC/USDT:USDT"},
    }


def _api_client(*, kubeconfig: Path, threads: int) -> client.ApiClient:
    """A client whose connection pool holds a connection per thread using it: with fewer,
    urllib3 opens and drops connections, and their TLS handshakes would load the apiserver."""
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    cfg.connection_pool_maxsize = threads
    return client.ApiClient(cfg)


def _rendered_children(
    *, bot: Mapping[str, Any], settings: OperatorSettings
) -> list[dict[str, Any]]:
    """The objects the operator would create for ``bot``, rendered by the operator's own code."""
    meta = bot["metadata"]
    owner = Owner(
        kind="TradingBot", name=meta["name"], namespace=meta["namespace"], uid=meta["uid"]
    )
    spec = parse_trading_bot_spec(bot["spec"])
    config = render_runtime_config(owner=owner, spec=spec, raw_spec=bot["spec"], settings=settings)
    revision, _ = choose_revision(
        content=revision_content(config=config, raw_spec=bot["spec"]), existing=[]
    )
    return [
        render_control_secret(owner=owner, token=secrets.token_urlsafe(32)),
        render_controller_revision(owner=owner, revision=revision),
        *render_bot_children(
            owner=owner,
            spec=spec,
            region=settings.region,
            revision=revision,
            replicas=1,
            settings=settings,
        ),
    ]


@dataclass
class _Timeline:
    """When each bot was applied, got its pod, had it scheduled and was reconciled (the
    watches' threads write it), and the first reconciled bot's status."""

    applied_at: dict[str, float] = field(default_factory=dict)
    created_at: dict[str, float] = field(default_factory=dict)
    scheduled_at: dict[str, float] = field(default_factory=dict)
    reconciled_at: dict[str, float] = field(default_factory=dict)
    sample_status: dict[str, Any] = field(default_factory=dict)

    def pod(self, pod: Any) -> None:
        bot = (pod.metadata.labels or {}).get("tradefleet.io/bot")
        if bot and bot not in self.created_at:
            self.created_at[bot] = time.monotonic()
        if bot and pod.spec.node_name and bot not in self.scheduled_at:
            self.scheduled_at[bot] = time.monotonic()

    def bot(self, bot: Mapping[str, Any]) -> None:
        name = bot["metadata"]["name"]
        if name not in self.reconciled_at and _reconciled(bot):
            self.reconciled_at[name] = time.monotonic()
            if not self.sample_status:  # as the operator wrote it
                self.sample_status.update(bot["status"])


def _apply_bots(
    *,
    api: client.ApiClient,
    bots: int,
    children_workers: int,
    settings: OperatorSettings,
    applied_at: dict[str, float],
) -> float:
    """Apply ``bots`` TradingBots from :data:`CLIENT_THREADS` threads; return how long it took.

    With ``children_workers`` (the baseline), that many workers create each applied bot's
    children, one bot at a time each, in the order the bots were applied: a plain client doing
    a controller's writes, in this process, with no reconcile logic.
    """
    custom = client.CustomObjectsApi(api)

    def create_children(bot: Mapping[str, Any]) -> None:
        for child in _rendered_children(bot=bot, settings=settings):
            utils.create_from_dict(api, child, namespace=NAMESPACE)

    with ThreadPoolExecutor(max_workers=max(1, children_workers)) as controller:
        creating: list[Future[None]] = []

        def create(i: int) -> None:
            name = f"bench-{i:04d}"
            bot: dict[str, Any] = custom.create_namespaced_custom_object(
                "tradefleet.io", "v1alpha1", NAMESPACE, "tradingbots", _bot_manifest(name)
            )
            applied_at[name] = time.monotonic()
            if children_workers:
                creating.append(controller.submit(create_children, bot))

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
            list(pool.map(create, range(bots)))
        applied = time.monotonic() - started
    for created in creating:
        created.result()  # a child the apiserver refused ends the benchmark, loudly
    return applied


def _wait_for(*, count: int, seen: Mapping[str, float], deadline: float) -> None:
    while len(seen) < count and time.monotonic() < deadline:
        time.sleep(0.2)


def run(
    *,
    bots: int,
    direct: bool,
    children_workers: int = CLIENT_THREADS,
    probe_status: Mapping[str, Any] | None = None,
) -> RunFigures:
    """Apply ``bots`` TradingBots; with ``direct``, no operator runs and the client creates each
    bot's rendered children itself, from ``children_workers`` threads (the control plane's share
    of the work, as a baseline). ``probe_status`` (a status the operator wrote): once settled, measure what each TradingBot
    write costs the apiserver (:func:`_write_costs_ms`)."""
    with tempfile.TemporaryDirectory(prefix="tradefleet-bench-") as tmp:
        plane = LocalControlPlane(workdir=Path(tmp) / "cp")
        access = plane.start()
        nodes_stop = threading.Event()
        operator = OperatorProcess(
            kubeconfig=access.kubeconfig, workdir=Path(tmp) / "op", region="ap-northeast-1"
        )
        try:
            api = _api_client(
                kubeconfig=access.kubeconfig, threads=CLIENT_THREADS + children_workers
            )
            install_crds(api_client=api)
            core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
            _keep_nodes_ready(kubeconfig=access.kubeconfig, stop=nodes_stop)
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
            if not direct:
                operator.start()
            settings = load_settings(path=None, region="ap-northeast-1")

            seen = _Timeline()
            stop = threading.Event()
            _start_watches(access=access, pod_seen=seen.pod, bot_seen=seen.bot, stop=stop)

            processes = dict(plane.processes())
            if operator.pid is not None:
                processes["operator"] = operator.pid
            cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
            load_before = api_load(access)
            started = time.monotonic()
            applied = _apply_bots(
                api=api,
                bots=bots,
                children_workers=children_workers if direct else 0,
                settings=settings,
                applied_at=seen.applied_at,
            )

            settled_at = seen.scheduled_at if direct else seen.reconciled_at
            _wait_for(count=bots, seen=settled_at, deadline=started + 900)
            done = len(settled_at)
            settled = (max(settled_at.values()) if done == bots else time.monotonic()) - started
            _wait_for(count=bots, seen=seen.scheduled_at, deadline=time.monotonic() + 60)
            cpu_s = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
            load_after = api_load(access)
            held = None
            if not direct:
                # The operator holds back a status that only tells a pod's progress for up to
                # statusIntervalSeconds: what it writes then is counted apart, not in the
                # ratios, which compare the burst with the baseline's.
                time.sleep(settings.status_interval_s)
                held = api_load(access) - load_after
            stop.set()
            latencies = _since(seen.applied_at, seen.scheduled_at)
            write_costs = (
                None
                if probe_status is None
                else _write_costs_ms(
                    custom=custom,
                    names=sorted(seen.applied_at),
                    apiserver_pid=processes["kube-apiserver"],
                    status=probe_status,
                )
            )
            return RunFigures(
                applied_s=applied,
                settled_s=settled,
                settled=done,
                reconciled_p50_s=_median(_since(seen.applied_at, seen.reconciled_at)),
                created_p50_s=_median(_since(seen.applied_at, seen.created_at)),
                scheduled_p50_s=_median(latencies),
                scheduled_p95_s=latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
                scheduled=len(latencies),
                operator_rss_mb=None if operator.pid is None else _peak_rss_mb(operator.pid),
                operator_counts=None if direct else _operator_counts(operator.metrics_port),
                cpu_s=cpu_s,
                api=load_after - load_before,
                held=held,
                events=Counter(
                    f"{e.source.component or e.reporting_component}:{e.reason}"
                    for e in core.list_namespaced_event(NAMESPACE).items
                ),
                operator_log_clean=None if direct else "Traceback" not in operator.log_text(),
                sample_status=seen.sample_status or None,
                write_costs_ms=write_costs,
            )
        finally:
            nodes_stop.set()
            operator.stop()
            plane.stop()


def report(*, title: str, bots: int, figures: RunFigures) -> None:
    print(f"== {title}")
    print(f"bots applied: {bots} in {figures.applied_s:.1f}s ({CLIENT_THREADS} client threads)")
    what = "pods scheduled" if figures.operator_rss_mb is None else "reconciled (Reconciled=True)"
    print(
        f"{what}: {figures.settled}/{bots} in {figures.settled_s:.1f}s wall "
        + ("ALL" if figures.settled == bots else "INCOMPLETE")
    )
    if figures.operator_rss_mb is not None:
        print(
            f"operator peak RSS: {figures.operator_rss_mb:.0f} MB "
            f"(target <= {RSS_TARGET_MB:.0f} MB) "
            + ("MET" if figures.operator_rss_mb <= RSS_TARGET_MB else "MISSED")
        )
    if figures.reconciled_p50_s is not None:
        print(f"apply -> Reconciled=True: p50 {figures.reconciled_p50_s:.2f}s")
    if figures.operator_counts is not None:
        counts = figures.operator_counts
        print(
            f"reconcile passes: {counts.passes:.0f} ({counts.passes / bots:.1f} per bot), "
            f"{1000 * counts.pass_seconds / max(counts.passes, 1):.1f} ms each on average"
        )
        young, middle, full = counts.gc_collections
        print(
            f"operator garbage collections since its start: {full:.0f} full (whole heap), "
            f"{middle:.0f} of the middle generation, {young:.0f} of the youngest"
        )
    if figures.created_p50_s is not None:
        print(f"apply -> pod created: p50 {figures.created_p50_s:.2f}s")
    if figures.scheduled_p50_s is not None:
        print(
            f"apply -> pod scheduled: p50 {figures.scheduled_p50_s:.2f}s, "
            f"p95 {figures.scheduled_p95_s:.2f}s over {figures.scheduled} pods"
        )
    print(
        "CPU seconds while applying and settling: "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in figures.cpu_s.items())
    )
    print(
        f"apiserver requests: {sum(figures.api.requests.values()):.0f} in all; most frequent: "
        + ", ".join(f"{what} {n:.0f}" for what, n in figures.api.requests.most_common(40))
    )
    print(
        f"apiserver handling time: {sum(figures.api.seconds.values()):.1f}s in all; most: "
        + ", ".join(f"{what} {s:.1f}s" for what, s in figures.api.seconds.most_common(12))
    )
    print(
        f"watch events sent: {sum(figures.api.watch_events.values()):.0f} in all, "
        f"{sum(figures.api.watch_bytes.values()) / 1e6:.1f} MB; by kind: "
        + ", ".join(
            f"{kind} {n:.0f} ({figures.api.watch_bytes[kind] / 1e6:.1f} MB)"
            for kind, n in figures.api.watch_events.most_common(12)
        )
    )
    print(
        f"events: {sum(figures.events.values())}; by source and reason: "
        + ", ".join(f"{what} {n}" for what, n in figures.events.most_common(8))
    )
    writes = _writes_per_bot(requests=figures.api.requests, bots=bots)
    print(
        f"writes per bot: {sum(writes.values()):.2f} in all; "
        + ", ".join(f"{what} {n:.2f}" for what, n in writes.items())
    )
    if figures.held is not None:
        held = _writes_per_bot(requests=figures.held.requests, bots=bots)
        print(
            "writes per bot in the statusIntervalSeconds after (held-back statuses): "
            + (", ".join(f"{what} {n:.2f}" for what, n in held.items()) or "none")
        )
    if figures.operator_log_clean is not None:
        print(f"operator log: {'clean' if figures.operator_log_clean else 'HAS TRACEBACKS'}")


def _writes_per_bot(*, requests: Counter[str], bots: int) -> dict[str, float]:
    """Write requests per bot by verb and resource, most frequent first."""
    writes = Counter(
        {what: n for what, n in requests.items() if what.partition(" ")[0] in WRITE_VERBS}
    )
    return {what: n / bots for what, n in writes.most_common() if n}


def side_by_side(*, operator: RunFigures, direct: RunFigures) -> None:
    """The three overhead ratios of one run, each next to its target."""
    ratios = {
        "wall": (operator.settled_s, direct.settled_s, "apply -> all settled"),
        "scheduled_p50": (
            operator.scheduled_p50_s or float("nan"),
            direct.scheduled_p50_s or float("nan"),
            "apply -> pod scheduled p50",
        ),
        "apiserver_cpu": (
            operator.cpu_s["kube-apiserver"],
            direct.cpu_s["kube-apiserver"],
            "kube-apiserver CPU",
        ),
    }
    print("== side by side (with the operator vs the control plane alone)")
    print(f"bots applied in: {operator.applied_s:.1f}s vs {direct.applied_s:.1f}s")
    for key, (with_op, alone, what) in ratios.items():
        ratio = with_op / alone if alone else float("nan")
        target = RATIO_TARGETS[key]
        print(
            f"{what}: {with_op:.1f}s vs {alone:.1f}s, ratio {ratio:.2f} "
            f"(target <= {target:.2f}) {'MET' if ratio <= target else 'MISSED'}"
        )
    _same_work_compared(operator=operator.cpu_s, direct=direct.cpu_s)
    if direct.write_costs_ms is not None:
        _write_cost_floor(operator=operator, direct=direct, costs=direct.write_costs_ms)


def _same_work_compared(*, operator: Mapping[str, float], direct: Mapping[str, float]) -> None:
    """How much slower the machine ran the control plane with the operator than without it, told
    by the CPU of the processes that do the same work in both runs (:data:`SAME_WORK`).

    Two causes move it, and the figures cannot tell them apart: the operator's own CPU competing
    with the control plane for the machine's cores (part of its overhead), and the machine's
    speed changing between the runs (a busy neighbour: then every CPU and time figure of one run
    moves, and the ratios compare unlike runs, in either direction). The apiserver's CPU ratio
    is also given with that difference taken out, for reading a run; the targets are asked of
    the ratio itself."""
    with_op, alone = sum(operator[p] for p in SAME_WORK), sum(direct[p] for p in SAME_WORK)
    slower = with_op / alone
    print(
        f"same work: {' and '.join(SAME_WORK)} spent {with_op:.1f}s vs {alone:.1f}s "
        f"({100 * (slower - 1):+.0f}%); kube-apiserver CPU ratio with that taken out "
        f"{operator['kube-apiserver'] / direct['kube-apiserver'] / slower:.2f}"
    )


def _write_cost_floor(
    *, operator: RunFigures, direct: RunFigures, costs: Mapping[str, float]
) -> None:
    """What the operator's writes to its own TradingBots cost the apiserver, at the per-write
    CPU measured on the baseline's cluster: an estimate of the part of the CPU ratio those
    writes make (a write may cost more on a busier apiserver, or less with fewer watchers)."""
    print(
        "apiserver CPU per write (baseline cluster, settled): "
        + ", ".join(f"{what} {ms:.2f} ms" for what, ms in costs.items())
    )
    bots = operator.api.requests["POST tradingbots"]
    # Kopf's finalizer, where the admission webhook did not set it in the create.
    finalizers = operator.api.requests.get("PATCH tradingbots", 0)
    finalizer = costs["PATCH tradingbots (finalizer)"]
    status = costs["PATCH tradingbots/status"]
    alone = direct.cpu_s["kube-apiserver"]
    made = operator.api.requests["PATCH tradingbots/status"]
    estimates = [("one status write", bots)]
    if made != bots:
        estimates.append(("the status writes made", made))
    for label, statuses in estimates:
        own = (finalizers * finalizer + statuses * status) / 1000
        print(
            f"the operator's own TradingBot writes ({finalizers / bots:.2f} finalizer patches + "
            f"{label}, {statuses / bots:.2f} per bot): about {own:.1f}s of apiserver CPU, a "
            f"ratio of about {(alone + own) / alone:.2f} by themselves"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also run the control plane alone: the same children created directly, no operator",
    )
    parser.add_argument(
        "--baseline-workers",
        type=int,
        default=CLIENT_THREADS,
        help="threads creating the children in the baseline (each one bot at a time)",
    )
    args = parser.parse_args()
    if args.baseline_workers < 1:
        parser.error("--baseline-workers must be at least 1")
    with_operator = run(bots=args.bots, direct=False)
    report(title="with the operator", bots=args.bots, figures=with_operator)
    if args.baseline:
        direct = run(
            bots=args.bots,
            direct=True,
            children_workers=args.baseline_workers,
            probe_status=with_operator.sample_status,
        )
        report(
            title=(
                "control plane alone (children applied directly by the client, "
                f"{args.baseline_workers} workers)"
            ),
            bots=args.bots,
            figures=direct,
        )
        side_by_side(operator=with_operator, direct=direct)


if __name__ == "__main__":
    main()
