"""The bot's account as the risk engine sees it: balance, equity, PnL, drawdown and breakers.

Owned by :class:`~tradefleet_runtime.service.bot.BotService`; the order path
(:mod:`tradefleet_runtime.service.orders`) feeds it each reconciled balance, each closed trade
and each fee, the account loop marks it to market. A breaker that trips with ``flattenOnTrip``
leaves ``flatten_requested`` set for the account loop.

Equity is the exchange account's balance, or — with ``spec.risk.capital``, for a bot that shares
its account — the bot's own slice: its capital plus the PnL of its own trades (less their fees)
plus the unrealised PnL of its position. Sizing, drawdown and daily loss then act on the slice,
never on what other bots or manual trades did to the account. The realised part is persisted
(``trade_pnl`` with the position it closed, ``fees_paid`` with the orders that paid them), so
it survives restarts and is never booked twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from tradefleet_runtime.config import RuntimeConfig
from tradefleet_runtime.execution.model import Order
from tradefleet_runtime.persistence.records import (
    BalanceRecord,
    FeesRecord,
    PositionRecord,
    PositionSide,
    TradePnlRecord,
)
from tradefleet_runtime.risk import (
    BreakerTransition,
    PortfolioState,
    RiskEngine,
    RiskError,
    RiskPosition,
    TransitionKind,
)
from tradefleet_runtime.service.events import EventHub
from tradefleet_runtime.service.metrics import BotMetrics

LOG = logging.getLogger("tradefleet_runtime.bot")
ACCOUNT_SYNC_MIN_S = 2.0


def account_sync_interval_s(config: RuntimeConfig) -> float:
    """How often the bot's account loop syncs (before any slowdown): five polls, at least 2 s."""
    return max(ACCOUNT_SYNC_MIN_S, 5 * config.market_data.poll_interval_ms / 1000.0)


def now_ms() -> int:
    return int(time.time() * 1000)


