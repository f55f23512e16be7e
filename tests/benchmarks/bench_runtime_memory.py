"""Benchmark: a bot runtime's resident memory at steady state, next to an earlier runtime's.

Starts a redis-server, then for this tree and for the runtime at ``BASELINE_COMMIT`` (read from
git into a temporary directory) one paper bot each — ``python -m tradefleet_runtime``, market
data from its own synthetic feed (1,200 warm-up bars, so the regime model is fitted at start),
fusion over order flow and the regime, polling every 100 ms — and samples the process's VmRSS
every half second for ``SAMPLE_S`` seconds once its regime model is in use. Prints the median and
the peak of each, and the target (issue 19: a bot runtime at most 150 MB).

    python tests/benchmarks/bench_runtime_memory.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tradefleet_devtools.controlplane import free_port
from tradefleet_devtools.redis_server import LocalRedis

REPO = Path(__file__).resolve().parents[2]
# The last commit whose regime fit loaded scikit-learn and SciPy (hmmlearn.base).
BASELINE_COMMIT = "70c926af393fe33ad2289cd67fb740a0d02b8103"
TARGET_MB = 150.0
TOKEN = "bench-memory-token"


def _config(*, redis_url: str, prefix: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "RuntimeConfig",
        "bot": {"name": "memory", "namespace": "bench"},
        "exchange": {
            "id": "binance",
            "market": "futures",
            "symbol": "BTC/USDT:USDT",
            "mode": "paper",
            "liveTradingOptIn": False,
            "baseUrl": "http://127.0.0.1:9",
            "credentials": None,
        },
        "strategy": {"name": "fusion", "timeframe": "1m"},
        "risk": {},
        "signalSources": [],
        "redis": {"url": redis_url, "keyPrefix": prefix},
        "api": {"port": port, "controlTokenEnv": "TRADEFLEET_CONTROL_TOKEN"},
        "heartbeatTimeoutSeconds": 30,
        "marketData": {
            "source": "synthetic",
            "syntheticSeed": 3,
            "pollIntervalMs": 100,
            "historyBars": 1_200,
        },
        "venue": {"timeoutMs": 3000, "recvWindowMs": 1000},
    }


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def _regime_ready(port: int) -> bool:
    try:
        answer = httpx.get(
            f"http://127.0.0.1:{port}/api/advanced/regime/summary",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=2.0,
        )
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and answer.json()["model"]["state"] == "ready"


def measure(*, tree: Path, redis_url: str, workdir: Path, seconds: float) -> list[float]:
    """The runtime's RSS samples (MB) once its regime model is in use."""
    port = free_port()
    config = workdir / "config.json"
    config.write_text(json.dumps(_config(redis_url=redis_url, prefix=f"bench:{port}", port=port)))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(tree / part) for part in ("operator", "bot-runtime")),
        "TRADEFLEET_CONFIG": str(config),
        "TRADEFLEET_LISTEN_HOST": "127.0.0.1",
        "TRADEFLEET_CONTROL_TOKEN": TOKEN,
        "TRADEFLEET_TERMINATION_LOG": str(workdir / "termination-log"),
    }
    log = (workdir / "runtime.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tradefleet_runtime"], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 120
        while not _regime_ready(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the runtime did not fit its regime; see {workdir}")
            time.sleep(0.5)
        samples = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            samples.append(_rss_mb(process.pid))
            time.sleep(0.5)
        return samples
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _baseline_tree(into: Path) -> Path | None:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", BASELINE_COMMIT, "operator", "bot-runtime"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return None
    into.mkdir(parents=True, exist_ok=True)
    path = into / "archive.tar"
    path.write_bytes(archive.stdout)
    with tarfile.open(path) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        root = Path(scratch)
        (root / "redis").mkdir()
        with LocalRedis(workdir=root / "redis").running() as redis:
            rows = [("this tree", REPO)]
            baseline = _baseline_tree(root / "baseline")
            if baseline is not None:
                rows.append((f"runtime at {BASELINE_COMMIT[:8]}", baseline))
            print(
                f"bot runtime RSS, paper bot on its synthetic feed, regime fitted, sampled every "
                f"0.5 s for {arguments.seconds:.0f} s (target <= {TARGET_MB:.0f} MB)"
            )
            for label, tree in rows:
                workdir = root / label.replace(" ", "-")
                workdir.mkdir()
                samples = measure(
                    tree=tree, redis_url=redis.url, workdir=workdir, seconds=arguments.seconds
                )
                median, peak = statistics.median(samples), max(samples)
                verdict = "met" if peak <= TARGET_MB else "NOT MET"
                print(f"  {label:<22} median {median:6.1f} MB   peak {peak:6.1f} MB   {verdict}")
            if baseline is None:
                print("  baseline: unavailable (no git history)")


if __name__ == "__main__":
    main()
