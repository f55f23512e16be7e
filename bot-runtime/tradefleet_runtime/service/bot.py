"""The bot runtime: one asyncio process that trades one bot, from market data to execution.

Started by ``python -m tradefleet_runtime`` (:func:`run_bot`). :class:`BotService` wires:

* start-up: Redis (reconnect with backoff) → restore persisted state → venue → wait out the
  submission window of the last order intent → reconcile every unresolved client order id, the
  position and the balance with the exchange → warm up bars → trade (a start-up call that
  fails for a temporary reason, or for want of replay or synthetic market data, is retried
  and reported to the health report; it never ends the process);
* the decision loop, once per ``marketData.pollIntervalMs``: poll the book → validate the tick →
  signals (OFI, regime at bar close, SignalSources) → fusion → risk → execution, with the order
  protocol of :mod:`tradefleet_runtime.persistence.store` (intent in Redis before sending);
* the account loop: reconcile orders, position and balance, mark equity for the circuit breakers;
* the source loop (SignalSource streams) and the config watcher (hot reload);
* control commands (pause, resume, flatten, reset-breaker, halt) and self-healing
  (:mod:`tradefleet_runtime.service.healing`), reported through the API of
  :mod:`tradefleet_runtime.service.api`.

Only one coroutine changes the account at a time (``_account_lock``).

Paper mode: the simulated account is saved in Redis by its venue (see
:mod:`tradefleet_runtime.execution.paper`) and restored at start, so a restart keeps the
balance, the position and the resting orders and stops. With no account stored, a new one opens
with the last recorded balance (or ``paper.startingBalance``). A stored account that cannot be
read, or is in another quote currency than the symbol's, is never overwritten: the bot halts
(``haltReason`` and the health report say which key and field, ``needs_human``) while its API
keeps serving; after the key is fixed or deleted, ``resume`` starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from tradefleet_runtime.config import (
    ConfigError,
    MarketDataSource,
    MarketKind,
    RuntimeConfig,
    TradingMode,
    load_runtime_config,
    restart_only_changes,
)
from tradefleet_runtime.execution.client_order_id import client_order_id
from tradefleet_runtime.execution.errors import (
    AuthenticationFailed,
    ErrorClassification,
    ExchangeError,
    InsufficientFunds,
    RateLimitedError,
    TemporaryExchangeError,
    VenueConfigurationError,
)
from tradefleet_runtime.execution.executor import (
    OrderExecutor,
    ReconciliationSnapshot,
    RetryPolicy,
)
from tradefleet_runtime.execution.executor import TrackedOrder as ExecutorTrackedOrder
from tradefleet_runtime.execution.model import (
    MarketInfo,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
)
from tradefleet_runtime.execution.model import PositionSide as VenuePositionSide
from tradefleet_runtime.execution.paper import PaperAccount, PaperJournal, PaperVenue
from tradefleet_runtime.execution.venue import (
    ApiCredentials,
    CcxtVenue,
    Venue,
    VenueMode,
    ccxt_exchange_id,
)
from tradefleet_runtime.marketdata.feeds import (
    FeedBookVenue,
    MarketDataError,
    MarketFeed,
    ReplayMarketFeed,
    SyntheticMarketFeed,
    VenueMarketFeed,
)
from tradefleet_runtime.marketdata.ticks import BookTick, TickRejection, TickValidator
from tradefleet_runtime.persistence.records import (
    BalanceRecord,
    OrderState,
    PositionRecord,
    PositionSide,
    TrackedOrder,
)
from tradefleet_runtime.persistence.store import (
    Flags,
    PersistedState,
    StateStore,
    StateStoreError,
    StorePaperJournal,
)
from tradefleet_runtime.risk import (
    BreakerState,
    BreakerTransition,
    PortfolioState,
    RiskEngine,
    RiskError,
    TransitionKind,
)
from tradefleet_runtime.risk import Position as RiskPosition
from tradefleet_runtime.service.bars import BarState
from tradefleet_runtime.service.events import EventHub
from tradefleet_runtime.service.healing import (
    RESET_AFTER_FAILURES,
    ErrorClass,
    HealingAction,
    HealingLog,
    classify,
    classify_classification,
)
from tradefleet_runtime.service.metrics import BotMetrics
from tradefleet_runtime.service.pipeline import Decision, DecisionPipeline, TradeAction
from tradefleet_runtime.signals.errors import SignalError
from tradefleet_runtime.signals.fusion import AlphaFusion, FusionConfig, default_max_age_ms
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime import RegimeConfig, RegimeLabel, RegimeTradingParams
from tradefleet_runtime.sources.reader import SourceReader
from tradefleet_runtime.strategies import (
    FUSION_ONLY,
    STRATEGY_COMPONENT,
    Strategy,
    StrategyError,
    create_strategy,
)

LOG = logging.getLogger("tradefleet_runtime.bot")
T = TypeVar("T")

LISTEN_HOST_ENV = "TRADEFLEET_LISTEN_HOST"
POD_NAME_ENV = "TRADEFLEET_POD_NAME"
MAX_POLL_SLOWDOWN = 8.0
RATE_LIMIT_QUIET_S = 60.0
REDIS_BACKOFF_MAX_S = 10.0
ACCOUNT_SYNC_MIN_S = 2.0
SOURCE_REFRESH_S = 5.0
CONFIG_POLL_S = 2.0
SIGNAL_HISTORY_EVERY_S = 10.0
EQUITY_HISTORY_EVERY_S = 10.0
RECENT_DROPS_KEPT = 50
# Share of the fused score a strategy plugin decides when spec.strategy.name names one.
STRATEGY_WEIGHT = 0.5
# A market order's intent older than this without an answer is looked up on the exchange.
INTENT_LOOKUP_AFTER_S = 5.0


class StartupError(Exception):
    """The runtime cannot start as configured (missing credentials, unusable venue)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if number == 0:
            return text


def quote_currency(symbol: str) -> str:
    """The currency a symbol settles in ("BTC/USDT:USDT" → "USDT", "ETH/BTC" → "BTC")."""
    _, _, rest = symbol.partition("/")
    quote, _, settle = rest.partition(":")
    return settle or quote


def fusion_weights_of(config: RuntimeConfig) -> dict[str, float]:
    """The configured weights; with a strategy plugin it takes ``STRATEGY_WEIGHT`` of the total
    and the signal engines share the rest in their configured proportions."""
    weights = dict(config.strategy.fusion_weights)
    if config.strategy.name == FUSION_ONLY:
        return weights
    return {
        **{name: weight * (1.0 - STRATEGY_WEIGHT) for name, weight in weights.items()},
        STRATEGY_COMPONENT: STRATEGY_WEIGHT,
    }


def build_strategy(config: RuntimeConfig) -> Strategy | None:
    if config.strategy.name == FUSION_ONLY:
        return None
    try:
        return create_strategy(name=config.strategy.name, parameters=config.strategy.parameters)
    except StrategyError as error:
        raise ConfigError(str(error)) from None


def fusion_config_of(config: RuntimeConfig) -> FusionConfig:
    thresholds = config.strategy.thresholds
    buy = max(thresholds.buy, 1e-9)
    return FusionConfig(
        weights=fusion_weights_of(config),
        buy_threshold=buy,
        strong_threshold=max(thresholds.strong_buy, buy * 2),
    )


