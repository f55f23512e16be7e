"""The processes a soak trial runs and breaks: bot runtimes, and a Redis that can crash.

Used by the trial runner (``tradefleet_devtools.soak.trial``). A ``SoakRuntime`` is one
``python -m tradefleet_runtime`` process in testnet mode (real ccxt, signed requests) against
the trial's local exchange, with the environment the operator gives a bot pod and a
termination-message file; the harness kills it (SIGKILL), hangs it (SIGSTOP/SIGCONT) or stops
it (SIGTERM) and reads its log. ``CrashableRedis`` is a ``LocalRedis`` with ``appendfsync
everysec`` that the harness SIGKILLs, optionally cutting the append-only file back to its size
a second earlier (what an OS crash loses under ``everysec``), and starts again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tradefleet_devtools.controlplane import die_with_parent, free_port
from tradefleet_devtools.crds import REPO
from tradefleet_devtools.redis_server import LocalRedis, RedisAccess
from tradefleet_devtools.soak.evidence import Incarnation, parse_log
from tradefleet_devtools.soak.spans import Span

SYMBOL = "BTC/USDT:USDT"
API_KEY = "soak-key-5e1f0c"
API_SECRET = "soak-secret-9a7d2b"
CONTROL_TOKEN = "soak-control-token-3c8e"
# What everysec may lose: the writes of the last second before an OS crash.
UNSYNCED_MS = 1_000


def now_ms() -> int:
    return int(time.time() * 1000)


def runtime_config(
    *, bot: str, base_url: str, redis_url: str, key_prefix: str, port: int
) -> dict[str, Any]:
    """A RuntimeConfig as the operator renders it, tuned so the bot trades on order flow."""
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "RuntimeConfig",
        "bot": {"name": bot, "namespace": "soak"},
        "exchange": {
            "id": "binance",
            "market": "futures",
            "symbol": SYMBOL,
            "mode": "testnet",
            "liveTradingOptIn": False,
            "baseUrl": base_url,
            "credentials": {
                "apiKeyEnv": "TRADEFLEET_API_KEY",
                "apiSecretEnv": "TRADEFLEET_API_SECRET",
            },
        },
        "strategy": {
            "name": "fusion",
            "timeframe": "1m",
            "fusionWeights": {
                "regime": 0.0,
                "ofi": 1.0,
                "whale": 0.0,
                "sentiment": 0.0,
                "macro": 0.0,
            },
            "thresholds": {"buy": 0.005, "strongBuy": 0.5, "sell": -0.005, "strongSell": -0.5},
        },
        "risk": {
            "maxVolatilityRatio": 1000.0,
            "crashSigma": 1000.0,
            "maxDailyVarPct": 100.0,
            "maxDrawdownPct": 90.0,
            "maxDailyLossPct": 90.0,
            # The CRD's maximum: a trial of a few seconds never loses that often in a row.
            "maxConsecutiveLosses": 100,
            "atrCircuitBreakerMultiplier": 50.0,
            # Sizes stay near the prior's, above the exchange minimum, however the soak's
            # round trips went (Kelly would shrink them under it after a few losses).
            "kellyPriorTrades": 100000.0,
        },
        "signalSources": [],
        "redis": {"url": redis_url, "keyPrefix": key_prefix},
        "api": {"port": port, "controlTokenEnv": "TRADEFLEET_CONTROL_TOKEN"},
        "heartbeatTimeoutSeconds": 30,
        "marketData": {"pollIntervalMs": 100, "historyBars": 200},
        "venue": {"timeoutMs": 3000, "recvWindowMs": 1000},
    }


class SoakRuntime:
    """One runtime process of the trial's bot, and what the harness did to it."""

    def __init__(self, *, name: str, slot: str, workdir: Path, config: Mapping[str, Any]) -> None:
        self.name = name
        self.slot = slot
        self.workdir = workdir
        self.port = free_port()
        self.config = {**config, "api": {**config["api"], "port": self.port}}
        self.started_ms = 0
        self.ended_ms: int | None = None
        self.end_cause = "running"
        self.hung: list[Span] = []
        self._hung_since: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "runtime.log"

    @property
    def alive(self) -> bool:
        return self._process is not None and self.ended_ms is None

    @property
    def is_hung(self) -> bool:
        return self._hung_since is not None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "config.json"
        config_path.write_text(json.dumps(self.config))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                str(REPO / part) for part in ("operator", "bot-runtime", "devtools")
            ),
            "TRADEFLEET_CONFIG": str(config_path),
            "TRADEFLEET_LISTEN_HOST": "127.0.0.1",
            "TRADEFLEET_CONTROL_TOKEN": CONTROL_TOKEN,
            "TRADEFLEET_POD_NAME": self.name,
            "TRADEFLEET_API_KEY": API_KEY,
            "TRADEFLEET_API_SECRET": API_SECRET,
            "TRADEFLEET_TERMINATION_LOG": str(self.workdir / "termination-log"),
        }
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tradefleet_runtime"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # Before exec, nothing but the prctl call: no lock the parent's threads hold.
                preexec_fn=die_with_parent,  # noqa: PLW1509
            )
        self.started_ms = now_ms()

    def exited(self) -> bool:
        """Whether it ended on its own since last asked (then its end is recorded)."""
        if self._process is None or self.ended_ms is not None:
            return False
        code = self._process.poll()
        if code is None:
            return False
        self._ended(f"exited with {code}")
        return True

    def _ended(self, cause: str) -> None:
        self.ended_ms = now_ms()
        self.end_cause = cause
        if self._hung_since is not None:
            self.hung.append(Span(start_ms=self._hung_since, end_ms=self.ended_ms))
            self._hung_since = None

    async def kill(self) -> None:
        """SIGKILL, the crash of the pod."""
        process = self._process
        if process is None or self.ended_ms is not None:
            return
        process.send_signal(signal.SIGKILL)
        self._ended("killed")
        await asyncio.to_thread(process.wait, 10)

    def hang(self) -> None:
        if self.alive and self._process is not None and self._hung_since is None:
            self._process.send_signal(signal.SIGSTOP)
            self._hung_since = now_ms()

    def resume(self) -> None:
        if self._process is not None and self._hung_since is not None:
            self._process.send_signal(signal.SIGCONT)
            self.hung.append(Span(start_ms=self._hung_since, end_ms=now_ms()))
            self._hung_since = None

    async def terminate(self) -> None:
        """SIGTERM and wait (the end of the trial)."""
        process = self._process
        if process is None:
            return
        self.resume()
        if self.ended_ms is None:
            process.send_signal(signal.SIGTERM)
            self._ended("stopped at the end of the trial")
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def termination_message(self) -> str:
        path = self.workdir / "termination-log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def status(self, client: httpx.AsyncClient) -> dict[str, Any] | None:
        """Its ``/status``, or None when it does not answer (starting, hung, gone)."""
        if not self.alive or self.is_hung:
            return None
        try:
            reply = await client.get(
                f"{self.url}/status",
                timeout=1.5,
                headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
            )
        except httpx.HTTPError:
            return None
        if reply.status_code != 200:
            return None
        payload: dict[str, Any] = reply.json()
        return payload

    def incarnation(self) -> Incarnation:
        return Incarnation(
            name=self.name,
            slot=self.slot,
            started_ms=self.started_ms,
            ended_ms=self.ended_ms,
            end_cause=self.end_cause,
            hung=tuple(self.hung),
            log=parse_log(self.log_text()),
        )


