"""Paper trading: a ``Venue`` that simulates fills against the live order book.

Used by the runtime when a TradingBot's mode is ``paper`` (the default). Market data comes
from another venue (a ``CcxtVenue`` in ``market_data`` mode, reading the real exchange's
public endpoints); orders, positions and balances are simulated here. Taker orders walk
the fetched book level by level (so size costs slippage) and pay the taker fee; limit
orders take what crosses and rest the remainder, which fills as maker at its limit price
once the book crosses it; conditional orders trigger on the mid price and execute as
market orders. Resting and conditional orders are matched whenever the venue next reads
the symbol's book, i.e. on every call that concerns the symbol. One-way positions, cross
margin in the quote currency; no liquidation or funding.

The account (wallet, positions, leverage, open and recent orders, the exchange order id
counter) is a :class:`PaperAccount`. Given a :class:`PaperJournal` (the runtime's is Redis,
:class:`~tradefleet_runtime.persistence.store.StorePaperJournal`), every call that changed the
account — an order, a cancel, a leverage change, or a read that filled a resting order or
triggered a stop — saves it before returning, so a process killed right after an answer loses
nothing. When the journal cannot save, the call raises :class:`PaperAccountSaveError` (a
temporary error: retry) and the account is as it was before the call. A venue built with a
saved ``account`` continues it (``starting_balance`` does not apply then); without a journal
the account lives in memory only. Final orders beyond the newest ``FINAL_ORDERS_KEPT`` are
forgotten, as exchanges forget old orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from tradefleet_runtime.execution.errors import (
    DuplicateOrder,
    InsufficientFunds,
    InvalidOrderError,
    OrderNotFound,
    TemporaryExchangeError,
    VenueConfigurationError,
)
from tradefleet_runtime.execution.model import (
    Balance,
    BookLevel,
    Candle,
    MarketInfo,
    Order,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Ticker,
    VenuePosition,
    VenuePositionSide,
)
from tradefleet_runtime.execution.signing import SendGate, leave_or_refuse
from tradefleet_runtime.execution.venue import Venue, check_order_request

EXCHANGE_ORDER_ID_PREFIX = "paper-"
FINAL_ORDERS_KEPT = 500


class PaperAccountSaveError(TemporaryExchangeError):
    """The journal could not save the paper account: the call changed nothing; retry later."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PaperFees:
    """Fee rates as fractions of notional (Binance USDⓈ-M defaults)."""

    maker_rate: float = 0.0002
    taker_rate: float = 0.0005


@dataclass(frozen=True, kw_only=True, slots=True)
class PaperExposure:
    """A net position: ``amount`` signed contracts (negative: short) at ``entry_price``."""

    amount: float = 0.0
    entry_price: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class PaperAccount:
    """Everything a paper venue remembers: what its journal saves and a restart continues.

    ``wallet`` is the balance with realised PnL and fees booked; ``orders`` are oldest first
    (every open order and the newest final ones); the next order's exchange order id is
    ``paper-<next_order_number>``.
    """

    quote_currency: str
    wallet: float
    exposures: Mapping[str, PaperExposure]
    leverage: Mapping[str, int]
    orders: tuple[Order, ...]
    next_order_number: int


class PaperJournal(Protocol):
    """Where a paper venue makes its account durable."""

    async def save(self, *, account: PaperAccount, previous: PaperAccount | None) -> None:
        """Store ``account`` before returning; ``previous`` is the account saved last (``None``:
        unknown, store everything). Raises :class:`PaperAccountSaveError` when it could not."""


