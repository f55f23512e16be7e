"""The order path of one bot: tracked orders, the position and its protection, and the protocol
that keeps them true across crashes.

Owned by :class:`~tradefleet_runtime.service.bot.BotService`, which calls it from the decision
loop (:meth:`OrderPath.execute`), the account loop (:meth:`OrderPath.refresh_unresolved`,
:meth:`OrderPath.protect`), start-up (:meth:`OrderPath.reconcile`) and control commands
(:meth:`OrderPath.flatten`). The protocol (see :mod:`tradefleet_runtime.persistence.store`):
the intent is in Redis before the order is sent, the exchange's answer and the position it led
to are recorded together, and every unresolved client order id is looked up on the exchange.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from tradefleet_runtime.config import MarketKind, RuntimeConfig
from tradefleet_runtime.execution.client_order_id import client_order_id
from tradefleet_runtime.execution.errors import (
    ExchangeError,
    RateLimitedError,
    TemporaryExchangeError,
)
from tradefleet_runtime.execution.executor import (
    OrderExecutor,
    ReconciliationSnapshot,
)
from tradefleet_runtime.execution.executor import TrackedOrder as ExecutorTrackedOrder
from tradefleet_runtime.execution.model import (
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
)
from tradefleet_runtime.execution.model import PositionSide as VenuePositionSide
from tradefleet_runtime.execution.venue import ccxt_exchange_id
from tradefleet_runtime.persistence.records import (
    BalanceRecord,
    OrderState,
    PositionRecord,
    PositionSide,
    TrackedOrder,
)
from tradefleet_runtime.persistence.store import StateStoreError
from tradefleet_runtime.service.account import Account, now_ms
from tradefleet_runtime.service.error_policy import ErrorPolicy
from tradefleet_runtime.service.events import EventHub
from tradefleet_runtime.service.healing import ErrorClass, HealingAction, HealingLog
from tradefleet_runtime.service.metrics import BotMetrics
from tradefleet_runtime.service.pipeline import Decision, TradeAction
from tradefleet_runtime.service.store_access import GuardedStore

LOG = logging.getLogger("tradefleet_runtime.bot")
# A market order's intent older than this without an answer is looked up on the exchange.
INTENT_LOOKUP_AFTER_S = 5.0


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if number == 0:
            return text


class OrderPath:
    """Tracked orders, the position, and every order the bot sends."""

    def __init__(
        self,
        *,
        config: RuntimeConfig,
        guarded: GuardedStore,
        account: Account,
        errors: ErrorPolicy,
        healing: HealingLog,
        metrics: BotMetrics,
        events: EventHub,
        mark_price: Callable[[], float | None],
    ) -> None:
        self.config = config
        self.symbol = config.exchange.symbol
        self.position = PositionRecord()
        self.tracked: dict[str, TrackedOrder] = {}
        self.sequence = 0
        self.epoch = base36(now_ms())
        self.lock = asyncio.Lock()
        self._guarded = guarded
        self._account = account
        self._errors = errors
        self._healing = healing
        self._metrics = metrics
        self._events = events
        self._mark_price = mark_price

    @property
    def executor(self) -> OrderExecutor:
        executor = self._errors.executor
        assert executor is not None, "the venue is built before orders are sent"
        return executor

    def next_decision_id(self) -> str:
        """The id the next decision's orders will carry (unique across restarts and resets)."""
        return f"{self.epoch}-{self.sequence + 1}"

    def open_order_ids(self) -> list[str]:
        return sorted(
            o.client_order_id for o in self.tracked.values() if o.state is OrderState.OPEN
        )

    def _order_id(self, *, decision_id: str, leg: str) -> str:
        exchange = self.config.exchange
        return client_order_id(
            exchange=ccxt_exchange_id(exchange=exchange.exchange, market=exchange.market.value),
            bot_name=self.config.bot_name,
            decision_id=decision_id,
            leg=leg,
        )

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

    def _lookups(self, *, include: Callable[[TrackedOrder], bool]) -> list[ExecutorTrackedOrder]:
        return [
            ExecutorTrackedOrder(
                symbol=o.symbol, client_order_id=o.client_order_id, conditional=o.conditional
            )
            for o in self.tracked.values()
            if include(o)
        ]

    async def snapshot_of_everything(self) -> ReconciliationSnapshot:
        """Every tracked order, the position and the balance as the exchange has them."""
        lookups = self._lookups(include=lambda _: True)
        return await self.executor.reconcile(symbols=[self.symbol], tracked=lookups)

    async def refresh_position(self) -> None:
        """The position and balance as the exchange reports them after an order."""
        lookups = self._lookups(include=lambda o: o.state is OrderState.INTENT)
        await self._refresh(lookups)

    async def refresh_unresolved(self) -> None:
        now = now_ms()
        lookups = self._lookups(
            include=lambda o: (
                o.state is OrderState.OPEN or now - o.created_at_ms > INTENT_LOOKUP_AFTER_S * 1000
            )
        )
        if await self._refresh(lookups):
            self._healing.set_component(
                component="exchange", healthy=True, detail="account in sync"
            )

    async def _refresh(self, lookups: list[ExecutorTrackedOrder]) -> bool:
        try:
            snapshot = await self.executor.reconcile(symbols=[self.symbol], tracked=lookups)
        except ExchangeError as error:
            await self._errors.handle(error, component="account")
            return False
        self._errors.note_executor_errors(component="account")
        self._errors.succeeded()
        await self.apply_snapshot(snapshot)
        return True

    async def apply_snapshot(self, snapshot: ReconciliationSnapshot) -> None:
        now = now_ms()
        changed: list[TrackedOrder] = []
        for order in snapshot.resolved_orders:
            record = self.tracked.pop(order.client_order_id, None)
            if record is not None:
                changed.append(record.with_order(order, now_ms=now))
                self.count_outcome(order)
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
        self._account.set_balance(self._balance_from(snapshot))
        if not previous.is_flat and self.position.is_flat:
            self._trade_closed_on_exchange(previous=previous, resolved=snapshot.resolved_orders)
        self._account.mark(position=self.position, mark_price=self._mark_price(), atr=None)
        await self._record(changed, what="recording the reconciliation")

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
            ),
            what=what,
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
            opened_at_ms=previous.opened_at_ms if same else now_ms(),
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
        """The position went flat without us (its stop triggered): book the trade."""
        exit_price = next(
            (o.average_price for o in resolved if o.order_type.is_conditional and o.average_price),
            self._mark_price(),
        )
        self._account.book_trade(previous=previous, exit_price=exit_price)

    def count_outcome(self, order: Order) -> None:
        if order.status is OrderStatus.FILLED or (
            order.status is OrderStatus.EXPIRED and order.filled > 0
        ):
            self._metrics.order("filled")
        elif order.status is OrderStatus.CANCELED:
            self._metrics.order("canceled")
        elif order.status in (OrderStatus.REJECTED, OrderStatus.EXPIRED):
            self._metrics.order("rejected")

    # -------------------------------------------------------------------- orders

    async def send(
        self, *, request: OrderRequest, leg: str, decision: Mapping[str, object]
    ) -> Order | None:
        """The order protocol: intent in Redis, then the exchange, then the result in Redis."""
        sequence = self.sequence + 1
        decision_id = str(decision.get("decisionId") or self.next_decision_id())
        intent = TrackedOrder.intent(
            request=request, leg=leg, decision_id=decision_id, now_ms=now_ms()
        )
        store = self._guarded.store
        try:
            await store.record_intent(
                order=intent, epoch=self.epoch, sequence=sequence, decision=decision
            )
        except StateStoreError as error:
            self._guarded.mark_unhealthy()
            self._healing.record(
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
            order = await self.executor.place(request)
        except ExchangeError as error:
            await self._unanswered(intent=intent, error=error)
            return None
        self._errors.note_executor_errors(component="orders")
        self._errors.succeeded()
        record = intent.with_order(order, now_ms=now_ms())
        if record.state.unresolved:
            self.tracked[record.client_order_id] = record
        else:
            self.tracked.pop(record.client_order_id, None)
        self.count_outcome(order)
        self._note_partial_fill(request=request, order=order)
        await self._guarded.call(
            lambda: store.record_orders(orders=[record]), what="recording an order"
        )
        self._events.publish(
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

    async def _unanswered(self, *, intent: TrackedOrder, error: ExchangeError) -> None:
        await self._errors.handle(error, component="orders")
        if isinstance(error, TemporaryExchangeError | RateLimitedError):
            # Outcome unknown: the intent stays unresolved for the account loop to look up.
            self._metrics.order("failed")
            return
        # Refused by the exchange: nothing was placed.
        refused = intent.with_state(OrderState.REJECTED, now_ms=now_ms(), note=str(error))
        self.tracked.pop(intent.client_order_id, None)
        self._metrics.order("rejected")
        store = self._guarded.store
        await self._guarded.call(
            lambda: store.record_orders(orders=[refused]), what="recording a rejection"
        )

    def _note_partial_fill(self, *, request: OrderRequest, order: Order) -> None:
        if (
            request.amount is not None
            and not request.order_type.is_conditional
            and 0 < order.filled < request.amount - 1e-12
            and order.status is not OrderStatus.OPEN
        ):
            self._healing.record(
                error_class=ErrorClass.PARTIAL_FILL,
                action=HealingAction.ADOPT_FILL,
                component="orders",
                message=(
                    f"{request.client_order_id} filled {order.filled:g} of {request.amount:g}; "
                    "the filled quantity is the position"
                ),
                resolved=True,
            )

    async def protect(self, *, stop_price: float | None, decision_id: str) -> None:
        """A resting stop that closes the whole position, if the venue can hold one."""
        position = self.position
        if position.is_flat or stop_price is None or self.config.exchange.market is MarketKind.SPOT:
            return
        if position.stop_client_order_id and position.stop_client_order_id in self.tracked:
            return
        if not self.executor.venue.supports_exchange_stops:
            return
        long = position.side is PositionSide.LONG
        request = OrderRequest(
            symbol=self.symbol,
            side=OrderSide.SELL if long else OrderSide.BUY,
            order_type=OrderType.STOP_MARKET,
            client_order_id=self._order_id(decision_id=decision_id, leg="sl"),
            amount=None,
            trigger_price=stop_price,
            close_position=True,
        )
        order = await self.send(
            request=request, leg="sl", decision={"decisionId": decision_id, "action": "protect"}
        )
        if order is not None and order.status is OrderStatus.OPEN:
            self.position = replace(
                position, stop_client_order_id=order.client_order_id, stop_price=stop_price
            )
            await self._record([], what="recording the stop")

    async def cancel_open_orders(self) -> None:
        store = self._guarded.store
        for record in [o for o in self.tracked.values() if o.state is OrderState.OPEN]:
            try:
                order = await self.executor.cancel(
                    symbol=record.symbol,
                    client_order_id=record.client_order_id,
                    conditional=record.conditional,
                )
            except ExchangeError as error:
                await self._errors.handle(error, component="orders")
                continue
            updated = record.with_order(order, now_ms=now_ms())
            if not updated.state.unresolved:
                self.tracked.pop(record.client_order_id, None)
            self.count_outcome(order)
            await self._guarded.call(
                functools.partial(store.record_orders, orders=[updated]),
                what="recording a cancel",
            )

    async def execute(self, decision: Decision) -> None:
        request = decision.request
        assert request is not None
        before = self.position
        order = await self.send(request=request, leg=decision.leg, decision=decision.to_dict())
        if order is None:
            return
        await self.refresh_position()
        if decision.action is TradeAction.CLOSE:
            if self.position.is_flat:
                await self.cancel_open_orders()
                self._account.book_trade(previous=before, exit_price=order.average_price)
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

    async def flatten(self, *, reason: str) -> dict[str, object]:
        """Close the position and cancel the bot's open orders (the caller holds ``lock``)."""
        await self.refresh_position()
        position = self.position
        if not position.is_flat:
            decision_id = self.next_decision_id()
            request = OrderRequest(
                symbol=self.symbol,
                side=OrderSide.SELL if position.side is PositionSide.LONG else OrderSide.BUY,
                order_type=OrderType.MARKET,
                client_order_id=self._order_id(decision_id=decision_id, leg="exit"),
                amount=position.size,
                reduce_only=self.config.exchange.market is MarketKind.FUTURES,
            )
            order = await self.send(
                request=request,
                leg="exit",
                decision={"decisionId": decision_id, "action": "flatten", "reason": reason},
            )
            await self.refresh_position()
            if order is not None and self.position.is_flat:
                self._account.book_trade(previous=position, exit_price=order.average_price)
        await self.cancel_open_orders()
        LOG.info("flattened (%s): position now %s", reason, self.position.side.value)
        return {"flattened": self.position.is_flat, "position": self.position.to_dict()}
