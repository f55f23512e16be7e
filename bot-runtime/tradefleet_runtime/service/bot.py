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
  :mod:`tradefleet_runtime.service.api`, which reads the service through
  :class:`~tradefleet_runtime.service.read_view.BotReadView` (``/status`` is built there).

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
import logging
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from tradefleet_runtime.config import (
    RuntimeConfig,
)
from tradefleet_runtime.persistence.lease import FencedError, LeaseStore
from tradefleet_runtime.persistence.records import PositionRecord, PositionSide
from tradefleet_runtime.persistence.store import (
    Flags,
    PersistedState,
    StateStore,
    StateStoreError,
)
from tradefleet_runtime.risk import BreakerState, PortfolioState, RiskEngine, RiskError
from tradefleet_runtime.service.account import Account, account_sync_interval_s
from tradefleet_runtime.service.bars import BarState
from tradefleet_runtime.service.build import (
    StartupError,
    build_strategy,
    decision_pipeline,
    quote_currency,
    request_lifetime_s,
)
from tradefleet_runtime.service.config_watch import ConfigWatch
from tradefleet_runtime.service.control import Control
from tradefleet_runtime.service.error_policy import ErrorPolicy
from tradefleet_runtime.service.events import EventHub
from tradefleet_runtime.service.exchange_link import ExchangeLink
from tradefleet_runtime.service.fees import FeeLookup
from tradefleet_runtime.service.fencing import LeaseKeeper
from tradefleet_runtime.service.fusion_learning import live_fusion_weights
from tradefleet_runtime.service.healing import (
    HealingAction,
    HealingCause,
    HealingLog,
)
from tradefleet_runtime.service.market_view import MarketView
from tradefleet_runtime.service.metrics import BotMetrics
from tradefleet_runtime.service.orders import OrderPath
from tradefleet_runtime.service.pipeline import Decision, TradeAction
from tradefleet_runtime.service.store_access import FlagKeeper, GuardedStore
from tradefleet_runtime.service.supervisor import (
    FatalError,
    supervise,
    write_termination_message,
)
from tradefleet_runtime.signals.errors import SignalError
from tradefleet_runtime.signals.fusion import AlphaFusion
from tradefleet_runtime.signals.regime_config import RegimeLabel

LOG = logging.getLogger("tradefleet_runtime.bot")
T = TypeVar("T")

LISTEN_HOST_ENV = "TRADEFLEET_LISTEN_HOST"
POD_NAME_ENV = "TRADEFLEET_POD_NAME"
SOURCE_REFRESH_S = 5.0
CONFIG_POLL_S = 2.0
SIGNAL_HISTORY_EVERY_S = 10.0
EQUITY_HISTORY_EVERY_S = 10.0


def _bot_metrics(config: RuntimeConfig) -> BotMetrics:
    """The bot's Prometheus metrics, labelled with what it trades."""
    return BotMetrics(
        bot=config.bot_name,
        namespace=config.namespace,
        exchange=config.exchange.exchange,
        symbol=config.exchange.symbol,
    )


