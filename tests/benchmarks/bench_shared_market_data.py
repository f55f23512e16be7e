"""Benchmark: a fleet of paper bots on one account — exchange requests with shared market data
against each bot polling, and a bot's memory in each case.

Starts the local exchange (one synthetic market per symbol, real HTTP) and a redis-server, then
runs the same fleet of paper bots twice, each bot a real ``python -m tradefleet_runtime``:

1. **per-bot polling**: every bot reads its symbol's book from the exchange itself
   (``marketData.source: exchange``), as a bot without an ExchangeAccount does;
2. **shared**: the account's market-data workload (``python -m tradefleet_runtime market-data``)
   reads each symbol once and publishes it to Redis; the bots read it there
   (``marketData.source: shared``).

Each phase waits until every bot is ready, then counts the requests the exchange serves for
``--seconds`` (its own request counter) and samples every bot's VmRSS. It prints requests per
second in each phase and their ratio, what the bots themselves asked in their last minute (their
``/status`` ``requestsPerMinute``, added up), and the median bot RSS against the target (issue 19: at most 150 MB).

This machine cannot run 200 bot processes at once (2 cores; 200 polling bots would need about
32 GB), so the default fleet is ``--bots 40`` on ``--symbols 20`` and the figures for 200 bots
on 20 symbols are projected from what was measured: a polling bot's requests per second times
200, against the workload's requests per second for the same 20 symbols (the bots on shared data
ask the exchange nothing, as the run shows, so that figure does not depend on their number).
The short form for a quick look: ``--bots 8 --symbols 4 --seconds 20``.

    python tests/benchmarks/bench_shared_market_data.py [--bots 40] [--symbols 20] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from tradefleet_api import validate
from tradefleet_api.models import ExchangeAccountSpec
from tradefleet_devtools.controlplane import free_port
from tradefleet_devtools.redis_server import LocalRedis
from tradefleet_operator.market_workloads import workload_interval_ms
from tradefleet_operator.render_market import MarketSet

REPO = Path(__file__).resolve().parents[2]
TARGET_MB = 150.0
FLEET_BOTS = 200
TOKEN = "bench-shared-token"
POLL_MS = 1_000
# The log file of each process started, by pid: what a failure shows.
_LOGS: dict[int, Path] = {}


def _symbols(count: int) -> list[str]:
    return ["BTC/USDT:USDT", "ETH/USDT:USDT", *(f"C{n:02d}/USDT:USDT" for n in range(2, count))][
        :count
    ]


def _env(config: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(REPO / part) for part in ("operator", "bot-runtime")),
        "TRADEFLEET_CONFIG": str(config),
        "TRADEFLEET_LISTEN_HOST": "127.0.0.1",
        "TRADEFLEET_CONTROL_TOKEN": TOKEN,
        "TRADEFLEET_TERMINATION_LOG": str(config.parent / "termination-log"),
    }


def _start(
    *, workdir: Path, config: dict[str, Any], args: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.json"
    path.write_text(json.dumps(config))
    log = (workdir / "process.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tradefleet_runtime", *args],
        env=_env(path),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    _LOGS[process.pid] = workdir / "process.log"
    return process


def _bot_config(
    *, name: str, symbol: str, exchange_url: str, redis_url: str, port: int, shared: str | None
) -> dict[str, Any]:
    market: dict[str, Any] = {"pollIntervalMs": POLL_MS, "historyBars": 200}
    if shared is not None:
        market |= {"source": "shared", "sharedKeyPrefix": shared}
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "RuntimeConfig",
        "bot": {"name": name, "namespace": "bench"},
        "exchange": {
            "id": "binance",
            "market": "futures",
            "symbol": symbol,
            "mode": "paper",
            "liveTradingOptIn": False,
            "baseUrl": exchange_url,
            "credentials": None,
        },
        "strategy": {
            "name": "fusion",
            "timeframe": "1m",
            # Order flow only: no model to fit, so every bot is ready in seconds.
            "fusionWeights": {"regime": 0, "ofi": 1, "whale": 0, "sentiment": 0, "macro": 0},
        },
        "risk": {},
        "signalSources": [],
        "redis": {"url": redis_url, "keyPrefix": f"bench:{name}"},
        "api": {"port": port, "controlTokenEnv": "TRADEFLEET_CONTROL_TOKEN"},
        "heartbeatTimeoutSeconds": 60,
        "marketData": market,
        "venue": {"timeoutMs": 5000, "recvWindowMs": 1000},
    }


def _get(url: str) -> Any:
    answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5.0)
    return answer


def _admin(exchange_url: str, path: str, payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{exchange_url}{path}",
        data=data,
        method="GET" if data is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _served(exchange_url: str) -> int:
    return sum(int(n) for n in _admin(exchange_url, "/_admin/state")["requests"].values())


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def _log_tail(process: subprocess.Popen[bytes]) -> str:
    """The end of the log of a process started by :func:`_start`."""
    log = _LOGS.get(process.pid)
    return log.read_text(errors="replace")[-600:] if log and log.exists() else "(no log)"


def _wait_ready(
    urls: Sequence[str], processes: Sequence[subprocess.Popen[bytes]], what: str
) -> None:
    deadline = time.monotonic() + 60 + 3 * len(urls)
    pending = set(urls)
    while pending:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(
                    f"a {what} exited with {process.returncode}: {_log_tail(process)}"
                )
        for url in sorted(pending):
            try:
                if _get(url).status_code == 200:
                    pending.discard(url)
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} {what}(s) not ready: {sorted(pending)[:3]}")
        time.sleep(0.5)


@contextmanager
def _exchange(*, workdir: Path, symbols: Sequence[str]) -> Iterator[str]:
    log = (workdir / "exchange.log").open("a")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "tradefleet_devtools.exchange",
            "--port", str(free_port()), "--symbols", ",".join(symbols),
            "--prices", "synthetic", "--step-seconds", "1",
            "--history-hours", "1", "--bar-seconds", "1",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                str(REPO / part) for part in ("devtools", "operator", "bot-runtime")
            ),
            # Paper bots read public market data only: any keys will do.
            "TRADEFLEET_EXCHANGE_API_KEY": "bench",
            "TRADEFLEET_EXCHANGE_API_SECRET": "bench",
        },
    )  # fmt: skip
    assert process.stdout is not None
    url = process.stdout.readline().strip().split()[0]
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _phase(
    *,
    workdir: Path,
    exchange_url: str,
    redis_url: str,
    symbols: Sequence[str],
    bots: int,
    seconds: float,
    shared: bool,
) -> dict[str, float]:
    """One run of the fleet; its requests per second at the exchange and its bots' figures."""
    processes: list[subprocess.Popen[bytes]] = []
    prefix = f"bench:market:{int(time.time())}"
    try:
        if shared:
            port = free_port()
            publisher = _start(
                workdir=workdir / "publisher",
                args=("market-data",),
                config={
                    "apiVersion": "tradefleet.io/v1alpha1",
                    "kind": "MarketDataConfig",
                    "exchange": {
                        "id": "binance",
                        "market": "futures",
                        "baseUrl": exchange_url,
                        # What the operator gives it for these symbols (a book weighs 2, candles
                        # a fifth more): ccxt's default spacing would read them more slowly.
                        "requestIntervalMs": workload_interval_ms(
                            spec=validate(
                                ExchangeAccountSpec,
                                {
                                    "exchange": "binance",
                                    "allocation": {"capital": 1},
                                    "rateLimit": {"requestsPerMinute": 1_000_000},
                                    "marketData": {"pollIntervalMs": POLL_MS},
                                },
                            ),
                            market_set=MarketSet(
                                market="futures", symbols=tuple(symbols), timeframes=("1m",)
                            ),
                            workloads=1,
                        ),
                    },
                    "symbols": list(symbols),
                    "timeframes": ["1m"],
                    "pollIntervalMs": POLL_MS,
                    "depth": 20,
                    "historyBars": 200,
                    "redis": {"url": redis_url, "keyPrefix": prefix},
                    "api": {"port": port},
                },
            )
            processes.append(publisher)
            _wait_ready([f"http://127.0.0.1:{port}/healthz"], processes, "publisher")
        ports = [free_port() for _ in range(bots)]
        for number, port in enumerate(ports):
            config = _bot_config(
                name=f"bot{number}",
                symbol=symbols[number % len(symbols)],
                exchange_url=exchange_url,
                redis_url=redis_url,
                port=port,
                shared=prefix if shared else None,
            )
            processes.append(_start(workdir=workdir / f"bot{number}", config=config))
        _wait_ready([f"http://127.0.0.1:{p}/readyz" for p in ports], processes, "bot")
        time.sleep(5)  # past every bot's start-up requests
        before, began = _served(exchange_url), time.monotonic()
        rss: list[float] = []
        while time.monotonic() - began < seconds:
            rss.extend(_rss_mb(p.pid) for p in processes[1 if shared else 0 :])
            time.sleep(2)
        rate = (_served(exchange_url) - before) / (time.monotonic() - began)
        asked = sum(
            int(_get(f"http://127.0.0.1:{p}/status").json().get("requestsPerMinute") or 0)
            for p in ports
        )
        return {"rate": rate, "rss": statistics.median(rss), "asked": asked}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=40)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    arguments = parser.parse_args()
    symbols = _symbols(arguments.symbols)
    with tempfile.TemporaryDirectory(prefix="bench-shared-") as scratch:
        workdir = Path(scratch)
        redis = LocalRedis(workdir=workdir / "redis", appendfsync="no")
        access = redis.start()
        try:
            with _exchange(workdir=workdir, symbols=symbols) as exchange_url:
                figures = {
                    name: _phase(
                        workdir=workdir / name,
                        exchange_url=exchange_url,
                        redis_url=access.url,
                        symbols=symbols,
                        bots=arguments.bots,
                        seconds=arguments.seconds,
                        shared=shared,
                    )
                    for name, shared in (("polling", False), ("shared", True))
                }
        finally:
            redis.stop()
    polling, shared = figures["polling"], figures["shared"]
    print(f"{arguments.bots} paper bots on {len(symbols)} symbols, {arguments.seconds:.0f} s each")
    print(f"{'':22}{'polling':>12}{'shared':>12}")
    print(f"{'exchange requests/s':22}{polling['rate']:12.1f}{shared['rate']:12.1f}")
    # Each bot's own count of its requests in its last minute (start-up included).
    print(f"{'bots asked, last min':22}{polling['asked']:12.0f}{shared['asked']:12.0f}")
    print(f"{'bot RSS, median (MB)':22}{polling['rss']:12.1f}{shared['rss']:12.1f}")
    print(f"ratio polling/shared, measured: {polling['rate'] / shared['rate']:.1f}x")
    per_bot = polling["rate"] / arguments.bots
    per_symbol = shared["rate"] / len(symbols)
    projected_polling = per_bot * FLEET_BOTS
    projected_shared = per_symbol * 20
    print(
        f"projected, {FLEET_BOTS} bots on 20 symbols: polling {projected_polling:.1f}/s "
        f"({per_bot:.2f} per bot), shared {projected_shared:.1f}/s ({per_symbol:.2f} per symbol): "
        f"{projected_polling / projected_shared:.1f}x"
    )
    verdict = "met" if shared["rss"] <= TARGET_MB else "NOT met"
    print(f"bot RSS target {TARGET_MB:.0f} MB: shared {shared['rss']:.1f} MB ({verdict})")


if __name__ == "__main__":
    main()
