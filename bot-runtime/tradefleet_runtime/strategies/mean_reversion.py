"""Mean reversion on RSI + Bollinger bands (strategy ``mean_reversion``).

Bands: middle = mean of the last ``bollingerPeriod`` closes, upper/lower = middle ±
``bollingerStdDev`` population standard deviations. Per closed bar:

* long  when the close is below the lower band and RSI < oversold (stretched down);
* short when the close is above the upper band and RSI > overbought (stretched up);
* otherwise hold — one stretched indicator alone is not enough.

Strength: with z = (close − middle) / std and k = bollingerStdDev, value = −z / (2k)
clamped to [-1, 1] (½ at the band, full at twice the band's distance). Confidence =
½ + ½ · how far RSI is beyond its level (1 at RSI 0 or 100).
"""

from __future__ import annotations

from typing import ClassVar

from tradefleet_runtime.signals.reading import clamp_unit
from tradefleet_runtime.strategies.base import (
    TRADE_PARAMETERS,
    Bar,
    Strategy,
    StrategyAction,
    StrategySignal,
)
from tradefleet_runtime.strategies.indicators import RollingStats, StreamingRsi
from tradefleet_runtime.strategies.parameters import StrategyParameters


class MeanReversionStrategy(Strategy):
    """Fade closes outside the Bollinger bands when RSI confirms the stretch."""

    name: ClassVar[str] = "mean_reversion"
    tuned_parameters: ClassVar[tuple[str, ...]] = (
        "bollinger_period",
        "bollinger_std_dev",
        "rsi_period",
        "rsi_overbought",
        "rsi_oversold",
        *TRADE_PARAMETERS,
    )
    __slots__ = ("_bands", "_rsi")

    def __init__(self, *, parameters: StrategyParameters) -> None:
        super().__init__(parameters=parameters)
        self._bands = RollingStats(window=parameters.bollinger_period)
        self._rsi = StreamingRsi(period=parameters.rsi_period)

    @property
    def warmup_bars(self) -> int:
        return max(self._parameters.bollinger_period, self._parameters.rsi_period + 1)

    def on_bar(self, bar: Bar) -> StrategySignal:
        close = bar.close
        self._bands.update(close)
        rsi = self._rsi.update(close)
        middle = self._bands.mean
        std = self._bands.std
        if rsi is None or middle is None or std is None:
            return StrategySignal.hold(
                strategy=self.name,
                reason=f"warming up (needs {self.warmup_bars} bars)",
                as_of_ms=bar.timestamp_ms,
            )
        if std <= 0.0:
            return StrategySignal.hold(
                strategy=self.name,
                reason="flat closes: the Bollinger bands have no width",
                as_of_ms=bar.timestamp_ms,
            )
        params = self._parameters
        width = params.bollinger_std_dev
        lower = middle - width * std
        upper = middle + width * std
        z_score = (close - middle) / std
        bands = f"close {close:.6g}, bands {lower:.6g}..{upper:.6g}, RSI {rsi:.1f}"
        if close < lower and rsi < params.rsi_oversold:
            extremity = (params.rsi_oversold - rsi) / params.rsi_oversold
            return StrategySignal(
                strategy=self.name,
                action=StrategyAction.BUY,
                value=clamp_unit(-z_score / (2.0 * width)),
                confidence=0.5 + 0.5 * extremity,
                reason=f"{bands} < {params.rsi_oversold:g}: below the lower band, oversold",
                as_of_ms=bar.timestamp_ms,
            )
        if close > upper and rsi > params.rsi_overbought:
            extremity = (rsi - params.rsi_overbought) / (100.0 - params.rsi_overbought)
            return StrategySignal(
                strategy=self.name,
                action=StrategyAction.SELL,
                value=clamp_unit(-z_score / (2.0 * width)),
                confidence=0.5 + 0.5 * extremity,
                reason=f"{bands} > {params.rsi_overbought:g}: above the upper band, overbought",
                as_of_ms=bar.timestamp_ms,
            )
        return StrategySignal.hold(
            strategy=self.name,
            reason=f"{bands}: no band break confirmed by RSI",
            as_of_ms=bar.timestamp_ms,
        )
