"""The bot's Redis state as the rest of the runtime uses it: retried calls and the bot's flags.

:class:`GuardedStore` runs a :class:`~tradefleet_runtime.persistence.store.StateStore`
operation with exponential backoff (to once a second) until it succeeds (or the process stops),
reports each outage and recovery to the healing log and keeps ``healthy`` for the status. :class:`FlagKeeper`
holds the flags (the user's pause and kill switch, the runtime's own pause and halt) and saves
every change before returning. Both are built by
:class:`~tradefleet_runtime.service.bot.BotService` and shared by its parts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from tradefleet_runtime.persistence.store import (
    Flags,
    RuntimeHaltCause,
    RuntimePauseCause,
    StateStore,
    StateStoreError,
)
from tradefleet_runtime.service.healing import HealingAction, HealingCause, HealingLog
from tradefleet_runtime.service.metrics import BotMetrics

T = TypeVar("T")
# Retries of a call during a Redis outage back off to once a second, no further: an order's
# intent waits in such a call, and the bot must act within a second of Redis being back.
REDIS_BACKOFF_MAX_S = 1.0


class GuardedStore:
    """Redis calls that wait out an outage; ``on_wait`` keeps the heartbeat fresh meanwhile."""

    def __init__(
        self,
        *,
        store: StateStore,
        healing: HealingLog,
        stop_event: asyncio.Event,
        on_wait: Callable[[], None],
    ) -> None:
        self.store = store
        self.healthy = True
        self._healing = healing
        self._stop_event = stop_event
        self._on_wait = on_wait

    async def call(self, operation: Callable[[], Awaitable[T]], *, what: str) -> T:
        """``operation``, retried with exponential backoff until it succeeds or we stop."""
        delay = 0.1
        while True:
            try:
                result = await operation()
            except StateStoreError as error:
                self.healthy = False
                self._healing.record(
                    error_class=HealingCause.REDIS,
                    action=HealingAction.RECONNECT,
                    component="redis",
                    message=f"{what}: {error}; reconnecting in {delay:.1f}s",
                )
                self._on_wait()
                if self._stop_event.is_set():
                    raise
                await asyncio.sleep(delay)
                delay = min(REDIS_BACKOFF_MAX_S, delay * 2)
                continue
            self.mark_healthy(what=what)
            return result

    def mark_unhealthy(self) -> None:
        self.healthy = False

    def mark_healthy(self, *, what: str) -> None:
        if not self.healthy:
            self.healthy = True
            self._healing.record(
                error_class=HealingCause.REDIS,
                action=HealingAction.RECONNECT,
                component="redis",
                message=f"Redis reachable again ({what})",
                resolved=True,
            )


class FlagKeeper:
    """The bot's flags; every change is saved before the call returns."""

    def __init__(self, *, guarded: GuardedStore, metrics: BotMetrics) -> None:
        self.flags = Flags()
        self._guarded = guarded
        self._metrics = metrics

    def restore(self, flags: Flags) -> None:
        self.flags = flags
        self._metrics.paused(flags.paused or flags.halted)

    async def _save(self, flags: Flags) -> None:
        self.restore(flags)
        store = self._guarded.store
        await self._guarded.call(lambda: store.save_flags(flags), what="saving flags")

    async def set_user(self, *, paused: bool | None = None, halted: bool | None = None) -> None:
        """The user's pause (``spec.paused``) and kill switch."""
        flags = self.flags
        await self._save(
            replace(
                flags,
                user_paused=flags.user_paused if paused is None else paused,
                user_halted=flags.user_halted if halted is None else halted,
            )
        )

    async def pause_by_runtime(self, cause: RuntimePauseCause, reason: str) -> None:
        await self._save(replace(self.flags, runtime_pause=cause, runtime_pause_reason=reason))

    async def lift_runtime_pause(self, cause: RuntimePauseCause) -> None:
        """Lift the runtime's own pause once ``cause`` is gone (other causes stay)."""
        if self.flags.runtime_pause is cause:
            await self._save(replace(self.flags, runtime_pause=None, runtime_pause_reason=""))

    async def halt_by_runtime(self, cause: RuntimeHaltCause, reason: str) -> None:
        await self._save(replace(self.flags, runtime_halt=cause, runtime_halt_reason=reason))

    async def acknowledge(self) -> None:
        """A human says the cause of the runtime's own halt or pause is fixed."""
        await self._save(
            replace(
                self.flags,
                runtime_pause=None,
                runtime_pause_reason="",
                runtime_halt=None,
                runtime_halt_reason="",
            )
        )