class BotService:
    """One bot runtime: wires its parts, runs its loops and answers its API."""

    def __init__(
        self,
        *,
        config: RuntimeConfig,
        environ: Mapping[str, str],
        config_path: Path | None = None,
    ) -> None:
        self.config = config
        self._environ = environ
        self.metrics = _bot_metrics(config)
        self.healing = HealingLog(
            on_record=lambda error_class: self.metrics.healing(error_class.value)
        )
        self.events = EventHub()
        self.config_watch = ConfigWatch(path=config_path, healing=self.healing)
        self.store = StateStore.of_bot(
            url=config.redis.url, prefix=config.redis.key_prefix, environ=environ
        )
        self.symbol = config.exchange.symbol
        self.quote = quote_currency(self.symbol)
        self.control_token = environ.get(config.api.control_token_env, "")
        self.pod = environ.get(POD_NAME_ENV)
        self.stop_event = asyncio.Event()
        self.started_at = time.time()
        self.heartbeat = time.time()
        self.reconciled = False
        self.last_decision: Decision | None = None
        self.last_action: tuple[str, float, int] | None = None
        self._last_signal_saved = 0.0
        self._last_equity_saved = 0.0
        self.guarded = GuardedStore(
            store=self.store, healing=self.healing, stop_event=self.stop_event, on_wait=self.beat
        )
        self.flag_keeper = FlagKeeper(guarded=self.guarded, metrics=self.metrics)
        self.errors = ErrorPolicy(
            healing=self.healing,
            metrics=self.metrics,
            flags=self.flag_keeper,
            # A lambda: the link is built below, with the parts that need this policy.
            reset_connection=lambda reason: self.link.reset(reason),  # noqa: PLW0108
        )
        self.market = MarketView(
            config=config,
            redis=self.store.redis,
            errors=self.errors,
            healing=self.healing,
            metrics=self.metrics,
        )
        self.account = Account(
            symbol=self.symbol,
            quote=self.quote,
            risk=RiskEngine(limits=config.risk),
            metrics=self.metrics,
            events=self.events,
        )
        self.fee_lookup = FeeLookup(account=self.account, guarded=self.guarded)
        self.link = ExchangeLink(
            config=config,
            environ=environ,
            guarded=self.guarded,
            flags=self.flag_keeper,
            errors=self.errors,
            healing=self.healing,
            market=self.market,
            account=self.account,
            stop=self.stop_event,
            beat=self.beat,
        )
        self.lease = LeaseKeeper(
            leases=LeaseStore(redis=self.store.redis, prefix=config.redis.key_prefix),
            holder=f"{environ.get(POD_NAME_ENV) or socket.gethostname()}/{uuid.uuid4().hex[:8]}",
            on_wait=self.beat,
            request_lifetime_s=request_lifetime_s(config),
        )
        self.exit_reason: str | None = None
        self.orders = OrderPath(
            config=config,
            guarded=self.guarded,
            flags=self.flag_keeper,
            account=self.account,
            send_refusal=self.lease.send_refusal,
            # A lambda: the market view is built below.
            planned_stop=lambda position: self._stop_price_for(position),  # noqa: PLW0108
            errors=self.errors,
            healing=self.healing,
            metrics=self.metrics,
            events=self.events,
            mark_price=lambda: self.market.mark_price,
        )
        self.control = Control(
            flags=self.flag_keeper,
            healing=self.healing,
            orders=self.orders,
            account=self.account,
            flatten=self.flatten,
        )
        self.fusion_weights = live_fusion_weights(config)
        self.fusion = self.fusion_weights.fusion
        self.pipeline = decision_pipeline(config=config, fusion=self.fusion, risk=self.account.risk)

    async def command(self, name: str) -> None:
        """Run a control command (see :data:`~tradefleet_runtime.service.control.COMMANDS`)."""
        await self.control.run(name)

    @property
    def refused_config(self) -> dict[str, object] | None:
        return self.config_watch.refused

    def beat(self) -> None:
        self.heartbeat = time.time()

    # ------------------------------------------------------------- read view

    @property
    def flags(self) -> Flags:
        return self.flag_keeper.flags

    @property
    def position(self) -> PositionRecord:
        return self.orders.position

    @property
    def portfolio(self) -> PortfolioState | None:
        return self.account.portfolio

    @property
    def store_healthy(self) -> bool:
        return self.guarded.healthy

    @property
    def poll_slowdown(self) -> float:
        return self.errors.poll_slowdown

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never be shown (credentials and the control token)."""
        credentials = self.link.credentials
        values = credentials.secrets if credentials else ()
        return (*values, self.control_token) if self.control_token else values

    @property
    def market_data_flowing(self) -> bool:
        return self.market.flowing(poll_slowdown=self.poll_slowdown)

    @property
    def phase(self) -> str:
        if self.flags.halted:
            return "halted"
        if self.lease.token is None and self.lease.waiting_for is not None:
            return "standby"
        if not self.reconciled:
            return "starting"
        if self.account.risk.breaker.is_open:
            return "breaker_open"
        if self.flags.paused:
            return "paused"
        if not self.store_healthy or not self.market_data_flowing:
            return "degraded"
        return "trading"

    def equity(self) -> float | None:
        return self.account.equity()

    @property
    def starting_equity(self) -> float | None:
        return self.account.starting_equity

    @property
    def balance(self) -> Any:
        return self.account.balance

    # ------------------------------------------------------------------ start-up

    def _restore(self, persisted: PersistedState) -> None:
        for problem in persisted.problems:
            LOG.warning("persisted state: %s (ignored)", problem)
        self.flag_keeper.restore(persisted.flags)
        orders = self.orders
        orders.tracked = {o.client_order_id: o for o in persisted.unresolved}
        if persisted.position is not None:
            orders.position = persisted.position
        self.account.balance = persisted.balance
        self.account.balance_start = persisted.starting_equity
        self.account.restore_trades(persisted.trade_pnl)
        self.account.restore_fees(persisted.fees)
        self.fusion_weights.restore(persisted.fusion_learning)
        self._use_fusion(self.fusion_weights.fusion)
        if persisted.breaker is not None:
            try:
                self._use_risk(
                    RiskEngine(
                        limits=self.config.risk, breaker=BreakerState.from_dict(persisted.breaker)
                    )
                )
            except RiskError as error:
                LOG.warning("persisted breaker state refused: %s", error)
        if persisted.portfolio is not None:
            try:
                self.account.portfolio = PortfolioState.from_dict(persisted.portfolio)
            except RiskError as error:
                LOG.warning("persisted portfolio state refused: %s", error)

    def _use_fusion(self, fusion: AlphaFusion) -> None:
        self.fusion = self.pipeline.fusion = fusion
        self.metrics.fusion_weights(fusion.config.weights)

    async def _learn_at_bar_close(self) -> None:
        """Fusion learning (when enabled) scores the signals at the bar that just closed."""
        bars = self.market.bars
        if bars.last_bar_ms is None or bars.last_close is None:
            return
        changed = self.fusion_weights.on_bar_close(
            close_ms=bars.last_bar_ms + 1000 * bars.bar_seconds,
            price=bars.last_close,
            fused=self.last_decision.fused if self.last_decision else None,
        )
        state = self.fusion_weights.state
        if not changed or state is None:
            return
        self._use_fusion(self.fusion_weights.fusion)
        try:
            await self.store.save_fusion_learning(state.to_dict())
        except StateStoreError as error:
            self.guarded.mark_unhealthy()
            LOG.warning("fusion learning state not saved: %s", error)

    def _use_risk(self, risk: RiskEngine) -> None:
        self.account.risk = risk
        self.pipeline.reconfigure(
            fusion=self.fusion, thresholds=self.config.strategy.thresholds, risk=risk
        )

    async def start(self) -> None:
        """Restore, reconcile and warm up; returns when the bot may trade (or is halted)."""
        await self.guarded.call(self.store.ping, what="connecting to Redis")
        self.healing.set_component(component="redis", healthy=True, detail="connected")
        persisted = await self.guarded.call(self.store.load, what="loading state")
        self._restore(persisted)
        link = self.link
        if link.venue is None:
            paper_problem = link.paper_account_problem(persisted)
            if paper_problem is not None:
                await link.halt_for_paper_account(paper_problem)
                return
            link.install(paper_account=persisted.paper_account)
        # Through the link each time: a connection rebuilt meanwhile closed the old venue.
        markets = await link.call(lambda: link.current().load_markets(), what="loading markets")
        if markets is None:
            return
        if self.symbol not in markets:
            raise StartupError(f"{link.current().name} has no market {self.symbol}")
        self.pipeline.market_info = markets[self.symbol]
        if not await link.call(self.orders.protect_found_position, what="protecting the position"):
            return
        await self.orders.wait_out_submission_window()
        if not await self.reconcile():
            return
        await link.warm_up()
        meta = {
            "configHash": self.config.config_hash,
            "startedAt": str(self.started_at),
            "pod": self.pod or "",
        }
        await self.guarded.call(lambda: self.store.save_meta(meta), what="saving metadata")
        self.reconciled = True
        self.healing.set_component(component="exchange", healthy=True, detail="reconciled")
        LOG.info(
            "reconciled with %s: position %s %g, %d open order(s), equity %s",
            link.current().name,
            self.position.side.value,
            self.position.size,
            len(self.orders.open_order_ids()),
            self.equity(),
        )

    async def reconcile(self) -> bool:
        """Adopt the exchange's view of orders, position and balance; False when halted."""
        snapshot = await self.link.call(self.orders.snapshot_of_everything, what="reconciling")
        if snapshot is None:
            return False
        await self.orders.apply_snapshot(snapshot)
        return True

    # -------------------------------------------------------------- the decision loop

    async def decision_step(self) -> None:
        """One poll of the decision loop."""
        self.beat()
        self.metrics.heartbeat(self.heartbeat)
        self.errors.relax()
        tick = await self.market.poll()
        if tick is None:
            return
        started = time.perf_counter()
        try:
            self.pipeline.observe(tick)
        except SignalError as error:
            LOG.warning("order flow refused the tick: %s", error)
            return
        self.market.accept(tick)
        last_bar_ms = self.market.bars.last_bar_ms
        await self.market.close_bars(now_ms=tick.timestamp_ms)
        if self.market.bars.last_bar_ms != last_bar_ms:
            await self._learn_at_bar_close()
        if self.flags.halted or not self.reconciled or self.errors.executor is None:
            return
        async with self.orders.lock:
            refusal = await self.orders.settle()
            # Also while something is in flight: a closePosition stop covers any outcome.
            await self.orders.keep_protected(decision_id=self.orders.next_decision_id())
            if await self.orders.software_stop(tick):
                return
            portfolio = self.portfolio or self._opening_portfolio(now_ms=tick.timestamp_ms)
            if portfolio is None:
                return
            decision = self.pipeline.decide(
                tick=tick,
                decision_id=self.orders.next_decision_id(),
                readings=self.market.readings(tick.timestamp_ms),
                regime_params=self.market.regime_params(),
                position=self.position,
                portfolio=portfolio,
                market=self.market.bars.market,
                paused=self.flags.paused or self.account.risk.breaker.is_open,
                plugin=strategy.parameters if (strategy := self.market.bars.strategy) else None,
            )
            self.metrics.latency(time.perf_counter() - started)
            self._remember(decision)
            if decision.request is not None and self.store_healthy and refusal is None:
                await self.orders.execute(decision)
        await self._save_signal(decision)

    def _opening_portfolio(self, *, now_ms: int) -> PortfolioState | None:
        """The portfolio before the first equity mark; None (and a reason in the log and the
        health report) when there is no equity to trade with."""
        equity = self.link.paper_starting_balance()
        if equity > 0:
            return PortfolioState.opening(equity=equity, now_ms=now_ms)
        self.healing.record(
            error_class=HealingCause.INSUFFICIENT_FUNDS,
            action=HealingAction.SKIP_DECISION,
            component="account",
            message=f"no {self.quote} to trade with (equity {equity:g}): no decision until funded",
        )
        return None

    def _remember(self, decision: Decision) -> None:
        self.last_decision = decision
        fused = decision.fused
        if decision.action is not TradeAction.HOLD or self.last_action is None:
            self.last_action = (decision.side_word, fused.score, decision.at_ms)
        else:
            self.last_action = (self.last_action[0], fused.score, decision.at_ms)
        self.metrics.signals(components=dict(fused.component_scores), fused=fused.score)
        state = self.market.bars.regime
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
            self.guarded.mark_unhealthy()
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

    # -------------------------------------------------------------- the account loop

    async def account_loop(self) -> None:
        interval = account_sync_interval_s(self.config)
        while not self.stop_event.is_set():
            await self._wait_for_account_sync(interval)
            if not self.reconciled or self.errors.executor is None:
                continue
            try:
                await self.account_step()
            except StateStoreError as error:
                LOG.warning("account sync skipped, Redis unavailable: %s", error)

    async def _wait_for_account_sync(self, interval: float) -> None:
        """Wait ``interval`` times the current slowdown, looked at again every half second, so
        a slowdown that relaxes meanwhile shortens the wait."""
        started = time.monotonic()
        while not self.stop_event.is_set():
            left = started + interval * self.poll_slowdown - time.monotonic()
            if left <= 0:
                return
            await self._sleep(min(left, 0.5))

    async def account_step(self) -> None:
        """Look up what is unresolved, protect the position, and flatten when a breaker asks."""
        async with self.orders.lock:
            if await self.orders.refresh_unresolved() and not self.orders.in_flight():
                await self.orders.cancel_stale_stops()
            if not self.account.flatten_requested:
                await self.orders.protect(
                    stop_price=self._stop_price_for(self.position),
                    decision_id=self.orders.next_decision_id(),
                )
                await self.fee_lookup.run(venue=self.link.current())
                await self._save_equity()
                return
            self.account.flatten_requested = False
        await self.flatten(reason="circuit breaker tripped with flattenOnTrip")

    def _stop_price_for(self, position: PositionRecord) -> float | None:
        """The planned stop, or — for a position adopted without one (a crash between its
        entry and its stop) — the current regime's stop distance from the entry."""
        if position.stop_price is not None or position.entry_price is None:
            return position.stop_price
        distance = position.entry_price * self.market.regime_params().stop_loss_pct / 100.0
        long = position.side is PositionSide.LONG
        return position.entry_price - distance if long else position.entry_price + distance

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

    async def flatten(self, *, reason: str) -> dict[str, object]:
        """Close the position and cancel the bot's open orders."""
        async with self.orders.lock:
            if self.errors.executor is None or not self.reconciled:
                return {"flattened": False, "reason": "not reconciled with the exchange yet"}
            return await self.orders.flatten(reason=reason)

    # ------------------------------------------------------ sources and config

    async def source_loop(self) -> None:
        while not self.stop_event.is_set():
            await self.market.sources.refresh()
            await self._sleep(SOURCE_REFRESH_S)

    async def config_loop(self) -> None:
        while not self.stop_event.is_set():
            await self._sleep(CONFIG_POLL_S)
            if self.config_watch.changed():
                self.reload_config()

    def reload_config(self) -> bool:
        """Apply a changed config file; a refused change keeps the running config."""
        return self.config_watch.reload(running=self.config, apply=self._apply_config)

    def _apply_config(self, new: RuntimeConfig) -> None:
        """Hand a checked config to every part (raises before changing anything if the
        strategy or fusion refuses it)."""
        weights = live_fusion_weights(new)
        weights.carry_over(self.fusion_weights)
        fusion = weights.fusion
        bars = self.market.bars
        strategy = (
            build_strategy(new)
            if new.document.get("strategy") != self.config.document.get("strategy")
            else bars.strategy
        )
        self.fusion_weights = weights
        self._use_fusion(fusion)
        self._use_risk(RiskEngine(limits=new.risk, breaker=self.account.risk.breaker))
        self.pipeline.reconfigure(
            fusion=fusion, thresholds=new.strategy.thresholds, risk=self.account.risk
        )
        self.market.reconfigure(new)
        if strategy is not bars.strategy:
            bars.strategy, bars.strategy_signal = strategy, None
        self.config = self.orders.config = self.link.config = new

    # ------------------------------------------------------------------ running

    async def run(self, *, serve: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Serve the API at once, then start up and run the loops until ``stop_event``."""
        server = asyncio.create_task(serve(), name="api")
        background: list[asyncio.Task[None]] = []
        try:
            if not await self.take_lease():
                return
            background.append(self._supervised("lease", self.lease_loop))
            await self.start()
            background += [
                self._supervised("decisions", self.decision_loop),
                self._supervised("account", self.account_loop),
                self._supervised("sources", self.source_loop),
                self._supervised("config", self.config_loop),
            ]
            if not self.reconciled:
                background.append(self._supervised("start", self._retry_start))
            await self.stop_event.wait()
        finally:
            self.stop_event.set()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self.lease.release()
            await asyncio.wait_for(server, timeout=10)
            await self.link.close()
            await self.store.close()

    async def take_lease(self) -> bool:
        """Wait until no other runtime of this bot holds the lease; False if stopped first."""
        await self.guarded.call(self.store.ping, what="connecting to Redis")
        token = await self.lease.acquire(stop=self.stop_event)
        if token is None:
            return False
        self.store.fence(token)
        self.orders.sender.begin_epoch(token)
        return True

    async def lease_loop(self) -> None:
        while not self.stop_event.is_set():
            await self._sleep(self.lease.next_renewal_s)
            if not self.stop_event.is_set():
                await self.lease.renew()

    def _supervised(self, name: str, body: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        return asyncio.create_task(
            supervise(
                name=name,
                body=body,
                stop=self.stop_event,
                on_failure=self.metrics.loop_failure,
                on_fatal=self.end,
                fatal=(FatalError, FencedError),
            ),
            name=name,
        )

    def end(self, reason: str) -> None:
        """Stop the process for ``reason``, said where ``kubectl describe`` shows it."""
        if self.exit_reason is None:
            self.exit_reason = reason
            LOG.critical("stopping: %s", reason)
            write_termination_message(reason, environ=self._environ)
        self.stop_event.set()

    async def _retry_start(self) -> None:
        """While halted before reconciling (auth failure), retry after a resume."""
        while not self.reconciled and not self.stop_event.is_set():
            await self._sleep(1.0)
            self.beat()
            if not self.flags.halted:
                await self.start()


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)


def listen_host(environ: Mapping[str, str]) -> str:
    return environ.get(LISTEN_HOST_ENV) or "0.0.0.0"
