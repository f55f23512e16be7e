"""EMA-crossover + RSI trend following, with the RSI-extreme fallbacks (strategy ``ema_rsi``).

Per closed bar, with EMA fast/slow and Wilder RSI as in
:mod:`tradefleet_runtime.strategies.indicators`:

1. long  when EMA fast > EMA slow and RSI < overbought (trend up, not stretched);
2. short when EMA fast < EMA slow and RSI > oversold (trend down, not stretched);
3. otherwise long when RSI < oversold and short when RSI > overbought (fallbacks on RSI
   extremes, against a stretched move);
4. otherwise hold.

:func:`ema_rsi_rule` is that rule on plain numbers; the backtest's grid engine compiles
the same function with numba, so both engines decide identically.

Strength and confidence (for fusion): trend signals have value ±1 and confidence
gap / (gap + typical gap), where gap = |fast − slow| / slow and the typical gap is an
EMA (slow period) of past gaps — ½ at a typical crossover, towards 1 when the trend is
unusually clear. Fallback signals have value ±½ (they lean against the trend) and
confidence ½ + ½ · how far RSI is beyond its level (0 at the level, 1 at 0 or 100).
"""

from __future__ import annotations

import math
from typing import ClassVar

from tradefleet_runtime.strategies.base import (
    TRADE_PARAMETERS,
    Bar,
    Strategy,
    StrategyAction,
    StrategySignal,
)
from tradefleet_runtime.strategies.indicators import StreamingEma, StreamingRsi
from tradefleet_runtime.strategies.parameters import StrategyParameters

NO_SIGNAL = 0
TREND_LONG = 1
TREND_SHORT = -1
OVERSOLD_LONG = 2
OVERBOUGHT_SHORT = -2

_FALLBACK_VALUE = 0.5
_UNPROVEN_CONFIDENCE = 0.5


# Compiled by numba in the grid engine, which calls with positional arguments only.
def ema_rsi_rule(fast: float, slow: float, rsi: float, overbought: float, oversold: float) -> int:
    """The rule of the module docstring: one of the five codes above.

    An indicator still warming up (NaN in the batch series) means no signal, as the
    streaming strategy holds until all three are defined.
    """
    if math.isnan(fast) or math.isnan(slow) or math.isnan(rsi):
        return NO_SIGNAL
    if fast > slow and rsi < overbought:
        return TREND_LONG
    if fast < slow and rsi > oversold:
        return TREND_SHORT
    if rsi < oversold:
        return OVERSOLD_LONG
    if rsi > overbought:
        return OVERBOUGHT_SHORT
    return NO_SIGNAL


class EmaRsiStrategy(Strategy):
    """Trend following on an EMA crossover filtered by RSI, with RSI-extreme fallbacks."""

    name: ClassVar[str] = "ema_rsi"
    tuned_parameters: ClassVar[tuple[str, ...]] = (
        "ema_fast",
        "ema_slow",
        "rsi_period",
        "rsi_overbought",
        "rsi_oversold",
        *TRADE_PARAMETERS,
    )
    __slots__ = ("_fast", "_rsi", "_slow", "_typical_gap")

    def __init__(self, *, parameters: StrategyParameters) -> None:
        super().__init__(parameters=parameters)
        self._fast = StreamingEma(period=parameters.ema_fast)
        self._slow = StreamingEma(period=parameters.ema_slow)
        self._rsi = StreamingRsi(period=parameters.rsi_period)
        self._typical_gap = StreamingEma(period=parameters.ema_slow)

    @property
    def warmup_bars(self) -> int:
        return max(self._parameters.ema_slow, self._parameters.rsi_period + 1)

    def on_bar(self, bar: Bar) -> StrategySignal:
        close = bar.close
        fast = self._fast.update(close)
        slow = self._slow.update(close)
        rsi = self._rsi.update(close)
        if fast is None or slow is None or rsi is None:
            return StrategySignal.hold(
                strategy=self.name,
                reason=f"warming up (needs {self.warmup_bars} bars)",
                as_of_ms=bar.timestamp_ms,
            )
        typical_gap = self._typical_gap.value
        gap = abs(fast - slow) / slow
        self._typical_gap.update(gap)
        params = self._parameters
        code = ema_rsi_rule(fast, slow, rsi, params.rsi_overbought, params.rsi_oversold)
        emas = f"EMA{params.ema_fast} {fast:.6g} vs EMA{params.ema_slow} {slow:.6g}"
        if code in (TREND_LONG, TREND_SHORT):
            confidence = gap / (gap + typical_gap) if typical_gap else _UNPROVEN_CONFIDENCE
            long = code == TREND_LONG
            limit = (
                f"RSI {rsi:.1f} < {params.rsi_overbought:g}"
                if long
                else f"RSI {rsi:.1f} > {params.rsi_oversold:g}"
            )
            return StrategySignal(
                strategy=self.name,
                action=StrategyAction.BUY if long else StrategyAction.SELL,
                value=1.0 if long else -1.0,
                confidence=confidence,
                reason=f"{emas}, {limit}: trend {'long' if long else 'short'}",
                as_of_ms=bar.timestamp_ms,
            )
        if code == OVERSOLD_LONG:
            extremity = (params.rsi_oversold - rsi) / params.rsi_oversold
            return StrategySignal(
                strategy=self.name,
                action=StrategyAction.BUY,
                value=_FALLBACK_VALUE,
                confidence=0.5 + 0.5 * extremity,
                reason=f"{emas}, RSI {rsi:.1f} < oversold {params.rsi_oversold:g}: fallback long",
                as_of_ms=bar.timestamp_ms,
            )
        if code == OVERBOUGHT_SHORT:
            extremity = (rsi - params.rsi_overbought) / (100.0 - params.rsi_overbought)
            return StrategySignal(
                strategy=self.name,
                action=StrategyAction.SELL,
                value=-_FALLBACK_VALUE,
                confidence=0.5 + 0.5 * extremity,
                reason=(
                    f"{emas}, RSI {rsi:.1f} > overbought {params.rsi_overbought:g}: fallback short"
                ),
                as_of_ms=bar.timestamp_ms,
            )
        return StrategySignal.hold(
            strategy=self.name,
            reason=f"{emas}, RSI {rsi:.1f}: no trend and no RSI extreme",
            as_of_ms=bar.timestamp_ms,
        )
