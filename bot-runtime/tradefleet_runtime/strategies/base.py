"""The one interface every strategy plugin implements, and what flows through it.

The bot runtime's decision loop and the event-driven backtester create a plugin with
:func:`tradefleet_runtime.strategies.registry.create_strategy`, feed it each closed
:class:`Bar` with :meth:`Strategy.on_bar`, and get a :class:`StrategySignal` back. A
signal is also one more input to fusion: :meth:`StrategySignal.as_reading` turns it into
the :class:`~tradefleet_runtime.signals.reading.SignalReading` that
:class:`~tradefleet_runtime.signals.fusion.AlphaFusion` weighs by component name.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.strategies.errors import StrategyDataError
from tradefleet_runtime.strategies.parameters import StrategyParameters

# The fusion component name of a strategy plugin's reading, unless the bot names it otherwise.
STRATEGY_COMPONENT = "strategy"


class StrategyAction(StrEnum):
    """What the strategy wants done at the next bar: open long, open short, or nothing."""

    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


@dataclass(frozen=True, kw_only=True, slots=True)
class Bar:
    """One closed OHLCV bar; ``timestamp_ms`` is its open time.

    ``regime`` is the regime detector's label for the market as of this bar's close
    (bullish_calm, bearish_volatile, squeeze, unknown), when the caller runs one; only
    the regime-adaptive strategy reads it.
    """

    timestamp_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    regime: str | None = None

    def __post_init__(self) -> None:
        prices = (self.open, self.high, self.low, self.close)
        if not all(math.isfinite(price) and price > 0.0 for price in prices):
            raise StrategyDataError(
                f"bar at {self.timestamp_ms} ms: prices must be finite and > 0, got "
                f"open {self.open!r} high {self.high!r} low {self.low!r} close {self.close!r}"
            )
        if not (self.low <= min(self.open, self.close) and self.high >= max(self.open, self.close)):
            raise StrategyDataError(
                f"bar at {self.timestamp_ms} ms: needs low <= open, close <= high, got "
                f"open {self.open!r} high {self.high!r} low {self.low!r} close {self.close!r}"
            )
        if not (math.isfinite(self.volume) and self.volume >= 0.0):
            raise StrategyDataError(
                f"bar at {self.timestamp_ms} ms: volume must be finite and >= 0, "
                f"got {self.volume!r}"
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class StrategySignal:
    """A strategy's view after one bar.

    ``value`` is direction and strength in [-1, 1] (> 0 for BUY, < 0 for SELL, 0 for
    HOLD); ``confidence`` in [0, 1] is how sure the strategy is of it (0 when it holds,
    so a holding strategy adds nothing to fusion but lowers the fused confidence, as a
    missing signal does). ``reason`` says why, in words a user reads. ``as_of_ms`` is the
    open time of the bar it was made from (``Bar.timestamp_ms``).
    """

    strategy: str
    action: StrategyAction
    value: float
    confidence: float
    reason: str
    as_of_ms: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.value) and -1.0 <= self.value <= 1.0):
            raise StrategyDataError(
                f"{self.strategy}: signal value must be in [-1, 1], got {self.value!r}"
            )
        if not (math.isfinite(self.confidence) and 0.0 <= self.confidence <= 1.0):
            raise StrategyDataError(
                f"{self.strategy}: confidence must be in [0, 1], got {self.confidence!r}"
            )
        consistent = {
            StrategyAction.BUY: self.value > 0.0,
            StrategyAction.SELL: self.value < 0.0,
            StrategyAction.HOLD: self.value == 0.0,
        }[self.action]
        if not consistent:
            raise StrategyDataError(
                f"{self.strategy}: a {self.action.value} signal cannot have value {self.value!r}"
            )

    @classmethod
    def hold(cls, *, strategy: str, reason: str, as_of_ms: int) -> StrategySignal:
        """No position wanted."""
        return cls(
            strategy=strategy,
            action=StrategyAction.HOLD,
            value=0.0,
            confidence=0.0,
            reason=reason,
            as_of_ms=as_of_ms,
        )

    @property
    def direction(self) -> int:
        """+1 to go long, -1 to go short, 0 to stay out."""
        if self.action is StrategyAction.BUY:
            return 1
        if self.action is StrategyAction.SELL:
            return -1
        return 0

    def to_dict(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "action": self.action.value,
            "value": self.value,
            "confidence": self.confidence,
            "reason": self.reason,
            "as_of_ms": self.as_of_ms,
        }

    def as_reading(
        self, *, name: str = STRATEGY_COMPONENT, as_of_ms: int | None = None
    ) -> SignalReading:
        """This signal as the fusion component ``name`` (weighted in spec.strategy.fusionWeights),
        as of ``as_of_ms`` when given: the close of its bar, where the caller knows the timeframe."""
        return SignalReading(
            name=name,
            value=self.value,
            confidence=self.confidence,
            as_of_ms=self.as_of_ms if as_of_ms is None else as_of_ms,
            detail=f"strategy {self.strategy} {self.action.value}: {self.reason}",
        )


# The fields every plugin's trades read: sizing, stop and target.
TRADE_PARAMETERS = ("risk_per_trade_pct", "stop_loss_pct", "take_profit_pct")


class Strategy(ABC):
    """A streaming strategy: one ``on_bar`` per closed bar, O(1) work per call.

    A strategy instance follows one symbol from its first bar; create a new one (with
    ``create_strategy``) to start over.
    """

    name: ClassVar[str]
    # The StrategyParameters fields this plugin reads (its own and the stop, target and risk
    # per trade every trade uses): what the optimizer tunes for a bot running it.
    tuned_parameters: ClassVar[tuple[str, ...]]
    __slots__ = ("_parameters",)

    def __init__(self, *, parameters: StrategyParameters) -> None:
        self._parameters = parameters

    @property
    def parameters(self) -> StrategyParameters:
        """The parameters it runs with, including the stop, target and risk per trade."""
        return self._parameters

    @property
    @abstractmethod
    def warmup_bars(self) -> int:
        """Bars fed before the first signal that is not a warm-up HOLD."""

    @abstractmethod
    def on_bar(self, bar: Bar) -> StrategySignal:
        """Fold in one closed bar and return the signal as of its close."""