class Account:
    """Balance, portfolio (peak equity, daily loss, loss streak) and the circuit breaker."""

    def __init__(
        self,
        *,
        symbol: str,
        quote: str,
        risk: RiskEngine,
        metrics: BotMetrics,
        events: EventHub,
    ) -> None:
        self.symbol = symbol
        self.quote = quote
        self.risk = risk
        self.balance: BalanceRecord | None = None
        self.portfolio: PortfolioState | None = None
        # The balance PnL is measured from when the bot has the whole account.
        self.balance_start: float | None = None
        # The bot's own realised PnL in the quote currency: closed trades, and fees paid.
        self.trade_pnl = 0.0
        self.fees_paid = 0.0
        # Ended orders whose venue reports fees on trades only: exchange order id → symbol,
        # looked up by the account step (``service.fees.FeeLookup``), off the order path.
        self.fees_unpriced: dict[str, str] = {}
        self.unrealised_pnl = 0.0
        # The capital drawdown and daily loss were last measured on.
        self._marked_capital = risk.limits.capital
        self.flatten_requested = False
        self._metrics = metrics
        self._events = events

    @property
    def capital(self) -> float | None:
        """``spec.risk.capital``: the bot's slice of a shared account, if it has one."""
        return self.risk.limits.capital

    @property
    def starting_equity(self) -> float | None:
        """What PnL is measured from: the capital, or the balance when the bot first saw it."""
        capital = self.capital
        return capital if capital is not None else self.balance_start

    def equity(self) -> float | None:
        capital = self.capital
        if capital is not None:
            return capital + self.trade_pnl - self.fees_paid + self.unrealised_pnl
        return self.balance.total if self.balance is not None else None

    def pnl(self) -> float:
        equity, start = self.equity(), self.starting_equity
        return equity - start if equity is not None and start is not None else 0.0

    def set_balance(self, balance: BalanceRecord | None) -> None:
        self.balance = balance
        if self.balance_start is None and balance is not None:
            self.balance_start = balance.total

    def trades(self) -> TradePnlRecord:
        """The closed trades' PnL to persist with the position, and the capital measured on."""
        return TradePnlRecord(trades=self.trade_pnl, capital=self._marked_capital)

    def restore_trades(self, trades: TradePnlRecord) -> None:
        """After a restart: a capital other than the one last measured on re-bases drawdown."""
        self.trade_pnl = trades.trades
        self._marked_capital = trades.capital

    def fees(self) -> FeesRecord:
        """The fees to persist with the orders that paid them."""
        return FeesRecord(paid=self.fees_paid, unpriced=dict(self.fees_unpriced))

    def restore_fees(self, fees: FeesRecord) -> None:
        self.fees_paid = fees.paid
        self.fees_unpriced = dict(fees.unpriced)

    def price_fee(self, *, exchange_order_id: str, fee: float | None) -> None:
        """A looked-up fee is booked; one that cannot be known is dropped (counted 0)."""
        if self.fees_unpriced.pop(exchange_order_id, None) is None:
            return
        if fee is None:
            LOG.warning("the fee of order %s is not known; PnL counts it 0", exchange_order_id)
        else:
            self.fees_paid += fee

    def book_fee(self, order: Order) -> None:
        """The fee of an order that ended, in the quote currency; an order still open is
        booked when it ends, with all its fills. A fee the order does not carry is looked up."""
        if not order.status.is_final or order.filled <= 0:
            return
        if order.fee_cost is None:
            # A stop that triggered filled as the market order it became: its trades are that
            # order's.
            traded = order.triggered_order_id or order.exchange_order_id
            self.fees_unpriced[traded] = order.symbol
        else:
            self.fees_paid += order.fee_cost

    def mark(
        self, *, position: PositionRecord, mark_price: float | None, atr: float | None
    ) -> None:
        """Mark equity and the open position to market; the breakers act on the result."""
        mark = mark_price or position.entry_price
        self.unrealised_pnl = (
            position.signed_size * (mark - position.entry_price)
            if not position.is_flat and position.entry_price and mark
            else 0.0
        )
        equity = self.equity()
        if equity is None:
            return
        now = now_ms()
        capital = self.capital
        if self.portfolio is not None and capital != self._marked_capital:
            # New capital is money moved in or out, not a gain or a loss: drawdown and daily
            # loss start again from the new equity; the trade record stays.
            trades = self.portfolio.trades
            self.portfolio = (
                None
                if equity <= 0
                else replace(PortfolioState.opening(equity=equity, now_ms=now), trades=trades)
            )
        self._marked_capital = capital
        if self.portfolio is None:
            if equity <= 0:
                return
            self.portfolio = PortfolioState.opening(equity=equity, now_ms=now)
        positions: tuple[RiskPosition, ...] = ()
        if not position.is_flat and position.entry_price and mark:
            positions = (
                RiskPosition(
                    symbol=self.symbol,
                    quantity=position.signed_size,
                    entry_price=position.entry_price,
                    mark_price=mark,
                ),
            )
        try:
            update = self.risk.on_mark(
                portfolio=self.portfolio,
                equity=equity,
                positions=positions,
                atr_by_symbol={self.symbol: atr} if atr else {},
                now_ms=now,
            )
        except RiskError as error:
            LOG.warning("equity mark refused: %s", error)
            return
        self.portfolio = update.portfolio
        self.on_breaker_transition(update.transition)
        self._metrics.account(
            equity=equity,
            pnl=self.pnl(),
            drawdown_pct=self.portfolio.drawdown_pct,
            position=position.signed_size,
        )

    def book_trade(self, *, previous: PositionRecord, exit_price: float | None) -> None:
        """A closed trade: its PnL is the bot's, its return feeds the loss-streak breaker."""
        if not previous.entry_price or not exit_price:
            return
        direction = 1.0 if previous.side is PositionSide.LONG else -1.0
        self.trade_pnl += direction * (exit_price - previous.entry_price) * previous.size
        self.unrealised_pnl = 0.0
        if self.portfolio is None:
            return
        trade_return = direction * (exit_price / previous.entry_price - 1.0)
        update = self.risk.on_trade_closed(
            portfolio=self.portfolio, trade_return=trade_return, now_ms=now_ms()
        )
        self.portfolio = update.portfolio
        self.on_breaker_transition(update.transition)

    def reset_breaker(self) -> None:
        if self.portfolio is not None:
            update = self.risk.reset(portfolio=self.portfolio, now_ms=now_ms())
            self.portfolio = update.portfolio
            self.on_breaker_transition(update.transition)

    def on_breaker_transition(self, transition: BreakerTransition | None) -> None:
        if transition is None:
            return
        tripped = transition.kind is TransitionKind.TRIPPED
        self._metrics.breaker(open_reason=transition.reason.value if tripped else None)
        LOG.warning(
            "circuit breaker %s (%s): %s",
            transition.kind.value,
            transition.reason.value,
            transition.message,
        )
        self._events.publish(
            kind="breaker",
            data={
                "transition": transition.kind.value,
                "reason": transition.reason.value,
                "message": transition.message,
            },
        )
        if tripped and transition.flatten:
            self.flatten_requested = True
