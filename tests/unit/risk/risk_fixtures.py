"""Builders for the risk engine's unit tests: calm markets, portfolios and intents in round numbers.

Imported by the test modules in this directory. Defaults: equity 10 000, price 100, ATR 1, daily
bars (so a daily VaR is one bar's), alternating ±0.1 % returns (no shock, no crash).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from tradefleet_runtime.risk import (
    MarketRisk,
    PortfolioState,
    RiskPosition,
    Side,
    SymbolRisk,
    TradeIntent,
    TradeStats,
)

SYMBOL = "BTC/USDT"
EQUITY = 10_000.0
PRICE = 100.0
RECENT_BARS = 12
WINDOW = 48
DAY_MS = 86_400_000
NOW_MS = 20_000 * DAY_MS + 3_600_000  # 01:00 UTC on day 20 000


def alternating_returns(*, step: float, length: int = WINDOW) -> NDArray[np.float64]:
    """+step, −step, …: zero mean, no trend, standard deviation step·√(n/(n−1))."""
    return np.array([step if index % 2 == 0 else -step for index in range(length)])


def symbol_risk(
    *, symbol: str = SYMBOL, atr: float = 1.0, returns: ArrayLike | None = None
) -> SymbolRisk:
    return SymbolRisk(
        symbol=symbol,
        atr=atr,
        log_returns=alternating_returns(step=0.001) if returns is None else returns,
        recent_bars=RECENT_BARS,
    )


def market(*symbols: SymbolRisk, label: str = "squeeze", momentum: float = 0.0) -> MarketRisk:
    risks = symbols or (symbol_risk(),)
    return MarketRisk(
        regime_label=label,
        momentum=momentum,
        bar_seconds=86_400,
        symbols={risk.symbol: risk for risk in risks},
    )


def portfolio(
    *,
    equity: float = EQUITY,
    peak: float | None = None,
    day_start: float | None = None,
    positions: tuple[RiskPosition, ...] = (),
    trades: TradeStats | None = None,
) -> PortfolioState:
    return PortfolioState(
        equity=equity,
        peak_equity=equity if peak is None else peak,
        day_start_equity=equity if day_start is None else day_start,
        utc_day=NOW_MS // DAY_MS,
        positions=positions,
        trades=TradeStats() if trades is None else trades,
    )


def intent(
    *,
    symbol: str = SYMBOL,
    side: Side = Side.BUY,
    price: float = PRICE,
    size_multiplier: float = 1.0,
    stop_pct: float | None = None,
    target_pct: float | None = None,
) -> TradeIntent:
    return TradeIntent(
        symbol=symbol,
        side=side,
        price=price,
        size_multiplier=size_multiplier,
        stop_pct=stop_pct,
        target_pct=target_pct,
    )
