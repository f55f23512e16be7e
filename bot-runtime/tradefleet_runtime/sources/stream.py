"""The stream entry a SignalSource publishes and a bot reads: one reading for one symbol.

Fields (all strings, as Redis stores them): ``symbol``, ``value`` in [-1, 1], ``confidence`` in
[0, 1], ``as_of_ms`` and ``kind`` (the fusion input it feeds: sentiment, macro or whale).
Producers append with ``XADD <stream> MAXLEN ~ 1000``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

STREAM_MAXLEN = 1_000
FUSION_INPUTS = ("sentiment", "macro", "whale")


class StreamEntryError(ValueError):
    """A stream entry is malformed; the message names the field."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceReading:
    symbol: str
    value: float
    confidence: float
    as_of_ms: int
    kind: str

    def to_fields(self) -> dict[str, str]:
        return {
            "symbol": self.symbol,
            "value": repr(self.value),
            "confidence": repr(self.confidence),
            "as_of_ms": str(self.as_of_ms),
            "kind": self.kind,
        }

    def to_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "value": self.value,
            "confidence": self.confidence,
            "as_of_ms": self.as_of_ms,
            "kind": self.kind,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> SourceReading:
        try:
            reading = cls(
                symbol=fields["symbol"],
                value=float(fields["value"]),
                confidence=float(fields["confidence"]),
                as_of_ms=int(fields["as_of_ms"]),
                kind=fields["kind"],
            )
        except KeyError as error:
            raise StreamEntryError(f"stream entry lacks field {error}") from None
        except ValueError as error:
            raise StreamEntryError(f"stream entry has a bad number: {error}") from None
        if not (math.isfinite(reading.value) and -1.0 <= reading.value <= 1.0):
            raise StreamEntryError(f"value {reading.value!r} is outside [-1, 1]")
        if not (math.isfinite(reading.confidence) and 0.0 <= reading.confidence <= 1.0):
            raise StreamEntryError(f"confidence {reading.confidence!r} is outside [0, 1]")
        if reading.kind not in FUSION_INPUTS:
            raise StreamEntryError(f"kind {reading.kind!r} is not a fusion input")
        return reading
