"""Loops that never die silently, and the one place a runtime says why it ends.

:func:`supervise` runs one of the bot's loops (decisions, account, sources, config, lease): an
unexpected exception is logged with its traceback, counted in
``tradefleet_bot_loop_failures_total{loop}`` and retried with backoff; after
``MAX_FAILURES`` within ``FAILURE_WINDOW_S``, or at once for a :class:`FatalError` cause (the lease
was lost), the process is asked to end with that cause. :func:`write_termination_message`
writes the cause to the container's termination message file, which Kubernetes shows in
``kubectl describe pod`` and the operator reads into the TradingBot's conditions. Used by
:class:`~tradefleet_runtime.service.bot.BotService` and the entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

LOG = logging.getLogger("tradefleet_runtime.bot")
TERMINATION_LOG_ENV = "TRADEFLEET_TERMINATION_LOG"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
# Kubernetes keeps at most 4096 bytes of a termination message.
TERMINATION_MESSAGE_MAX = 4096
MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0


class FatalError(Exception):
    """A cause that no retry can fix: the process ends with this message."""


def write_termination_message(message: str, *, environ: Mapping[str, str]) -> None:
    path = environ.get(TERMINATION_LOG_ENV) or DEFAULT_TERMINATION_LOG
    data = message.encode()[:TERMINATION_MESSAGE_MAX]
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as error:
        # Outside a container (tests, a laptop) the file may not be writable: the log has it.
        LOG.debug("termination message not written to %s: %s", path, error)


async def supervise(
    *,
    name: str,
    body: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    on_failure: Callable[[str], None],
    on_fatal: Callable[[str], None],
    fatal: tuple[type[BaseException], ...] = (FatalError,),
) -> None:
    """Run ``body`` until ``stop``; a return while not stopping is a failure too."""
    failures: deque[float] = deque()
    delay = BACKOFF_FIRST_S
    while not stop.is_set():
        try:
            await body()
            if stop.is_set():
                return
            cause = f"the {name} loop ended unexpectedly"
        except asyncio.CancelledError:
            raise
        except fatal as error:
            on_fatal(str(error))
            return
        except Exception as error:
            LOG.exception("the %s loop failed", name)
            cause = f"the {name} loop failed: {type(error).__name__}: {error}"
        on_failure(name)
        now = time.monotonic()
        failures.append(now)
        while failures and now - failures[0] > FAILURE_WINDOW_S:
            failures.popleft()
        if len(failures) >= MAX_FAILURES:
            on_fatal(f"{cause} ({len(failures)} failures in {FAILURE_WINDOW_S:.0f}s)")
            return
        LOG.warning("%s; restarting it in %.1fs", cause, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        delay = min(BACKOFF_MAX_S, delay * 2)
