"""The risk engine inside a backtest: what it is fed per bar, and the entries it sizes.

Used by :mod:`tradefleet_runtime.backtest.engine` when a backtest runs with a
:class:`RiskSetup`: the same :class:`~tradefleet_runtime.risk.RiskEngine` the live bot uses,
fed each bar's ATR, the recent log returns and the marked portfolio, sizes each entry and may
trip the circuit breaker.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.risk import RiskEngine, Side, TradeIntent
from tradefleet_runtime.risk.atr import DEFAULT_ATR_PERIOD, WilderATR
from tradefleet_runtime.risk.config import RiskLimits
from tradefleet_runtime.risk.market import MarketRisk, SymbolRisk
from tradefleet_runtime.risk.portfolio import PortfolioState, RiskPosition
from tradefleet_runtime.signals.regime import RegimeState
from tradefleet_runtime.signals.regime_config import RegimeLabel
from tradefleet_runtime.strategies.base import Bar


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskSetup:
    """The risk engine in the loop, with the ATR period and return window it is fed."""

    limits: RiskLimits = field(default_factory=RiskLimits)
    atr_period: int = DEFAULT_ATR_PERIOD
    return_window_bars: int = 100

    def __post_init__(self) -> None:
        needed = 2 * self.limits.recent_window_bars
        if self.return_window_bars < needed:
            raise BacktestConfigError(
                f"return_window_bars must be >= 2 × recentWindowBars = {needed}, "
                f"got {self.return_window_bars}"
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class EntryOrder:
    """An entry decided on one bar's close, to fill at the next bar's open.

    ``quantity`` is None when the position is risk-sized at the fill; the risk engine
    fixes it (base units) at decision time instead.
    """

    direction: int
    risk_fraction: float
    stop_fraction: float
    target_fraction: float
    quantity: float | None
    reason: str


class RiskFeed:
    """ATR, recent log returns and the portfolio the risk engine needs, updated per bar."""

    __slots__ = ("_atr", "_engine", "_previous_close", "_returns", "_setup", "portfolio")

    def __init__(self, *, setup: RiskSetup, initial_equity: float, first_ms: int) -> None:
        self._setup = setup
        self._engine = RiskEngine(limits=setup.limits)
        self._atr = WilderATR(period=setup.atr_period)
        self._returns: deque[float] = deque(maxlen=setup.return_window_bars)
        self._previous_close: float | None = None
        self.portfolio = PortfolioState.opening(equity=initial_equity, now_ms=first_ms)

    def see_bar(self, bar: Bar) -> None:
        self._atr.update(high=bar.high, low=bar.low, close=bar.close)
        if self._previous_close is not None:
            self._returns.append(math.log(bar.close / self._previous_close))
        self._previous_close = bar.close

    def mark(self, *, equity: float, position: RiskPosition | None, now_ms: int) -> bool:
        """Record the bar's equity; True when the breaker tripped and asks to flatten."""
        atr = self._atr.value
        update = self._engine.on_mark(
            portfolio=self.portfolio,
            equity=equity,
            positions=(position,) if position is not None else (),
            atr_by_symbol={position.symbol: atr} if position is not None and atr else {},
            now_ms=now_ms,
        )
        self.portfolio = update.portfolio
        return update.transition is not None and update.transition.flatten

    def trade_closed(self, *, trade_return: float, now_ms: int) -> None:
        update = self._engine.on_trade_closed(
            portfolio=self.portfolio, trade_return=trade_return, now_ms=now_ms
        )
        self.portfolio = update.portfolio

    def size(
        self,
        *,
        symbol: str,
        direction: int,
        price: float,
        regime: RegimeState | None,
        size_multiplier: float,
        stop_pct: float,
        target_pct: float,
        risk_per_trade_pct: float,
        bar_seconds: int,
        now_ms: int,
        reason: str,
    ) -> tuple[EntryOrder | None, str]:
        """(the risk engine's sized entry, "") or (None, the cause of the rejection)."""
        atr = self._atr.value
        if atr is None or len(self._returns) < self._setup.return_window_bars:
            return None, "risk_warmup"
        market = MarketRisk(
            regime_label=regime.regime.value if regime else RegimeLabel.UNKNOWN.value,
            momentum=signed_momentum(regime),
            bar_seconds=bar_seconds,
            symbols={
                symbol: SymbolRisk(
                    symbol=symbol,
                    atr=atr,
                    log_returns=np.fromiter(self._returns, dtype=np.float64),
                    recent_bars=self._setup.limits.recent_window_bars,
                )
            },
        )
        decision = self._engine.evaluate(
            intent=TradeIntent(
                symbol=symbol,
                side=Side.BUY if direction > 0 else Side.SELL,
                price=price,
                size_multiplier=size_multiplier,
                stop_pct=stop_pct,
                target_pct=target_pct,
                risk_per_trade_pct=risk_per_trade_pct,
            ),
            portfolio=self.portfolio,
            market=market,
            now_ms=now_ms,
        )
        if not decision.approved or decision.stop_price is None or decision.target_price is None:
            layer = decision.rejected_by.value if decision.rejected_by else "risk"
            return None, layer
        return (
            EntryOrder(
                direction=direction,
                risk_fraction=0.0,  # unused: the risk engine fixed the quantity
                stop_fraction=abs(price - decision.stop_price) / price,
                target_fraction=abs(decision.target_price - price) / price,
                quantity=decision.quantity,
                reason=f"{reason} | risk: {decision.reason}",
            ),
            "",
        )


def signed_momentum(regime: RegimeState | None) -> float:
    """The detector's trend strength, signed by which way the regime leans."""
    if regime is None or not regime.probabilities:
        return 0.0
    bullish, bearish, _ = regime.probabilities
    return math.copysign(regime.trend_strength, bullish - bearish)
