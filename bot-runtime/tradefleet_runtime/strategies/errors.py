"""The strategy plugins' error hierarchy.

Raised by every module of ``tradefleet_runtime.strategies``. The bot runtime and the
backtest CLI catch :class:`StrategyError` and show its message instead of a traceback.
"""

from __future__ import annotations


class StrategyError(Exception):
    """Base class of every error a strategy plugin raises on purpose."""


class StrategyConfigError(StrategyError, ValueError):
    """A strategy name or parameter from the bot's spec is unknown, mistyped or out of range."""


class StrategyDataError(StrategyError, ValueError):
    """A bar fed to a strategy is unusable: non-finite or inconsistent prices, time going back."""
