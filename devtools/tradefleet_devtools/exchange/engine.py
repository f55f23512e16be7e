"""Matching engine and futures account of the local exchange (dev/test tooling only).

Called by the local exchange's HTTP layer (``tradefleet_devtools.exchange.server``), which
translates Binance USDⓈ-M REST requests into these calls and renders the results back in
Binance's JSON shapes. One account, one-way position mode, cross margin, USDT wallet.

What is simulated: market orders walk the quoted ladder (slippage); limit orders take what
crosses and rest the remainder, resting orders fill as maker when the market moves through
them; conditional (algo) STOP_MARKET / TAKE_PROFIT_MARKET orders trigger on the mid price and
execute as market orders, honouring ``reduceOnly`` and ``closePosition``; maker/taker fees;
realised and unrealised PnL; initial-margin checks. Not simulated: liquidation, funding,
hedge mode, isolated margin. This engine is deliberately independent of the runtime's paper
venue so that tests of one never inherit the other's bugs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from tradefleet_devtools.exchange.market import BookLevel, SimulatedMarket, SymbolSpec

MAX_CATCH_UP_STEPS = 100_000
MARKET_TYPES = frozenset({"MARKET", "LIMIT"})
ALGO_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET"})
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK", "GTX"})


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


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineConfig:
    """Account and fee parameters of the simulated exchange."""

    starting_balance: Decimal = Decimal(10_000)
    maker_fee_rate: Decimal = Decimal("0.0002")
    taker_fee_rate: Decimal = Decimal("0.0005")
    default_leverage: int = 20
    max_leverage: int = 125
    step_ms: int = 1_000


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
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)

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
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    realized_pnl: Decimal
    maker: bool
    time_ms: int


@dataclass(kw_only=True, slots=True)
class Position:
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


@dataclass(kw_only=True, slots=True)
class _Ledger:
    wallet_balance: Decimal
    updated_ms: int
    orders: dict[int, ExchangeOrder] = field(default_factory=dict)
    algo_orders: dict[int, AlgoOrder] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)


class MatchingEngine:
    """Order book simulation, order lifecycle and account state of the local exchange."""

    def __init__(
        self,
        *,
        markets: Iterable[SimulatedMarket],
        config: EngineConfig,
        epoch_ms: int,
    ) -> None:
        self.config = config
        self.markets: dict[str, SimulatedMarket] = {m.spec.exchange_id: m for m in markets}
        self._epoch_ms = epoch_ms
        self._steps_done = 0
        self._next_order_id = 4_000_000_001
        self._next_algo_id = 1_000_001
        self._next_trade_id = 500_000_001
        self._ledger = self._fresh_ledger(balance=config.starting_balance, now_ms=epoch_ms)

    def _fresh_ledger(self, *, balance: Decimal, now_ms: int) -> _Ledger:
        positions = {
            symbol: Position(symbol=symbol, leverage=self.config.default_leverage)
            for symbol in self.markets
        }
        return _Ledger(wallet_balance=balance, updated_ms=now_ms, positions=positions)

    def reset(self, *, balance: Decimal | None, now_ms: int) -> None:
        """Forget every order, fill and position; the price paths carry on."""
        start = self.config.starting_balance if balance is None else balance
        self._ledger = self._fresh_ledger(balance=start, now_ms=now_ms)

    # ----------------------------------------------------------------- market data and time

    def market(self, symbol: str) -> SimulatedMarket:
        try:
            return self.markets[symbol]
        except KeyError:
            raise RejectionError(code=-1121, message="Invalid symbol.") from None

    def spec(self, symbol: str) -> SymbolSpec:
        return self.market(symbol).spec

    def advance(self, *, now_ms: int) -> None:
        """Apply every path step due by ``now_ms`` (wall-clock simulation time)."""
        due = (now_ms - self._epoch_ms) // self.config.step_ms
        if due - self._steps_done > MAX_CATCH_UP_STEPS:
            self._steps_done = due - MAX_CATCH_UP_STEPS
        while self._steps_done < due:
            self._steps_done += 1
            at_ms = self._epoch_ms + self._steps_done * self.config.step_ms
            for market in self.markets.values():
                market.step(at_ms=at_ms)
                self._match(symbol=market.spec.exchange_id, now_ms=at_ms)

    def step(self, *, steps: int, now_ms: int) -> None:
        """Advance every path by ``steps`` extra points right now (admin)."""
        for _ in range(steps):
            for market in self.markets.values():
                market.step(at_ms=now_ms)
                self._match(symbol=market.spec.exchange_id, now_ms=now_ms)

    def set_price(self, *, symbol: str, price: Decimal, now_ms: int) -> None:
        """Move a symbol's mid price (admin); resting and conditional orders react at once."""
        if price <= 0:
            raise RejectionError(code=-1102, message="price must be positive")
        self.market(symbol).set_mid(price=float(price), at_ms=now_ms)
        self._match(symbol=symbol, now_ms=now_ms)

    # ----------------------------------------------------------------------- validation

    def _check_qty(self, *, spec: SymbolSpec, qty: Decimal) -> None:
        if qty <= 0:
            raise RejectionError(code=-4003, message="Quantity less than or equal to zero.")
        if qty % spec.step_size != 0:
            raise RejectionError(
                code=-1111, message="Precision is over the maximum defined for this asset."
            )
        if qty < spec.min_qty or qty > spec.max_qty:
            raise RejectionError(code=-4005, message="Quantity greater than max quantity.")

    def _check_price(self, *, spec: SymbolSpec, price: Decimal) -> None:
        if price <= 0:
            raise RejectionError(code=-4001, message="Price less than 0.")
        if price % spec.tick_size != 0:
            raise RejectionError(
                code=-1111, message="Precision is over the maximum defined for this asset."
            )

    def _check_client_id(self, *, client_order_id: str) -> None:
        ledger = self._ledger
        taken = any(
            o.client_order_id == client_order_id and o.is_open for o in ledger.orders.values()
        ) or any(
            a.client_algo_id == client_order_id and a.is_open for a in ledger.algo_orders.values()
        )
        if taken:
            raise RejectionError(code=-4116, message="ClientOrderId is duplicated.")

    # ------------------------------------------------------------------------ accounting

    def _position(self, symbol: str) -> Position:
        return self._ledger.positions[symbol]

    def _exposure_increase(self, *, symbol: str, side: str, qty: Decimal) -> Decimal:
        amount = self._position(symbol).amount
        signed = qty if side == "BUY" else -qty
        return max(Decimal(0), abs(amount + signed) - abs(amount))

    def summary(self) -> AccountSummary:
        ledger = self._ledger
        unrealized = Decimal(0)
        position_margin = Decimal(0)
        for position in ledger.positions.values():
            if position.amount:
                mark = self.market(position.symbol).mid
                unrealized += (mark - position.entry_price) * position.amount
                position_margin += abs(position.amount) * mark / position.leverage
        order_margin = sum(
            (
                o.remaining * o.price / self._position(o.symbol).leverage
                for o in ledger.orders.values()
                if o.is_open and not o.reduce_only
            ),
            Decimal(0),
        )
        return AccountSummary(
            wallet_balance=ledger.wallet_balance,
            unrealized_pnl=unrealized,
            position_initial_margin=position_margin,
            open_order_initial_margin=order_margin,
            updated_ms=ledger.updated_ms,
        )

    def _check_margin(self, *, symbol: str, side: str, qty: Decimal, price: Decimal) -> None:
        increase = self._exposure_increase(symbol=symbol, side=side, qty=qty)
        if not increase:
            return
        leverage = self._position(symbol).leverage
        required = increase * price / leverage + qty * price * self.config.taker_fee_rate
        if required > self.summary().available_balance:
            raise RejectionError(code=-2019, message="Margin is insufficient.")

    def _apply_fill(
        self, *, order: ExchangeOrder, price: Decimal, qty: Decimal, maker: bool, now_ms: int
    ) -> None:
        position = self._position(order.symbol)
        signed = qty if order.side == "BUY" else -qty
        old = position.amount
        realized = Decimal(0)
        if old == 0 or (old > 0) == (signed > 0):
            total = abs(old) + qty
            position.entry_price = (abs(old) * position.entry_price + qty * price) / total
        else:
            closing = min(qty, abs(old))
            realized = closing * (price - position.entry_price) * (1 if old > 0 else -1)
            if qty > abs(old):
                position.entry_price = price
            elif qty == abs(old):
                position.entry_price = Decimal(0)
        position.amount = old + signed
        position.updated_ms = now_ms
        rate = self.config.maker_fee_rate if maker else self.config.taker_fee_rate
        commission = price * qty * rate
        ledger = self._ledger
        ledger.wallet_balance += realized - commission
        ledger.updated_ms = now_ms
        order.executed_qty += qty
        order.cum_quote += price * qty
        order.updated_ms = now_ms
        ledger.fills.append(
            Fill(
                trade_id=self._next_trade_id,
                order_id=order.order_id,
                symbol=order.symbol,
                side=order.side,
                price=price,
                qty=qty,
                commission=commission,
                realized_pnl=realized,
                maker=maker,
                time_ms=now_ms,
            )
        )
        self._next_trade_id += 1
        self.market(order.symbol).record_trade(at_ms=now_ms, qty=qty)

    def _reducible(self, *, symbol: str, side: str) -> Decimal:
        """How much an order on ``side`` can reduce the current position."""
        amount = self._position(symbol).amount
        if (side == "SELL" and amount > 0) or (side == "BUY" and amount < 0):
            return abs(amount)
        return Decimal(0)

    # --------------------------------------------------------------------- regular orders

    def place_order(
        self,
        *,
        symbol: str,
        side: str,
        order_type: str,
        qty: Decimal,
        price: Decimal | None,
        time_in_force: str,
        reduce_only: bool,
        client_order_id: str,
        now_ms: int,
        fill_ratio: Decimal | None = None,
    ) -> ExchangeOrder:
        """Book and match a MARKET or LIMIT order; ``fill_ratio`` caps its immediate fill."""
        market = self.market(symbol)
        spec = market.spec
        if side not in ("BUY", "SELL"):
            raise RejectionError(code=-1117, message="Invalid side.")
        if order_type in ALGO_TYPES:
            raise RejectionError(
                code=-4120,
                message="Order type not supported for this endpoint. "
                "Please use the Algo Order API endpoints instead.",
            )
        if order_type not in MARKET_TYPES:
            raise RejectionError(code=-1116, message="Invalid orderType.")
        if time_in_force not in TIME_IN_FORCE:
            raise RejectionError(code=-1115, message="Invalid timeInForce.")
        self._check_qty(spec=spec, qty=qty)
        if order_type == "LIMIT":
            if price is None:
                raise RejectionError.missing("price")
            self._check_price(spec=spec, price=price)
        self._check_client_id(client_order_id=client_order_id)
        reference = (
            price
            if price is not None
            else (market.best_ask() if side == "BUY" else market.best_bid())
        )
        if reduce_only and not self._reducible(symbol=symbol, side=side):
            raise RejectionError(code=-2022, message="ReduceOnly Order is rejected.")
        if not reduce_only and qty * reference < spec.min_notional:
            raise RejectionError(
                code=-4164,
                message=f"Order's notional must be no smaller than {spec.min_notional} "
                "(unless you choose reduce only).",
            )
        if not reduce_only:
            self._check_margin(symbol=symbol, side=side, qty=qty, price=reference)
        order = ExchangeOrder(
            order_id=self._next_order_id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            order_type=order_type,
            time_in_force=time_in_force if order_type == "LIMIT" else "GTC",
            qty=qty,
            price=price if price is not None else Decimal(0),
            reduce_only=reduce_only,
            status="NEW",
            created_ms=now_ms,
            updated_ms=now_ms,
        )
        self._next_order_id += 1
        limit = price if order_type == "LIMIT" else None
        crossing = market.walk(taker_side=side, qty=qty, limit_price=limit)
        crossing_qty = sum((level.qty for level in crossing), Decimal(0))
        if time_in_force == "GTX" and crossing:
            raise RejectionError(
                code=-5022,
                message="Due to the order could not be executed as maker, the Post Only "
                "order will be rejected.",
            )
        if time_in_force == "FOK" and crossing_qty < qty:
            raise RejectionError(
                code=-5021,
                message="Due to the order could not be filled immediately, the FOK order "
                "has been rejected.",
            )
        self._ledger.orders[order.order_id] = order
        fill_cap = qty
        if reduce_only:
            fill_cap = min(fill_cap, self._reducible(symbol=symbol, side=side))
        if fill_ratio is not None:
            lots = (qty * fill_ratio / spec.step_size).to_integral_value(rounding=ROUND_FLOOR)
            fill_cap = min(fill_cap, max(Decimal(1), lots) * spec.step_size)
        self._take(order=order, levels=crossing, cap=fill_cap, now_ms=now_ms)
        reduced_to_flat = reduce_only and not self._reducible(symbol=symbol, side=side)
        if order.remaining == 0:
            order.status = "FILLED"
        elif order_type == "MARKET" or time_in_force == "IOC" or reduced_to_flat:
            order.status = "EXPIRED"
        elif order.executed_qty:
            order.status = "PARTIALLY_FILLED"
        return order

    def _take(
        self, *, order: ExchangeOrder, levels: list[BookLevel], cap: Decimal, now_ms: int
    ) -> None:
        taken = Decimal(0)
        for level in levels:
            qty = min(level.qty, cap - taken)
            if qty <= 0:
                break
            self._apply_fill(order=order, price=level.price, qty=qty, maker=False, now_ms=now_ms)
            taken += qty

    def find_order(
        self, *, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> ExchangeOrder:
        self.market(symbol)
        matches = [
            o
            for o in self._ledger.orders.values()
            if o.symbol == symbol
            and (order_id is None or o.order_id == order_id)
            and (client_order_id is None or o.client_order_id == client_order_id)
        ]
        if order_id is None and client_order_id is None:
            raise RejectionError(
                code=-1102,
                message="Param 'origClientOrderId' or 'orderId' must be sent, "
                "but both were empty/null!",
            )
        if not matches:
            raise RejectionError(code=-2013, message="Order does not exist.")
        return max(matches, key=lambda o: o.order_id)

    def cancel_order(
        self, *, symbol: str, order_id: int | None, client_order_id: str | None, now_ms: int
    ) -> ExchangeOrder:
        try:
            order = self.find_order(
                symbol=symbol, order_id=order_id, client_order_id=client_order_id
            )
        except RejectionError as error:
            if error.code == -2013:
                raise RejectionError(code=-2011, message="Unknown order sent.") from None
            raise
        if not order.is_open:
            raise RejectionError(code=-2011, message="Unknown order sent.")
        order.status = "CANCELED"
        order.updated_ms = now_ms
        return order

    def cancel_all(self, *, symbol: str, now_ms: int) -> None:
        for order in self.open_orders(symbol=symbol):
            order.status = "CANCELED"
            order.updated_ms = now_ms

    def open_orders(self, *, symbol: str | None) -> list[ExchangeOrder]:
        return [o for o in self.orders(symbol=symbol) if o.is_open]

    def orders(self, *, symbol: str | None) -> list[ExchangeOrder]:
        if symbol is not None:
            self.market(symbol)
        return [o for o in self._ledger.orders.values() if symbol in (None, o.symbol)]

    def fills(self, *, symbol: str) -> list[Fill]:
        self.market(symbol)
        return [f for f in self._ledger.fills if f.symbol == symbol]

    # ----------------------------------------------------------------- conditional orders

    def place_algo_order(
        self,
        *,
        symbol: str,
        side: str,
        order_type: str,
        qty: Decimal | None,
        trigger_price: Decimal,
        reduce_only: bool,
        close_position: bool,
        client_algo_id: str,
        now_ms: int,
    ) -> AlgoOrder:
        market = self.market(symbol)
        spec = market.spec
        if side not in ("BUY", "SELL"):
            raise RejectionError(code=-1117, message="Invalid side.")
        if order_type not in ALGO_TYPES:
            raise RejectionError(code=-1116, message="Invalid orderType.")
        self._check_price(spec=spec, price=trigger_price)
        if close_position and (qty is not None or reduce_only):
            raise RejectionError(
                code=-4136,
                message=f"Target strategy invalid for orderType {order_type},closePosition true",
            )
        if not close_position:
            if qty is None:
                raise RejectionError.missing("quantity")
            self._check_qty(spec=spec, qty=qty)
        self._check_client_id(client_order_id=client_algo_id)
        if self._triggered(order_type=order_type, side=side, trigger=trigger_price, mid=market.mid):
            raise RejectionError(code=-2021, message="Order would immediately trigger.")
        algo = AlgoOrder(
            algo_id=self._next_algo_id,
            client_algo_id=client_algo_id,
            symbol=symbol,
            side=side,
            order_type=order_type,
            qty=qty if qty is not None else Decimal(0),
            trigger_price=trigger_price,
            reduce_only=reduce_only,
            close_position=close_position,
            status="NEW",
            created_ms=now_ms,
            updated_ms=now_ms,
        )
        self._next_algo_id += 1
        self._ledger.algo_orders[algo.algo_id] = algo
        return algo

    @staticmethod
    def _triggered(*, order_type: str, side: str, trigger: Decimal, mid: Decimal) -> bool:
        falling_trigger = (order_type == "STOP_MARKET") == (side == "SELL")
        return mid <= trigger if falling_trigger else mid >= trigger

    def find_algo_order(self, *, algo_id: int | None, client_algo_id: str | None) -> AlgoOrder:
        if algo_id is None and client_algo_id is None:
            raise RejectionError(
                code=-1102, message="Param 'clientAlgoId' or 'algoId' must be sent."
            )
        matches = [
            a
            for a in self._ledger.algo_orders.values()
            if (algo_id is None or a.algo_id == algo_id)
            and (client_algo_id is None or a.client_algo_id == client_algo_id)
        ]
        if not matches:
            raise RejectionError(code=-2013, message="Order does not exist.")
        return max(matches, key=lambda a: a.algo_id)

    def cancel_algo_order(
        self, *, algo_id: int | None, client_algo_id: str | None, now_ms: int
    ) -> AlgoOrder:
        try:
            algo = self.find_algo_order(algo_id=algo_id, client_algo_id=client_algo_id)
        except RejectionError as error:
            if error.code == -2013:
                raise RejectionError(code=-2011, message="Unknown order sent.") from None
            raise
        if not algo.is_open:
            raise RejectionError(code=-2011, message="Unknown order sent.")
        algo.status = "CANCELED"
        algo.updated_ms = now_ms
        return algo

    def cancel_all_algo(self, *, symbol: str, now_ms: int) -> None:
        for algo in self.open_algo_orders(symbol=symbol):
            algo.status = "CANCELED"
            algo.updated_ms = now_ms

    def open_algo_orders(self, *, symbol: str | None) -> list[AlgoOrder]:
        return [a for a in self.algo_orders(symbol=symbol) if a.is_open]

    def algo_orders(self, *, symbol: str | None) -> list[AlgoOrder]:
        if symbol is not None:
            self.market(symbol)
        return [a for a in self._ledger.algo_orders.values() if symbol in (None, a.symbol)]

    # ----------------------------------------------------------------------- matching

    def _match(self, *, symbol: str, now_ms: int) -> None:
        ledger = self._ledger
        market = self.market(symbol)
        for order in [o for o in ledger.orders.values() if o.symbol == symbol and o.is_open]:
            if order.order_type != "LIMIT":
                continue
            crossed = (
                market.best_ask() <= order.price
                if order.side == "BUY"
                else market.best_bid() >= order.price
            )
            if not crossed:
                continue
            qty = order.remaining
            if order.reduce_only:
                qty = min(qty, self._reducible(symbol=symbol, side=order.side))
            if qty > 0:
                self._apply_fill(order=order, price=order.price, qty=qty, maker=True, now_ms=now_ms)
            order.status = "FILLED" if order.remaining == 0 else "EXPIRED"
        for algo in [a for a in ledger.algo_orders.values() if a.symbol == symbol and a.is_open]:
            if self._triggered(
                order_type=algo.order_type,
                side=algo.side,
                trigger=algo.trigger_price,
                mid=market.mid,
            ):
                self._execute_algo(algo=algo, now_ms=now_ms)

    def _execute_algo(self, *, algo: AlgoOrder, now_ms: int) -> None:
        algo.trigger_ms = now_ms
        algo.updated_ms = now_ms
        algo.status = "TRIGGERING"
        reducible = self._reducible(symbol=algo.symbol, side=algo.side)
        if algo.close_position:
            qty = reducible
        elif algo.reduce_only:
            qty = min(algo.qty, reducible)
        else:
            qty = algo.qty
        if qty == 0:
            algo.status = "EXPIRED"
            return
        try:
            order = self.place_order(
                symbol=algo.symbol,
                side=algo.side,
                order_type="MARKET",
                qty=qty,
                price=None,
                time_in_force="GTC",
                reduce_only=algo.reduce_only or algo.close_position,
                client_order_id=algo.client_algo_id,
                now_ms=now_ms,
            )
        except RejectionError:
            algo.status = "REJECTED"
            return
        algo.status = "FINISHED"
        algo.actual_order_id = order.order_id
        algo.actual_price = order.avg_price

    # ------------------------------------------------------------------------ leverage

    def set_leverage(self, *, symbol: str, leverage: int) -> Position:
        self.market(symbol)
        if not 1 <= leverage <= self.config.max_leverage:
            raise RejectionError(code=-4028, message=f"Leverage {leverage} is not valid")
        position = self._position(symbol)
        position.leverage = leverage
        return position

    def positions(self) -> Mapping[str, Position]:
        return self._ledger.positions