class CrashableRedis:
    """The trial's Redis (``appendfsync everysec``), crashed and restarted by the harness."""

    def __init__(self, *, workdir: Path) -> None:
        self.server = LocalRedis(workdir=workdir, appendfsync="everysec")
        self.down: list[Span] = []
        self._down_since: int | None = None
        self._sizes: deque[tuple[int, Path, int]] = deque(maxlen=64)
        self.access: RedisAccess | None = None

    @property
    def url(self) -> str:
        assert self.access is not None, "Redis was never started"
        return self.access.url

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    async def start(self) -> None:
        self.access = await asyncio.to_thread(self.server.start)
        if self._down_since is not None:
            self.down.append(Span(start_ms=self._down_since, end_ms=now_ms()))
            self._down_since = None

    def _incr_file(self) -> Path | None:
        files = sorted(self.server.aof_dir.glob("*.incr.aof"), key=lambda p: p.stat().st_mtime)
        return files[-1] if files else None

    def sample(self) -> None:
        """Remember the append-only file's size now (what a crash a second later keeps)."""
        path = self._incr_file()
        if path is not None and not self.is_down:
            self._sizes.append((now_ms(), path, path.stat().st_size))

    async def crash(self, *, lose_unsynced: bool) -> str:
        """SIGKILL; with ``lose_unsynced`` the file loses its last second of writes."""
        await asyncio.to_thread(self.server.kill)
        killed = now_ms()
        self._down_since = killed
        if not lose_unsynced:
            return "process killed, nothing lost (everything was written to the page cache)"
        path = self._incr_file()
        kept = [(at, p, size) for at, p, size in self._sizes if at <= killed - UNSYNCED_MS]
        if path is None or not kept or kept[-1][1] != path:
            return "no append-only file state a second old to fall back to: nothing lost"
        size = kept[-1][2]
        lost = path.stat().st_size - size
        os.truncate(path, size)
        return f"append-only file cut back to its size of {killed - kept[-1][0]} ms earlier ({lost} bytes lost)"

    async def stop(self) -> None:
        await asyncio.to_thread(self.server.stop)
        if self._down_since is not None:
            self.down.append(Span(start_ms=self._down_since, end_ms=now_ms()))
            self._down_since = None
