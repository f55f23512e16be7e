"""The bot's connection to its exchange: the venue and feed it builds, rebuilds after repeated
failures, and the start-up calls that wait out temporary errors.

Owned by :class:`~tradefleet_runtime.service.bot.BotService`: start-up builds the venue
(:meth:`ExchangeLink.install`), asks the exchange through :meth:`ExchangeLink.call` (retried
through temporary errors and while a replay or synthetic feed has no tick yet) and warms the bars
up; the error policy rebuilds the connection through :meth:`ExchangeLink.reset`. A paper bot
whose stored account cannot be continued is halted here, for a human to decide.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from tradefleet_runtime.config import RuntimeConfig, TradingMode
from tradefleet_runtime.execution.errors import ExchangeError
from tradefleet_runtime.execution.executor import OrderExecutor, RetryPolicy
from tradefleet_runtime.execution.model import Candle
from tradefleet_runtime.execution.order_pacer import OrderPacer
from tradefleet_runtime.execution.paper import PaperAccount, PaperVenue
from tradefleet_runtime.execution.request_meter import RequestMeter
from tradefleet_runtime.execution.venue import ApiCredentials, Venue
from tradefleet_runtime.marketdata.feeds import MarketDataError
from tradefleet_runtime.persistence.store import PersistedState, RuntimeHaltCause, StorePaperJournal
from tradefleet_runtime.service.account import Account
from tradefleet_runtime.service.build import (
    StartupError,
    build_venue_and_feed,
    credentials_from_env,
)
from tradefleet_runtime.service.error_policy import ErrorPolicy
from tradefleet_runtime.service.healing import (
    RESET_AFTER_FAILURES,
    HealingAction,
    HealingCause,
    HealingLog,
)
from tradefleet_runtime.service.market_view import MarketView
from tradefleet_runtime.service.store_access import FlagKeeper, GuardedStore

LOG = logging.getLogger("tradefleet_runtime.bot")
T = TypeVar("T")
EXECUTOR_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.2, max_delay_s=2.0)


class ExchangeLink:
    """The venue, its feed and the executor, and the calls start-up makes through them."""

    def __init__(
        self,
        *,
        config: RuntimeConfig,
        environ: Mapping[str, str],
        guarded: GuardedStore,
        flags: FlagKeeper,
        errors: ErrorPolicy,
        healing: HealingLog,
        market: MarketView,
        account: Account,
        stop: asyncio.Event,
        beat: Callable[[], None],
    ) -> None:
        self.config = config
        self.venue: Venue | None = None
        self.credentials: ApiCredentials | None = None
        # Kept across rebuilds of the client: the requests of the last minute, whichever made them.
        self.requests = RequestMeter()
        interval_ms = config.exchange.order_interval_ms
        # Kept across rebuilds too: a rebuilt client does not reset the orders' spacing.
        self.orders = OrderPacer(interval_s=interval_ms / 1000.0) if interval_ms else None
        self._environ = environ
        self._guarded = guarded
        self._flags = flags
        self._errors = errors
        self._healing = healing
        self._market = market
        self._account = account
        self._stop = stop
        self._beat = beat

    def paper_starting_balance(self) -> float:
        balance = self._account.balance
        return balance.total if balance is not None else self.config.paper.starting_balance

    def install(self, *, paper_account: PaperAccount | None) -> None:
        """Build the venue, the feed and the executor (a paper venue is never rebuilt: its
        account lives in it)."""
        if isinstance(self.venue, PaperVenue):
            return
        if self.credentials is None:
            self.credentials = credentials_from_env(config=self.config, environ=self._environ)
        venue, feed = build_venue_and_feed(
            config=self.config,
            credentials=self.credentials,
            starting_balance=self.paper_starting_balance(),
            paper_account=paper_account,
            paper_journal=StorePaperJournal(store=self._guarded.store),
            redis=self._guarded.store.redis,
            request_meter=self.requests,
        )
        self.venue, self._market.feed = venue, feed
        self._errors.use_executor(
            OrderExecutor(venue=venue, retry=EXECUTOR_RETRY, pacer=self.orders)
        )

    async def reset(self, reason: str) -> None:
        """Rebuild the exchange client after ``RESET_AFTER_FAILURES`` failures in a row."""
        old = self.venue
        try:
            self.install(paper_account=None)
            if old is not None and not isinstance(old, PaperVenue):
                await old.close()
        except StartupError as error:
            reason = f"{reason}; rebuild failed: {error}"
        self._healing.record(
            error_class=HealingCause.CONNECTION,
            action=HealingAction.RESET_CONNECTION,
            component="exchange",
            message=f"{RESET_AFTER_FAILURES} consecutive failures, exchange connection rebuilt: {reason}",
            resolved=True,
        )

    def current(self) -> Venue:
        """The venue in use now (a rebuild replaces it)."""
        assert self.venue is not None, "the venue is installed before it is used"
        return self.venue

    async def close(self) -> None:
        if self.venue is not None:
            await self.venue.close()

    async def call(self, operation: Callable[[], Awaitable[T]], *, what: str) -> T | None:
        """An exchange call during start-up, retried through temporary errors and while market
        data is unavailable; None if halted or stopping."""
        unavailable = ""
        failed = ""
        while not self._stop.is_set():
            self._beat()
            try:
                result = await operation()
            except ExchangeError as error:
                # Said once per distinct error: a start-up that keeps failing says why.
                if str(error) != failed:
                    LOG.warning("%s failed, retrying: %s", what, error)
                failed = str(error)
                await self._errors.handle(error, component="exchange")
                if self._flags.flags.halted:
                    return None
            except MarketDataError as error:
                # The paper venue of a replay or synthetic feed reads its book from the feed: a
                # replay file that cannot be read (yet) or has no tick keeps the bot starting,
                # with the reason in the health report, until a tick comes.
                if str(error) != unavailable:
                    LOG.warning("%s: waiting for market data: %s", what, error)
                unavailable = str(error)
                self._healing.record(
                    error_class=HealingCause.MARKET_DATA,
                    action=HealingAction.RETRY,
                    component="market_data",
                    message=f"{what}: waiting for market data: {error}",
                )
            else:
                self._errors.note_executor_errors(component="exchange")
                self._errors.succeeded()
                return result
            await asyncio.sleep(min(5.0, 0.5 * self._errors.poll_slowdown))
        return None

    def paper_account_problem(self, persisted: PersistedState) -> str | None:
        """Why the stored paper account cannot be continued (None: it can, or no paper mode)."""
        if self.config.exchange.mode is not TradingMode.PAPER:
            return None
        account = persisted.paper_account
        quote = self._account.quote
        if account is not None and account.quote_currency != quote:
            return (
                f"{self._guarded.store.key('paper')}: the account is in "
                f"{account.quote_currency}, {self.config.exchange.symbol} settles in {quote}"
            )
        return persisted.paper_account_problem

    async def halt_for_paper_account(self, problem: str) -> None:
        key = self._guarded.store.key("paper")
        message = (
            f"the stored paper account cannot be continued, trading halted so it is not "
            f"overwritten: {problem}. Fix it, or delete {key} to open a new account, then "
            "acknowledge"
        )
        LOG.error("%s", message)
        await self._flags.halt_by_runtime(RuntimeHaltCause.PAPER_ACCOUNT_DAMAGED, message)
        # Only a human can decide between repairing and discarding the account.
        self._healing.escalate_to_human(
            error_class=HealingCause.REDIS,
            action=HealingAction.HALT,
            component="paper_account",
            message=message,
        )

    async def warm_up(self) -> None:
        """The recent bars from the exchange (or the feed), and the regime fitted on them."""
        strategy = self.config.strategy

        async def history() -> list[Candle]:
            # The feed of the moment, at every attempt: failures in a row rebuild the connection
            # (reset) and close the old feed's venue, which then only answers "closed".
            feed = self._market.feed
            assert feed is not None
            return await feed.history(
                bar_seconds=strategy.bar_seconds, limit=self.config.market_data.history_bars
            )

        bars = await self.call(history, what="warming up")
        await self._market.add_bars(bars or [])
