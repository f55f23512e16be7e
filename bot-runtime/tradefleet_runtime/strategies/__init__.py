"""Strategy plugins of the bot runtime: EMA/RSI trend, mean reversion, momentum breakout, regime-adaptive.

Pure Python, no numba: the live runtime and the event-driven backtester use the same
classes. Pick one by name with :func:`create_strategy` (``spec.strategy.name`` and
``spec.strategy.parameters``), feed it closed :class:`Bar` objects with ``on_bar`` and
read :class:`StrategySignal` results; ``StrategySignal.as_reading()`` makes a signal one
more fusion input. Errors are :class:`StrategyError` subclasses.
"""

from __future__ import annotations

from tradefleet_runtime.strategies.base import (
    STRATEGY_COMPONENT,
    Bar,
    Strategy,
    StrategyAction,
    StrategySignal,
)
from tradefleet_runtime.strategies.errors import (
    StrategyConfigError,
    StrategyDataError,
    StrategyError,
)
from tradefleet_runtime.strategies.parameters import StrategyParameters
from tradefleet_runtime.strategies.registry import FUSION_ONLY, STRATEGIES, create_strategy

__all__ = [
    "FUSION_ONLY",
    "STRATEGIES",
    "STRATEGY_COMPONENT",
    "Bar",
    "Strategy",
    "StrategyAction",
    "StrategyConfigError",
    "StrategyDataError",
    "StrategyError",
    "StrategyParameters",
    "StrategySignal",
    "create_strategy",
]
