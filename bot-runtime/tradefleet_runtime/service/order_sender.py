"""Sending one order: the intent in Redis, then the exchange, then its answer in Redis.

Owned by :class:`~tradefleet_runtime.service.orders.OrderPath`, which decides what to send and
calls :meth:`OrderSender.send`. The sender holds the bot's tracked orders (what was sent and is
not final) and its decision ids (``<epoch>-<sequence>``; a new epoch per lease, so ids never
repeat across runtimes), and makes the client order ids this bot owns. No order leaves without
its intent stored and the lease fresh as it leaves (``send_refusal``); an order whose answer
was lost stays tracked *in flight* until a look-up settles it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from tradefleet_runtime.config import RuntimeConfig
from tradefleet_runtime.execution.client_order_id import client_order_id, owns
from tradefleet_runtime.execution.errors import (
    ExchangeError,
    RateLimitedError,
    SendRefused,
    TemporaryExchangeError,
)
from tradefleet_runtime.execution.executor import OrderExecutor
from tradefleet_runtime.execution.model import Order, OrderRequest, OrderStatus
from tradefleet_runtime.execution.venue import ccxt_exchange_id
from tradefleet_runtime.persistence.records import OrderState, TrackedOrder
from tradefleet_runtime.persistence.store import Flags, StateStoreError
from tradefleet_runtime.service.account import Account, now_ms
from tradefleet_runtime.service.error_policy import ErrorPolicy
from tradefleet_runtime.service.events import EventHub
from tradefleet_runtime.service.healing import HealingAction, HealingCause, HealingLog
from tradefleet_runtime.service.metrics import BotMetrics
from tradefleet_runtime.service.store_access import GuardedStore

LOG = logging.getLogger("tradefleet_runtime.bot")


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if number == 0:
            return text


class OrderSender:
    """The bot's tracked orders and decision ids, and the protocol every order goes out by."""

    def __init__(
        self,
        *,
        config: RuntimeConfig,
        guarded: GuardedStore,
        errors: ErrorPolicy,
        healing: HealingLog,
        metrics: BotMetrics,
        events: EventHub,
        send_refusal: Callable[[], str | None],
        settle_soon: Callable[[], None],
        account: Account,
        flags: Callable[[], Flags],
    ) -> None:
        self.config = config
        self.exchange_id = ccxt_exchange_id(
            exchange=config.exchange.exchange, market=config.exchange.market.value
        )
        self.tracked: dict[str, TrackedOrder] = {}
        # Client order ids this runtime has sent (or tried to), in its current epoch.
        self._sent_ids: set[str] = set()
        self.sequence = 0
        self.epoch = base36(now_ms())
        self._guarded = guarded
        self._errors = errors
        self._healing = healing
        self._metrics = metrics
        self._events = events
        self._send_refusal = send_refusal
        self._settle_soon = settle_soon
        self._account = account
        self._flags = flags

    def _entry_refusal(self) -> str | None:
        """Why an entry may not leave now: asked again before it is resent, and when it waited
        for its turn in the account's orders budget (the bot may have stopped meanwhile)."""
        flags = self._flags()
        if flags.halted:
            return f"the bot is halted: {flags.halt_reason}"
        if flags.paused:
            return f"the bot is paused: {flags.pause_reason}"
        if self._account.risk.breaker.is_open:
            return "the circuit breaker is open"
        return self._send_refusal()

    @property
    def executor(self) -> OrderExecutor:
        executor = self._errors.executor
        assert executor is not None, "the venue is built before orders are sent"
        return executor

    def begin_epoch(self, token: int) -> None:
        """Decision ids of a runtime that has just taken the lease with fencing ``token``: a new
        epoch, so they never repeat, even after Redis lost the last sequence number."""
        self.epoch, self.sequence = base36(token), 0
        self._sent_ids.clear()

    def next_decision_id(self) -> str:
        """The id the next decision's orders will carry (unique across restarts and runtimes)."""
        return f"{self.epoch}-{self.sequence + 1}"

    def _first_send(self, request: OrderRequest, decision_id: str) -> bool:
        """``request`` carries an id of this runtime's epoch it has never sent: no order of
        that id can exist, at the exchange or anywhere (ids of other epochs never repeat)."""
        first = (
            decision_id.startswith(f"{self.epoch}-")
            and request.client_order_id not in self._sent_ids
        )
        self._sent_ids.add(request.client_order_id)
        return first

    def order_id(self, *, decision_id: str, leg: str) -> str:
        return client_order_id(
            exchange=self.exchange_id,
            bot_name=self.config.bot_name,
            decision_id=decision_id,
            leg=leg,
        )

    def ours(self, client_id: str) -> bool:
        return owns(
            exchange=self.exchange_id, bot_name=self.config.bot_name, client_order_id=client_id
        )

    def settle(self, order: Order) -> None:
        """An order that ended: its fee is the bot's, its outcome is counted."""
        self._account.book_fee(order)
        if order.status is OrderStatus.FILLED or (
            order.status is OrderStatus.EXPIRED and order.filled > 0
        ):
            self._metrics.order("filled")
        elif order.status is OrderStatus.CANCELED:
            self._metrics.order("canceled")
        elif order.status in (OrderStatus.REJECTED, OrderStatus.EXPIRED):
            self._metrics.order("rejected")

    async def send(
        self, *, request: OrderRequest, leg: str, decision: Mapping[str, object]
    ) -> Order | None:
        """The order protocol: intent in Redis, then the exchange, then the result in Redis."""
        refusal = self._send_refusal()
        if refusal is not None:
            LOG.warning("order %s not sent: %s", request.client_order_id, refusal)
            return None
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
                error_class=HealingCause.REDIS,
                action=HealingAction.SKIP_DECISION,
                component="redis",
                message=f"order {request.client_order_id} not sent, its intent could not be stored: {error}",
            )
            return None
        self.sequence = sequence
        self.tracked[intent.client_order_id] = intent
        # Checked again after the Redis round trip: the lease must still be fresh as it leaves.
        refusal = self._send_refusal()
        if refusal is not None:
            await self._never_sent(intent=intent, reason=refusal)
            return None
        LOG.info(
            "order intent recorded: %s %s %s %s",
            leg,
            request.side.value,
            request.amount,
            request.client_order_id,
        )
        try:
            # A resend must find the lease as fresh as the first send did.
            order = await self.executor.place(
                request,
                may_send=self._entry_refusal if leg == "entry" else self._send_refusal,
                fresh=self._first_send(request, decision_id),
            )
        except SendRefused as refused:
            if refused.sent_before:
                await self._unanswered(intent=intent, error=refused)
            else:
                await self._never_sent(intent=intent, reason=refused.reason)
            return None
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
        self.settle(order)
        self._note_partial_fill(request=request, order=order)
        fees = self._account.fees()
        await self._guarded.call(
            lambda: store.record_orders(orders=[record], fees=fees), what="recording an order"
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

    async def _never_sent(self, *, intent: TrackedOrder, reason: str) -> None:
        LOG.warning("order %s not sent: %s", intent.client_order_id, reason)
        abandoned = intent.with_state(
            OrderState.ABANDONED, now_ms=now_ms(), note=f"not sent: {reason}"
        )
        self.tracked.pop(intent.client_order_id, None)
        store = self._guarded.store
        await self._guarded.call(
            lambda: store.record_orders(orders=[abandoned]), what="recording an unsent order"
        )

    async def _unanswered(self, *, intent: TrackedOrder, error: ExchangeError) -> None:
        await self._errors.handle(error, component="orders")
        if isinstance(error, TemporaryExchangeError | RateLimitedError):
            # Outcome unknown: the intent stays in flight until a lookup settles it.
            self._metrics.order("failed")
            self._settle_soon()
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
                error_class=HealingCause.PARTIAL_FILL,
                action=HealingAction.ADOPT_FILL,
                component="orders",
                message=(
                    f"{request.client_order_id} filled {order.filled:g} of {request.amount:g}; "
                    "the filled quantity is the position"
                ),
                resolved=True,
            )
