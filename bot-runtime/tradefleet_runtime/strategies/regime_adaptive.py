"""Automatic strategy switching by market regime (strategy ``regime_adaptive``).

Runs the three indicator strategies side by side on every bar (so each is warm when
its turn comes) and returns the signal of the one assigned to the bar's regime label
(:attr:`Bar.regime`, from the regime detector):

* ``bullish_calm``     → ``ema_rsi`` (a calm trend: follow it);
* ``bearish_volatile`` → ``momentum_breakout`` (violent moves: trade confirmed breaks);
* ``squeeze``          → ``mean_reversion`` (a quiet range: fade its edges);
* ``unknown`` or no label (detector not fitted yet) → ``ema_rsi``.

The assignment can be changed per instance; a label outside the mapping is a data error.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from tradefleet_runtime.strategies.base import Bar, Strategy, StrategySignal
from tradefleet_runtime.strategies.ema_rsi import EmaRsiStrategy
from tradefleet_runtime.strategies.errors import StrategyConfigError, StrategyDataError
from tradefleet_runtime.strategies.mean_reversion import MeanReversionStrategy
from tradefleet_runtime.strategies.momentum_breakout import MomentumBreakoutStrategy
from tradefleet_runtime.strategies.parameters import StrategyParameters

UNKNOWN_REGIME = "unknown"
_SWITCHABLE: Mapping[str, type[Strategy]] = MappingProxyType(
    {
        EmaRsiStrategy.name: EmaRsiStrategy,
        MeanReversionStrategy.name: MeanReversionStrategy,
        MomentumBreakoutStrategy.name: MomentumBreakoutStrategy,
    }
)
DEFAULT_REGIME_STRATEGIES: Mapping[str, str] = MappingProxyType(
    {
        "bullish_calm": EmaRsiStrategy.name,
        "bearish_volatile": MomentumBreakoutStrategy.name,
        "squeeze": MeanReversionStrategy.name,
        UNKNOWN_REGIME: EmaRsiStrategy.name,
    }
)


class RegimeAdaptiveStrategy(Strategy):
    """Delegates each bar to the strategy assigned to the bar's regime."""

    name: ClassVar[str] = "regime_adaptive"
    # Every field one of the strategies it switches between reads, in their order.
    tuned_parameters: ClassVar[tuple[str, ...]] = tuple(
        dict.fromkeys(
            name
            for strategy in (EmaRsiStrategy, MeanReversionStrategy, MomentumBreakoutStrategy)
            for name in strategy.tuned_parameters
        )
    )
    __slots__ = ("_assignment", "_strategies")

    def __init__(
        self,
        *,
        parameters: StrategyParameters,
        regime_strategies: Mapping[str, str] = DEFAULT_REGIME_STRATEGIES,
    ) -> None:
        super().__init__(parameters=parameters)
        if UNKNOWN_REGIME not in regime_strategies:
            raise StrategyConfigError(
                f"regime strategies must assign the {UNKNOWN_REGIME!r} regime, "
                f"got {dict(regime_strategies)}"
            )
        for label, strategy_name in regime_strategies.items():
            if strategy_name not in _SWITCHABLE:
                raise StrategyConfigError(
                    f"regime {label!r} is assigned {strategy_name!r}; "
                    f"choose one of {', '.join(_SWITCHABLE)}"
                )
        self._assignment = MappingProxyType(dict(regime_strategies))
        self._strategies = {
            strategy_name: _SWITCHABLE[strategy_name](parameters=parameters)
            for strategy_name in sorted(set(regime_strategies.values()))
        }

    @property
    def warmup_bars(self) -> int:
        return max(strategy.warmup_bars for strategy in self._strategies.values())

    def on_bar(self, bar: Bar) -> StrategySignal:
        label = bar.regime if bar.regime is not None else UNKNOWN_REGIME
        chosen = self._assignment.get(label)
        if chosen is None:
            raise StrategyDataError(
                f"bar at {bar.timestamp_ms} ms has regime {label!r}; "
                f"known regimes: {', '.join(self._assignment)}"
            )
        signals = {name: strategy.on_bar(bar) for name, strategy in self._strategies.items()}
        signal = signals[chosen]
        return StrategySignal(
            strategy=self.name,
            action=signal.action,
            value=signal.value,
            confidence=signal.confidence,
            reason=f"regime {label} → {chosen}: {signal.reason}",
            as_of_ms=signal.as_of_ms,
        )
