"""Benchmark: 1,000 TradingBots applied to a real local control plane and reconciled by one operator.

Prints the wall time until every bot is reconciled (children created, ``Reconciled=True`` at its
generation), the operator's peak RSS, and apply → pod-scheduled latency (p50, p95), each next to
its target. Run: ``python tests/benchmarks/bench_operator_scale.py [--bots 1000]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client, config, watch
from tradefleet_devtools.controlplane import LocalControlPlane
from tradefleet_devtools.crds import install_crds
from tradefleet_devtools.operator_process import OperatorProcess

NAMESPACE = "bench"


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _add_nodes(core: client.CoreV1Api) -> None:
    for region, name in {
        "ap-northeast-1": "bench-tokyo",
        "ap-southeast-1": "bench-singapore",
    }.items():
        status = client.V1NodeStatus(
            conditions=[
                client.V1NodeCondition(type="Ready", status="True", reason="BenchmarkKeepsReady")
            ],
            capacity={"cpu": "1000", "memory": "4Ti", "pods": "5000"},
            allocatable={"cpu": "1000", "memory": "4Ti", "pods": "5000"},
        )
        core.create_node(
            client.V1Node(
                metadata=client.V1ObjectMeta(
                    name=name, labels={"topology.kubernetes.io/region": region}
                ),
                status=status,
            )
        )
        core.patch_node_status(name, {"status": status.to_dict()})


def run(*, bots: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tradefleet-bench-") as tmp:
        plane = LocalControlPlane(workdir=Path(tmp) / "cp")
        access = plane.start()
        operator = OperatorProcess(
            kubeconfig=access.kubeconfig, workdir=Path(tmp) / "op", region="ap-northeast-1"
        )
        try:
            api = config.new_client_from_config(config_file=str(access.kubeconfig))
            install_crds(api_client=api)
            core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
            _add_nodes(core)
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
            operator.start()
            assert operator.pid is not None

            applied_at: dict[str, float] = {}
            scheduled_at: dict[str, float] = {}
            stop = threading.Event()

            def watch_pods() -> None:
                pods_api = client.CoreV1Api(
                    config.new_client_from_config(config_file=str(access.kubeconfig))
                )
                while not stop.is_set():
                    for event in watch.Watch().stream(
                        pods_api.list_namespaced_pod, NAMESPACE, timeout_seconds=5
                    ):
                        pod = event["object"]
                        bot = (pod.metadata.labels or {}).get("tradefleet.io/bot")
                        if bot and pod.spec.node_name and bot not in scheduled_at:
                            scheduled_at[bot] = time.monotonic()
                        if stop.is_set():
                            return

            watcher = threading.Thread(target=watch_pods, daemon=True)
            watcher.start()

            def create(i: int) -> None:
                name = f"bench-{i:04d}"
                custom.create_namespaced_custom_object(
                    "tradefleet.io",
                    "v1alpha1",
                    NAMESPACE,
                    "tradingbots",
                    {
                        "apiVersion": "tradefleet.io/v1alpha1",
                        "kind": "TradingBot",
                        "metadata": {"name": name},
                        "spec": {
                            "exchange": "binance",
                            "market": "futures",
                            "symbol": "BTC/USDT:USDT",
                        },
                    },
                )
                applied_at[name] = time.monotonic()

            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(create, range(bots)))
            applied = time.monotonic() - started

            def reconciled_count() -> int:
                items = custom.list_namespaced_custom_object(
                    "tradefleet.io", "v1alpha1", NAMESPACE, "tradingbots"
                )["items"]
                return sum(
                    1
                    for b in items
                    if any(
                        c["type"] == "Reconciled" and c["status"] == "True"
                        for c in (b.get("status") or {}).get("conditions") or []
                    )
                    and (b.get("status") or {}).get("observedGeneration")
                    == b["metadata"]["generation"]
                )

            done = 0
            while time.monotonic() - started < 600:
                done = reconciled_count()
                if done == bots:
                    break
                time.sleep(1.0)
            wall = time.monotonic() - started
            deadline = time.monotonic() + 60
            while len(scheduled_at) < bots and time.monotonic() < deadline:
                time.sleep(0.5)
            stop.set()
            latencies = sorted(
                scheduled_at[b] - applied_at[b] for b in scheduled_at if b in applied_at
            )
            rss = _peak_rss_mb(operator.pid)

            print(f"bots applied: {bots} in {applied:.1f}s (8 client threads)")
            print(
                f"reconciled: {done}/{bots} in {wall:.1f}s wall (target <= 60 s) {'MET' if done == bots and wall <= 60 else 'MISSED'}"
            )
            print(
                f"operator peak RSS: {rss:.0f} MB (target <= 250 MB) {'MET' if rss <= 250 else 'MISSED'}"
            )
            if latencies:
                p50 = statistics.median(latencies)
                p95 = latencies[int(0.95 * (len(latencies) - 1))]
                print(
                    f"apply -> pod scheduled: p50 {p50:.2f}s, p95 {p95:.2f}s over {len(latencies)} pods "
                    f"(target p50 <= 1 s) {'MET' if p50 <= 1 else 'MISSED'}"
                )
            print(
                f"operator log: {'clean' if 'Traceback' not in operator.log_text() else 'HAS TRACEBACKS'}"
            )
        finally:
            operator.stop()
            plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bots", type=int, default=1000)
    run(bots=parser.parse_args().bots)


if __name__ == "__main__":
    main()
