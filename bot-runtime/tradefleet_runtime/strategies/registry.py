"""Strategy plugins by name, as ``spec.strategy.name`` chooses them.

The bot runtime and the backtester call :func:`create_strategy` with the spec's name
and its ``parameters`` dict. ``fusion`` (the CRD's default name) is not a plugin: a
fusion-only bot trades on the signal engines alone and creates no strategy.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tradefleet_runtime.strategies.base import Strategy
from tradefleet_runtime.strategies.ema_rsi import EmaRsiStrategy
from tradefleet_runtime.strategies.errors import StrategyConfigError
from tradefleet_runtime.strategies.mean_reversion import MeanReversionStrategy
from tradefleet_runtime.strategies.momentum_breakout import MomentumBreakoutStrategy
from tradefleet_runtime.strategies.parameters import StrategyParameters
from tradefleet_runtime.strategies.regime_adaptive import RegimeAdaptiveStrategy

FUSION_ONLY = "fusion"
STRATEGIES: Mapping[str, type[Strategy]] = MappingProxyType(
    {
        strategy.name: strategy
        for strategy in (
            EmaRsiStrategy,
            MeanReversionStrategy,
            MomentumBreakoutStrategy,
            RegimeAdaptiveStrategy,
        )
    }
)


def create_strategy(
    *, name: str, parameters: StrategyParameters | Mapping[str, object] | None = None
) -> Strategy:
    """A fresh plugin ``name`` with ``parameters`` (a spec dict, validated, or defaults)."""
    strategy = STRATEGIES.get(name)
    if strategy is None:
        hint = " (fusion-only bots run no strategy plugin)" if name == FUSION_ONLY else ""
        raise StrategyConfigError(
            f"spec.strategy.name {name!r} is not a strategy plugin{hint}; "
            f"choose one of {', '.join(STRATEGIES)}"
        )
    if parameters is None:
        parameters = StrategyParameters()
    elif not isinstance(parameters, StrategyParameters):
        parameters = StrategyParameters.from_spec(parameters)
    return strategy(parameters=parameters)
