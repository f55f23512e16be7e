"""Control commands of a bot runtime, as a table: what each does and to what.

Called by :meth:`~tradefleet_runtime.service.bot.BotService.command` for ``POST /control/<name>``
(:mod:`tradefleet_runtime.service.api`) and, through it, by the operator. The user's pause and
kill switch (``pause``/``resume``, ``halt``/``unhalt``) are kept apart from the runtime's own
safety stops, which only a human's ``acknowledge`` lifts; none of them lifts what another one
set. ``flatten`` and ``halt`` start the flatten in the background and return at once: its
outcome is :attr:`Control.flatten_outcome` (``/status`` ``flatten``), so a slow exchange never
makes the command time out half-done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from tradefleet_runtime.service.account import Account
from tradefleet_runtime.service.healing import HealingLog
from tradefleet_runtime.service.orders import OrderPath
from tradefleet_runtime.service.store_access import FlagKeeper

LOG = logging.getLogger("tradefleet_runtime.bot")
COMMANDS = ("pause", "resume", "halt", "unhalt", "acknowledge", "flatten", "reset-breaker")


class Control:
    """Runs control commands; keeps the outcome of the latest flatten."""

    def __init__(
        self,
        *,
        flags: FlagKeeper,
        healing: HealingLog,
        orders: OrderPath,
        account: Account,
        flatten: Callable[..., Awaitable[dict[str, object]]],
    ) -> None:
        self.flatten_outcome: dict[str, object] = {"state": "none"}
        self._flags = flags
        self._healing = healing
        self._orders = orders
        self._account = account
        self._flatten = flatten
        self._flattening: asyncio.Task[None] | None = None
        self._actions: dict[str, Callable[[], Awaitable[None]]] = {
            "pause": lambda: flags.set_user(paused=True),
            "resume": lambda: flags.set_user(paused=False),
            "halt": self._halt,
            "unhalt": lambda: flags.set_user(halted=False),
            "acknowledge": self._acknowledge,
            "flatten": lambda: self._start_flatten(reason="flatten command"),
            "reset-breaker": self._reset_breaker,
        }
        assert tuple(self._actions) == COMMANDS

    async def run(self, name: str) -> None:
        await self._actions[name]()

    async def _halt(self) -> None:
        await self._flags.set_user(halted=True)
        await self._start_flatten(reason="halt command (kill switch)")

    async def _acknowledge(self) -> None:
        await self._flags.acknowledge()
        self._healing.clear_human_needed()

    async def _reset_breaker(self) -> None:
        async with self._orders.lock:
            self._account.reset_breaker()
            await self._orders.record_account(what="saving the breaker reset")

    async def _start_flatten(self, *, reason: str) -> None:
        if self._flattening is not None and not self._flattening.done():
            return
        self.flatten_outcome = {"state": "running", "reason": reason, "since": time.time()}
        self._flattening = asyncio.create_task(self._flatten_in_background(reason=reason))

    async def _flatten_in_background(self, *, reason: str) -> None:
        started = self.flatten_outcome.get("since")
        try:
            outcome = await self._flatten(reason=reason)
        except Exception as error:
            LOG.exception("flatten (%s) failed", reason)
            outcome = {"flattened": False, "reason": f"{type(error).__name__}: {error}"}
        self.flatten_outcome = {
            "state": "done" if outcome.get("flattened") else "failed",
            "reason": reason,
            "since": started,
            "finishedAt": time.time(),
            **outcome,
        }
