"""Value types of the execution layer: order requests, orders, positions, balances, books.

Produced by the venues (``CcxtVenue``, ``PaperVenue``) and the executor, consumed by the
runtime loop, the risk engine and the health endpoint. Amounts are in base-currency
contracts, prices and money in the quote currency, times in epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    TAKE_PROFIT_MARKET = "take_profit_market"

    @property
    def is_conditional(self) -> bool:
        """Conditional orders wait on the venue for a trigger price."""
        return self in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)


class OrderStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self is not OrderStatus.OPEN


class VenuePositionSide(StrEnum):
    LONG = "long"
    SHORT = "short"


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderRequest:
    """An order the runtime wants on the venue.

    ``amount`` may be ``None`` only for a conditional order with ``close_position`` (it
    closes whatever position exists when it triggers). ``price`` is required for LIMIT,
    ``trigger_price`` for conditional orders.
    """

    symbol: str
    side: OrderSide
    order_type: OrderType
    client_order_id: str
    amount: float | None
    price: float | None = None
    trigger_price: float | None = None
    reduce_only: bool = False
    close_position: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Order:
    """An order as the venue reports it.

    ``status`` FILLED on a conditional order means it triggered; ``triggered_order_id`` then
    names the market order it became (``None`` where the venue does not say). ``fee_cost``
    is in the quote currency, ``None`` where the venue does not report fees on orders (Binance
    reports them on trades) or charges them in a third currency.
    """

    symbol: str
    side: OrderSide
    order_type: OrderType
    status: OrderStatus
    exchange_order_id: str
    client_order_id: str
    amount: float | None
    filled: float
    average_price: float | None
    price: float | None
    trigger_price: float | None
    reduce_only: bool
    fee_cost: float | None
    timestamp_ms: int | None
    triggered_order_id: str | None = None

    @property
    def remaining(self) -> float | None:
        return None if self.amount is None else max(0.0, self.amount - self.filled)


@dataclass(frozen=True, kw_only=True, slots=True)
class VenuePosition:
    """A net position; ``contracts`` is always positive, ``side`` says which way."""

    symbol: str
    side: VenuePositionSide
    contracts: float
    entry_price: float
    mark_price: float | None
    unrealized_pnl: float
    leverage: float | None

    @property
    def signed_contracts(self) -> float:
        return self.contracts if self.side is VenuePositionSide.LONG else -self.contracts


@dataclass(frozen=True, kw_only=True, slots=True)
class Balance:
    """One currency of the account: ``total`` = ``free`` + ``used`` (margin in use)."""

    currency: str
    free: float
    used: float
    total: float


@dataclass(frozen=True, kw_only=True, slots=True)
class BookLevel:
    price: float
    amount: float


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderBook:
    """Best-first bids and asks."""

    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    timestamp_ms: int | None

    @property
    def mid(self) -> float | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2


@dataclass(frozen=True, kw_only=True, slots=True)
class Ticker:
    symbol: str
    last: float | None
    bid: float | None
    ask: float | None
    timestamp_ms: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Candle:
    timestamp_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, kw_only=True, slots=True)
class MarketInfo:
    """Trading rules of one market: lot size, tick size and minimums."""

    symbol: str
    amount_step: float | None
    price_tick: float | None
    min_amount: float | None
    min_notional: float | None
