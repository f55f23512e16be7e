"""The records the bot persists: tracked orders, its net position, its account balance, and in
paper mode the simulated account itself.

Built by the bot service (:mod:`tradefleet_runtime.service.bot`) and, for the paper account,
by :class:`~tradefleet_runtime.execution.paper.PaperVenue`; written and read by
:mod:`tradefleet_runtime.persistence.store` as JSON. ``from_dict`` (and
:func:`paper_account_from_dict`) raise :class:`StateFormatError` naming the field, so corrupt
Redis content is reported, not crashed on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeVar

from tradefleet_runtime.execution.model import (
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from tradefleet_runtime.execution.paper import (
    EXCHANGE_ORDER_ID_PREFIX,
    PaperAccount,
    PaperExposure,
)

# Version of the paper account's layout; a runtime refuses a layout it does not know.
PAPER_ACCOUNT_FORMAT = 1
_PAPER_ORDER_ID = re.compile(rf"^{re.escape(EXCHANGE_ORDER_ID_PREFIX)}([1-9][0-9]*)$")
E = TypeVar("E", bound=StrEnum)


class StateFormatError(ValueError):
    """A persisted record is malformed; the message names the field."""


class OrderState(StrEnum):
    """``intent``: written before sending, outcome unknown until the exchange answers or a
    reconciliation finds it; ``abandoned``: the exchange never saw it (reconciliation)."""

    INTENT = "intent"
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    ABANDONED = "abandoned"

    @property
    def unresolved(self) -> bool:
        return self in (OrderState.INTENT, OrderState.OPEN)


def _field(data: Mapping[str, object], key: str) -> object:
    if key not in data:
        raise StateFormatError(f"field {key!r} is missing")
    return data[key]


def _str(data: Mapping[str, object], key: str) -> str:
    value = _field(data, key)
    if not isinstance(value, str):
        raise StateFormatError(f"field {key!r} must be a string, got {value!r}")
    return value


def _opt_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise StateFormatError(f"field {key!r} must be a string or null, got {value!r}")
    return value


def _float(data: Mapping[str, object], key: str) -> float:
    value = _field(data, key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StateFormatError(f"field {key!r} must be a finite number, got {value!r}")
    return float(value)


def _opt_float(data: Mapping[str, object], key: str) -> float | None:
    return None if data.get(key) is None else _float(data, key)


def _int(data: Mapping[str, object], key: str) -> int:
    value = _field(data, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise StateFormatError(f"field {key!r} must be an integer, got {value!r}")
    return value


def _opt_int(data: Mapping[str, object], key: str) -> int | None:
    return None if data.get(key) is None else _int(data, key)


def _bool(data: Mapping[str, object], key: str) -> bool:
    value = _field(data, key)
    if not isinstance(value, bool):
        raise StateFormatError(f"field {key!r} must be a boolean, got {value!r}")
    return value


def _choice(data: Mapping[str, object], key: str, kind: type[E]) -> E:
    value = _str(data, key)
    try:
        return kind(value)
    except ValueError:
        raise StateFormatError(f"field {key!r}: unknown value {value!r}") from None


def _object(data: object, *, what: str) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        raise StateFormatError(f"{what} must be a JSON object, got {data!r}")
    return data


@dataclass(frozen=True, kw_only=True, slots=True)
class TrackedOrder:
    """One order the bot decided on, from its intent to its final state."""

    client_order_id: str
    symbol: str
    side: str
    order_type: str
    amount: float | None
    leg: str
    decision_id: str
    conditional: bool
    state: OrderState
    created_at_ms: int
    updated_at_ms: int
    exchange_order_id: str | None = None
    filled: float = 0.0
    average_price: float | None = None
    trigger_price: float | None = None
    note: str = ""

    @classmethod
    def intent(
        cls, *, request: OrderRequest, leg: str, decision_id: str, now_ms: int
    ) -> TrackedOrder:
        return cls(
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side.value,
            order_type=request.order_type.value,
            amount=request.amount,
            leg=leg,
            decision_id=decision_id,
            conditional=request.order_type.is_conditional,
            state=OrderState.INTENT,
            created_at_ms=now_ms,
            updated_at_ms=now_ms,
            trigger_price=request.trigger_price,
        )

    def with_order(self, order: Order, *, now_ms: int) -> TrackedOrder:
        """This record updated with what the exchange reports."""
        return replace(
            self,
            state=OrderState(order.status.value),
            exchange_order_id=order.exchange_order_id,
            filled=order.filled,
            average_price=order.average_price,
            updated_at_ms=now_ms,
        )

    def with_state(self, state: OrderState, *, now_ms: int, note: str = "") -> TrackedOrder:
        return replace(self, state=state, updated_at_ms=now_ms, note=note or self.note)

    def to_dict(self) -> dict[str, object]:
        return {
            "clientOrderId": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "type": self.order_type,
            "amount": self.amount,
            "leg": self.leg,
            "decisionId": self.decision_id,
            "conditional": self.conditional,
            "state": self.state.value,
            "createdAtMs": self.created_at_ms,
            "updatedAtMs": self.updated_at_ms,
            "exchangeOrderId": self.exchange_order_id,
            "filled": self.filled,
            "averagePrice": self.average_price,
            "triggerPrice": self.trigger_price,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, raw: object) -> TrackedOrder:
        data = _object(raw, what="tracked order")
        try:
            state = OrderState(_str(data, "state"))
        except ValueError:
            raise StateFormatError(f"unknown order state {data.get('state')!r}") from None
        conditional = data.get("conditional")
        if not isinstance(conditional, bool):
            raise StateFormatError(f"field 'conditional' must be a boolean, got {conditional!r}")
        return cls(
            client_order_id=_str(data, "clientOrderId"),
            symbol=_str(data, "symbol"),
            side=_str(data, "side"),
            order_type=_str(data, "type"),
            amount=_opt_float(data, "amount"),
            leg=_str(data, "leg"),
            decision_id=_str(data, "decisionId"),
            conditional=conditional,
            state=state,
            created_at_ms=_int(data, "createdAtMs"),
            updated_at_ms=_int(data, "updatedAtMs"),
            exchange_order_id=_opt_str(data, "exchangeOrderId"),
            filled=_float(data, "filled"),
            average_price=_opt_float(data, "averagePrice"),
            trigger_price=_opt_float(data, "triggerPrice"),
            note=_opt_str(data, "note") or "",
        )


class PositionSide(StrEnum):
    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


@dataclass(frozen=True, kw_only=True, slots=True)
class PositionRecord:
    """The bot's net position as the exchange last reported it, plus the bot's exit plan."""

    side: PositionSide = PositionSide.FLAT
    size: float = 0.0
    entry_price: float | None = None
    stop_client_order_id: str | None = None
    stop_price: float | None = None
    target_price: float | None = None
    opened_at_ms: int | None = None

    @property
    def signed_size(self) -> float:
        if self.side is PositionSide.LONG:
            return self.size
        return -self.size if self.side is PositionSide.SHORT else 0.0

    @property
    def is_flat(self) -> bool:
        return self.side is PositionSide.FLAT

    def to_dict(self) -> dict[str, object]:
        return {
            "side": self.side.value,
            "size": self.size,
            "entryPrice": self.entry_price,
            "stopClientOrderId": self.stop_client_order_id,
            "stopPrice": self.stop_price,
            "targetPrice": self.target_price,
            "openedAtMs": self.opened_at_ms,
        }

    @classmethod
    def from_dict(cls, raw: object) -> PositionRecord:
        data = _object(raw, what="position")
        try:
            side = PositionSide(_str(data, "side"))
        except ValueError:
            raise StateFormatError(f"unknown position side {data.get('side')!r}") from None
        opened = data.get("openedAtMs")
        if opened is not None and (isinstance(opened, bool) or not isinstance(opened, int)):
            raise StateFormatError(f"field 'openedAtMs' must be an integer, got {opened!r}")
        return cls(
            side=side,
            size=_float(data, "size"),
            entry_price=_opt_float(data, "entryPrice"),
            stop_client_order_id=_opt_str(data, "stopClientOrderId"),
            stop_price=_opt_float(data, "stopPrice"),
            target_price=_opt_float(data, "targetPrice"),
            opened_at_ms=opened,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class TradePnlRecord:
    """The PnL of the bot's closed trades, in the quote currency, and the capital its drawdown
    was last measured on (None: the account's balance)."""

    trades: float = 0.0
    capital: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FeesRecord:
    """The fees the bot's own orders paid, in the quote currency, and the ended orders whose
    fees are still to be looked up (exchange order id → symbol)."""

    paid: float = 0.0
    unpriced: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class BalanceRecord:
    """The quote currency's balance as the exchange last reported it."""

    currency: str
    free: float
    used: float
    total: float
    as_of_ms: int

    def to_dict(self) -> dict[str, object]:
        return {
            "currency": self.currency,
            "free": self.free,
            "used": self.used,
            "total": self.total,
            "asOfMs": self.as_of_ms,
        }

    @classmethod
    def from_dict(cls, raw: object) -> BalanceRecord:
        data = _object(raw, what="balance")
        return cls(
            currency=_str(data, "currency"),
            free=_float(data, "free"),
            used=_float(data, "used"),
            total=_float(data, "total"),
            as_of_ms=_int(data, "asOfMs"),
        )


def paper_account_to_dict(account: PaperAccount) -> dict[str, object]:
    """The paper account without its orders (each one is :func:`paper_order_to_dict`)."""
    return {
        "format": PAPER_ACCOUNT_FORMAT,
        "quoteCurrency": account.quote_currency,
        "wallet": account.wallet,
        "exposures": {
            symbol: {"amount": exposure.amount, "entryPrice": exposure.entry_price}
            for symbol, exposure in account.exposures.items()
        },
        "leverage": dict(account.leverage),
        "nextOrderNumber": account.next_order_number,
    }


def paper_order_to_dict(order: Order) -> dict[str, object]:
    return {
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.order_type.value,
        "status": order.status.value,
        "exchangeOrderId": order.exchange_order_id,
        "clientOrderId": order.client_order_id,
        "amount": order.amount,
        "filled": order.filled,
        "averagePrice": order.average_price,
        "price": order.price,
        "triggerPrice": order.trigger_price,
        "reduceOnly": order.reduce_only,
        "feeCost": order.fee_cost,
        "timestampMs": order.timestamp_ms,
        "triggeredOrderId": order.triggered_order_id,
    }


def _paper_order(raw: object) -> Order:
    data = _object(raw, what="order")
    return Order(
        symbol=_str(data, "symbol"),
        side=_choice(data, "side", OrderSide),
        order_type=_choice(data, "type", OrderType),
        status=_choice(data, "status", OrderStatus),
        exchange_order_id=_str(data, "exchangeOrderId"),
        client_order_id=_str(data, "clientOrderId"),
        amount=_opt_float(data, "amount"),
        filled=_float(data, "filled"),
        average_price=_opt_float(data, "averagePrice"),
        price=_opt_float(data, "price"),
        trigger_price=_opt_float(data, "triggerPrice"),
        reduce_only=_bool(data, "reduceOnly"),
        fee_cost=_opt_float(data, "feeCost"),
        timestamp_ms=_opt_int(data, "timestampMs"),
        triggered_order_id=_opt_str(data, "triggeredOrderId"),
    )


def _exposure(symbol: str, raw: object) -> PaperExposure:
    data = _object(raw, what=f"exposure of {symbol}")
    try:
        return PaperExposure(amount=_float(data, "amount"), entry_price=_float(data, "entryPrice"))
    except StateFormatError as error:
        raise StateFormatError(f"exposure of {symbol}: {error}") from None


def _leverage(symbol: str, raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise StateFormatError(f"leverage of {symbol} must be an integer >= 1, got {raw!r}")
    return raw


def paper_account_from_dict(raw: object, *, orders: Mapping[str, object]) -> PaperAccount:
    """The paper account from its record and its orders (exchange order id → order record).

    Beyond the fields, checks what a restart relies on: every order is filed under its own
    exchange order id and numbered below ``nextOrderNumber``, so no id is ever given twice.
    """
    data = _object(raw, what="paper account")
    layout = data.get("format")
    if layout != PAPER_ACCOUNT_FORMAT:
        raise StateFormatError(
            f"format {layout!r} is not the one this runtime knows ({PAPER_ACCOUNT_FORMAT})"
        )
    next_number = _int(data, "nextOrderNumber")
    if next_number < 1:
        raise StateFormatError(f"field 'nextOrderNumber' must be >= 1, got {next_number}")
    numbered: list[tuple[int, Order]] = []
    for exchange_order_id, raw_order in orders.items():
        match = _PAPER_ORDER_ID.match(exchange_order_id)
        if match is None:
            raise StateFormatError(f"order id {exchange_order_id!r} is not a paper order id")
        try:
            order = _paper_order(raw_order)
        except StateFormatError as error:
            raise StateFormatError(f"order {exchange_order_id}: {error}") from None
        if order.exchange_order_id != exchange_order_id:
            raise StateFormatError(
                f"order {exchange_order_id} says it is {order.exchange_order_id!r}"
            )
        number = int(match.group(1))
        if number >= next_number:
            raise StateFormatError(
                f"order {exchange_order_id} is numbered at or above nextOrderNumber {next_number}"
            )
        numbered.append((number, order))
    exposures = _object(_field(data, "exposures"), what="field 'exposures'")
    leverage = _object(_field(data, "leverage"), what="field 'leverage'")
    return PaperAccount(
        quote_currency=_str(data, "quoteCurrency"),
        wallet=_float(data, "wallet"),
        exposures={symbol: _exposure(symbol, value) for symbol, value in exposures.items()},
        leverage={symbol: _leverage(symbol, value) for symbol, value in leverage.items()},
        orders=tuple(order for _, order in sorted(numbered, key=lambda item: item[0])),
        next_order_number=next_number,
    )
