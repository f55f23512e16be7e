"""The risk engine's exception hierarchy.

Raised by the risk package (config parsing, input validation, state restore) and caught by
the bot runtime, which turns them into status conditions and API errors instead of crashes.
"""

from __future__ import annotations


class RiskError(Exception):
    """Base class of every error the risk package raises."""


class RiskConfigError(RiskError):
    """A risk setting (the TradingBot's spec.risk) is missing, mistyped or out of range."""


class RiskInputError(RiskError):
    """A value handed to the risk engine at run time (price, position, returns) is invalid."""


class RiskStateError(RiskError):
    """Persisted risk state (breaker or portfolio watermarks) cannot be restored."""
