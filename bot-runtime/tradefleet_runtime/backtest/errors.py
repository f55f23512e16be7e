"""The backtester's and optimizer's error hierarchy.

Raised by every module of ``tradefleet_runtime.backtest``. The CLI and the operator's
optimization Job catch :class:`BacktestError` (and the strategy plugins'
``StrategyError``) and print the message instead of a traceback.
"""

from __future__ import annotations


class BacktestError(Exception):
    """Base class of every error the backtester raises on purpose."""


class BacktestConfigError(BacktestError, ValueError):
    """A backtest, search or walk-forward setting is out of range or inconsistent."""


class BacktestDataError(BacktestError, ValueError):
    """Bar or book data is unusable: unreadable file, missing columns, bad prices, time going back."""
