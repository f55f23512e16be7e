"""The live world of one soak trial: its exchange, Redis and runtime processes, and what the
harness saw and did, kept while the trial runs.

Built and driven by the trial runner (``tradefleet_devtools.soak.trial``); the plan's steps
(``tradefleet_devtools.soak.steps``) act through it. It plays the part Kubernetes plays for a
bot: the bot's pod (the ``primary`` slot) is started again whenever its runtime ends (after
the delay the plan gives for a kill, 1 s after an exit), a ``second`` runtime is never. It
samples every live runtime's ``/status`` four times a second and watches for exits.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from tradefleet_devtools.exchange import ExchangeAdminClient, LocalExchange
from tradefleet_devtools.soak.evidence import HarnessAction, StatusSample
from tradefleet_devtools.soak.market import FaultTap
from tradefleet_devtools.soak.processes import CrashableRedis, SoakRuntime, now_ms

SAMPLE_EVERY_S = 0.25
WATCH_EVERY_S = 0.1
RESTART_AFTER_EXIT_S = 1.0


class TrialWorld:
    """Processes and observations of one trial (mutable while it runs)."""

    def __init__(
        self,
        *,
        workdir: Path,
        config: dict[str, Any],
        exchange: LocalExchange,
        redis: CrashableRedis,
        client: httpx.AsyncClient,
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.exchange = exchange
        self.admin = ExchangeAdminClient(base_url=exchange.base_url)
        self.tap = FaultTap(exchange)
        self.redis = redis
        self.client = client
        self.runtimes: list[SoakRuntime] = []
        self.samples: list[StatusSample] = []
        self.actions: list[HarnessAction] = []
        self.latest: dict[str, dict[str, Any]] = {}
        self.active_started = time.monotonic()
        self.active_over = False
        self.closing = False
        self._restart_at: float | None = None

    # ---------------------------------------------------------------- time and notes

    async def at(self, offset_s: float) -> None:
        """Sleep until ``offset_s`` into the active phase."""
        await asyncio.sleep(max(0.0, self.active_started + offset_s - time.monotonic()))

    def note(self, kind: str, *, detail: str = "") -> None:
        self.actions.append(HarnessAction(at_ms=now_ms(), kind=kind, detail=detail))

    # --------------------------------------------------------------------- runtimes

    @property
    def primary(self) -> SoakRuntime | None:
        slots = [r for r in self.runtimes if r.slot == "primary"]
        return slots[-1] if slots else None

    def alive(self) -> list[SoakRuntime]:
        return [r for r in self.runtimes if r.alive]

    def start_runtime(self, *, slot: str) -> SoakRuntime:
        index = len(self.runtimes)
        runtime = SoakRuntime(
            name=f"{slot}-{index}",
            slot=slot,
            workdir=self.workdir / f"runtime-{index}-{slot}",
            config=self.config,
        )
        runtime.start()
        self.runtimes.append(runtime)
        return runtime

    def holder(self) -> SoakRuntime | None:
        """The live runtime holding the lease as far as the last statuses said (the highest
        fencing token); else the live primary; else any live runtime."""
        alive = self.alive()
        holding = [
            (int(token), runtime)
            for runtime in alive
            if (status := self.latest.get(runtime.name)) is not None
            and status.get("phase") != "standby"
            and (token := (status.get("lease") or {}).get("token")) is not None
        ]
        if holding:
            return max(holding, key=lambda entry: entry[0])[1]
        primaries = [r for r in alive if r.slot == "primary"]
        return primaries[-1] if primaries else (alive[-1] if alive else None)

    async def kill(
        self, runtime: SoakRuntime, *, kind: str, restart_after_s: float, detail: str = ""
    ) -> None:
        """SIGKILL ``runtime``, noted as ``kind``; the pod comes back ``restart_after_s`` later
        if it was the primary."""
        await runtime.kill()
        self.note(kind, detail=f"{runtime.name} {detail}".rstrip())
        if runtime.slot == "primary":
            self._restart_at = time.monotonic() + restart_after_s

    def ensure_running(self) -> None:
        """Start the bot's pod again now if no runtime is alive and none is due."""
        if not self.alive() and self._restart_at is None:
            self.start_runtime(slot="primary")

    async def watch(self) -> None:
        """Restart the primary slot when its runtime ended; note runtimes that exit."""
        while not self.closing:
            for runtime in self.runtimes:
                if runtime.exited():
                    message = runtime.termination_message().strip()[:200]
                    self.note(
                        "runtime exit", detail=f"{runtime.name} {runtime.end_cause}: {message}"
                    )
                    if runtime.slot == "primary":
                        self._restart_at = time.monotonic() + RESTART_AFTER_EXIT_S
            primary = self.primary
            due = self._restart_at
            restart = primary is not None and not primary.alive and due is not None
            if restart and due is not None and time.monotonic() >= due:
                self._restart_at = None
                self.start_runtime(slot="primary")
            await asyncio.sleep(WATCH_EVERY_S)

    async def sample(self) -> None:
        """``/status`` of every live, running runtime, four times a second."""
        while not self.closing:
            begun = time.monotonic()
            runtimes = [r for r in self.runtimes if r.alive and not r.is_hung]
            statuses = await asyncio.gather(*(r.status(self.client) for r in runtimes))
            for runtime, status in zip(runtimes, statuses, strict=True):
                if status is None:
                    continue
                self.latest[runtime.name] = status
                self.samples.append(
                    StatusSample.from_status(
                        at_ms=now_ms(), incarnation=runtime.name, status=status
                    )
                )
            await asyncio.sleep(max(0.0, SAMPLE_EVERY_S - (time.monotonic() - begun)))

    async def sample_redis_file(self) -> None:
        while not self.closing:
            self.redis.sample()
            await asyncio.sleep(0.1)
