"""What the runtime does about an exchange error that reached it: the error policy as a table.

Called by every part of :class:`~tradefleet_runtime.service.bot.BotService` that talks to the
exchange (start-up, the decision loop, the account loop, the order path). Each error class has
one reaction (see :mod:`tradefleet_runtime.service.healing` for the documented policy):
authentication → halt and ask a human; insufficient funds → the runtime pauses itself; rate
limited → poll slower; temporary → retry, and rebuild the connection after
``RESET_AFTER_FAILURES`` in a row; anything else → skip the decision. Errors the executor
retried away on its own are counted and reported too (:meth:`ErrorPolicy.note_executor_errors`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable

from tradefleet_runtime.execution.errors import (
    AuthenticationFailed,
    ErrorClassification,
    ExchangeError,
    InsufficientFunds,
    RateLimitedError,
    SendRefused,
    TemporaryExchangeError,
)
from tradefleet_runtime.execution.executor import OrderExecutor
from tradefleet_runtime.persistence.store import RuntimeHaltCause, RuntimePauseCause
from tradefleet_runtime.service.healing import (
    RESET_AFTER_FAILURES,
    HealingAction,
    HealingCause,
    HealingLog,
    classify,
    classify_classification,
)
from tradefleet_runtime.service.metrics import BotMetrics
from tradefleet_runtime.service.store_access import FlagKeeper

MAX_POLL_SLOWDOWN = 8.0
# Rate limits within this long of the last slow-down are one burst (an order resent through a
# few 429s): polling slows one step per burst, not one per reply.
RATE_LIMIT_BURST_S = 2.0
# Each quiet spell this long without a rate limit halves the slowdown again, so a bot that was
# throttled for a moment reads its account at the normal pace half a minute later.
RATE_LIMIT_QUIET_S = 10.0


class ErrorPolicy:
    """The reaction to exchange errors, and the polling slowdown they cause."""

    def __init__(
        self,
        *,
        healing: HealingLog,
        metrics: BotMetrics,
        flags: FlagKeeper,
        reset_connection: Callable[[str], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.poll_slowdown = 1.0
        self._clock = clock
        self.executor: OrderExecutor | None = None
        self._healing = healing
        self._metrics = metrics
        self._flags = flags
        self._reset_connection = reset_connection
        self._last_rate_limit = 0.0
        self._last_slow_down = float("-inf")
        self._venue_failures = 0
        self._seen: Counter[ErrorClassification] = Counter()

    def use_executor(self, executor: OrderExecutor) -> None:
        self.executor = executor
        self._seen = Counter()
        self._venue_failures = 0

    def succeeded(self) -> None:
        """A call to the exchange went through: the run of failures is over."""
        self._venue_failures = 0

    def relax(self) -> None:
        """Halve the slowdown after each quiet spell without rate limits, back to normal."""
        now = self._clock()
        if self.poll_slowdown > 1.0 and now - self._last_rate_limit > RATE_LIMIT_QUIET_S:
            self.poll_slowdown = max(1.0, self.poll_slowdown / 2.0)
            # The next step waits for another quiet spell.
            self._last_rate_limit = now

    def note_executor_errors(self, *, component: str) -> None:
        """New errors the executor saw (including ones it retried away) → metrics and healing."""
        executor = self.executor
        if executor is None:
            return
        for classification, count in executor.errors_by_classification.items():
            new = count - self._seen[classification]
            if new <= 0:
                continue
            self._seen[classification] = count
            for _ in range(new):
                self._metrics.exchange_error(classification.value)
            error_class = classify_classification(classification)
            last = executor.last_error
            message = str(last) if last is not None else classification.value
            if error_class is HealingCause.RATE_LIMITED:
                self.slow_down(message=message, component=component)
            elif error_class is HealingCause.CONNECTION:
                self._healing.record(
                    error_class=error_class,
                    action=HealingAction.RETRY,
                    component=component,
                    message=f"{new} temporary failure(s), retried with backoff: {message}",
                    resolved=True,
                )

    def slow_down(self, *, message: str, component: str) -> None:
        now = self._clock()
        if now - self._last_slow_down >= RATE_LIMIT_BURST_S:
            self.poll_slowdown = min(MAX_POLL_SLOWDOWN, self.poll_slowdown * 2.0)
            self._last_slow_down = now
        self._last_rate_limit = now
        self._healing.record(
            error_class=HealingCause.RATE_LIMITED,
            action=HealingAction.SLOW_POLLING,
            component=component,
            message=f"rate limited; polling slowed to {self.poll_slowdown:g}x: {message}",
            resolved=True,
        )

    async def handle(self, error: ExchangeError, *, component: str) -> None:
        """The documented reaction to ``error``."""
        seen_by_executor = self.executor is not None and error is self.executor.last_error
        self.note_executor_errors(component=component)
        # A refusal of our own is no exchange error: the healing log records it below.
        if not seen_by_executor and not isinstance(error, SendRefused):
            self._metrics.exchange_error(error.classification.value)
        message = str(error)
        if isinstance(error, AuthenticationFailed):
            await self._halt_for_authentication(message=message, component=component)
        elif isinstance(error, InsufficientFunds):
            await self._flags.pause_by_runtime(
                RuntimePauseCause.INSUFFICIENT_FUNDS, f"insufficient funds: {message}"
            )
            self._healing.record(
                error_class=classify(error),
                action=HealingAction.PAUSE,
                component=component,
                message=f"insufficient funds; paused (no new positions): {message}",
                resolved=True,
            )
        elif isinstance(error, RateLimitedError):
            self.slow_down(message=message, component=component)
        elif isinstance(error, SendRefused):
            # The runtime's own refusal (its lease), not the venue's failure.
            self._healing.record(
                error_class=classify(error),
                action=HealingAction.SKIP_DECISION,
                component=component,
                message=message,
            )
        elif isinstance(error, TemporaryExchangeError):
            await self._temporary(message=message, component=component, seen=seen_by_executor)
        else:
            self._healing.record(
                error_class=classify(error),
                action=HealingAction.SKIP_DECISION,
                component=component,
                message=message,
                resolved=True,
            )

    async def _halt_for_authentication(self, *, message: str, component: str) -> None:
        await self._flags.halt_by_runtime(
            RuntimeHaltCause.AUTHENTICATION_FAILED,
            f"authentication failed, a human must fix the key and acknowledge: {message}",
        )
        # Retrying cannot fix a bad, revoked or rotated key.
        self._healing.escalate_to_human(
            error_class=HealingCause.AUTHENTICATION,
            action=HealingAction.HALT,
            component=component,
            message=f"authentication failed; trading halted until acknowledged: {message}",
        )

    async def _temporary(self, *, message: str, component: str, seen: bool) -> None:
        self._venue_failures += 1
        if self._venue_failures >= RESET_AFTER_FAILURES:
            self._venue_failures = 0
            await self._reset_connection(message)
        elif not seen:
            self._healing.record(
                error_class=HealingCause.CONNECTION,
                action=HealingAction.RETRY,
                component=component,
                message=f"temporary failure {self._venue_failures}, retrying: {message}",
            )
