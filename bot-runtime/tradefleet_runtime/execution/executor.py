"""Idempotent order placement, bounded retries, stop-loss protection and start-up reconciliation.

The runtime loop owns one ``OrderExecutor`` per bot and sends every order through it:

- ``place``: first looks the client order id up (a restart replaying a decision adopts the
  order it already placed); then submits. A ``TemporaryExchangeError`` leaves the outcome
  unknown (timeout, dropped connection, 5xx), so before any resubmission the executor waits
  until the venue can no longer execute the lost request (its submission window, e.g.
  Binance's ``recvWindow``) and looks the id up again: a dropped response never yields a
  second order. A ``DuplicateOrder`` answer adopts the existing order. ``RateLimitedError``
  means the request was refused: back off longer and resend. ``TimestampRefused`` (Binance
  -1021) was refused before it was processed too: resent at once, signed with the exchange's
  time. Retries use exponential backoff with jitter and stop after
  ``RetryPolicy.max_attempts``; authentication, insufficient-funds and invalid-order errors are
  raised at once.
- ``place_stop_loss``: a ``STOP_MARKET`` with ``closePosition`` resting on the venue, so the
  protection survives the bot; ``None`` when the venue cannot hold stops.
- every order sent (a resend included) first waits its turn in the bot's
  :class:`~tradefleet_runtime.execution.order_pacer.OrderPacer`, if its account sets an orders
  budget.
- ``reconcile``: the venue's open orders, positions and balances, and the final state of
  every order the runtime believed open, for the runtime to adopt before trading.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from tradefleet_runtime.execution.errors import (
    DuplicateOrder,
    ErrorClassification,
    ExchangeError,
    OrderNotFound,
    RateLimitedError,
    SendRefused,
    TemporaryExchangeError,
    TimestampRefused,
)
from tradefleet_runtime.execution.model import (
    Balance,
    Order,
    OrderRequest,
    OrderSide,
    OrderType,
    VenuePosition,
    VenuePositionSide,
)
from tradefleet_runtime.execution.order_pacer import OrderPacer
from tradefleet_runtime.execution.signing import SendGate, leave_or_refuse
from tradefleet_runtime.execution.venue import Venue

LOG = logging.getLogger(__name__)
T = TypeVar("T")


class RetryPolicyError(ValueError):
    """A retry policy with out-of-range figures."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter.

    Attempt ``n`` (1-based) that failed waits ``min(max_delay_s, base_delay_s * 2**(n-1))``,
    times ``rate_limit_factor`` when the venue rate-limited us, then scaled by a uniform
    factor in ``[1 - jitter_fraction, 1 + jitter_fraction]``.
    """

    max_attempts: int = 5
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    rate_limit_factor: float = 4.0
    jitter_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise RetryPolicyError("max_attempts must be >= 1")
        if not (0 <= self.jitter_fraction < 1):
            raise RetryPolicyError("jitter_fraction must be in [0, 1)")
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise RetryPolicyError("need 0 <= base_delay_s <= max_delay_s")
        if self.rate_limit_factor < 1:
            raise RetryPolicyError("rate_limit_factor must be >= 1")

    def delay_s(self, *, attempt: int, rate_limited: bool, rng: random.Random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        delay = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        if rate_limited:
            delay *= self.rate_limit_factor
        return delay * rng.uniform(1 - self.jitter_fraction, 1 + self.jitter_fraction)


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderLookup:
    """An order the runtime believes is open (from its own persisted state)."""

    symbol: str
    client_order_id: str
    conditional: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class ReconciliationSnapshot:
    """The venue's view of the account, for the runtime to adopt before trading.

    ``resolved_orders``: tracked orders no longer open, in their final state (filled,
    canceled, expired). ``missing_client_order_ids``: tracked orders the venue has never
    heard of. ``untracked_open_orders``: open on the venue but unknown to the runtime.
    """

    open_orders: tuple[Order, ...]
    untracked_open_orders: tuple[Order, ...]
    resolved_orders: tuple[Order, ...]
    missing_client_order_ids: tuple[str, ...]
    positions: tuple[VenuePosition, ...]
    balances: tuple[Balance, ...]
    taken_at_ms: int


class OrderExecutor:
    """Sends orders to one venue idempotently, with bounded retries."""

    def __init__(
        self,
        *,
        venue: Venue,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        pacer: OrderPacer | None = None,
    ) -> None:
        self.venue = venue
        # The bot's share of its account's orders per second: every order sent waits its turn.
        self._pacer = pacer
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self.errors_by_classification: Counter[ErrorClassification] = Counter()
        self.last_error: ExchangeError | None = None

    def _record(self, error: ExchangeError) -> None:
        self.errors_by_classification[error.classification] += 1
        self.last_error = error

    async def _with_retries(self, *, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """``operation`` retried on temporary and rate-limit errors (for reads and cancels)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await operation()
            except SendRefused:
                raise
            except (TemporaryExchangeError, RateLimitedError) as error:
                self._record(error)
                if attempt >= self._retry.max_attempts:
                    raise
                delay = self._retry.delay_s(
                    attempt=attempt,
                    rate_limited=isinstance(error, RateLimitedError),
                    rng=self._rng,
                )
                LOG.warning(
                    "%s on %s failed (%s), attempt %d, retrying in %.2fs",
                    what,
                    self.venue.name,
                    error.classification.value,
                    attempt,
                    delay,
                )
                await self._sleep(delay)
            except ExchangeError as error:
                self._record(error)
                raise

    async def _lookup(
        self, *, symbol: str, client_order_id: str, conditional: bool
    ) -> Order | None:
        """The order with this client order id, or ``None`` if the venue has none."""

        async def fetch() -> Order | None:
            try:
                return await self.venue.fetch_order(
                    symbol=symbol, client_order_id=client_order_id, conditional=conditional
                )
            except OrderNotFound:
                return None

        return await self._with_retries(what=f"lookup of {client_order_id}", operation=fetch)

    async def lookup(self, lookup: OrderLookup) -> Order | None:
        """What the venue says of one order now (retried like every call), ``None`` if it has
        no such order."""
        return await self._lookup(
            symbol=lookup.symbol,
            client_order_id=lookup.client_order_id,
            conditional=lookup.conditional,
        )

    async def _lookup_request(self, request: OrderRequest) -> Order | None:
        return await self._lookup(
            symbol=request.symbol,
            client_order_id=request.client_order_id,
            conditional=request.order_type.is_conditional,
        )

    # Over the complexity limit on purpose: the send protocol is one retry loop whose except arms
    # are the protocol; apart, the order of lookups and resends would be hidden.
    async def place(  # noqa: C901, PLR0912
        self,
        request: OrderRequest,
        *,
        may_send: SendGate | None = None,
        fresh: bool = False,
    ) -> Order:
        """The venue's order for ``request``: placed once, or adopted if it already exists.
        ``may_send`` is asked as each attempt leaves (the venue asks it once the request is
        signed), and already before a resend or a send that waited for its turn in the orders
        budget (a retry can come seconds after the first attempt, a hung process's much
        later): a reason not to send raises :class:`SendRefused`. ``fresh``: the caller has
        never sent this client order id, so there is nothing to adopt and it is sent without
        the look-up (which, failing, would otherwise keep an urgent close from leaving at all).
        """
        existing = None if fresh else await self._lookup_request(request)
        if existing is not None:
            LOG.info(
                "adopting existing order %s (%s)", request.client_order_id, existing.status.value
            )
            return existing
        attempt = 0
        while True:
            attempt += 1
            waited = await self._pacer.wait() if self._pacer is not None else 0.0
            # Asked again after a wait for the order's turn too: the bot may have halted since.
            refusal = may_send() if may_send is not None and (attempt > 1 or waited) else None
            if refusal is not None:
                raise SendRefused(
                    what=f"order {request.client_order_id}",
                    reason=refusal,
                    sent_before=attempt > 1,
                )
            sent_at = self._clock()
            try:
                order = await self.venue.create_order(request, may_send=may_send)
            except SendRefused as refused:
                # Refused as it left; an earlier attempt may still have executed.
                refused.sent_before = attempt > 1
                raise
            except DuplicateOrder as error:
                self._record(error)
                found = await self._lookup_request(request)
                if found is None:
                    raise
                LOG.info(
                    "order %s already open on %s, adopting it",
                    request.client_order_id,
                    self.venue.name,
                )
                return found
            except (TimestampRefused, RateLimitedError) as error:
                # Refused before it was processed: nothing to wait out or look up. After a
                # timestamp refusal the venue has measured the clock difference: resend now.
                self._record(error)
                if attempt >= self._retry.max_attempts:
                    raise
                rate_limited = isinstance(error, RateLimitedError)
                delay = (
                    self._retry.delay_s(attempt=attempt, rate_limited=True, rng=self._rng)
                    if rate_limited
                    else 0.0
                )
                LOG.warning(
                    "order %s %s, attempt %d, resending in %.2fs",
                    request.client_order_id,
                    "rate-limited" if rate_limited else "refused for its timestamp",
                    attempt,
                    delay,
                )
                if delay:
                    await self._sleep(delay)
            except TemporaryExchangeError as error:
                self._record(error)
                found = await self._after_unknown_outcome(
                    request, error=error, attempt=attempt, sent_at=sent_at
                )
                if found is not None:
                    return found
                if attempt >= self._retry.max_attempts:
                    raise
            except ExchangeError as error:
                self._record(error)
                raise
            else:
                LOG.info(
                    "placed %s %s %s on %s: %s",
                    request.order_type.value,
                    request.side.value,
                    request.client_order_id,
                    self.venue.name,
                    order.status.value,
                )
                return order

    async def _after_unknown_outcome(
        self, request: OrderRequest, *, error: ExchangeError, attempt: int, sent_at: float
    ) -> Order | None:
        """The order, if the unanswered attempt executed after all: looked up once the venue
        can no longer execute it (its submission window since ``sent_at``)."""
        delay = self._retry.delay_s(attempt=attempt, rate_limited=False, rng=self._rng)
        expiry = sent_at + self.venue.submission_window_s - self._clock()
        LOG.warning(
            "order %s outcome unknown (%s), attempt %d; checking the venue in %.2fs",
            request.client_order_id,
            error.classification.value,
            attempt,
            max(delay, expiry),
        )
        await self._sleep(max(delay, expiry))
        found = await self._lookup_request(request)
        if found is not None:
            LOG.info(
                "order %s was executed despite the error, adopting it", request.client_order_id
            )
        return found

    async def cancel(
        self,
        *,
        symbol: str,
        client_order_id: str,
        conditional: bool = False,
        may_send: SendGate | None = None,
    ) -> Order:
        """Cancel an order; an order already final (filled, canceled…) is returned as it is.
        ``may_send`` is asked first, and again as each attempt leaves (:class:`SendRefused`,
        not retried): a refused cancel does not wait its turn in ccxt's rate limiter."""
        leave_or_refuse(may_send, what=f"cancel of {client_order_id}")

        async def cancel_or_report() -> Order:
            try:
                return await self.venue.cancel_order(
                    symbol=symbol,
                    client_order_id=client_order_id,
                    conditional=conditional,
                    may_send=may_send,
                )
            except OrderNotFound:
                order = await self.venue.fetch_order(
                    symbol=symbol, client_order_id=client_order_id, conditional=conditional
                )
                if not order.status.is_final:
                    raise
                return order

        return await self._with_retries(
            what=f"cancel of {client_order_id}", operation=cancel_or_report
        )

    async def place_stop_loss(
        self,
        *,
        symbol: str,
        position_side: VenuePositionSide,
        trigger_price: float,
        client_order_id: str,
    ) -> Order | None:
        """A stop that closes the whole position on the venue; ``None`` if the venue has no
        resting stops (the runtime must then watch the stop itself)."""
        if not self.venue.supports_exchange_stops:
            return None
        side = OrderSide.SELL if position_side is VenuePositionSide.LONG else OrderSide.BUY
        return await self.place(
            OrderRequest(
                symbol=symbol,
                side=side,
                order_type=OrderType.STOP_MARKET,
                client_order_id=client_order_id,
                amount=None,
                trigger_price=trigger_price,
                close_position=True,
            )
        )

    async def positions(self, *, symbols: Sequence[str]) -> list[VenuePosition]:
        """The venue's open positions in ``symbols``."""
        return await self._with_retries(
            what="positions",
            operation=functools.partial(self.venue.fetch_positions, symbols=symbols),
        )

    async def reconcile(
        self, *, symbols: Sequence[str], tracked: Sequence[OrderLookup]
    ) -> ReconciliationSnapshot:
        """What the venue holds now, and what became of every tracked order."""
        open_orders: list[Order] = []
        for symbol in symbols:
            open_orders.extend(
                await self._with_retries(
                    what=f"open orders of {symbol}",
                    operation=functools.partial(self.venue.fetch_open_orders, symbol=symbol),
                )
            )
        positions = await self.positions(symbols=symbols)
        balances = await self._with_retries(what="balances", operation=self.venue.fetch_balances)
        open_ids = {o.client_order_id for o in open_orders}
        tracked_ids = {t.client_order_id for t in tracked}
        resolved: list[Order] = []
        missing: list[str] = []
        for item in tracked:
            if item.client_order_id in open_ids:
                continue
            found = await self._lookup(
                symbol=item.symbol,
                client_order_id=item.client_order_id,
                conditional=item.conditional,
            )
            if found is None:
                missing.append(item.client_order_id)
            else:
                resolved.append(found)
        return ReconciliationSnapshot(
            open_orders=tuple(open_orders),
            untracked_open_orders=tuple(
                o for o in open_orders if o.client_order_id not in tracked_ids
            ),
            resolved_orders=tuple(resolved),
            missing_client_order_ids=tuple(missing),
            positions=tuple(positions),
            balances=tuple(balances.values()),
            taken_at_ms=int(time.time() * 1000),
        )
