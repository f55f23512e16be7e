"""Momentum breakout with volume-spike confirmation (strategy ``momentum_breakout``).

Per closed bar, against the ``breakoutLookback`` bars before it (the bar itself is not
part of its own channel) and the mean volume of the ``volumeWindow`` bars before it:

* long  when the close is above the channel's highest high and volume ≥
  ``volumeSpikeMultiplier`` × mean volume;
* short when the close is below the channel's lowest low with the same volume spike;
* otherwise hold — a breakout without a volume spike is reported but not traded.

Value ±1 on a confirmed breakout; confidence = volume ratio / (2 × multiplier), capped at
1 (½ at the threshold, 1 at twice the required spike).
"""

from __future__ import annotations

from typing import ClassVar

from tradefleet_runtime.strategies.base import (
    TRADE_PARAMETERS,
    Bar,
    Strategy,
    StrategyAction,
    StrategySignal,
)
from tradefleet_runtime.strategies.indicators import RollingExtremes, RollingStats
from tradefleet_runtime.strategies.parameters import StrategyParameters


class MomentumBreakoutStrategy(Strategy):
    """Follow closes that break the recent range on unusually high volume."""

    name: ClassVar[str] = "momentum_breakout"
    tuned_parameters: ClassVar[tuple[str, ...]] = (
        "breakout_lookback",
        "volume_window",
        "volume_spike_multiplier",
        *TRADE_PARAMETERS,
    )
    __slots__ = ("_channel", "_volume")

    def __init__(self, *, parameters: StrategyParameters) -> None:
        super().__init__(parameters=parameters)
        self._channel = RollingExtremes(window=parameters.breakout_lookback)
        self._volume = RollingStats(window=parameters.volume_window)

    @property
    def warmup_bars(self) -> int:
        return max(self._parameters.breakout_lookback, self._parameters.volume_window) + 1

    def on_bar(self, bar: Bar) -> StrategySignal:
        # The channel and the average volume are those of the bars before this one.
        highest = self._channel.highest
        lowest = self._channel.lowest
        mean_volume = self._volume.mean
        self._channel.update(high=bar.high, low=bar.low)
        self._volume.update(bar.volume)
        if highest is None or lowest is None or mean_volume is None:
            return StrategySignal.hold(
                strategy=self.name,
                reason=f"warming up (needs {self.warmup_bars} bars)",
                as_of_ms=bar.timestamp_ms,
            )
        close = bar.close
        if close > highest:
            side, level, action, value = "above", highest, StrategyAction.BUY, 1.0
        elif close < lowest:
            side, level, action, value = "below", lowest, StrategyAction.SELL, -1.0
        else:
            return StrategySignal.hold(
                strategy=self.name,
                reason=f"close {close:.6g} inside the channel {lowest:.6g}..{highest:.6g}",
                as_of_ms=bar.timestamp_ms,
            )
        multiplier = self._parameters.volume_spike_multiplier
        ratio = bar.volume / mean_volume if mean_volume > 0.0 else 0.0
        breakout = f"close {close:.6g} {side} the {self._parameters.breakout_lookback}-bar channel {level:.6g}"
        if ratio < multiplier:
            return StrategySignal.hold(
                strategy=self.name,
                reason=(
                    f"{breakout} without volume confirmation "
                    f"(volume {ratio:.2f}× average < {multiplier:g}×)"
                ),
                as_of_ms=bar.timestamp_ms,
            )
        return StrategySignal(
            strategy=self.name,
            action=action,
            value=value,
            confidence=min(1.0, ratio / (2.0 * multiplier)),
            reason=f"{breakout} on volume {ratio:.2f}× average (needs {multiplier:g}×)",
            as_of_ms=bar.timestamp_ms,
        )
