"""The signal engines' error hierarchy.

Raised by every module of ``tradefleet_runtime.signals``; the REST API and the
decision loop catch :class:`SignalError` and show its message instead of a traceback.
"""

from __future__ import annotations


class SignalError(Exception):
    """Base class of every error a signal engine raises on purpose."""


class SignalConfigError(SignalError, ValueError):
    """A configuration value is out of range or inconsistent."""


class SignalDataError(SignalError, ValueError):
    """Input data is unusable: non-finite prices, timestamps going backwards, wrong shapes."""


class RegimeFitError(SignalError):
    """A regime model fit was rejected; ``reason`` says why, the previous model stays in use."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignalSourceError(SignalError):
    """A feed (whale transfers, macro events, news) could not be read or parsed."""


class LlmScoringError(SignalError):
    """The optional LLM sentiment endpoint failed; the keyword baseline is used instead."""


class ModelStoreError(SignalError):
    """A persisted ML model was refused (missing, corrupt, or built for another feature schema)."""
