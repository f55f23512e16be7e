"""The bot's account as the risk engine sees it: balance, equity, PnL, drawdown and breakers.

Owned by :class:`~tradefleet_runtime.service.bot.BotService`; the order path
(:mod:`tradefleet_runtime.service.orders`) feeds it each reconciled balance and each closed
trade, the account loop marks it to market. A breaker that trips with ``flattenOnTrip`` leaves
``flatten_requested`` set for the account loop.
"""

from __future__ import annotations

import logging
import time

from tradefleet_runtime.persistence.records import BalanceRecord, PositionRecord, PositionSide
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
        self.starting_equity: float | None = None
        self.flatten_requested = False
        self._metrics = metrics
        self._events = events

    def equity(self) -> float | None:
        return self.balance.total if self.balance is not None else None

    def pnl(self) -> float:
        equity, start = self.equity(), self.starting_equity
        return equity - start if equity is not None and start is not None else 0.0

    def set_balance(self, balance: BalanceRecord | None) -> None:
        self.balance = balance
        if self.starting_equity is None and balance is not None:
            self.starting_equity = balance.total

    def mark(
        self, *, position: PositionRecord, mark_price: float | None, atr: float | None
    ) -> None:
        """Mark equity and the open position to market; the breakers act on the result."""
        equity = self.equity()
        if equity is None:
            return
        now = now_ms()
        if self.portfolio is None:
            if equity <= 0:
                return
            self.portfolio = PortfolioState.opening(equity=equity, now_ms=now)
        mark = mark_price or position.entry_price
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
        """A closed trade: its return feeds the loss-streak and daily-loss breakers."""
        if self.portfolio is None or not previous.entry_price or not exit_price:
            return
        direction = 1.0 if previous.side is PositionSide.LONG else -1.0
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
