"""Benchmark: a fleet of paper bots on one account — exchange requests with shared market data
against each bot polling, and a bot's memory in each case.

Starts the local exchange (one synthetic market per symbol, real HTTP and its websocket diff
stream) and a redis-server, then runs a fleet of paper bots twice, each bot a real
``python -m tradefleet_runtime``:

1. **per-bot polling** (``--polling-bots``, default ``--bots``): every bot reads its symbol's
   book from the exchange itself (``marketData.source: exchange``), as a bot without an
   ExchangeAccount does;
2. **shared** (``--bots``): the account's market-data workload
   (``python -m tradefleet_runtime market-data``) keeps each symbol's book and publishes it to
   Redis; the bots read it there (``marketData.source: shared``). It is measured twice: with
   the books streamed over the exchange's websocket (ccxt.pro), then with the exchange's streams
   gone (``/_admin/stream``), when the workload reads every book over REST once per poll.

Each window counts the requests the exchange serves for ``--seconds`` (its own request counter)
and samples every bot's VmRSS. It prints requests per second in each, what the bots themselves
asked in their last minute (their ``/status`` ``requestsPerMinute``, added up), the ratio of
polling to each shared mode, and the median bot RSS against the target (issue 19: at most
150 MB).

The issue's fleet is 200 bots on 20 symbols: ``--bots 200 --polling-bots 40`` runs 200 bots on
shared data, and 40 polling bots whose requests are projected to 200 (a polling bot's requests
per second times 200): 200 polling bots would need about 32 GB, and the machine has 24. The
short form for a quick look: ``--bots 8 --symbols 4 --seconds 20``.

    python tests/benchmarks/bench_shared_market_data.py [--bots 40] [--polling-bots N]
        [--symbols 20] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
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
TOKEN = "bench-shared-token"
POLL_MS = 1_000
# Where the fleet's listening ports start (Linux hands out ephemeral ports from 32768).
PORTS_FROM = 21_000
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


def _publisher_config(
    *, exchange_url: str, redis_url: str, symbols: Sequence[str], prefix: str, port: int
) -> dict[str, Any]:
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "MarketDataConfig",
        "exchange": {
            "id": "binance",
            "market": "futures",
            "baseUrl": exchange_url,
            # What the operator gives it for these symbols (a book weighs 2, candles a fifth
            # more): ccxt's default spacing would read them more slowly.
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
                market_set=MarketSet(market="futures", symbols=tuple(symbols), timeframes=("1m",)),
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
    }


def _window(
    *, exchange_url: str, bots: Sequence[subprocess.Popen[bytes]], seconds: float
) -> dict[str, float]:
    """Requests per second the exchange serves over ``seconds``, and the bots' median RSS."""
    before, began = _served(exchange_url), time.monotonic()
    rss: list[float] = []
    while time.monotonic() - began < seconds:
        rss.extend(_rss_mb(p.pid) for p in bots)
        time.sleep(2)
    rate = (_served(exchange_url) - before) / (time.monotonic() - began)
    return {"rate": rate, "rss": statistics.median(rss)}


def _book_sources(port: int) -> dict[str, int]:
    """How many of the publisher's books arrive each way (its ``/status`` ``bookSources``)."""
    sources = _get(f"http://127.0.0.1:{port}/status").json()["bookSources"].values()
    streamed = sum(1 for source in sources if source == "streamed")
    return {"streamed": streamed, "rest": len(sources) - streamed}


def _free_ports(count: int) -> list[int]:
    """``count`` ports free now, below the ephemeral range: a port the kernel hands out (as
    ``free_port`` does) may go to one of the fleet's own outgoing connections before the bot
    that was to listen on it has started."""
    ports: list[int] = []
    candidate = PORTS_FROM
    while len(ports) < count:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
                ports.append(candidate)
            except OSError:
                pass
        candidate += 1
    return ports


def _wait_books(port: int, *, streaming: bool, symbols: int) -> None:
    deadline = time.monotonic() + 60
    want = {"streamed": symbols if streaming else 0, "rest": 0 if streaming else symbols}
    while _book_sources(port) != want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the publisher's books: {_book_sources(port)}, not {want}")
        time.sleep(0.5)