def credentials_from_env(
    *, config: RuntimeConfig, environ: Mapping[str, str]
) -> ApiCredentials | None:
    names = config.exchange.credentials
    if names is None:
        return None
    missing = [
        name
        for name in (names.api_key_env, names.api_secret_env, names.passphrase_env)
        if name is not None and not environ.get(name)
    ]
    if missing:
        raise StartupError(f"credential environment variable(s) not set: {', '.join(missing)}")
    return ApiCredentials(
        api_key=environ[names.api_key_env],
        api_secret=environ[names.api_secret_env],
        password=environ[names.passphrase_env] if names.passphrase_env else None,
    )


def build_venue_and_feed(
    *,
    config: RuntimeConfig,
    credentials: ApiCredentials | None,
    starting_balance: float,
    paper_account: PaperAccount | None,
    paper_journal: PaperJournal | None,
) -> tuple[Venue, MarketFeed]:
    """The trading venue and the market feed for the configured mode and data source; a paper
    venue continues ``paper_account`` (if any) and saves through ``paper_journal``."""
    exchange = config.exchange
    data = config.market_data
    exchange_id = ccxt_exchange_id(exchange=exchange.exchange, market=exchange.market.value)
    if data.source is not MarketDataSource.EXCHANGE:
        if exchange.mode is not TradingMode.PAPER:
            raise StartupError(f"marketData.source {data.source.value} needs exchange.mode paper")
        feed: ReplayMarketFeed | SyntheticMarketFeed
        if data.source is MarketDataSource.REPLAY:
            assert data.replay_path is not None
            feed = ReplayMarketFeed(
                path=Path(data.replay_path),
                symbol=exchange.symbol,
                bar_seconds=config.strategy.bar_seconds,
            )
        else:
            feed = SyntheticMarketFeed(
                symbol=exchange.symbol,
                bar_seconds=config.strategy.bar_seconds,
                seed=data.synthetic_seed,
                snapshot_ms=data.poll_interval_ms,
            )
        venue: Venue = PaperVenue(
            market_data=FeedBookVenue(feed=feed),
            starting_balance=starting_balance,
            quote_currency=quote_currency(exchange.symbol),
            clock=lambda: feed.now_ms() / 1000.0,
            account=paper_account,
            journal=paper_journal,
        )
        return venue, feed
    try:
        if exchange.mode is TradingMode.PAPER:
            venue = PaperVenue(
                market_data=CcxtVenue(
                    exchange_id=exchange_id,
                    mode=VenueMode.MARKET_DATA,
                    base_url_override=exchange.base_url,
                    timeout_s=config.venue.timeout_ms / 1000.0,
                ),
                starting_balance=starting_balance,
                quote_currency=quote_currency(exchange.symbol),
                account=paper_account,
                journal=paper_journal,
            )
        else:
            venue = CcxtVenue(
                exchange_id=exchange_id,
                mode=VenueMode(exchange.mode.value),
                credentials=credentials,
                allow_live=exchange.live_trading_opt_in,
                base_url_override=exchange.base_url,
                timeout_s=config.venue.timeout_ms / 1000.0,
                recv_window_ms=config.venue.recv_window_ms,
            )
    except VenueConfigurationError as error:
        raise StartupError(str(error)) from None
    return venue, VenueMarketFeed(venue=venue, symbol=exchange.symbol, depth=data.book_depth)


