"""Records the local exchange keeps: orders, fills, positions, and the errors it answers with.

Dev/test tooling only. The matching engine (``tradefleet_devtools.exchange.engine``) creates
and updates these records; the route modules render them as Binance JSON and the ledger
(``tradefleet_devtools.exchange.ledger``) renders them for invariant checks. Records the
engine mutates as orders progress are plain dataclasses; the rest are frozen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


class RejectionError(Exception):
    """A request the exchange refuses, with Binance's error code, message and HTTP status."""

    def __init__(self, *, code: int, message: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status

    @classmethod
    def missing(cls, key: str) -> RejectionError:
        return cls(
            code=-1102,
            message=f"Mandatory parameter '{key}' was not sent, was empty/null, or malformed.",
        )

    @classmethod
    def illegal(cls, key: str) -> RejectionError:
        return cls(code=-1100, message=f"Illegal characters found in parameter '{key}'.")

    @classmethod
    def unknown_order(cls) -> RejectionError:
        return cls(code=-2013, message="Order does not exist.")


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineConfig:
    """Account and fee parameters of the simulated exchange."""

    starting_balance: Decimal = Decimal(10_000)
    maker_fee_rate: Decimal = Decimal("0.0002")
    taker_fee_rate: Decimal = Decimal("0.0005")
    default_leverage: int = 20
    max_leverage: int = 125
    step_ms: int = 1_000


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderOrigin:
    """Who sent an order and with which request window, kept for the ledger.

    ``sender`` is the ``X-Tradefleet-Sender`` header: tests tag each runtime process with it
    so an invariant check can tell whose order the exchange executed.
    """

    api_key: str | None = None
    sender: str | None = None
    request_timestamp_ms: int | None = None
    recv_window_ms: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderTicket:
    """The parameters of one regular (MARKET or LIMIT) order as the client sent them."""

    symbol: str
    side: str
    order_type: str
    qty: Decimal
    price: Decimal | None
    time_in_force: str
    reduce_only: bool
    client_order_id: str
    origin: OrderOrigin = field(default_factory=OrderOrigin)
    algo_id: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SlowFill:
    """Spread an order's fills: ``steps`` lots, the first at once, the last ``seconds`` later."""

    seconds: float
    steps: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Lot:
    """A part of a slowly filled order, due at ``due_ms``."""

    due_ms: int
    qty: Decimal


@dataclass(kw_only=True, slots=True)
class ExchangeOrder:
    """A regular (non-conditional) order as the exchange books it."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    qty: Decimal
    price: Decimal
    reduce_only: bool
    status: str
    created_ms: int
    updated_ms: int
    received_ms: int
    origin: OrderOrigin = field(default_factory=OrderOrigin)
    algo_id: int | None = None
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    # Lots still to fill (slow_fill); while any is left the order is not matched as resting.
    lots: list[Lot] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed_qty if self.executed_qty else Decimal(0)


@dataclass(kw_only=True, slots=True)
class HeldOrder:
    """An order received but not booked yet (``late_execution``): it sits in the matching
    queue until ``due_ms`` and is booked then only if ``due_ms <= deadline_ms`` (the end of
    the request's receive window on the exchange's clock), else dropped.

    ``status``: ``HELD`` while queued, then ``BOOKED`` (``order_id`` set), ``DROPPED`` (its
    window had passed) or ``REJECTED`` (the engine refused it then, ``rejection`` says why).
    """

    ticket: OrderTicket
    received_ms: int
    due_ms: int
    deadline_ms: int
    status: str = "HELD"
    order_id: int | None = None
    rejection: str | None = None


@dataclass(kw_only=True, slots=True)
class AlgoOrder:
    """A conditional order waiting for its trigger (Binance's algo order API)."""

    algo_id: int
    client_algo_id: str
    symbol: str
    side: str
    order_type: str
    qty: Decimal
    trigger_price: Decimal
    reduce_only: bool
    close_position: bool
    status: str
    created_ms: int
    updated_ms: int
    origin: OrderOrigin = field(default_factory=OrderOrigin)
    trigger_ms: int = 0
    actual_order_id: int | None = None
    actual_price: Decimal | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "NEW"


@dataclass(frozen=True, kw_only=True, slots=True)
class Fill:
    """One execution of one order (a Binance user trade)."""

    trade_id: int
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    realized_pnl: Decimal
    maker: bool
    time_ms: int


@dataclass(kw_only=True, slots=True)
class ExchangePosition:
    """Net one-way position of one symbol; ``amount`` is signed (negative = short)."""

    symbol: str
    leverage: int
    amount: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    updated_ms: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountSummary:
    """Wallet figures in the quote currency (USDT)."""

    wallet_balance: Decimal
    unrealized_pnl: Decimal
    position_initial_margin: Decimal
    open_order_initial_margin: Decimal
    updated_ms: int

    @property
    def margin_balance(self) -> Decimal:
        return self.wallet_balance + self.unrealized_pnl

    @property
    def initial_margin(self) -> Decimal:
        return self.position_initial_margin + self.open_order_initial_margin

    @property
    def available_balance(self) -> Decimal:
        return max(Decimal(0), self.margin_balance - self.initial_margin)