def _phase(
    *,
    workdir: Path,
    exchange_url: str,
    redis_url: str,
    symbols: Sequence[str],
    bots: int,
    seconds: float,
    shared: bool,
) -> dict[str, dict[str, float]]:
    """One run of the fleet: its requests per second at the exchange and its bots' figures;
    shared, in two windows: the workload's books streamed, then over REST."""
    processes: list[subprocess.Popen[bytes]] = []
    prefix = f"bench:market:{int(time.time())}"
    publisher_port, *ports = _free_ports(bots + 1)
    try:
        if shared:
            _admin(exchange_url, "/_admin/stream", {"enabled": True})
            config = _publisher_config(
                exchange_url=exchange_url,
                redis_url=redis_url,
                symbols=symbols,
                prefix=prefix,
                port=publisher_port,
            )
            processes.append(
                _start(workdir=workdir / "publisher", args=("market-data",), config=config)
            )
            _wait_ready([f"http://127.0.0.1:{publisher_port}/healthz"], processes, "publisher")
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
        fleet = processes[1 if shared else 0 :]
        if shared:
            _wait_books(publisher_port, streaming=True, symbols=len(symbols))
        time.sleep(5)  # past every bot's start-up requests
        windows = {
            "streamed" if shared else "polling": _window(
                exchange_url=exchange_url, bots=fleet, seconds=seconds
            )
        }
        asked = sum(
            int(_get(f"http://127.0.0.1:{p}/status").json().get("requestsPerMinute") or 0)
            for p in ports
        )
        if shared:
            # The exchange's streams go away: the workload reads every book over REST.
            _admin(exchange_url, "/_admin/stream", {"enabled": False, "disconnect": True})
            _wait_books(publisher_port, streaming=False, symbols=len(symbols))
            time.sleep(2)
            windows["rest"] = _window(exchange_url=exchange_url, bots=fleet, seconds=seconds)
        for figures in windows.values():
            figures["asked"] = asked
        return windows
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
    parser.add_argument("--polling-bots", type=int, default=None)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    arguments = parser.parse_args()
    symbols = _symbols(arguments.symbols)
    polling_bots = arguments.polling_bots or arguments.bots
    with tempfile.TemporaryDirectory(prefix="bench-shared-") as scratch:
        workdir = Path(scratch)
        redis = LocalRedis(workdir=workdir / "redis", appendfsync="no")
        access = redis.start()
        try:
            with _exchange(workdir=workdir, symbols=symbols) as exchange_url:
                figures: dict[str, dict[str, float]] = {}
                for name, shared, bots in (
                    ("polling", False, polling_bots),
                    ("shared", True, arguments.bots),
                ):
                    figures |= _phase(
                        workdir=workdir / name,
                        exchange_url=exchange_url,
                        redis_url=access.url,
                        symbols=symbols,
                        bots=bots,
                        seconds=arguments.seconds,
                        shared=shared,
                    )
        finally:
            redis.stop()
    _report(figures, bots=arguments.bots, polling_bots=polling_bots, symbols=len(symbols))


def _report(
    figures: dict[str, dict[str, float]], *, bots: int, polling_bots: int, symbols: int
) -> None:
    polling, rest, streamed = figures["polling"], figures["rest"], figures["streamed"]
    print(
        f"paper bots on {symbols} symbols: {polling_bots} polling, {bots} on shared data "
        f"(its books streamed, then over REST)"
    )
    print(f"{'':22}{'polling':>12}{'shared REST':>12}{'streamed':>12}")
    for label, key in (
        ("exchange requests/s", "rate"),
        # Each bot's own count of its requests in its last minute (start-up included).
        ("bots asked, last min", "asked"),
        ("bot RSS, median (MB)", "rss"),
    ):
        print(f"{label:22}{polling[key]:12.1f}{rest[key]:12.1f}{streamed[key]:12.1f}")
    per_bot = polling["rate"] / polling_bots
    projected = per_bot * bots
    measured = "measured" if polling_bots == bots else f"projected from {polling_bots} bots"
    print(
        f"{bots} bots polling: {projected:.1f}/s ({measured}, {per_bot:.2f} per bot); "
        f"ratio to shared REST {projected / rest['rate']:.1f}x, "
        f"to streamed {projected / max(streamed['rate'], 1e-9):.1f}x"
    )
    print(
        f"shared requests per symbol and second: REST {rest['rate'] / symbols:.2f}, "
        f"streamed {streamed['rate'] / symbols:.3f} (the same for any number of bots)"
    )
    verdict = "met" if streamed["rss"] <= TARGET_MB else "NOT met"
    print(f"bot RSS target {TARGET_MB:.0f} MB: shared {streamed['rss']:.1f} MB ({verdict})")


if __name__ == "__main__":
    main()
