"""Per-bar state of the bot: the regime detector, ATR, and the risk engine's market statistics.

The bot service feeds :class:`BarState.add` every closed bar of the strategy's timeframe (warm-up
history at start, then each bar as it closes) and reads :attr:`BarState.market` (``None`` until
enough bars exist), :attr:`BarState.regime` and :meth:`BarState.regime_reading`. The statistics
are computed once per bar here, never per tick.
"""

from __future__ import annotations

import itertools
import math
from collections import deque

from tradefleet_runtime.execution.model import Candle
from tradefleet_runtime.risk import MarketRisk, RiskError, RiskLimits, SymbolRisk, WilderATR
from tradefleet_runtime.signals.errors import SignalError
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime import RegimeDetector, RegimeState
from tradefleet_runtime.signals.regime_config import MODELLED_LABELS, RegimeConfig, RegimeLabel
from tradefleet_runtime.strategies import Bar, Strategy, StrategyError, StrategySignal

RETURN_WINDOW_MIN = 100


class BarState:
    """Closed bars of one symbol turned into regime, ATR and return statistics."""

    def __init__(
        self,
        *,
        symbol: str,
        bar_seconds: int,
        regime: RegimeConfig,
        limits: RiskLimits,
        strategy: Strategy | None = None,
    ) -> None:
        self.symbol = symbol
        self.strategy = strategy
        self.strategy_signal: StrategySignal | None = None
        self.bar_seconds = bar_seconds
        self.detector = RegimeDetector(symbol=symbol, config=regime)
        self._atr = WilderATR()
        self._limits = limits
        window = max(RETURN_WINDOW_MIN, 2 * limits.recent_window_bars)
        self._closes: deque[float] = deque(maxlen=window + 1)
        self._momentum_window = regime.momentum_window
        self.last_bar_ms: int | None = None
        self.market: MarketRisk | None = None
        self.problem = ""

    def set_limits(self, limits: RiskLimits) -> None:
        """A hot-reloaded risk config; the statistics are rebuilt at the next bar."""
        self._limits = limits

    @property
    def regime(self) -> RegimeState | None:
        return self.detector.state

    @property
    def atr(self) -> float | None:
        return self._atr.value

    @property
    def last_close(self) -> float | None:
        """The close of the last bar folded in (fusion learning scores returns from it)."""
        return self._closes[-1] if self._closes else None

    def regime_reading(self) -> SignalReading | None:
        """The regime as of the last bar's close (the detector is fed close times)."""
        state = self.detector.state
        return state.as_reading() if state is not None else None

    def strategy_reading(self) -> SignalReading | None:
        """The strategy plugin's latest signal as the ``strategy`` fusion input, as of the close
        of the bar it was made from."""
        signal = self.strategy_signal
        if signal is None:
            return None
        return signal.as_reading(as_of_ms=signal.as_of_ms + 1000 * self.bar_seconds)

    def add(self, bar: Candle) -> None:
        """Fold in one closed bar (bars older than the last one are ignored)."""
        if self.last_bar_ms is not None and bar.timestamp_ms <= self.last_bar_ms:
            return
        self.last_bar_ms = bar.timestamp_ms
        try:
            self._atr.update(high=bar.high, low=bar.low, close=bar.close)
            self.detector.update(
                close=bar.close, timestamp_ms=bar.timestamp_ms + 1000 * self.bar_seconds
            )
        except (RiskError, SignalError) as error:
            self.problem = f"bar at {bar.timestamp_ms} refused: {error}"
            return
        self._closes.append(bar.close)
        self.market = self._market_risk()
        if self.strategy is not None:
            state = self.detector.state
            try:
                self.strategy_signal = self.strategy.on_bar(
                    Bar(
                        timestamp_ms=bar.timestamp_ms, open=bar.open, high=bar.high,
                        low=bar.low, close=bar.close, volume=bar.volume,
                        regime=state.regime.value if state is not None else None,
                    )
                )  # fmt: skip
            except StrategyError as error:
                self.problem = f"strategy refused the bar at {bar.timestamp_ms}: {error}"

    def _momentum(self) -> float:
        state = self.detector.state
        closes = self._closes
        if state is None or len(closes) <= self._momentum_window:
            return 0.0
        direction = math.copysign(1.0, closes[-1] - closes[-1 - self._momentum_window])
        return direction * state.trend_strength

    def _market_risk(self) -> MarketRisk | None:
        atr = self._atr.value
        closes = list(self._closes)
        recent = self._limits.recent_window_bars
        if atr is None or atr <= 0.0 or len(closes) < 2 * recent + 1:
            self.problem = (
                f"waiting for bars: {len(closes)} closes, ATR "
                f"{'not ready' if atr is None else f'{atr:g}'}"
            )
            return None
        returns = [math.log(b / a) for a, b in itertools.pairwise(closes)]
        state = self.detector.state
        label = state.regime.value if state is not None else RegimeLabel.UNKNOWN.value
        try:
            market = MarketRisk(
                regime_label=label,
                momentum=self._momentum(),
                bar_seconds=self.bar_seconds,
                symbols={
                    self.symbol: SymbolRisk(
                        symbol=self.symbol, atr=atr, log_returns=returns, recent_bars=recent
                    )
                },
            )
        except RiskError as error:
            self.problem = f"market statistics refused: {error}"
            return None
        self.problem = ""
        return market

    @staticmethod
    def regime_labels() -> tuple[str, ...]:
        return (*(label.value for label in MODELLED_LABELS), RegimeLabel.UNKNOWN.value)
