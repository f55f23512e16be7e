"""The normalised form every signal takes before fusion.

Each engine's result has ``as_reading()`` returning a :class:`SignalReading`; the
fusion engine (:mod:`tradefleet_runtime.signals.fusion`) combines readings by name,
so strategy plugins and the ML ensemble join fusion the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradefleet_runtime.signals.errors import SignalDataError


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalReading:
    """One signal at one moment: direction/strength in [-1, 1], confidence in [0, 1]."""

    name: str
    value: float
    confidence: float
    as_of_ms: int
    detail: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise SignalDataError("a signal reading needs a name")
        if not (math.isfinite(self.value) and -1.0 <= self.value <= 1.0):
            raise SignalDataError(
                f"reading {self.name!r}: value must be in [-1, 1], got {self.value!r}"
            )
        if not (math.isfinite(self.confidence) and 0.0 <= self.confidence <= 1.0):
            raise SignalDataError(
                f"reading {self.name!r}: confidence must be in [0, 1], got {self.confidence!r}"
            )

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "value": self.value,
            "confidence": self.confidence,
            "as_of_ms": self.as_of_ms,
            "detail": self.detail,
        }


def clamp_unit(value: float) -> float:
    """Clamp to [-1, 1] (the range every reading value lives in)."""
    return max(-1.0, min(1.0, value))
