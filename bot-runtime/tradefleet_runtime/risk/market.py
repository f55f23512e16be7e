"""Market inputs of the risk engine and the return statistics computed from them.

The bot runtime builds one ``SymbolRisk`` per symbol when a bar closes (the statistics are
computed once there, not per tick) and a ``MarketRisk`` carrying them plus the signal engine's
regime label; ``RiskEngine.evaluate`` reads them on every tick. ``parametric_var_pct`` and
``return_correlation`` are the daily-VaR and correlation layers' arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tradefleet_runtime.risk.errors import RiskInputError

SECONDS_PER_DAY = 86_400


def base_asset(symbol: str) -> str:
    """The base currency of a ccxt unified symbol ("BTC/USDT:USDT" → "BTC")."""
    base, slash, quote = symbol.partition("/")
    if not (base and slash and quote):
        raise RiskInputError(f"symbol must look like BASE/QUOTE, got {symbol!r}")
    return base


@dataclass(frozen=True, kw_only=True, slots=True)
class SymbolRisk:
    """One symbol's ATR and recent per-bar log returns (oldest first), with their statistics.

    The last ``recent_bars`` returns are the recent window; the returns before it are the
    baseline that volatility shocks and crashes are measured against.
    """

    symbol: str
    atr: float
    log_returns: NDArray[np.float64]
    recent_bars: int
    volatility: float = field(init=False)  # sample std of the whole window, per bar
    volatility_ratio: float = field(init=False)  # recent-window std / baseline std
    recent_return: float = field(init=False)  # simple return over the recent window
    recent_move_sigmas: float = field(init=False)  # recent log return in baseline std units
    # Centred returns scaled to unit length (zero for a flat window): a correlation is one dot.
    unit_returns: NDArray[np.float64] = field(init=False)

    def __init__(
        self, *, symbol: str, atr: float, log_returns: ArrayLike, recent_bars: int
    ) -> None:
        base_asset(symbol)
        if not (math.isfinite(atr) and atr > 0.0):
            raise RiskInputError(f"{symbol}: ATR must be finite and > 0, got {atr!r}")
        if isinstance(recent_bars, bool) or not isinstance(recent_bars, int) or recent_bars < 2:
            raise RiskInputError(
                f"{symbol}: recent_bars must be an integer ≥ 2, got {recent_bars!r}"
            )
        returns = np.array(log_returns, dtype=np.float64)
        if returns.ndim != 1 or returns.size < 2 * recent_bars:
            raise RiskInputError(
                f"{symbol}: need a 1-D window of at least {2 * recent_bars} log returns, "
                f"got shape {returns.shape}"
            )
        if not np.isfinite(returns).all():
            raise RiskInputError(f"{symbol}: log returns must be finite")
        returns.flags.writeable = False
        centred = returns - returns.mean()
        length = math.sqrt(float(centred @ centred))
        unit_returns = centred / length if length > 0.0 else np.zeros_like(centred)
        unit_returns.flags.writeable = False
        baseline_volatility = float(returns[:-recent_bars].std(ddof=1))
        recent_volatility = float(returns[-recent_bars:].std(ddof=1))
        recent_log_return = float(returns[-recent_bars:].sum())
        recent_scale = baseline_volatility * math.sqrt(recent_bars)
        setter = object.__setattr__
        setter(self, "symbol", symbol)
        setter(self, "atr", float(atr))
        setter(self, "log_returns", returns)
        setter(self, "recent_bars", recent_bars)
        setter(self, "volatility", float(returns.std(ddof=1)))
        setter(self, "volatility_ratio", _ratio(recent_volatility, baseline_volatility))
        setter(self, "recent_return", math.expm1(recent_log_return))
        setter(self, "recent_move_sigmas", _ratio(recent_log_return, recent_scale))
        setter(self, "unit_returns", unit_returns)


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator for a standard deviation ``denominator`` that may be zero."""
    if denominator > 0.0:
        return numerator / denominator
    # Against a flat baseline any move is infinitely large.
    return 0.0 if numerator == 0.0 else math.copysign(math.inf, numerator)


@dataclass(frozen=True, kw_only=True, slots=True)
class MarketRisk:
    """What the market looks like to the risk engine at one bar."""

    regime_label: str  # the signal engine's regime label, e.g. "bullish_calm"
    momentum: float  # the signal engine's signed trend strength; ≥ strongMomentum upgrades
    bar_seconds: int  # bar length, to scale per-bar volatility to a daily VaR
    symbols: Mapping[str, SymbolRisk]  # the intent's symbol and every open position's

    def __post_init__(self) -> None:
        if not math.isfinite(self.momentum):
            raise RiskInputError(f"momentum must be finite, got {self.momentum!r}")
        if (
            isinstance(self.bar_seconds, bool)
            or not isinstance(self.bar_seconds, int)
            or not 0 < self.bar_seconds <= SECONDS_PER_DAY
        ):
            raise RiskInputError(
                f"bar_seconds must be an integer in [1, {SECONDS_PER_DAY}], "
                f"got {self.bar_seconds!r}"
            )
        for key, symbol_risk in self.symbols.items():
            if key != symbol_risk.symbol:
                raise RiskInputError(f"symbols[{key!r}] holds data for {symbol_risk.symbol!r}")
        # Correlations pair returns bar by bar, so every window must cover the same bars.
        lengths = {symbol_risk.log_returns.size for symbol_risk in self.symbols.values()}
        if len(lengths) > 1:
            raise RiskInputError(
                f"all symbols need return windows over the same bars, got lengths {sorted(lengths)}"
            )

    @property
    def bars_per_day(self) -> float:
        return SECONDS_PER_DAY / self.bar_seconds

    def symbol(self, symbol: str) -> SymbolRisk:
        """The figures for ``symbol``; missing data is a caller error, not a silent skip."""
        try:
            return self.symbols[symbol]
        except KeyError:
            raise RiskInputError(f"no market risk data for {symbol!r}") from None


def var_z(confidence_pct: float) -> float:
    """The one-sided standard-normal quantile for a VaR confidence (95 → 1.645)."""
    return NormalDist().inv_cdf(confidence_pct / 100.0)


def return_correlation(*, first: SymbolRisk, second: SymbolRisk) -> float:
    """Pearson correlation of two symbols' log returns over the same window of bars."""
    if first.unit_returns.size != second.unit_returns.size:
        raise RiskInputError(
            f"{first.symbol} and {second.symbol} have return windows of different lengths"
        )
    # A flat series has all-zero unit returns: it co-moves with nothing.
    return float(first.unit_returns @ second.unit_returns)


def parametric_var_pct(*, weights: Mapping[str, float], market: MarketRisk, z: float) -> float:
    """Zero-mean variance-covariance VaR over one day, in % of equity.

    ``weights`` are signed exposures per symbol as fractions of equity (long > 0).
    """
    active: list[tuple[SymbolRisk, float]] = []
    for symbol, weight in weights.items():
        if weight != 0.0:
            active.append((market.symbol(symbol), weight))
    variance = 0.0
    for index, (risk, weight) in enumerate(active):
        variance += (weight * risk.volatility) ** 2
        for other, other_weight in active[index + 1 :]:
            correlation = return_correlation(first=risk, second=other)
            variance += (
                2.0 * weight * other_weight * risk.volatility * other.volatility * correlation
            )
    return 100.0 * z * math.sqrt(max(variance, 0.0) * market.bars_per_day)
