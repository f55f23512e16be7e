"""The order path of one bot: an order state machine over the exchange's own fills and orders.

Owned by :class:`~tradefleet_runtime.service.bot.BotService`, which calls it from the decision
loop (:meth:`OrderPath.entry_refusal`, :meth:`OrderPath.settle`, :meth:`OrderPath.execute`,
:meth:`OrderPath.software_stop`), the account loop (:meth:`OrderPath.refresh_unresolved`,
:meth:`OrderPath.protect`), start-up (:meth:`OrderPath.snapshot_of_everything`) and control
commands (:meth:`OrderPath.flatten`).

Every order goes out through :class:`~tradefleet_runtime.service.order_sender.OrderSender`
(the intent is in Redis before the order is sent, the exchange's answer after); the exchange's
answer and the position it led to are recorded together, and every unresolved client order id
is looked up on the exchange. The state machine:

* an entry or exit whose outcome is not known (an intent without an answer, a market order
  still filling) is *in flight*; so is the position after a refresh that failed. While anything
  is in flight no new order is decided: :meth:`OrderPath.settle` looks it up with backoff, and
  a bot that cannot settle for ``SELF_PAUSE_AFTER_S`` pauses itself and says why (it resumes
  by itself once settled);
* every open position is protected: by an exchange-side stop where the venue holds one
  (futures: placed before the entry is sent, and at start-up before anything else is looked
  up), otherwise by a software stop checked on every tick (spot, or while the exchange stop
  cannot be placed); a position unprotected for more than 2 s is reported;
* no order is sent without the lease (:mod:`tradefleet_runtime.service.fencing`), and only
  orders whose client id carries this bot's prefix are adopted or cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from tradefleet_runtime.config import MarketKind, RuntimeConfig
from tradefleet_runtime.execution.errors import (
    ExchangeError,
)
from tradefleet_runtime.execution.executor import OrderExecutor, OrderLookup, ReconciliationSnapshot
from tradefleet_runtime.execution.model import (
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from tradefleet_runtime.marketdata.ticks import BookTick
from tradefleet_runtime.persistence.records import (
    BalanceRecord,
    OrderState,
    PositionRecord,
    PositionSide,
    TrackedOrder,
)
from tradefleet_runtime.persistence.store import RuntimePauseCause
from tradefleet_runtime.service.account import Account, now_ms
from tradefleet_runtime.service.error_policy import ErrorPolicy
from tradefleet_runtime.service.events import EventHub
from tradefleet_runtime.service.healing import HealingLog
from tradefleet_runtime.service.metrics import BotMetrics
from tradefleet_runtime.service.order_sender import OrderSender
from tradefleet_runtime.service.pipeline import Decision, TradeAction
from tradefleet_runtime.service.protection import (
    UNPROTECTED_ERROR_AFTER_S,
    Protection,
    StopKind,
    exchange_stop_of,
    fill_beyond_stop,
    next_protection,
    software_stop_hit,
    stale_stops,
)
from tradefleet_runtime.service.reconciliation import (
    position_after_fill,
    position_from,
    settle_snapshot,
)
from tradefleet_runtime.service.store_access import FlagKeeper, GuardedStore

LOG = logging.getLogger("tradefleet_runtime.bot")
SETTLE_BACKOFF_FIRST_S = 0.25
SETTLE_BACKOFF_MAX_S = 5.0
SELF_PAUSE_AFTER_S = 30.0


class OrderPath:
    """Tracked orders, the position and its protection, and every order the bot sends."""

    def __init__(
        self,
        *,
        config: RuntimeConfig,
        guarded: GuardedStore,
        flags: FlagKeeper,
        account: Account,
        errors: ErrorPolicy,
        healing: HealingLog,
        metrics: BotMetrics,
        events: EventHub,
        mark_price: Callable[[], float | None],
        planned_stop: Callable[[PositionRecord], float | None],
        send_refusal: Callable[[], str | None],
    ) -> None:
        self.config = config
        self.symbol = config.exchange.symbol
        self.position = PositionRecord()
        self.protection = Protection(kind=None, unprotected_since=None)
        self.sender = OrderSender(
            config=config,
            guarded=guarded,
            errors=errors,
            healing=healing,
            metrics=metrics,
            events=events,
            send_refusal=send_refusal,
            settle_soon=self._settle_soon,
            account=account,
            flags=lambda: flags.flags,
        )
        self.lock = asyncio.Lock()
        # The order just sent, while the look-up after it runs: the price a trade it closed
        # is booked at.
        self._sent_exit: Order | None = None
        self.refresh_failed: str | None = None
        self._blocked_since: float | None = None
        self._next_settle = 0.0
        self._settle_delay = SETTLE_BACKOFF_FIRST_S
        self._guarded = guarded
        self._flags = flags
        self._account = account
        self._errors = errors
        self._healing = healing
        self._metrics = metrics
        self._events = events
        self._mark_price = mark_price
        self._planned_stop = planned_stop
        self._next_stop_attempt = 0.0
        self._send_refusal = send_refusal

    @property
    def executor(self) -> OrderExecutor:
        executor = self._errors.executor
        assert executor is not None, "the venue is built before orders are sent"
        return executor

    @property
    def tracked(self) -> dict[str, TrackedOrder]:
        """Orders sent and not final, by client order id (held by the sender)."""
        return self.sender.tracked

    @tracked.setter
    def tracked(self, orders: dict[str, TrackedOrder]) -> None:
        self.sender.tracked = orders

    def next_decision_id(self) -> str:
        return self.sender.next_decision_id()

    def _settle_soon(self) -> None:
        self._next_settle = 0.0

    def open_order_ids(self) -> list[str]:
        return sorted(
            o.client_order_id for o in self.tracked.values() if o.state is OrderState.OPEN
        )

    # --------------------------------------------------------- the state machine

    def in_flight(self) -> list[TrackedOrder]:
        """Entries and exits whose outcome the exchange has not told us yet."""
        return [o for o in self.tracked.values() if not o.conditional and o.state.unresolved]

    def entry_refusal(self) -> str | None:
        """Why no new order may be decided now (None: the bot may trade)."""
        pending = self.in_flight()
        if pending:
            first = min(pending, key=lambda o: o.created_at_ms)
            return (
                f"{len(pending)} order(s) in flight, e.g. {first.leg} {first.client_order_id} "
                f"({first.state.value} for {time.time() - first.created_at_ms / 1000:.1f}s)"
            )
        if self.refresh_failed is not None:
            return f"the position could not be read from the exchange: {self.refresh_failed}"
        return self._send_refusal()

    async def settle(self) -> str | None:
        """Look up what is in flight (with backoff); the refusal that remains, if any."""
        refusal = self.entry_refusal()
        now = time.monotonic()
        if refusal is None:
            await self._unblocked()
            return None
        if self._blocked_since is None:
            self._blocked_since = now
        self._metrics.orders_blocked(True)
        if (self.in_flight() or self.refresh_failed) and now >= self._next_settle:
            if await self.refresh_unresolved():
                self._settle_delay = SETTLE_BACKOFF_FIRST_S
            else:
                self._settle_delay = min(SETTLE_BACKOFF_MAX_S, self._settle_delay * 2)
            self._next_settle = time.monotonic() + self._settle_delay
            refusal = self.entry_refusal()
            if refusal is None:
                await self.protect(stop_price=None, decision_id=self.next_decision_id())
                await self._unblocked()
                return None
        if (
            now - self._blocked_since > SELF_PAUSE_AFTER_S
            and self._flags.flags.runtime_pause is None
        ):
            await self._flags.pause_by_runtime(
                RuntimePauseCause.ORDERS_UNRESOLVED,
                f"orders unresolved for {SELF_PAUSE_AFTER_S:.0f}s, no new positions until "
                f"the exchange confirms them: {refusal}",
            )
            LOG.error("paused: %s", self._flags.flags.pause_reason)
        return refusal

    async def _unblocked(self) -> None:
        self._blocked_since = None
        self._metrics.orders_blocked(False)
        if self._flags.flags.runtime_pause is RuntimePauseCause.ORDERS_UNRESOLVED:
            LOG.info("orders settled: lifting the pause this runtime set itself")
            await self._flags.lift_runtime_pause(RuntimePauseCause.ORDERS_UNRESOLVED)

    # ------------------------------------------------------------ reconciliation

    async def wait_out_submission_window(self) -> None:
        """An order sent just before a crash may still execute until its window has passed."""
        if not self.tracked:
            return
        newest = max(o.created_at_ms for o in self.tracked.values()) / 1000.0
        wait = newest + self.executor.venue.submission_window_s - time.time()
        if wait > 0:
            LOG.info("waiting %.2fs for in-flight orders of the previous run to settle", wait)
            await asyncio.sleep(wait)

    def _lookups(self) -> list[OrderLookup]:
        return [
            OrderLookup(
                symbol=o.symbol, client_order_id=o.client_order_id, conditional=o.conditional
            )
            for o in self.tracked.values()
            if o.state.unresolved
        ]

    async def protect_found_position(self) -> bool:
        """Start-up, before the slower look-ups and the submission window's wait: a position
        the exchange holds gets its closePosition stop at once (the persisted plan's price,
        else the planned distance). A stop already resting on that side makes the exchange
        refuse this one (``-4130``): nothing doubles, and reconciliation adopts it. Called
        through the exchange link, which retries what the exchange could not answer; True once
        done."""
        if not self._exchange_stops_possible():
            return True
        positions = await self.executor.positions(symbols=[self.symbol])
        found = position_from(
            positions, previous=self.position, tracked={}, symbol=self.symbol, now_ms=now_ms()
        )
        if found.is_flat or exchange_stop_of(self.tracked.values(), found) is not None:
            return True
        if found.stop_price is None:
            found = replace(found, stop_price=self._planned_stop(found))
        if found.stop_price is None:
            return True
        LOG.info(
            "protecting the %s %g position found at start-up with a stop at %g",
            found.side.value,
            found.size,
            found.stop_price,
        )
        await self._place_exchange_stop(position=found, decision_id=self.next_decision_id())
        return True

    async def snapshot_of_everything(self) -> ReconciliationSnapshot:
        """Every tracked order, the position and the balance as the exchange has them."""
        return await self.executor.reconcile(symbols=[self.symbol], tracked=self._lookups())

    async def refresh_unresolved(self) -> bool:
        """Look up every unresolved order (intents from the first try: an intent's lookup is
        harmless, its "not found" counts only after the submission window), the position and
        the balance; False when the exchange could not be asked."""
        try:
            snapshot = await self.snapshot_of_everything()
        except ExchangeError as error:
            self.refresh_failed = str(error)
            await self._errors.handle(error, component="account")
            return False
        self._errors.note_executor_errors(component="account")
        self._errors.succeeded()
        self.refresh_failed = None
        await self.apply_snapshot(snapshot)
        self._healing.set_component(component="exchange", healthy=True, detail="account in sync")
        return True

    async def apply_snapshot(self, snapshot: ReconciliationSnapshot) -> None:
        outcome = settle_snapshot(
            tracked=self.tracked,
            snapshot=snapshot,
            previous=self.position,
            symbol=self.symbol,
            now_ms=now_ms(),
            submission_window_ms=int(self.executor.venue.submission_window_s * 1000),
            owns=self.sender.ours,
        )
        for client_id in outcome.adopted:
            LOG.warning("adopting untracked open order %s", client_id)
        for order in outcome.resolved:
            self.sender.settle(order)
        previous = self.position
        self.tracked, self.position = outcome.tracked, outcome.position
        if not self.position.is_flat and self.position.stop_price is None:
            # A position found without its plan (adopted after a crash, or opened by a fill we
            # had no answer for) is protected at once by a software stop at the planned
            # distance; the exchange stop follows on the next tick.
            self.position = replace(self.position, stop_price=self._planned_stop(self.position))
        self._account.set_balance(self._balance_from(snapshot))
        if not previous.is_flat and self.position.is_flat:
            self._trade_closed_on_exchange(previous=previous, resolved=snapshot.resolved_orders)
        self._account.mark(position=self.position, mark_price=self._mark_price(), atr=None)
        self.refresh_protection()
        await self._record(list(outcome.changed), what="recording the reconciliation")

    async def record_account(self, *, what: str) -> None:
        """The position and the account's state, saved together."""
        await self._record([], what=what)

    async def _record(self, orders: list[TrackedOrder], *, what: str) -> None:
        account = self._account
        store = self._guarded.store
        await self._guarded.call(
            lambda: store.record_orders(
                orders=orders,
                position=self.position,
                balance=account.balance,
                portfolio=account.portfolio.to_dict() if account.portfolio else None,
                breaker=account.risk.breaker.to_dict(),
                starting_equity=account.balance_start,
                trade_pnl=account.trades(),
                fees=account.fees(),
            ),
            what=what,
        )

    def _balance_from(self, snapshot: ReconciliationSnapshot) -> BalanceRecord | None:
        quote = self._account.quote
        for balance in snapshot.balances:
            if balance.currency == quote:
                return BalanceRecord(
                    currency=balance.currency,
                    free=balance.free,
                    used=balance.used,
                    total=balance.total,
                    as_of_ms=snapshot.taken_at_ms,
                )
        return self._account.balance

    def _trade_closed_on_exchange(
        self, *, previous: PositionRecord, resolved: tuple[Order, ...]
    ) -> None:
        """The exchange reports the position flat: book the trade, once, at the price of what
        closed it (a stop that triggered, the exit just sent) or else the mark."""
        closing = [o for o in resolved if o.order_type.is_conditional]
        if self._sent_exit is not None:
            closing.append(self._sent_exit)
        exit_price = next((o.average_price for o in closing if o.average_price), None)
        self._account.book_trade(previous=previous, exit_price=exit_price or self._mark_price())

    # ---------------------------------------------------------------- protection

    def _stop_kind(self) -> StopKind | None:
        position = self.position
        if position.is_flat:
            return None
        if exchange_stop_of(self.tracked.values(), position) is not None:
            return StopKind.EXCHANGE
        return StopKind.SOFTWARE if position.stop_price is not None else None

    def refresh_protection(self) -> None:
        now = time.time()
        before = self.protection
        self.protection = next_protection(
            previous=before, position=self.position, kind=self._stop_kind(), now=now
        )
        unprotected = self.protection.unprotected_for(now)
        self._metrics.protection(
            kind=self.protection.kind.value if self.protection.kind else None,
            unprotected_s=unprotected,
        )
        if (
            unprotected > UNPROTECTED_ERROR_AFTER_S
            and before.unprotected_for(now) <= UNPROTECTED_ERROR_AFTER_S
        ):
            LOG.error(
                "position %s %g unprotected for %.1fs: no stop on the exchange and no stop price",
                self.position.side.value,
                self.position.size,
                unprotected,
            )

    async def keep_protected(self, *, decision_id: str) -> None:
        """Place the exchange stop the open position lacks (at most one attempt a second)."""
        position = self.position
        now = time.monotonic()
        if (
            position.is_flat
            or position.stop_price is None
            or now < self._next_stop_attempt
            or exchange_stop_of(self.tracked.values(), position) is not None
            or not self._exchange_stops_possible()
        ):
            return
        self._next_stop_attempt = now + 1.0
        await self.protect(stop_price=None, decision_id=decision_id)

    def _exchange_stops_possible(self) -> bool:
        return (
            self.config.exchange.market is MarketKind.FUTURES
            and self.executor.venue.supports_exchange_stops
        )

    async def protect(self, *, stop_price: float | None, decision_id: str) -> None:
        """Protect the open position: an exchange stop where the venue holds one, otherwise
        (or until it is placed) a software stop at ``stop_price`` or the planned one."""
        position = self.position
        if not position.is_flat and stop_price is not None and position.stop_price is None:
            self.position = position = replace(position, stop_price=stop_price)
        # Also while an entry or exit is in flight: a closePosition stop covers whatever the
        # position turns out to be, and the venue refuses a second one on the same side.
        if (
            not position.is_flat
            and position.stop_price is not None
            and exchange_stop_of(self.tracked.values(), position) is None
            and self._exchange_stops_possible()
        ):
            order = await self._place_exchange_stop(position=position, decision_id=decision_id)
            if order is not None and order.status is OrderStatus.OPEN and not self.position.is_flat:
                self.position = replace(self.position, stop_client_order_id=order.client_order_id)
        self.refresh_protection()
        await self.record_account(what="recording the stop")

    async def _place_exchange_stop(
        self, *, position: PositionRecord, decision_id: str
    ) -> Order | None:
        """A closePosition stop on ``position``'s closing side at its stop price."""
        long = position.side is PositionSide.LONG
        request = OrderRequest(
            symbol=self.symbol,
            side=OrderSide.SELL if long else OrderSide.BUY,
            order_type=OrderType.STOP_MARKET,
            client_order_id=self.sender.order_id(decision_id=decision_id, leg="sl"),
            amount=None,
            trigger_price=position.stop_price,
            close_position=True,
        )
        return await self.sender.send(
            request=request, leg="sl", decision={"decisionId": decision_id, "action": "protect"}
        )

    async def _stop_first(self, decision: Decision) -> bool:
        """Where the venue holds stops, an entry's stop rests on the exchange before the entry
        is sent: a closePosition stop covers whatever the entry fills however its answer goes
        (lost, late, filling slowly), so a filled entry is never without its stop. Stops left
        from an earlier position are cancelled first (the venue holds one closePosition stop a
        side). False: the stop is not resting, and the entry is not sent."""
        request, risk = decision.request, decision.risk
        if (
            request is None
            or risk is None
            or risk.stop_price is None
            or not self._exchange_stops_possible()
        ):
            return True
        await self.cancel_stale_stops()
        planned = PositionRecord(
            side=PositionSide.LONG if request.side is OrderSide.BUY else PositionSide.SHORT,
            size=request.amount or 0.0,
            stop_price=risk.stop_price,
        )
        stop = await self._place_exchange_stop(position=planned, decision_id=decision.decision_id)
        if stop is not None and stop.status is OrderStatus.OPEN:
            return True
        LOG.warning(
            "entry %s not sent: its stop at %g could not be placed first",
            request.client_order_id,
            risk.stop_price,
        )
        return False

    async def software_stop(self, tick: BookTick) -> bool:
        """Close the position at market when a software-protected stop is reached."""
        position = self.position
        if self._stop_kind() is not StopKind.SOFTWARE or not software_stop_hit(position, tick):
            return False
        if self.in_flight():
            return False
        LOG.warning(
            "software stop at %g reached (bid %g, ask %g): closing %s %g",
            position.stop_price,
            tick.bid_price,
            tick.ask_price,
            position.side.value,
            position.size,
        )
        await self._close(position=position, leg="sl", reason="software stop")
        return True

    async def cancel_stale_stops(self) -> None:
        """Stops left from an earlier position (a cancel that failed, a crash) protect nothing."""
        for record in stale_stops(self.tracked.values(), self.position):
            LOG.warning("cancelling stale stop %s (%s)", record.client_order_id, record.side)
            await self._cancel(record)

    async def cancel_open_orders(self) -> None:
        for record in [o for o in self.tracked.values() if o.state is OrderState.OPEN]:
            await self._cancel(record)

    async def _cancel(self, record: TrackedOrder) -> None:
        try:
            # A cancel from a runtime whose lease has lapsed could take the next runtime's stop.
            order = await self.executor.cancel(
                symbol=record.symbol,
                client_order_id=record.client_order_id,
                conditional=record.conditional,
                may_send=self._send_refusal,
            )
        except ExchangeError as error:
            await self._errors.handle(error, component="orders")
            return
        updated = record.with_order(order, now_ms=now_ms())
        if not updated.state.unresolved:
            self.tracked.pop(record.client_order_id, None)
        self.sender.settle(order)
        store = self._guarded.store
        fees = self._account.fees()
        await self._guarded.call(
            lambda: store.record_orders(orders=[updated], fees=fees),
            what="recording a cancel",
        )

    # ------------------------------------------------------------ executing

    async def _after_order(self, order: Order) -> None:
        """The position after ``order``: the exchange's, or — while it cannot be asked — the
        one its fill implies, so the stop goes on at once; the bot stays blocked meanwhile. A
        trade the order closed is booked once, whichever of the two says so."""
        before = self.position
        self._sent_exit = order
        try:
            if await self.refresh_unresolved():
                return
        finally:
            self._sent_exit = None
        self.position = position_after_fill(before, order, now_ms=now_ms())
        if not before.is_flat and self.position.is_flat:
            self._account.book_trade(previous=before, exit_price=order.average_price)
        self.refresh_protection()

    async def execute(self, decision: Decision) -> None:
        request = decision.request
        assert request is not None
        before = self.position
        if decision.action is not TradeAction.CLOSE and not await self._stop_first(decision):
            return
        order = await self.sender.send(
            request=request, leg=decision.leg, decision=decision.to_dict()
        )
        if order is None:
            if not self.in_flight():
                # Refused or never sent: nothing can fill, the stop placed first is stale.
                await self.cancel_stale_stops()
            return
        if decision.action is not TradeAction.CLOSE:
            if await self._close_if_beyond_stop(before=before, order=order, decision=decision):
                return
            await self._restore_fired_stop(before=before, order=order, decision=decision)
        await self._after_order(order)
        if decision.action is TradeAction.CLOSE:
            if self.position.is_flat and self.refresh_failed is None:
                await self.cancel_open_orders()
            return
        if order.filled > 0 and decision.risk is not None:
            self.position = replace(
                self.position,
                target_price=decision.risk.target_price,
                stop_price=decision.risk.stop_price,
                opened_at_ms=decision.at_ms,
            )
            await self.protect(
                stop_price=decision.risk.stop_price, decision_id=decision.decision_id
            )

    async def _close_if_beyond_stop(
        self, *, before: PositionRecord, order: Order, decision: Decision
    ) -> bool:
        """An entry that filled at or beyond its own stop is closed at once, before anything
        else is asked of the exchange: the market crossed the stop while the entry was in
        flight (held in the matching queue, its answer late), so the stop placed first fired
        on no position and is gone, and a new one would trigger immediately."""
        stop = decision.risk.stop_price if decision.risk is not None else None
        if stop is None or order.filled <= 0 or not order.average_price:
            return False
        position = position_after_fill(before, order, now_ms=now_ms())
        if not fill_beyond_stop(position=position, price=order.average_price, stop=stop):
            return False
        position = replace(position, stop_price=stop, opened_at_ms=decision.at_ms)
        self.position = position
        LOG.warning(
            "entry %s filled at %g, beyond its stop at %g (the market crossed the stop while "
            "the entry was in flight): closing %s %g at once",
            order.client_order_id,
            order.average_price,
            stop,
            position.side.value,
            position.size,
        )
        await self._close(position=position, leg="sl", reason="entry filled beyond its stop")
        return True

    async def _restore_fired_stop(
        self, *, before: PositionRecord, order: Order, decision: Decision
    ) -> None:
        """An entry's stop placed first may have fired on no position and expired while the
        entry was held in the matching queue and the market dipped through the stop and came
        back. Asked at once (one look-up, before the slower refresh of everything), and
        replaced under a new id if it is not resting."""
        stop_price = decision.risk.stop_price if decision.risk is not None else None
        if stop_price is None or order.filled <= 0 or not self._exchange_stops_possible():
            return
        filled = position_after_fill(before, order, now_ms=now_ms())
        position = replace(filled, stop_price=stop_price)
        stop = exchange_stop_of(self.tracked.values(), position)
        if stop is None:
            return
        try:
            found = await self.executor.lookup(
                OrderLookup(
                    symbol=stop.symbol, client_order_id=stop.client_order_id, conditional=True
                )
            )
        except ExchangeError as error:
            await self._errors.handle(error, component="orders")
            return
        if found is None or found.status is OrderStatus.OPEN:
            return
        LOG.warning(
            "stop %s placed before entry %s is %s, not resting: placing a new one",
            stop.client_order_id,
            order.client_order_id,
            found.status.value,
        )
        self.tracked[stop.client_order_id] = stop.with_order(found, now_ms=now_ms())
        await self._place_exchange_stop(position=position, decision_id=self.next_decision_id())

    async def _close(self, *, position: PositionRecord, leg: str, reason: str) -> Order | None:
        decision_id = self.next_decision_id()
        request = OrderRequest(
            symbol=self.symbol,
            side=OrderSide.SELL if position.side is PositionSide.LONG else OrderSide.BUY,
            order_type=OrderType.MARKET,
            client_order_id=self.sender.order_id(decision_id=decision_id, leg=leg),
            amount=position.size,
            reduce_only=self.config.exchange.market is MarketKind.FUTURES,
        )
        order = await self.sender.send(
            request=request,
            leg=leg,
            decision={"decisionId": decision_id, "action": "flatten", "reason": reason},
        )
        if order is None:
            return None
        await self._after_order(order)
        if self.position.is_flat and self.refresh_failed is None:
            await self.cancel_open_orders()
        return order

    async def flatten(self, *, reason: str) -> dict[str, object]:
        """Close the position and cancel the bot's open orders (the caller holds ``lock``).

        The bot's own orders resting on the exchange are cancelled first: a cancel's answer says
        what they filled, so they are no longer in flight. Only an order whose fate the exchange
        has not told (an intent, an unanswered send) still refuses the flatten."""
        await self.refresh_unresolved()
        resting = [o for o in self.in_flight() if o.state is OrderState.OPEN]
        for record in resting:
            await self._cancel(record)
        if resting:
            await self.refresh_unresolved()
        position = self.position
        if self.in_flight():
            return {
                "flattened": False,
                "reason": f"not sent: {self.entry_refusal()}",
                "position": position.to_dict(),
            }
        if not position.is_flat:
            await self._close(position=position, leg="exit", reason=reason)
        if self.position.is_flat and self.refresh_failed is None:
            await self.cancel_open_orders()
        LOG.info("flattened (%s): position now %s", reason, self.position.side.value)
        return {"flattened": self.position.is_flat, "position": self.position.to_dict()}
