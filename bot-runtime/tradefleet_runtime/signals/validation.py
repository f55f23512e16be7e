"""Field checks shared by the engines' frozen config dataclasses.

Called from ``__post_init__`` of every ``*Config`` in ``tradefleet_runtime.signals``;
each check raises :class:`SignalConfigError` naming the offending field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from tradefleet_runtime.signals.errors import SignalConfigError


def require_positive(*, name: str, value: float) -> None:
    """Finite and strictly greater than zero."""
    if not math.isfinite(value) or value <= 0:
        raise SignalConfigError(f"{name} must be a finite number > 0, got {value!r}")


def require_non_negative(*, name: str, value: float) -> None:
    """Finite and at least zero."""
    if not math.isfinite(value) or value < 0:
        raise SignalConfigError(f"{name} must be a finite number >= 0, got {value!r}")


def require_in_range(*, name: str, value: float, low: float, high: float) -> None:
    """Finite and within the closed interval [low, high]."""
    if not math.isfinite(value) or not low <= value <= high:
        raise SignalConfigError(f"{name} must be within [{low}, {high}], got {value!r}")


def require_int_at_least(*, name: str, value: int, minimum: int) -> None:
    """An int (not a bool) no smaller than ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SignalConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


def require_finite_mapping(*, name: str, values: Mapping[str, float]) -> None:
    """Every value of a name → number mapping is finite and every key non-empty."""
    for key, value in values.items():
        if not key:
            raise SignalConfigError(f"{name} has an empty key")
        if not math.isfinite(value):
            raise SignalConfigError(f"{name}[{key!r}] must be finite, got {value!r}")
