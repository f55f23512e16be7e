"""Test support for the runtime's integration tests: a bot runtime run as a real subprocess.

``RuntimeProcess`` writes a rendered RuntimeConfig (the operator's format, plus the runtime's
own ``marketData`` block for a fast decision loop), starts ``python -m tradefleet_runtime`` with
the environment the operator sets, captures its log, and talks to its API over HTTP. Tests kill
it with SIGKILL to simulate crashes. With ``args`` it runs another workload of the image (the
market-data publisher: ``("market-data",)`` and that workload's config document).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tradefleet_devtools.controlplane import free_port

REPO = Path(__file__).resolve().parents[3]
CONTROL_TOKEN = "test-control-token-7d1e"
BTC = "BTC/USDT:USDT"


def runtime_config(
    *,
    bot: str,
    base_url: str,
    redis_url: str,
    key_prefix: str,
    port: int,
    mode: str = "testnet",
    poll_interval_ms: int = 100,
    strategy: Mapping[str, Any] | None = None,
    risk: Mapping[str, Any] | None = None,
    signal_sources: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A RuntimeConfig as render_runtime_config renders it, tuned to trade often."""
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "RuntimeConfig",
        "bot": {"name": bot, "namespace": "test"},
        "exchange": {
            "id": "binance",
            "market": "futures",
            "symbol": BTC,
            "mode": mode,
            "liveTradingOptIn": False,
            "baseUrl": base_url,
            "credentials": None
            if mode == "paper"
            else {"apiKeyEnv": "TRADEFLEET_API_KEY", "apiSecretEnv": "TRADEFLEET_API_SECRET"},
        },
        "strategy": dict(
            strategy
            or {
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
            }
        ),
        "risk": dict(
            risk
            or {
                "maxVolatilityRatio": 1000.0,
                "crashSigma": 1000.0,
                "maxDailyVarPct": 100.0,
                "maxDrawdownPct": 90.0,
                "maxDailyLossPct": 90.0,
                "maxConsecutiveLosses": 100,
                "atrCircuitBreakerMultiplier": 50.0,
            }
        ),
        "signalSources": signal_sources or [],
        "redis": {"url": redis_url, "keyPrefix": key_prefix},
        "api": {"port": port, "controlTokenEnv": "TRADEFLEET_CONTROL_TOKEN"},
        "heartbeatTimeoutSeconds": 30,
        "marketData": {"pollIntervalMs": poll_interval_ms, "historyBars": 200},
        "venue": {"timeoutMs": 3000, "recvWindowMs": 1000},
    }


@dataclass
class RuntimeProcess:
    """One bot runtime subprocess and its config file, log file and API address."""

    workdir: Path
    config: dict[str, Any]
    api_key: str
    api_secret: str
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # More environment (a Redis login, for instance).
    env: dict[str, str] = field(default_factory=dict)
    # Arguments of ``python -m tradefleet_runtime`` (none: a bot; ``market-data``: a publisher).
    args: tuple[str, ...] = ()

    @classmethod
    def create(
        cls, *, workdir: Path, api_key: str, api_secret: str, **config: Any
    ) -> RuntimeProcess:
        port = free_port()
        return cls(
            workdir=workdir,
            config=runtime_config(port=port, **config),
            api_key=api_key,
            api_secret=api_secret,
        )

    @classmethod
    def paper(
        cls, *, workdir: Path, bot: str, base_url: str, redis_url: str, key_prefix: str
    ) -> RuntimeProcess:
        """A paper-mode runtime: no exchange keys, orders fill on its own paper account."""
        return cls.create(
            workdir=workdir,
            api_key="",
            api_secret="",
            bot=bot,
            mode="paper",
            base_url=base_url,
            redis_url=redis_url,
            key_prefix=key_prefix,
        )

    @property
    def port(self) -> int:
        return int(self.config["api"]["port"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "config.json"

    @property
    def log_path(self) -> Path:
        return self.workdir / "runtime.log"

    @property
    def termination_log_path(self) -> Path:
        return self.workdir / "termination-log"

    def termination_message(self) -> str:
        """What the runtime wrote where Kubernetes reads a container's termination message."""
        path = self.termination_log_path
        return path.read_text() if path.exists() else ""

    def write_config(self, document: Mapping[str, Any] | None = None) -> None:
        self.config_path.write_text(json.dumps(document or self.config))

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                str(REPO / part) for part in ("operator", "bot-runtime", "devtools")
            ),
            "TRADEFLEET_CONFIG": str(self.config_path),
            "TRADEFLEET_LISTEN_HOST": "127.0.0.1",
            "TRADEFLEET_CONTROL_TOKEN": CONTROL_TOKEN,
            "TRADEFLEET_POD_NAME": f"bot-{self.starts}",
            "TRADEFLEET_API_KEY": self.api_key,
            "TRADEFLEET_API_SECRET": self.api_secret,
            "TRADEFLEET_TERMINATION_LOG": str(self.termination_log_path),
            **self.env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tradefleet_runtime", *self.args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: the crash the tests simulate."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    async def stop(self) -> int | None:
        """SIGTERM and wait (off the event loop, which may be serving the local exchange)."""
        return await asyncio.to_thread(self._stop)

    def _stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        code = self.process.returncode
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def get(
        self, path: str, *, timeout_s: float = 5.0, token: str | None = CONTROL_TOKEN
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            return await client.get(f"{self.url}{path}", headers=headers)

    async def post(self, path: str, *, token: str | None = CONTROL_TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(timeout=30.0) as client:
            return await client.post(f"{self.url}{path}", headers=headers)

    async def wait_for(
        self, path: str, *, timeout_s: float = 60.0, status: int = 200
    ) -> httpx.Response:
        """Poll ``path`` until it answers ``status``; fails with the runtime's log tail."""
        deadline = time.monotonic() + timeout_s
        last: str = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"runtime exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            try:
                response = await self.get(path, timeout_s=2.0)
                if response.status_code == status:
                    return response
                last = f"{response.status_code} {response.text[:300]}"
            except httpx.HTTPError as error:
                last = repr(error)
            await asyncio.sleep(0.1)
        raise AssertionError(
            f"{path} did not answer {status} in {timeout_s}s (last: {last})\n{self.log()[-3000:]}"
        )


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    what: str,
    seconds: float = 20.0,
    runtime: RuntimeProcess | None = None,
) -> None:
    """Poll ``check`` until it holds; a runtime that exits meanwhile fails at once, with its log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if runtime is not None:
            assert runtime.alive(), f"the runtime exited:\n{runtime.log()[-3000:]}"
        if await check():
            return
        await asyncio.sleep(0.2)
    tail = f":\n{runtime.log()[-3000:]}" if runtime is not None else ""
    raise AssertionError(f"timed out waiting for {what}{tail}")


async def bot_status(runtime: RuntimeProcess) -> dict[str, Any]:
    payload: dict[str, Any] = (await runtime.get("/status")).json()
    return payload


async def flatten(runtime: RuntimeProcess, *, command: str = "flatten") -> dict[str, Any]:
    """Send ``flatten`` (or ``halt``) and wait for its outcome, which the runtime reports in
    ``/status`` (``flatten``: running, then done or failed)."""
    reply = await runtime.post(f"/control/{command}")
    assert reply.status_code == 200, reply.text
    outcome: dict[str, Any] = {}

    async def finished() -> bool:
        nonlocal outcome
        outcome = (await bot_status(runtime))["flatten"]
        return outcome["state"] in ("done", "failed")

    await eventually(finished, what=f"the outcome of {command}", seconds=60, runtime=runtime)
    return outcome