class PaperVenue(Venue):
    """Simulated account trading against another venue's live order book."""

    def __init__(
        self,
        *,
        market_data: Venue,
        starting_balance: float,
        quote_currency: str = "USDT",
        fees: PaperFees | None = None,
        default_leverage: int = 1,
        book_depth: int = 50,
        clock: Callable[[], float] = time.time,
        account: PaperAccount | None = None,
        journal: PaperJournal | None = None,
    ) -> None:
        if not (starting_balance >= 0 and math.isfinite(starting_balance)):
            raise VenueConfigurationError(
                f"starting_balance must be >= 0, got {starting_balance!r}"
            )
        if default_leverage < 1:
            raise VenueConfigurationError("default_leverage must be >= 1")
        if account is not None and account.quote_currency != quote_currency:
            raise VenueConfigurationError(
                f"the paper account is in {account.quote_currency}, not {quote_currency}"
            )
        self._market_data = market_data
        self._quote = quote_currency
        self._fees = fees or PaperFees()
        self._default_leverage = default_leverage
        self._book_depth = book_depth
        self._clock = clock
        self._journal = journal
        # The account last saved (None until a new account's first save), and whether the
        # journal may hold part of a failed save since, so that the next save writes it whole.
        self._saved = account
        self._journal_in_doubt = False
        self._restore(
            account
            or PaperAccount(
                quote_currency=quote_currency,
                wallet=starting_balance,
                exposures={},
                leverage={},
                orders=(),
                next_order_number=1,
            )
        )
        self._mids: dict[str, float] = {}
        self._markets: dict[str, MarketInfo] = {}
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return f"paper({self._market_data.name})"

    @property
    def supports_exchange_stops(self) -> bool:
        return True

    @property
    def submission_window_s(self) -> float:
        return 0.0

    @property
    def account(self) -> PaperAccount:
        """The account as it is now."""
        return PaperAccount(
            quote_currency=self._quote,
            wallet=self._wallet,
            exposures=dict(self._exposures),
            leverage=dict(self._leverage),
            orders=tuple(self._orders),
            next_order_number=self._next_order_number,
        )

    def _restore(self, account: PaperAccount) -> None:
        self._wallet = account.wallet
        self._exposures = dict(account.exposures)
        self._leverage = dict(account.leverage)
        self._orders = list(account.orders)
        self._next_order_number = account.next_order_number

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # ------------------------------------------------------------------ persistence

    @contextlib.asynccontextmanager
    async def _changing_account(self) -> AsyncIterator[None]:
        """One call at a time on the account; what it changed is saved before it returns,
        also when it raises (a read may have triggered a stop before the error)."""
        async with self._lock:
            before = self.account
            try:
                yield
            finally:
                await self._save(before=before)

    async def _save(self, *, before: PaperAccount) -> None:
        self._forget_old_orders()
        account = self.account
        if self._journal is None or account == self._saved:
            return
        previous = None if self._journal_in_doubt else self._saved
        try:
            await self._journal.save(account=account, previous=previous)
        except BaseException:
            # The call must not have happened: undo it.
            self._restore(before)
            self._journal_in_doubt = True
            raise
        self._saved, self._journal_in_doubt = account, False

    def _forget_old_orders(self) -> None:
        excess = sum(1 for o in self._orders if o.status is not OrderStatus.OPEN)
        excess -= FINAL_ORDERS_KEPT
        if excess <= 0:
            return
        kept = []
        for order in self._orders:
            if excess > 0 and order.status is not OrderStatus.OPEN:
                excess -= 1
                continue
            kept.append(order)
        self._orders = kept

    # ------------------------------------------------------------------ market data

    async def load_markets(self) -> dict[str, MarketInfo]:
        self._markets = await self._market_data.load_markets()
        return self._markets

    async def fetch_order_book(self, *, symbol: str, depth: int = 20) -> OrderBook:
        return await self._market_data.fetch_order_book(symbol=symbol, depth=depth)

    async def fetch_ticker(self, *, symbol: str) -> Ticker:
        return await self._market_data.fetch_ticker(symbol=symbol)

    async def fetch_ohlcv(
        self, *, symbol: str, timeframe: str = "1m", limit: int = 100
    ) -> list[Candle]:
        return await self._market_data.fetch_ohlcv(symbol=symbol, timeframe=timeframe, limit=limit)

    # ------------------------------------------------------------------- accounting

    def _leverage_of(self, symbol: str) -> int:
        return self._leverage.get(symbol, self._default_leverage)

    def _exposure(self, symbol: str) -> PaperExposure:
        return self._exposures.get(symbol, PaperExposure())

    def _unrealized(self) -> float:
        return sum(
            (self._mids.get(s, e.entry_price) - e.entry_price) * e.amount
            for s, e in self._exposures.items()
        )

    def _margin_in_use(self) -> float:
        positions = sum(
            abs(e.amount) * self._mids.get(s, e.entry_price) / self._leverage_of(s)
            for s, e in self._exposures.items()
        )
        resting = sum(
            (o.remaining or 0.0) * (o.price or 0.0) / self._leverage_of(o.symbol)
            for o in self._orders
            if o.status is OrderStatus.OPEN
            and o.order_type is OrderType.LIMIT
            and not o.reduce_only
        )
        return positions + resting

    def _available(self) -> float:
        return max(0.0, self._wallet + self._unrealized() - self._margin_in_use())

    def _reducible(self, *, symbol: str, side: OrderSide) -> float:
        amount = self._exposure(symbol).amount
        if (side is OrderSide.SELL and amount > 0) or (side is OrderSide.BUY and amount < 0):
            return abs(amount)
        return 0.0

    def _apply_fill(
        self, *, symbol: str, side: OrderSide, price: float, amount: float, maker: bool
    ) -> float:
        """Book one execution; returns its fee."""
        exposure = self._exposure(symbol)
        signed = amount if side is OrderSide.BUY else -amount
        old = exposure.amount
        realized = 0.0
        if old == 0 or (old > 0) == (signed > 0):
            entry = (abs(old) * exposure.entry_price + amount * price) / (abs(old) + amount)
        else:
            closing = min(amount, abs(old))
            realized = closing * (price - exposure.entry_price) * (1.0 if old > 0 else -1.0)
            entry = price if amount > abs(old) else exposure.entry_price
        new_amount = old + signed
        if math.isclose(new_amount, 0.0, abs_tol=1e-12):
            self._exposures.pop(symbol, None)
        else:
            self._exposures[symbol] = PaperExposure(amount=new_amount, entry_price=entry)
        fee = price * amount * (self._fees.maker_rate if maker else self._fees.taker_rate)
        self._wallet += realized - fee
        return fee

    def _take(
        self, *, order: Order, levels: Sequence[BookLevel], cap: float, limit: float | None
    ) -> Order:
        """``order`` after walking ``levels`` for up to ``cap`` contracts as taker."""
        filled, cost, fees = order.filled, (order.average_price or 0.0) * order.filled, 0.0
        for level in levels:
            if cap - filled <= 1e-12:
                break
            if limit is not None and (
                level.price > limit if order.side is OrderSide.BUY else level.price < limit
            ):
                break
            amount = min(level.amount, cap - filled)
            fees += self._apply_fill(
                symbol=order.symbol, side=order.side, price=level.price, amount=amount, maker=False
            )
            filled += amount
            cost += amount * level.price
        return replace(
            order,
            filled=filled,
            average_price=cost / filled if filled else None,
            fee_cost=(order.fee_cost or 0.0) + fees,
        )

    # --------------------------------------------------------------------- matching

    async def _sync(self, symbol: str) -> OrderBook:
        """Read the book, then fill resting limits and trigger conditional orders it crosses."""
        book = await self._market_data.fetch_order_book(symbol=symbol, depth=self._book_depth)
        mid = book.mid
        if mid is None:
            return book
        self._mids[symbol] = mid
        for index, order in enumerate(self._orders):
            if order.symbol != symbol or order.status is not OrderStatus.OPEN:
                continue
            if order.order_type is OrderType.LIMIT:
                self._orders[index] = self._fill_resting(order=order, book=book)
            elif (
                order.order_type.is_conditional
                and order.trigger_price is not None
                and (_triggered(order=order, mid=mid))
            ):
                self._orders[index] = self._trigger(order=order, book=book)
        return book

    def _fill_resting(self, *, order: Order, book: OrderBook) -> Order:
        assert order.price is not None and order.amount is not None
        best = book.asks[0].price if order.side is OrderSide.BUY else book.bids[0].price
        crossed = best <= order.price if order.side is OrderSide.BUY else best >= order.price
        if not crossed:
            return order
        amount = order.amount - order.filled
        if order.reduce_only:
            amount = min(amount, self._reducible(symbol=order.symbol, side=order.side))
        fee = (
            self._apply_fill(
                symbol=order.symbol, side=order.side, price=order.price, amount=amount, maker=True
            )
            if amount > 0
            else 0.0
        )
        filled = order.filled + amount
        cost = (order.average_price or 0.0) * order.filled + amount * order.price
        return replace(
            order,
            filled=filled,
            average_price=cost / filled if filled else None,
            fee_cost=(order.fee_cost or 0.0) + fee,
            status=OrderStatus.FILLED if filled >= order.amount - 1e-12 else OrderStatus.EXPIRED,
        )

    def _trigger(self, *, order: Order, book: OrderBook) -> Order:
        reducible = self._reducible(symbol=order.symbol, side=order.side)
        if order.amount is None:
            cap = reducible
        elif order.reduce_only:
            cap = min(order.amount, reducible)
        else:
            cap = order.amount
        if cap <= 0:
            return replace(order, status=OrderStatus.EXPIRED)
        levels = book.asks if order.side is OrderSide.BUY else book.bids
        executed = self._take(order=order, levels=levels, cap=cap, limit=None)
        return replace(
            executed,
            status=OrderStatus.FILLED,
            triggered_order_id=f"{order.exchange_order_id}-triggered",
        )

    # ----------------------------------------------------------------------- orders

    def _find(self, *, symbol: str, client_order_id: str) -> int:
        for index in range(len(self._orders) - 1, -1, -1):
            order = self._orders[index]
            if order.symbol == symbol and order.client_order_id == client_order_id:
                return index
        raise OrderNotFound(f"paper: no order {client_order_id} on {symbol}")

    def _round_amount(self, *, symbol: str, amount: float) -> float:
        market = self._markets.get(symbol)
        if market is None or market.amount_step is None:
            return amount
        steps = math.floor(amount / market.amount_step + 1e-9)
        return round(steps * market.amount_step, 12)

    async def set_leverage(self, *, symbol: str, leverage: int) -> None:
        if leverage < 1:
            raise InvalidOrderError(f"leverage must be >= 1, got {leverage}")
        async with self._changing_account():
            self._leverage[symbol] = leverage

    async def create_order(
        self, request: OrderRequest, *, may_send: SendGate | None = None
    ) -> Order:
        check_order_request(request)
        if not self._markets:
            await self.load_markets()
        if request.symbol not in self._markets:
            raise InvalidOrderError(f"paper: unknown symbol {request.symbol}")
        async with self._changing_account():
            return await self._place(request, may_send=may_send)

    def _refuse_duplicates(self, request: OrderRequest) -> None:
        """A client order id that is open, or a second closePosition order, is refused."""
        if any(
            o.client_order_id == request.client_order_id and o.status is OrderStatus.OPEN
            for o in self._orders
        ):
            raise DuplicateOrder(f"paper: client order id {request.client_order_id} is open")
        if request.close_position and any(
            o.status is OrderStatus.OPEN
            and o.amount is None
            and (o.symbol, o.side, o.order_type)
            == (request.symbol, request.side, request.order_type)
            for o in self._orders
        ):
            # As Binance (-4130): one closePosition order per type and side, so a stop placed
            # again (a restart, a lost reply) never doubles.
            raise InvalidOrderError(
                f"paper: {request.client_order_id}: a closePosition {request.order_type.value} "
                f"{request.side.value} is already open"
            )

    async def _place(self, request: OrderRequest, *, may_send: SendGate | None) -> Order:
        self._refuse_duplicates(request)
        book = await self._sync(request.symbol)
        leave_or_refuse(may_send, what=f"order {request.client_order_id}")
        amount = (
            None
            if request.amount is None
            else self._round_amount(symbol=request.symbol, amount=request.amount)
        )
        if amount is not None and amount <= 0:
            raise InvalidOrderError(f"{request.client_order_id}: amount rounds to zero")
        mid = book.mid
        if mid is None:
            raise InvalidOrderError(f"paper: the {request.symbol} book is empty")
        order = Order(
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            status=OrderStatus.OPEN,
            exchange_order_id=f"{EXCHANGE_ORDER_ID_PREFIX}{self._next_order_number}",
            client_order_id=request.client_order_id,
            amount=amount,
            filled=0.0,
            average_price=None,
            price=request.price,
            trigger_price=request.trigger_price,
            reduce_only=request.reduce_only or request.close_position,
            fee_cost=0.0,
            timestamp_ms=self._now_ms(),
        )
        self._next_order_number += 1
        if request.order_type.is_conditional:
            if _triggered(order=order, mid=mid):
                raise InvalidOrderError(f"{request.client_order_id}: would trigger immediately")
            self._orders.append(order)
            return order
        assert amount is not None
        cap = amount
        if order.reduce_only:
            cap = self._reducible(symbol=order.symbol, side=order.side)
            if cap <= 0:
                raise InvalidOrderError(f"{request.client_order_id}: reduce-only would not reduce")
            cap = min(cap, amount)
        else:
            self._check_margin(order=order, amount=amount, book=book)
        levels = book.asks if order.side is OrderSide.BUY else book.bids
        executed = self._take(order=order, levels=levels, cap=cap, limit=request.price)
        if executed.filled >= amount - 1e-12:
            status = OrderStatus.FILLED
        elif request.order_type is OrderType.LIMIT and not order.reduce_only:
            status = OrderStatus.OPEN
        else:
            status = OrderStatus.EXPIRED
        executed = replace(executed, status=status)
        self._orders.append(executed)
        return executed

    def _check_margin(self, *, order: Order, amount: float, book: OrderBook) -> None:
        reference = order.price or (
            book.asks[0].price if order.side is OrderSide.BUY else book.bids[0].price
        )
        exposure = self._exposure(order.symbol).amount
        signed = amount if order.side is OrderSide.BUY else -amount
        increase = max(0.0, abs(exposure + signed) - abs(exposure))
        required = (
            increase * reference / self._leverage_of(order.symbol)
            + amount * reference * self._fees.taker_rate
        )
        if increase and required > self._available():
            raise InsufficientFunds(
                f"{order.client_order_id}: needs {required:.2f} {self._quote} of margin, "
                f"{self._available():.2f} available"
            )

    async def fetch_order(
        self, *, symbol: str, client_order_id: str, conditional: bool = False
    ) -> Order:
        async with self._changing_account():
            await self._sync(symbol)
            return self._orders[self._find(symbol=symbol, client_order_id=client_order_id)]

    async def cancel_order(
        self,
        *,
        symbol: str,
        client_order_id: str,
        conditional: bool = False,
        may_send: SendGate | None = None,
    ) -> Order:
        async with self._changing_account():
            await self._sync(symbol)
            leave_or_refuse(may_send, what=f"cancel of {client_order_id}")
            index = self._find(symbol=symbol, client_order_id=client_order_id)
            order = self._orders[index]
            if order.status is not OrderStatus.OPEN:
                raise OrderNotFound(f"paper: order {client_order_id} is {order.status.value}")
            canceled = replace(order, status=OrderStatus.CANCELED)
            self._orders[index] = canceled
            return canceled

    async def fetch_open_orders(self, *, symbol: str) -> list[Order]:
        async with self._changing_account():
            await self._sync(symbol)
            return [o for o in self._orders if o.symbol == symbol and o.status is OrderStatus.OPEN]

    async def fetch_positions(self, *, symbols: Sequence[str]) -> list[VenuePosition]:
        async with self._changing_account():
            for symbol in symbols:
                await self._sync(symbol)
            return [self._position(symbol) for symbol in symbols if symbol in self._exposures]

    def _position(self, symbol: str) -> VenuePosition:
        exposure = self._exposures[symbol]
        mark = self._mids.get(symbol)
        return VenuePosition(
            symbol=symbol,
            side=VenuePositionSide.LONG if exposure.amount > 0 else VenuePositionSide.SHORT,
            contracts=abs(exposure.amount),
            entry_price=exposure.entry_price,
            mark_price=mark,
            unrealized_pnl=((mark or exposure.entry_price) - exposure.entry_price)
            * exposure.amount,
            leverage=float(self._leverage_of(symbol)),
        )

    async def fetch_balances(self) -> dict[str, Balance]:
        async with self._changing_account():
            for symbol in {
                *self._exposures,
                *(o.symbol for o in self._orders if o.status is OrderStatus.OPEN),
            }:
                await self._sync(symbol)
            used = self._margin_in_use()
            total = self._wallet + self._unrealized()
        return {
            self._quote: Balance(
                currency=self._quote, free=max(0.0, total - used), used=used, total=total
            )
        }

    async def close(self) -> None:
        """Close the market-data venue this paper venue reads from."""
        await self._market_data.close()


def _triggered(*, order: Order, mid: float) -> bool:
    assert order.trigger_price is not None
    falls = (order.order_type is OrderType.STOP_MARKET) == (order.side is OrderSide.SELL)
    return mid <= order.trigger_price if falls else mid >= order.trigger_price
