"""Matching engine and futures account of the local exchange (dev/test tooling only).

Called by the local exchange's route modules (``trading_routes``, ``market_routes``,
``admin_routes``) and its fault layer (``chaos``), which translate Binance USDⓈ-M REST
requests into these calls. The records it keeps are defined in ``records`` and rendered by
``views`` (Binance JSON) and ``ledger`` (invariant checks); its request-only checks live in
``order_rules``. One account, one-way position mode, cross margin, USDT wallet.

What is simulated: market orders walk the quoted ladder (slippage); limit orders take what
crosses and rest the remainder, resting orders fill as maker when the market moves through
them; conditional (algo) STOP_MARKET / TAKE_PROFIT_MARKET orders trigger on the mid price and
execute as market orders, honouring ``reduceOnly`` and ``closePosition`` (one closePosition order
per type and side, a second refused with ``-4130`` as Binance does); maker/taker fees;
realised and unrealised PnL; initial-margin checks. Not simulated: liquidation, funding,
hedge mode, isolated margin. This engine is deliberately independent of the runtime's paper
venue so that tests of one never inherit the other's bugs.

Two behaviours serve the fault layer: an order can fill in lots spread over time
(``slow_fill``), and an order can wait in the matching queue before it is booked
(``late_execution``). Both are applied lazily, each at its own due time, whenever the engine
advances; every request and admin call advances it first, so no client can tell this from
work done in the background.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from tradefleet_devtools.exchange.market import BookLevel, SimulatedMarket, SymbolSpec
from tradefleet_devtools.exchange.order_rules import (
    ALGO_TYPES,
    check_price,
    check_qty,
    check_side,
    check_ticket,
    plan_lots,
    triggered,
)
from tradefleet_devtools.exchange.records import (
    AccountSummary,
    AlgoOrder,
    EngineConfig,
    ExchangeOrder,
    ExchangePosition,
    Fill,
    HeldOrder,
    OrderOrigin,
    OrderTicket,
    RejectionError,
    SlowFill,
)

MAX_CATCH_UP_STEPS = 100_000


@dataclass(kw_only=True, slots=True)
class _Ledger:
    wallet_balance: Decimal
    updated_ms: int
    orders: dict[int, ExchangeOrder] = field(default_factory=dict)
    algo_orders: dict[int, AlgoOrder] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    positions: dict[str, ExchangePosition] = field(default_factory=dict)
    held_orders: list[HeldOrder] = field(default_factory=list)
    # Work still due, kept apart so that advancing with nothing pending costs nothing.
    queued: list[HeldOrder] = field(default_factory=list)
    filling: dict[int, ExchangeOrder] = field(default_factory=dict)


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
            symbol: ExchangePosition(symbol=symbol, leverage=self.config.default_leverage)
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
            # Work due before this step sees the market as it was before the step.
            self._run_due(until_ms=at_ms - 1)
            for market in self.markets.values():
                market.step(at_ms=at_ms)
                self._match(symbol=market.spec.exchange_id, now_ms=at_ms)
        self._run_due(until_ms=now_ms)

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

    def _position(self, symbol: str) -> ExchangePosition:
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
                client_order_id=order.client_order_id,
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

    def _check_ticket(self, ticket: OrderTicket) -> None:
        """Binance's checks of a new order against the book and the account."""
        market = self.market(ticket.symbol)
        spec = market.spec
        check_ticket(spec=spec, ticket=ticket)
        self._check_client_id(client_order_id=ticket.client_order_id)
        if ticket.price is not None:
            reference = ticket.price
        else:
            reference = market.best_ask() if ticket.side == "BUY" else market.best_bid()
        if ticket.reduce_only and not self._reducible(symbol=ticket.symbol, side=ticket.side):
            raise RejectionError(code=-2022, message="ReduceOnly Order is rejected.")
        if not ticket.reduce_only and ticket.qty * reference < spec.min_notional:
            raise RejectionError(
                code=-4164,
                message=f"Order's notional must be no smaller than {spec.min_notional} "
                "(unless you choose reduce only).",
            )
        if not ticket.reduce_only:
            self._check_margin(
                symbol=ticket.symbol, side=ticket.side, qty=ticket.qty, price=reference
            )

    def place_order(
        self,
        *,
        ticket: OrderTicket,
        now_ms: int,
        received_ms: int | None = None,
        fill_ratio: Decimal | None = None,
        slow_fill: SlowFill | None = None,
    ) -> ExchangeOrder:
        """Book and match a MARKET or LIMIT order.

        ``fill_ratio`` caps its immediate fill (``partial_fill``); ``slow_fill`` fills its
        first lot now and the others later (an order that does not cross now, or a FOK
        order, fills as usual); ``received_ms`` is when its request arrived, if it waited in
        the matching queue.
        """
        self._check_ticket(ticket)
        market = self.market(ticket.symbol)
        spec = market.spec
        is_limit = ticket.order_type == "LIMIT"
        order = ExchangeOrder(
            order_id=self._next_order_id,
            client_order_id=ticket.client_order_id,
            symbol=ticket.symbol,
            side=ticket.side,
            order_type=ticket.order_type,
            time_in_force=ticket.time_in_force if is_limit else "GTC",
            qty=ticket.qty,
            price=ticket.price if ticket.price is not None else Decimal(0),
            reduce_only=ticket.reduce_only,
            status="NEW",
            created_ms=now_ms,
            updated_ms=now_ms,
            received_ms=now_ms if received_ms is None else received_ms,
            origin=ticket.origin,
            algo_id=ticket.algo_id,
        )
        self._next_order_id += 1
        crossing = market.walk(
            taker_side=ticket.side, qty=ticket.qty, limit_price=ticket.price if is_limit else None
        )
        crossing_qty = sum((level.qty for level in crossing), Decimal(0))
        if order.time_in_force == "GTX" and crossing:
            raise RejectionError(
                code=-5022,
                message="Due to the order could not be executed as maker, the Post Only "
                "order will be rejected.",
            )
        if order.time_in_force == "FOK" and crossing_qty < ticket.qty:
            raise RejectionError(
                code=-5021,
                message="Due to the order could not be filled immediately, the FOK order "
                "has been rejected.",
            )
        self._ledger.orders[order.order_id] = order
        fill_cap = ticket.qty
        if ticket.reduce_only:
            fill_cap = min(fill_cap, self._reducible(symbol=ticket.symbol, side=ticket.side))
        if fill_ratio is not None:
            steps = (ticket.qty * fill_ratio / spec.step_size).to_integral_value(
                rounding=ROUND_FLOOR
            )
            fill_cap = min(fill_cap, max(Decimal(1), steps) * spec.step_size)
        if slow_fill is not None and crossing and order.time_in_force != "FOK":
            first, *later = plan_lots(spec=spec, qty=ticket.qty, plan=slow_fill, now_ms=now_ms)
            fill_cap = min(fill_cap, first.qty)
            order.lots = later
        self._take(order=order, levels=crossing, cap=fill_cap, now_ms=now_ms)
        if order.lots:
            self._ledger.filling[order.order_id] = order
            order.status = "PARTIALLY_FILLED" if order.executed_qty else "NEW"
        else:
            self._settle(order)
        return order

    def _settle(self, order: ExchangeOrder) -> None:
        """The status of an order whose immediate (or last scheduled) execution is done."""
        reduced_to_flat = order.reduce_only and not self._reducible(
            symbol=order.symbol, side=order.side
        )
        if order.remaining == 0:
            order.status = "FILLED"
        elif order.order_type == "MARKET" or order.time_in_force == "IOC" or reduced_to_flat:
            order.status = "EXPIRED"
        elif order.executed_qty:
            order.status = "PARTIALLY_FILLED"

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

    def _close(self, order: ExchangeOrder, *, status: str, now_ms: int) -> None:
        order.status = status
        order.updated_ms = now_ms
        order.lots.clear()
        self._ledger.filling.pop(order.order_id, None)

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
            raise RejectionError.unknown_order()
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
        self._close(order, status="CANCELED", now_ms=now_ms)
        return order

    def cancel_all(self, *, symbol: str, now_ms: int) -> None:
        for order in self.open_orders(symbol=symbol):
            self._close(order, status="CANCELED", now_ms=now_ms)

    def open_orders(self, *, symbol: str | None) -> list[ExchangeOrder]:
        return [o for o in self.orders(symbol=symbol) if o.is_open]

    def orders(self, *, symbol: str | None) -> list[ExchangeOrder]:
        if symbol is not None:
            self.market(symbol)
        return [o for o in self._ledger.orders.values() if symbol in (None, o.symbol)]

    def fills(self, *, symbol: str | None) -> list[Fill]:
        if symbol is not None:
            self.market(symbol)
        return [f for f in self._ledger.fills if symbol in (None, f.symbol)]

    # ------------------------------------------------------- matching queue and slow fills

    def hold_order(
        self, *, ticket: OrderTicket, now_ms: int, due_ms: int, deadline_ms: int
    ) -> HeldOrder:
        """Queue an order without booking it (``late_execution``): queries do not find it
        until ``due_ms``, when it is booked if its receive window (``deadline_ms``) allows."""
        self.market(ticket.symbol)
        held = HeldOrder(ticket=ticket, received_ms=now_ms, due_ms=due_ms, deadline_ms=deadline_ms)
        self._ledger.held_orders.append(held)
        self._ledger.queued.append(held)
        return held

    def held_orders(self) -> list[HeldOrder]:
        """Every order that waited in the matching queue, whatever became of it."""
        return list(self._ledger.held_orders)

    def _run_due(self, *, until_ms: int) -> None:
        """Book queued orders and fill the lots due by ``until_ms``, each at its own time."""
        ledger = self._ledger
        while ledger.queued or ledger.filling:
            work: list[tuple[int, HeldOrder | ExchangeOrder]] = [
                (held.due_ms, held) for held in ledger.queued
            ]
            work.extend((order.lots[0].due_ms, order) for order in ledger.filling.values())
            due_ms, item = min(work, key=lambda entry: entry[0])
            if due_ms > until_ms:
                return
            if isinstance(item, HeldOrder):
                self._release(item)
            else:
                self._fill_next_lot(item)

    def _release(self, held: HeldOrder) -> None:
        self._ledger.queued.remove(held)
        if held.due_ms > held.deadline_ms:
            # Binance refuses a request older than its recvWindow; an order still queued
            # past it never executes, which is what makes waiting the window out safe.
            held.status = "DROPPED"
            return
        try:
            order = self.place_order(
                ticket=held.ticket, now_ms=held.due_ms, received_ms=held.received_ms
            )
        except RejectionError as error:
            held.status = "REJECTED"
            held.rejection = str(error)
            return
        held.status = "BOOKED"
        held.order_id = order.order_id

    def _fill_next_lot(self, order: ExchangeOrder) -> None:
        lot = order.lots.pop(0)
        if not order.lots:
            del self._ledger.filling[order.order_id]
        # The last lot takes whatever is left: earlier lots may have been capped by a limit
        # price the market had moved away from, or by a shrinking position (reduceOnly).
        cap = min(lot.qty, order.remaining) if order.lots else order.remaining
        if order.reduce_only:
            cap = min(cap, self._reducible(symbol=order.symbol, side=order.side))
        if cap > 0:
            levels = self.market(order.symbol).walk(
                taker_side=order.side,
                qty=cap,
                limit_price=order.price if order.order_type == "LIMIT" else None,
            )
            self._take(order=order, levels=levels, cap=cap, now_ms=lot.due_ms)
        if not order.lots:
            self._settle(order)
        elif order.executed_qty:
            order.status = "PARTIALLY_FILLED"

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
        origin: OrderOrigin | None = None,
    ) -> AlgoOrder:
        market = self.market(symbol)
        spec = market.spec
        check_side(side)
        if order_type not in ALGO_TYPES:
            raise RejectionError(code=-1116, message="Invalid orderType.")
        check_price(spec=spec, price=trigger_price)
        if close_position and (qty is not None or reduce_only):
            raise RejectionError(
                code=-4136,
                message=f"Target strategy invalid for orderType {order_type},closePosition true",
            )
        if not close_position:
            if qty is None:
                raise RejectionError.missing("quantity")
            check_qty(spec=spec, qty=qty)
        self._check_client_id(client_order_id=client_algo_id)
        if close_position and any(
            a.close_position and a.side == side and a.order_type == order_type
            for a in self.open_algo_orders(symbol=symbol)
        ):
            # Binance holds one closePosition stop (and one take-profit) per direction.
            raise RejectionError(
                code=-4130,
                message="An open stop or take profit order with GTE and closePosition in the "
                "direction is existing.",
            )
        if triggered(order_type=order_type, side=side, trigger=trigger_price, mid=market.mid):
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
            origin=origin or OrderOrigin(),
        )
        self._next_algo_id += 1
        self._ledger.algo_orders[algo.algo_id] = algo
        return algo

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
            if order.order_type != "LIMIT" or order.lots:
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
            if triggered(
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
                ticket=OrderTicket(
                    symbol=algo.symbol,
                    side=algo.side,
                    order_type="MARKET",
                    qty=qty,
                    price=None,
                    time_in_force="GTC",
                    reduce_only=algo.reduce_only or algo.close_position,
                    client_order_id=algo.client_algo_id,
                    origin=algo.origin,
                    algo_id=algo.algo_id,
                ),
                now_ms=now_ms,
            )
        except RejectionError:
            algo.status = "REJECTED"
            return
        algo.status = "FINISHED"
        algo.actual_order_id = order.order_id
        algo.actual_price = order.avg_price

    # ------------------------------------------------------------------------ leverage

    def set_leverage(self, *, symbol: str, leverage: int) -> ExchangePosition:
        self.market(symbol)
        if not 1 <= leverage <= self.config.max_leverage:
            raise RejectionError(code=-4028, message=f"Leverage {leverage} is not valid")
        position = self._position(symbol)
        position.leverage = leverage
        return position

    def positions(self) -> Mapping[str, ExchangePosition]:
        return self._ledger.positions