class BotService:
    """Everything one bot runtime does, and the state its API shows."""

    def __init__(
        self,
        *,
        config: RuntimeConfig,
        environ: Mapping[str, str],
        config_path: Path | None = None,
    ) -> None:
        self.config = config
        self._environ = environ
        self._config_path = config_path
        self._config_stamp = self._stamp()
        self.metrics = BotMetrics(
            bot=config.bot_name,
            namespace=config.namespace,
            exchange=config.exchange.exchange,
            symbol=config.exchange.symbol,
        )
        self.healing = HealingLog(
            on_record=lambda error_class: self.metrics.healing(error_class.value)
        )
        self.events = EventHub()
        self.store = StateStore(url=config.redis.url, prefix=config.redis.key_prefix)
        self.symbol = config.exchange.symbol
        self.quote = quote_currency(self.symbol)
        self.control_token = environ.get(config.api.control_token_env, "")
        self.stop_event = asyncio.Event()
        self.started_at = time.time()
        self.heartbeat = time.time()
        self.reconciled = False
        self.last_tick: BookTick | None = None
        self.last_tick_at: float | None = None
        self.last_decision: Decision | None = None
        self.last_action: tuple[str, float, int] | None = None
        self.flags = Flags()
        self.position = PositionRecord()
        self.balance: BalanceRecord | None = None
        self.portfolio: PortfolioState | None = None
        self.starting_equity: float | None = None
        self.sequence = 0
        self.epoch = base36(_now_ms())
        self.tracked: dict[str, TrackedOrder] = {}
        self.recent_drops: deque[dict[str, object]] = deque(maxlen=RECENT_DROPS_KEPT)
        self.drop_counts: Counter[str] = Counter()
        self.refused_config: dict[str, object] | None = None
        self.store_healthy = True
        self.poll_slowdown = 1.0
        self._last_rate_limit = 0.0
        self._venue_failures = 0
        self._exchange_errors_seen: Counter[ErrorClassification] = Counter()
        self._account_lock = asyncio.Lock()
        self._flatten_requested = False
        self._last_signal_saved = 0.0
        self._last_equity_saved = 0.0
        self._credentials: ApiCredentials | None = None
        self._venue: Venue | None = None
        self._feed: MarketFeed | None = None
        self._executor: OrderExecutor | None = None
        self._market_info = MarketInfo(
            symbol=self.symbol,
            amount_step=None,
            price_tick=None,
            min_amount=None,
            min_notional=None,
        )
        self.risk = RiskEngine(limits=config.risk)
        self.fusion = AlphaFusion(config=fusion_config_of(config))
        self.bars = BarState(
            symbol=self.symbol,
            bar_seconds=config.strategy.bar_seconds,
            regime=RegimeConfig(trading_params=dict(config.strategy.regime_params)),
            limits=config.risk,
            strategy=build_strategy(config),
        )
        self.validator = TickValidator(
            max_age_ms=config.market_data.max_tick_age_ms,
            max_jump_pct=config.market_data.max_price_jump_pct,
        )
        self.pipeline = DecisionPipeline(
            bot_name=config.bot_name,
            symbol=self.symbol,
            market_kind=config.exchange.market,
            market_info=self._market_info,
            fusion=self.fusion,
            thresholds=config.strategy.thresholds,
            risk=self.risk,
        )
        self.sources = SourceReader(
            redis=self.store.redis,
            refs=config.signal_sources,
            symbol=self.symbol,
            max_age_ms=default_max_age_ms(),
        )

    def next_decision_id(self) -> str:
        """The id the next decision's orders will carry (unique across restarts and resets)."""
        return f"{self.epoch}-{self.sequence + 1}"

    # ---------------------------------------------------------------------- status

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never be shown (credentials and the control token)."""
        values = self._credentials.secrets if self._credentials else ()
        return (*values, self.control_token) if self.control_token else values

    @property
    def market_data_flowing(self) -> bool:
        if self.last_tick_at is None:
            return False
        allowed = max(5.0, 5 * self.config.market_data.poll_interval_ms * self.poll_slowdown / 1000)
        return time.time() - self.last_tick_at <= allowed

    @property
    def phase(self) -> str:
        if self.flags.halted:
            return "halted"
        if not self.reconciled:
            return "starting"
        if self.risk.breaker.is_open:
            return "breaker_open"
        if self.flags.paused:
            return "paused"
        if not self.store_healthy or not self.market_data_flowing:
            return "degraded"
        return "trading"

    def equity(self) -> float | None:
        return self.balance.total if self.balance is not None else None

    def status(self) -> dict[str, object]:
        equity = self.equity()
        start = self.starting_equity
        pnl = equity - start if equity is not None and start is not None else 0.0
        trip = self.risk.breaker.trip
        regime = self.bars.regime
        last = self.last_action
        return {
            "bot": self.config.bot_name,
            "namespace": self.config.namespace,
            "pod": self._environ.get(POD_NAME_ENV),
            "phase": self.phase,
            "mode": self.config.exchange.mode.value,
            "symbol": self.symbol,
            "equity": equity,
            "pnl": pnl,
            "pnlPct": 100.0 * pnl / start if start else 0.0,
            "drawdownPct": self.portfolio.drawdown_pct if self.portfolio else 0.0,
            "position": {
                "side": self.position.side.value,
                "size": self.position.size,
                "entryPrice": self.position.entry_price,
                "stopPrice": self.position.stop_price,
                "targetPrice": self.position.target_price,
            },
            "regime": regime.regime.value if regime else RegimeLabel.UNKNOWN.value,
            "lastSignal": {"action": last[0], "score": last[1], "at": last[2] / 1000.0}
            if last
            else {"action": "none", "score": 0.0, "at": None},
            "circuitBreaker": {
                "state": "Open" if trip else "Closed",
                "reason": trip.reason.value if trip else None,
                "message": trip.message if trip else None,
                "since": trip.tripped_at_ms / 1000.0 if trip else None,
            },
            "paused": self.flags.paused,
            "pauseReason": self.flags.pause_reason or None,
            "halted": self.flags.halted,
            "haltReason": self.flags.halt_reason or None,
            "heartbeat": self.heartbeat,
            "configHash": self.config.config_hash,
            "reconciled": self.reconciled,
            "marketDataFlowing": self.market_data_flowing,
            "openOrders": sorted(
                o.client_order_id for o in self.tracked.values() if o.state is OrderState.OPEN
            ),
        }

    # ------------------------------------------------------------- self-healing

    def _note_executor_errors(self, *, component: str) -> None:
        """New errors the executor saw (including ones it retried away) → metrics and healing."""
        executor = self._executor
        if executor is None:
            return
        for classification, count in executor.errors_by_classification.items():
            new = count - self._exchange_errors_seen[classification]
            if new <= 0:
                continue
            self._exchange_errors_seen[classification] = count
            for _ in range(new):
                self.metrics.exchange_error(classification.value)
            error_class = classify_classification(classification)
            last = executor.last_error
            message = str(last) if last is not None else classification.value
            if error_class is ErrorClass.RATE_LIMITED:
                self._slow_down(message=message, component=component)
            elif error_class is ErrorClass.CONNECTION:
                self.healing.record(
                    error_class=error_class,
                    action=HealingAction.RETRY,
                    component=component,
                    message=f"{new} temporary failure(s), retried with backoff: {message}",
                    resolved=True,
                )

    def _slow_down(self, *, message: str, component: str) -> None:
        self.poll_slowdown = min(MAX_POLL_SLOWDOWN, self.poll_slowdown * 2.0)
        self._last_rate_limit = time.time()
        self.healing.record(
            error_class=ErrorClass.RATE_LIMITED,
            action=HealingAction.SLOW_POLLING,
            component=component,
            message=f"rate limited; polling slowed to {self.poll_slowdown:g}x: {message}",
            resolved=True,
        )

    async def _handle_exchange_error(self, error: ExchangeError, *, component: str) -> None:
        """The documented reaction to an exchange error that reached the service."""
        seen_by_executor = self._executor is not None and error is self._executor.last_error
        self._note_executor_errors(component=component)
        if not seen_by_executor:
            self.metrics.exchange_error(error.classification.value)
        error_class = classify(error)
        message = str(error)
        if isinstance(error, AuthenticationFailed):
            await self._set_flags(
                halted=True, halt_reason=f"authentication failed, a human must fix it: {message}"
            )
            # Retrying cannot fix a bad, revoked or rotated key.
            self.healing.escalate_to_human(
                error_class=error_class,
                action=HealingAction.HALT,
                component=component,
                message=f"authentication failed; trading halted until resume: {message}",
            )
        elif isinstance(error, InsufficientFunds):
            await self._set_flags(paused=True, pause_reason=f"insufficient funds: {message}")
            self.healing.record(
                error_class=error_class,
                action=HealingAction.PAUSE,
                component=component,
                message=f"insufficient funds; paused (no new positions): {message}",
                resolved=True,
            )
        elif isinstance(error, RateLimitedError):
            self._slow_down(message=message, component=component)
        elif isinstance(error, TemporaryExchangeError):
            self._venue_failures += 1
            if self._venue_failures >= RESET_AFTER_FAILURES:
                await self._reset_connection(reason=message)
            elif not seen_by_executor:
                self.healing.record(
                    error_class=error_class,
                    action=HealingAction.RETRY,
                    component=component,
                    message=f"temporary failure {self._venue_failures}, retrying: {message}",
                )
        else:
            self.healing.record(
                error_class=error_class,
                action=HealingAction.SKIP_DECISION,
                component=component,
                message=message,
                resolved=True,
            )

    async def _reset_connection(self, *, reason: str) -> None:
        old = self._venue
        self._venue_failures = 0
        try:
            self._install_venue(paper_account=None)
            if old is not None and not isinstance(old, PaperVenue):
                await old.close()
        except StartupError as error:
            reason = f"{reason}; rebuild failed: {error}"
        self.healing.record(
            error_class=ErrorClass.CONNECTION,
            action=HealingAction.RESET_CONNECTION,
            component="exchange",
            message=f"{RESET_AFTER_FAILURES} consecutive failures, exchange connection rebuilt: {reason}",
            resolved=True,
        )

    def _paper_starting_balance(self) -> float:
        return (
            self.balance.total if self.balance is not None else self.config.paper.starting_balance
        )

    def _install_venue(self, *, paper_account: PaperAccount | None) -> None:
        if isinstance(self._venue, PaperVenue):
            # A paper account lives in its venue: rebuilding it would lose the positions.
            return
        venue, feed = build_venue_and_feed(
            config=self.config,
            credentials=self._credentials,
            starting_balance=self._paper_starting_balance(),
            paper_account=paper_account,
            paper_journal=StorePaperJournal(store=self.store),
        )
        self._venue, self._feed = venue, feed
        self._executor = OrderExecutor(
            venue=venue, retry=RetryPolicy(max_attempts=4, base_delay_s=0.2, max_delay_s=2.0)
        )
        self._exchange_errors_seen = Counter()

    async def _store_call(self, operation: Callable[[], Awaitable[T]], *, what: str) -> T:
        """A Redis operation, retried with exponential backoff until it succeeds or we stop."""
        delay = 0.1
        while True:
            try:
                result = await operation()
            except StateStoreError as error:
                if self.store_healthy:
                    self.store_healthy = False
                self.healing.record(
                    error_class=ErrorClass.REDIS,
                    action=HealingAction.RECONNECT,
                    component="redis",
                    message=f"{what}: {error}; reconnecting in {delay:.1f}s",
                )
                self.heartbeat = time.time()
                if self.stop_event.is_set():
                    raise
                await asyncio.sleep(delay)
                delay = min(REDIS_BACKOFF_MAX_S, delay * 2)
                continue
            if not self.store_healthy:
                self.store_healthy = True
                self.healing.record(
                    error_class=ErrorClass.REDIS,
                    action=HealingAction.RECONNECT,
                    component="redis",
                    message=f"Redis reachable again ({what})",
                    resolved=True,
                )
            return result

    async def _set_flags(
        self,
        *,
        paused: bool | None = None,
        halted: bool | None = None,
        pause_reason: str | None = None,
        halt_reason: str | None = None,
    ) -> None:
        flags = self.flags
        self.flags = Flags(
            paused=flags.paused if paused is None else paused,
            halted=flags.halted if halted is None else halted,
            pause_reason=flags.pause_reason if pause_reason is None else pause_reason,
            halt_reason=flags.halt_reason if halt_reason is None else halt_reason,
        )
        self.metrics.paused(self.flags.paused or self.flags.halted)
        await self._store_call(lambda: self.store.save_flags(self.flags), what="saving flags")

    # ------------------------------------------------------------------ start-up

    async def _exchange_call(self, operation: Callable[[], Awaitable[T]], *, what: str) -> T | None:
        """An exchange call during start-up, retried through temporary errors and while market
        data is unavailable; None if halted."""
        unavailable = ""
        while not self.stop_event.is_set():
            self.heartbeat = time.time()
            try:
                result = await operation()
            except ExchangeError as error:
                await self._handle_exchange_error(error, component="exchange")
                if self.flags.halted:
                    return None
                await asyncio.sleep(min(5.0, 0.5 * self.poll_slowdown))
                continue
            except MarketDataError as error:
                # The paper venue of a replay or synthetic feed reads its book from the feed: a
                # replay file that cannot be read (yet) or has no tick keeps the bot starting,
                # with the reason in the health report, until a tick comes.
                if str(error) != unavailable:
                    LOG.warning("%s: waiting for market data: %s", what, error)
                unavailable = str(error)
                self.healing.record(
                    error_class=ErrorClass.MARKET_DATA,
                    action=HealingAction.RETRY,
                    component="market_data",
                    message=f"{what}: waiting for market data: {error}",
                )
                await asyncio.sleep(min(5.0, 0.5 * self.poll_slowdown))
                continue
            self._note_executor_errors(component="exchange")
            self._venue_failures = 0
            return result
        return None

    async def start(self) -> None:
        """Restore, reconcile and warm up; returns when the bot may trade (or is halted)."""
        await self._store_call(self.store.ping, what="connecting to Redis")
        self.healing.set_component(component="redis", healthy=True, detail="connected")
        persisted = await self._store_call(self.store.load, what="loading state")
        for problem in persisted.problems:
            LOG.warning("persisted state: %s (ignored)", problem)
        self.flags = persisted.flags
        self.metrics.paused(self.flags.paused or self.flags.halted)
        self.sequence = persisted.sequence
        self.epoch = persisted.epoch or base36(_now_ms())
        self.tracked = {o.client_order_id: o for o in persisted.unresolved}
        if persisted.position is not None:
            self.position = persisted.position
        self.balance = persisted.balance
        if persisted.breaker is not None:
            try:
                self.risk = RiskEngine(
                    limits=self.config.risk, breaker=BreakerState.from_dict(persisted.breaker)
                )
                self.pipeline.reconfigure(
                    fusion=self.fusion, thresholds=self.config.strategy.thresholds, risk=self.risk
                )
            except RiskError as error:
                LOG.warning("persisted breaker state refused: %s", error)
        if persisted.portfolio is not None:
            try:
                self.portfolio = PortfolioState.from_dict(persisted.portfolio)
            except RiskError as error:
                LOG.warning("persisted portfolio state refused: %s", error)
        if self._venue is None:
            paper_problem = self._paper_account_problem(persisted)
            if paper_problem is not None:
                await self._halt_for_paper_account(paper_problem)
                return
            self._credentials = credentials_from_env(config=self.config, environ=self._environ)
            self._install_venue(paper_account=persisted.paper_account)
        venue = self._venue
        assert venue is not None
        markets = await self._exchange_call(venue.load_markets, what="loading markets")
        if markets is None:
            return
        if self.symbol not in markets:
            raise StartupError(f"{venue.name} has no market {self.symbol}")
        self._market_info = markets[self.symbol]
        self.pipeline.market_info = self._market_info
        await self._wait_out_submission_window()
        if not await self.reconcile():
            return
        await self._warm_up()
        meta = {
            "configHash": self.config.config_hash,
            "startedAt": str(self.started_at),
            "pod": self._environ.get(POD_NAME_ENV, ""),
        }
        await self._store_call(lambda: self.store.save_meta(meta), what="saving metadata")
        self.reconciled = True
        self.healing.set_component(component="exchange", healthy=True, detail="reconciled")
        LOG.info(
            "reconciled with %s: position %s %g, %d open order(s), equity %s",
            venue.name,
            self.position.side.value,
            self.position.size,
            sum(1 for o in self.tracked.values() if o.state is OrderState.OPEN),
            self.equity(),
        )

    def _paper_account_problem(self, persisted: PersistedState) -> str | None:
        """Why the stored paper account cannot be continued (None: it can, or no paper mode)."""
        if self.config.exchange.mode is not TradingMode.PAPER:
            return None
        account = persisted.paper_account
        if account is not None and account.quote_currency != self.quote:
            return (
                f"{self.store.key('paper')}: the account is in {account.quote_currency}, "
                f"{self.symbol} settles in {self.quote}"
            )
        return persisted.paper_account_problem

    async def _halt_for_paper_account(self, problem: str) -> None:
        message = (
            f"the stored paper account cannot be continued, trading halted so it is not "
            f"overwritten: {problem}. Fix it, or delete {self.store.key('paper')} to open a new "
            "account, then resume"
        )
        LOG.error("%s", message)
        await self._set_flags(halted=True, halt_reason=message)
        # Only a human can decide between repairing and discarding the account.
        self.healing.escalate_to_human(
            error_class=ErrorClass.REDIS,
            action=HealingAction.HALT,
            component="paper_account",
            message=message,
        )

    async def _wait_out_submission_window(self) -> None:
        """An order sent just before a crash may still execute until its window has passed."""
        assert self._venue is not None
        if not self.tracked:
            return
        newest = max(o.created_at_ms for o in self.tracked.values()) / 1000.0
        wait = newest + self._venue.submission_window_s - time.time()
        if wait > 0:
            LOG.info("waiting %.2fs for in-flight orders of the previous run to settle", wait)
            await asyncio.sleep(wait)

    async def reconcile(self) -> bool:
        """Adopt the exchange's view of orders, position and balance; False when halted."""
        executor = self._executor
        assert executor is not None
        unresolved = [
            ExecutorTrackedOrder(
                symbol=o.symbol, client_order_id=o.client_order_id, conditional=o.conditional
            )
            for o in self.tracked.values()
        ]
        snapshot = await self._exchange_call(
            lambda: executor.reconcile(symbols=[self.symbol], tracked=unresolved),
            what="reconciling",
        )
        if snapshot is None:
            return False
        await self._apply_snapshot(snapshot)
        return True

    async def _apply_snapshot(self, snapshot: ReconciliationSnapshot) -> None:
        now = _now_ms()
        changed: list[TrackedOrder] = []
        for order in snapshot.resolved_orders:
            record = self.tracked.pop(order.client_order_id, None)
            if record is not None:
                changed.append(record.with_order(order, now_ms=now))
                self._count_outcome(order)
        for client_id in snapshot.missing_client_order_ids:
            record = self.tracked.pop(client_id, None)
            if record is not None:
                changed.append(
                    record.with_state(
                        OrderState.ABANDONED,
                        now_ms=now,
                        note="the exchange never received it (reconciliation)",
                    )
                )
        for order in snapshot.open_orders:
            record = self.tracked.get(order.client_order_id)
            if record is None:
                record = self._adopted(order, now_ms=now)
                LOG.warning("adopting untracked open order %s", order.client_order_id)
            updated = record.with_order(order, now_ms=now)
            self.tracked[order.client_order_id] = updated
            changed.append(updated)
        previous = self.position
        self.position = self._position_from(snapshot.positions, previous=previous)
        self.balance = self._balance_from(snapshot)
        if self.starting_equity is None and self.balance is not None:
            self.starting_equity = self.balance.total
        if not previous.is_flat and self.position.is_flat:
            self._trade_closed_on_exchange(previous=previous, resolved=snapshot.resolved_orders)
        self._mark_equity()
        await self._store_call(
            lambda: self.store.record_orders(
                orders=changed,
                position=self.position,
                balance=self.balance,
                portfolio=self.portfolio.to_dict() if self.portfolio else None,
                breaker=self.risk.breaker.to_dict(),
            ),
            what="recording the reconciliation",
        )

    def _adopted(self, order: Order, *, now_ms: int) -> TrackedOrder:
        return TrackedOrder(
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side.value,
            order_type=order.order_type.value,
            amount=order.amount,
            leg="sl" if order.order_type is OrderType.STOP_MARKET else "adopted",
            decision_id="adopted",
            conditional=order.order_type.is_conditional,
            state=OrderState.OPEN,
            created_at_ms=now_ms,
            updated_at_ms=now_ms,
            trigger_price=order.trigger_price,
            note="open on the exchange but not tracked: adopted at reconciliation",
        )

    def _position_from(
        self, positions: tuple[Position, ...] | list[Position], *, previous: PositionRecord
    ) -> PositionRecord:
        mine = [p for p in positions if p.symbol == self.symbol and p.contracts > 0]
        if not mine:
            return PositionRecord()
        venue_position = mine[0]
        side = (
            PositionSide.LONG
            if venue_position.side is VenuePositionSide.LONG
            else PositionSide.SHORT
        )
        stop_id = previous.stop_client_order_id if previous.side is side else None
        if stop_id is None or stop_id not in self.tracked:
            stop_id = next(
                (o.client_order_id for o in self.tracked.values() if o.leg == "sl"), None
            )
        same = previous.side is side
        return PositionRecord(
            side=side,
            size=venue_position.contracts,
            entry_price=venue_position.entry_price,
            stop_client_order_id=stop_id,
            stop_price=previous.stop_price if same else None,
            target_price=previous.target_price if same else None,
            opened_at_ms=previous.opened_at_ms if same else _now_ms(),
        )

    def _balance_from(self, snapshot: ReconciliationSnapshot) -> BalanceRecord | None:
        for balance in snapshot.balances:
            if balance.currency == self.quote:
                return BalanceRecord(
                    currency=balance.currency,
                    free=balance.free,
                    used=balance.used,
                    total=balance.total,
                    as_of_ms=snapshot.taken_at_ms,
                )
        return self.balance

    async def _warm_up(self) -> None:
        feed = self._feed
        assert feed is not None
        bars = await self._exchange_call(
            lambda: feed.history(
                bar_seconds=self.config.strategy.bar_seconds,
                limit=self.config.market_data.history_bars,
            ),
            what="warming up",
        )
        for bar in bars or []:
            self.bars.add(bar)
        await self._refit_regime_if_due()

    async def _refit_regime_if_due(self) -> None:
        detector = self.bars.detector
        if detector.refit_due:
            outcome = await asyncio.to_thread(detector.refit)
            LOG.info("regime refit: %s", outcome.reason)

    # ------------------------------------------------------------- the account

    def _mark_equity(self) -> None:
        equity = self.equity()
        if equity is None:
            return
        now = _now_ms()
        if self.portfolio is None:
            if equity <= 0:
                return
            self.portfolio = PortfolioState.opening(equity=equity, now_ms=now)
        mark = self.last_tick.mid if self.last_tick else self.position.entry_price
        positions: tuple[RiskPosition, ...] = ()
        if not self.position.is_flat and self.position.entry_price and mark:
            positions = (
                RiskPosition(
                    symbol=self.symbol,
                    quantity=self.position.signed_size,
                    entry_price=self.position.entry_price,
                    mark_price=mark,
                ),
            )
        atr = self.bars.atr
        try:
            update = self.risk.on_mark(
                portfolio=self.portfolio,
                equity=equity,
                positions=positions,
                atr_by_symbol={self.symbol: atr} if atr else {},
                now_ms=now,
            )
        except RiskError as error:
            LOG.warning("equity mark refused: %s", error)
            return
        self.portfolio = update.portfolio
        self._on_breaker_transition(update.transition)
        self.metrics.account(
            equity=equity,
            pnl=equity - (self.starting_equity or equity),
            drawdown_pct=self.portfolio.drawdown_pct,
            position=self.position.signed_size,
        )

    def _on_breaker_transition(self, transition: BreakerTransition | None) -> None:
        if transition is None:
            return
        tripped = transition.kind is TransitionKind.TRIPPED
        self.metrics.breaker(open_reason=transition.reason.value if tripped else None)
        LOG.warning(
            "circuit breaker %s (%s): %s",
            transition.kind.value,
            transition.reason.value,
            transition.message,
        )
        self.events.publish(
            kind="breaker",
            data={
                "transition": transition.kind.value,
                "reason": transition.reason.value,
                "message": transition.message,
            },
        )
        if tripped and transition.flatten:
            self._flatten_requested = True

    def _trade_closed_on_exchange(
        self, *, previous: PositionRecord, resolved: tuple[Order, ...]
    ) -> None:
        """The position went flat without us (its stop triggered): book the trade."""
        exit_price = next(
            (o.average_price for o in resolved if o.order_type.is_conditional and o.average_price),
            self.last_tick.mid if self.last_tick else None,
        )
        self._book_trade(previous=previous, exit_price=exit_price)

    def _book_trade(self, *, previous: PositionRecord, exit_price: float | None) -> None:
        if self.portfolio is None or not previous.entry_price or not exit_price:
            return
        direction = 1.0 if previous.side is PositionSide.LONG else -1.0
        trade_return = direction * (exit_price / previous.entry_price - 1.0)
        update = self.risk.on_trade_closed(
            portfolio=self.portfolio, trade_return=trade_return, now_ms=_now_ms()
        )
        self.portfolio = update.portfolio
        self._on_breaker_transition(update.transition)

    def _count_outcome(self, order: Order) -> None:
        if order.status is OrderStatus.FILLED or (
            order.status is OrderStatus.EXPIRED and order.filled > 0
        ):
            self.metrics.order("filled")
        elif order.status is OrderStatus.CANCELED:
            self.metrics.order("canceled")
        elif order.status in (OrderStatus.REJECTED, OrderStatus.EXPIRED):
            self.metrics.order("rejected")

    async def _refresh_position(self) -> None:
        """The position and balance as the exchange reports them after an order."""
        executor = self._executor
        assert executor is not None
        unresolved = [
            ExecutorTrackedOrder(
                symbol=o.symbol, client_order_id=o.client_order_id, conditional=o.conditional
            )
            for o in self.tracked.values()
            if o.state is OrderState.INTENT
        ]
        try:
            snapshot = await executor.reconcile(symbols=[self.symbol], tracked=unresolved)
        except ExchangeError as error:
            await self._handle_exchange_error(error, component="account")
            return
        self._note_executor_errors(component="account")
        await self._apply_snapshot(snapshot)

    # ------------------------------------------------------------------ orders

    async def _send(
        self, *, request: OrderRequest, leg: str, decision: Mapping[str, object]
    ) -> Order | None:
        """The order protocol: intent in Redis, then the exchange, then the result in Redis."""
        executor = self._executor
        assert executor is not None
        sequence = self.sequence + 1
        decision_id = str(decision.get("decisionId") or self.next_decision_id())
        intent = TrackedOrder.intent(
            request=request, leg=leg, decision_id=decision_id, now_ms=_now_ms()
        )
        try:
            await self.store.record_intent(
                order=intent, epoch=self.epoch, sequence=sequence, decision=decision
            )
        except StateStoreError as error:
            self.store_healthy = False
            self.healing.record(
                error_class=ErrorClass.REDIS,
                action=HealingAction.SKIP_DECISION,
                component="redis",
                message=f"order {request.client_order_id} not sent, its intent could not be stored: {error}",
            )
            return None
        self.sequence = sequence
        self.tracked[intent.client_order_id] = intent
        LOG.info(
            "order intent recorded: %s %s %s %s",
            leg,
            request.side.value,
            request.amount,
            request.client_order_id,
        )
        try:
            order = await executor.place(request)
        except ExchangeError as error:
            await self._handle_exchange_error(error, component="orders")
            if not isinstance(error, TemporaryExchangeError | RateLimitedError):
                # Refused by the exchange: nothing was placed.
                refused = intent.with_state(OrderState.REJECTED, now_ms=_now_ms(), note=str(error))
                self.tracked.pop(intent.client_order_id, None)
                self.metrics.order("rejected")
                await self._store_call(
                    lambda: self.store.record_orders(orders=[refused]), what="recording a rejection"
                )
            else:
                # Outcome unknown: the intent stays unresolved for the account loop to look up.
                self.metrics.order("failed")
            return None
        self._note_executor_errors(component="orders")
        self._venue_failures = 0
        record = intent.with_order(order, now_ms=_now_ms())
        if record.state.unresolved:
            self.tracked[record.client_order_id] = record
        else:
            self.tracked.pop(record.client_order_id, None)
        self._count_outcome(order)
        if (
            request.amount is not None
            and not request.order_type.is_conditional
            and 0 < order.filled < request.amount - 1e-12
            and order.status is not OrderStatus.OPEN
        ):
            self.healing.record(
                error_class=ErrorClass.PARTIAL_FILL,
                action=HealingAction.ADOPT_FILL,
                component="orders",
                message=(
                    f"{request.client_order_id} filled {order.filled:g} of {request.amount:g}; "
                    "the filled quantity is the position"
                ),
                resolved=True,
            )
        await self._store_call(
            lambda: self.store.record_orders(orders=[record]), what="recording an order"
        )
        self.events.publish(
            kind="fill" if order.filled > 0 else "order",
            data={
                "clientOrderId": order.client_order_id,
                "leg": leg,
                "side": order.side.value,
                "status": order.status.value,
                "filled": order.filled,
                "averagePrice": order.average_price,
            },
        )
        return order

    async def _protect(self, *, stop_price: float | None, decision_id: str) -> None:
        """A resting stop that closes the whole position, if the venue can hold one."""
        executor = self._executor
        position = self.position
        assert executor is not None
        if position.is_flat or stop_price is None or self.config.exchange.market is MarketKind.SPOT:
            return
        if position.stop_client_order_id and position.stop_client_order_id in self.tracked:
            return
        if not executor.venue.supports_exchange_stops:
            return
        long = position.side is PositionSide.LONG
        request = OrderRequest(
            symbol=self.symbol,
            side=OrderSide.SELL if long else OrderSide.BUY,
            order_type=OrderType.STOP_MARKET,
            client_order_id=client_order_id(
                bot_name=self.config.bot_name, decision_id=decision_id, leg="sl"
            ),
            amount=None,
            trigger_price=stop_price,
            close_position=True,
        )
        order = await self._send(
            request=request, leg="sl", decision={"decisionId": decision_id, "action": "protect"}
        )
        if order is not None and order.status is OrderStatus.OPEN:
            self.position = replace(
                position, stop_client_order_id=order.client_order_id, stop_price=stop_price
            )
            await self._store_call(
                lambda: self.store.record_orders(orders=[], position=self.position),
                what="recording the stop",
            )

    async def _cancel_open_orders(self) -> None:
        executor = self._executor
        assert executor is not None
        for record in [o for o in self.tracked.values() if o.state is OrderState.OPEN]:
            try:
                order = await executor.cancel(
                    symbol=record.symbol,
                    client_order_id=record.client_order_id,
                    conditional=record.conditional,
                )
            except ExchangeError as error:
                await self._handle_exchange_error(error, component="orders")
                continue
            updated = record.with_order(order, now_ms=_now_ms())
            if not updated.state.unresolved:
                self.tracked.pop(record.client_order_id, None)
            self._count_outcome(order)
            await self._store_call(
                functools.partial(self.store.record_orders, orders=[updated]),
                what="recording a cancel",
            )

    async def _execute(self, decision: Decision) -> None:
        request = decision.request
        assert request is not None
        before = self.position
        order = await self._send(request=request, leg=decision.leg, decision=decision.to_dict())
        if order is None:
            return
        await self._refresh_position()
        if decision.action is TradeAction.CLOSE:
            if self.position.is_flat:
                await self._cancel_open_orders()
                self._book_trade(previous=before, exit_price=order.average_price)
            return
        if order.filled > 0 and decision.risk is not None:
            self.position = replace(
                self.position,
                target_price=decision.risk.target_price,
                stop_price=decision.risk.stop_price,
                opened_at_ms=decision.at_ms,
            )
            await self._protect(
                stop_price=decision.risk.stop_price, decision_id=decision.decision_id
            )

    async def flatten(self, *, reason: str) -> dict[str, object]:
        """Close the position and cancel the bot's open orders."""
        async with self._account_lock:
            if self._executor is None or not self.reconciled:
                return {"flattened": False, "reason": "not reconciled with the exchange yet"}
            await self._refresh_position()
            position = self.position
            if not position.is_flat:
                decision_id = self.next_decision_id()
                request = OrderRequest(
                    symbol=self.symbol,
                    side=OrderSide.SELL if position.side is PositionSide.LONG else OrderSide.BUY,
                    order_type=OrderType.MARKET,
                    client_order_id=client_order_id(
                        bot_name=self.config.bot_name, decision_id=decision_id, leg="exit"
                    ),
                    amount=position.size,
                    reduce_only=self.config.exchange.market is MarketKind.FUTURES,
                )
                order = await self._send(
                    request=request,
                    leg="exit",
                    decision={"decisionId": decision_id, "action": "flatten", "reason": reason},
                )
                await self._refresh_position()
                if order is not None and self.position.is_flat:
                    self._book_trade(previous=position, exit_price=order.average_price)
            await self._cancel_open_orders()
            LOG.info("flattened (%s): position now %s", reason, self.position.side.value)
            return {"flattened": self.position.is_flat, "position": self.position.to_dict()}

    # -------------------------------------------------------------- the loops

    def _readings(self, now_ms: int) -> list[SignalReading]:
        readings = self.sources.readings(now_ms=now_ms)
        for reading in (self.bars.regime_reading(), self.bars.strategy_reading()):
            if reading is not None:
                readings.append(reading)
        return readings

    def _regime_params(self) -> RegimeTradingParams:
        state = self.bars.regime
        label = state.regime if state is not None else RegimeLabel.UNKNOWN
        return self.config.strategy.regime_params[label]

    def _drop(self, rejection: TickRejection, tick: BookTick) -> None:
        self.metrics.tick_dropped(rejection.reason.value)
        self.drop_counts[rejection.reason.value] += 1
        self.recent_drops.append(
            {"at": time.time(), "reason": rejection.reason.value, "message": rejection.message}
        )
        LOG.warning("tick dropped (%s): %s", rejection.reason.value, rejection.message)

    async def _poll_tick(self) -> BookTick | None:
        feed = self._feed
        if feed is None:
            # Halted before the venue was built (an unusable paper account).
            return None
        try:
            tick = await feed.next_book()
        except ExchangeError as error:
            await self._handle_exchange_error(error, component="market_data")
            return None
        except MarketDataError as error:
            self.healing.record(
                error_class=ErrorClass.MARKET_DATA,
                action=HealingAction.RETRY,
                component="market_data",
                message=str(error),
            )
            return None
        self._venue_failures = 0
        self._note_executor_errors(component="market_data")
        return tick

    async def _close_bars(self, *, now_ms: int) -> None:
        bar_ms = self.config.strategy.bar_seconds * 1000
        last = self.bars.last_bar_ms
        if last is not None and now_ms < last + 2 * bar_ms:
            return
        feed = self._feed
        assert feed is not None
        try:
            bars = await feed.closed_bars(
                bar_seconds=self.config.strategy.bar_seconds,
                after_ms=last if last is not None else now_ms - 2 * bar_ms,
            )
        except ExchangeError as error:
            await self._handle_exchange_error(error, component="market_data")
            return
        except MarketDataError as error:
            LOG.warning("bars unavailable: %s", error)
            return
        for bar in bars:
            self.bars.add(bar)
        if bars:
            await self._refit_regime_if_due()

    async def decision_step(self) -> None:
        """One poll of the decision loop."""
        self.heartbeat = time.time()
        self.metrics.heartbeat(self.heartbeat)
        if self._last_rate_limit and time.time() - self._last_rate_limit > RATE_LIMIT_QUIET_S:
            self.poll_slowdown, self._last_rate_limit = 1.0, 0.0
        tick = await self._poll_tick()
        if tick is None:
            return
        feed = self._feed
        assert feed is not None
        started = time.perf_counter()
        rejection = self.validator.check(tick, now_ms=feed.now_ms())
        if rejection is not None:
            self._drop(rejection, tick)
            return
        try:
            self.pipeline.observe(tick)
        except SignalError as error:
            LOG.warning("order flow refused the tick: %s", error)
            return
        self.last_tick, self.last_tick_at = tick, time.time()
        self.healing.set_component(component="market_data", healthy=True, detail="ticks flowing")
        await self._close_bars(now_ms=tick.timestamp_ms)
        if self.flags.halted or not self.reconciled or self._executor is None:
            return
        async with self._account_lock:
            decision = self.pipeline.decide(
                tick=tick,
                decision_id=self.next_decision_id(),
                readings=self._readings(tick.timestamp_ms),
                regime_params=self._regime_params(),
                position=self.position,
                portfolio=self.portfolio
                or PortfolioState.opening(
                    equity=self._paper_starting_balance(), now_ms=tick.timestamp_ms
                ),
                market=self.bars.market,
                paused=self.flags.paused or self.risk.breaker.is_open,
            )
            self.metrics.latency(time.perf_counter() - started)
            self._remember(decision)
            if decision.request is not None and self.store_healthy:
                await self._execute(decision)
        await self._save_signal(decision)

    def _remember(self, decision: Decision) -> None:
        self.last_decision = decision
        fused = decision.fused
        if decision.action is not TradeAction.HOLD or self.last_action is None:
            self.last_action = (decision.side_word, fused.score, decision.at_ms)
        else:
            self.last_action = (self.last_action[0], fused.score, decision.at_ms)
        self.metrics.signals(components=dict(fused.component_scores), fused=fused.score)
        state = self.bars.regime
        self.metrics.regime(
            current=state.regime.value if state else RegimeLabel.UNKNOWN.value,
            labels=BarState.regime_labels(),
        )
        self.events.publish(kind="decision", data=decision.to_dict())

    async def _save_signal(self, decision: Decision) -> None:
        now = time.time()
        if (
            decision.action is TradeAction.HOLD
            and now - self._last_signal_saved < SIGNAL_HISTORY_EVERY_S
        ):
            return
        self._last_signal_saved = now
        try:
            await self.store.append_history(signal=decision.to_dict())
        except StateStoreError as error:
            self.store_healthy = False
            LOG.warning("signal history not saved: %s", error)

    async def decision_loop(self) -> None:
        while not self.stop_event.is_set():
            begun = time.monotonic()
            try:
                await self.decision_step()
            except StateStoreError as error:
                LOG.warning("decision skipped, Redis unavailable: %s", error)
            interval = self.config.market_data.poll_interval_ms / 1000.0 * self.poll_slowdown
            await self._sleep(interval - (time.monotonic() - begun))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), timeout=max(0.0, seconds))

    async def account_loop(self) -> None:
        interval = max(ACCOUNT_SYNC_MIN_S, 5 * self.config.market_data.poll_interval_ms / 1000.0)
        while not self.stop_event.is_set():
            await self._sleep(interval * self.poll_slowdown)
            if not self.reconciled or self._executor is None:
                continue
            try:
                async with self._account_lock:
                    await self._refresh_unresolved()
                    if self._flatten_requested:
                        self._flatten_requested = False
                    else:
                        await self._protect(
                            stop_price=self._stop_price_for(self.position),
                            decision_id=self.next_decision_id(),
                        )
                        await self._save_equity()
                        continue
                await self.flatten(reason="circuit breaker tripped with flattenOnTrip")
            except StateStoreError as error:
                LOG.warning("account sync skipped, Redis unavailable: %s", error)

    def _stop_price_for(self, position: PositionRecord) -> float | None:
        """The planned stop, or — for a position adopted without one (a crash between its
        entry and its stop) — the current regime's stop distance from the entry."""
        if position.stop_price is not None or position.entry_price is None:
            return position.stop_price
        distance = position.entry_price * self._regime_params().stop_loss_pct / 100.0
        long = position.side is PositionSide.LONG
        return position.entry_price - distance if long else position.entry_price + distance

    async def _refresh_unresolved(self) -> None:
        executor = self._executor
        assert executor is not None
        now = _now_ms()
        tracked = [
            ExecutorTrackedOrder(
                symbol=o.symbol, client_order_id=o.client_order_id, conditional=o.conditional
            )
            for o in self.tracked.values()
            if o.state is OrderState.OPEN or now - o.created_at_ms > INTENT_LOOKUP_AFTER_S * 1000
        ]
        try:
            snapshot = await executor.reconcile(symbols=[self.symbol], tracked=tracked)
        except ExchangeError as error:
            await self._handle_exchange_error(error, component="account")
            return
        self._note_executor_errors(component="account")
        self._venue_failures = 0
        self.healing.set_component(component="exchange", healthy=True, detail="account in sync")
        await self._apply_snapshot(snapshot)

    async def _save_equity(self) -> None:
        equity = self.equity()
        now = time.time()
        if equity is None or now - self._last_equity_saved < EQUITY_HISTORY_EVERY_S:
            return
        self._last_equity_saved = now
        point = {
            "at": now,
            "equity": equity,
            "drawdownPct": self.portfolio.drawdown_pct if self.portfolio else 0.0,
            "position": self.position.signed_size,
        }
        await self.store.append_history(equity_point=point)
        self.events.publish(kind="metrics", data={"equity": equity, "phase": self.phase})

    async def source_loop(self) -> None:
        while not self.stop_event.is_set():
            await self.sources.refresh()
            await self._sleep(SOURCE_REFRESH_S)

    async def config_loop(self) -> None:
        while not self.stop_event.is_set():
            await self._sleep(CONFIG_POLL_S)
            stamp = self._stamp()
            if stamp is None or stamp == self._config_stamp:
                continue
            self._config_stamp = stamp
            self.reload_config()

    def _stamp(self) -> tuple[float, int] | None:
        if self._config_path is None:
            return None
        try:
            stat = self._config_path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def reload_config(self) -> bool:
        """Apply a changed config file; a refused change keeps the running config."""
        assert self._config_path is not None
        try:
            new = load_runtime_config(self._config_path)
            if new.config_hash == self.config.config_hash:
                return False
            blocked = restart_only_changes(old=self.config, new=new)
            if blocked:
                raise ConfigError(
                    f"{', '.join(blocked)} changed: this needs a restart (a new revision)"
                )
            fusion = AlphaFusion(config=fusion_config_of(new))
            strategy = (
                build_strategy(new)
                if new.document.get("strategy") != self.config.document.get("strategy")
                else self.bars.strategy
            )
        except (ConfigError, SignalError) as error:
            self.refused_config = {"at": time.time(), "reason": str(error)}
            self.healing.record(
                error_class=ErrorClass.CONFIG,
                action=HealingAction.REFUSE_CONFIG,
                component="config",
                message=f"config change refused, running {self.config.config_hash}: {error}",
            )
            LOG.error("config change refused: %s", error)
            return False
        self.risk = RiskEngine(limits=new.risk, breaker=self.risk.breaker)
        self.fusion = fusion
        self.pipeline.reconfigure(fusion=fusion, thresholds=new.strategy.thresholds, risk=self.risk)
        self.bars.set_limits(new.risk)
        if strategy is not self.bars.strategy:
            self.bars.strategy, self.bars.strategy_signal = strategy, None
        self.validator.reconfigure(
            max_age_ms=new.market_data.max_tick_age_ms,
            max_jump_pct=new.market_data.max_price_jump_pct,
        )
        self.sources.reconfigure(refs=new.signal_sources, max_age_ms=default_max_age_ms())
        LOG.info("config reloaded: %s → %s", self.config.config_hash, new.config_hash)
        self.config = new
        self.refused_config = None
        self.healing.set_component(
            component="config", healthy=True, detail=f"running {new.config_hash}"
        )
        return True

    # --------------------------------------------------------------- commands

    async def command(self, name: str) -> dict[str, object]:
        """Run a control command (pause, resume, flatten, reset-breaker, halt)."""
        if name == "pause":
            await self._set_flags(paused=True, pause_reason="paused by command")
        elif name == "resume":
            await self._set_flags(paused=False, halted=False, pause_reason="", halt_reason="")
            self.healing.clear_human_needed()
        elif name == "flatten":
            return {
                "command": name,
                **(await self.flatten(reason="flatten command")),
                "status": self.status(),
            }
        elif name == "halt":
            await self._set_flags(halted=True, halt_reason="halted by command (kill switch)")
            return {
                "command": name,
                **(await self.flatten(reason="halt command")),
                "status": self.status(),
            }
        elif name == "reset-breaker":
            async with self._account_lock:
                if self.portfolio is not None:
                    update = self.risk.reset(portfolio=self.portfolio, now_ms=_now_ms())
                    self.portfolio = update.portfolio
                    self._on_breaker_transition(update.transition)
                await self._store_call(
                    lambda: self.store.record_orders(
                        orders=[],
                        portfolio=self.portfolio.to_dict() if self.portfolio else None,
                        breaker=self.risk.breaker.to_dict(),
                    ),
                    what="saving the breaker reset",
                )
        else:
            raise KeyError(name)
        return {"command": name, "status": self.status()}

    # ------------------------------------------------------------------ running

    async def run(self, *, serve: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Serve the API at once, then start up and run the loops until ``stop_event``."""
        server = asyncio.create_task(serve(), name="api")
        background: list[asyncio.Task[None]] = []
        try:
            await self.start()
            background = [
                asyncio.create_task(self.decision_loop(), name="decisions"),
                asyncio.create_task(self.account_loop(), name="account"),
                asyncio.create_task(self.source_loop(), name="sources"),
                asyncio.create_task(self.config_loop(), name="config"),
            ]
            if not self.reconciled:
                background.append(asyncio.create_task(self._retry_start(), name="start"))
            await self.stop_event.wait()
        finally:
            self.stop_event.set()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await asyncio.wait_for(server, timeout=10)
            if self._venue is not None:
                await self._venue.close()
            await self.store.close()

    async def _retry_start(self) -> None:
        """While halted before reconciling (auth failure), retry after a resume."""
        while not self.reconciled and not self.stop_event.is_set():
            await self._sleep(1.0)
            self.heartbeat = time.time()
            if not self.flags.halted:
                await self.start()


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)


def listen_host(environ: Mapping[str, str]) -> str:
    return environ.get(LISTEN_HOST_ENV) or "0.0.0.0"
