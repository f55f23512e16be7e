"""Spans of wall-clock time and the set arithmetic the invariant checks do on them (pure).

Used by ``tradefleet_devtools.soak.invariants`` (when a runtime could act, when a position was
exposed) and ``tradefleet_devtools.soak.evidence`` (a runtime's pauses). A span is half-open,
``[start_ms, end_ms)``; a set of spans is a sorted tuple of disjoint, non-empty spans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Span:
    """``[start_ms, end_ms)`` in wall-clock milliseconds."""

    start_ms: int
    end_ms: int

    @property
    def length_ms(self) -> int:
        return max(0, self.end_ms - self.start_ms)

    def contains(self, at_ms: int) -> bool:
        return self.start_ms <= at_ms < self.end_ms


Spans = tuple[Span, ...]


def union(spans: Iterable[Span]) -> Spans:
    """The disjoint spans covering exactly what ``spans`` cover (touching spans merge)."""
    merged: list[Span] = []
    for span in sorted(s for s in spans if s.length_ms > 0):
        if merged and span.start_ms <= merged[-1].end_ms:
            last = merged[-1]
            merged[-1] = Span(start_ms=last.start_ms, end_ms=max(last.end_ms, span.end_ms))
        else:
            merged.append(span)
    return tuple(merged)


def intersect(first: Iterable[Span], *, second: Iterable[Span]) -> Spans:
    """What both sets cover."""
    pieces: list[Span] = []
    right = union(second)
    for left in union(first):
        for span in right:
            start, end = max(left.start_ms, span.start_ms), min(left.end_ms, span.end_ms)
            if end > start:
                pieces.append(Span(start_ms=start, end_ms=end))
    return union(pieces)


def subtract(spans: Iterable[Span], *, cut: Iterable[Span]) -> Spans:
    """What ``spans`` cover and ``cut`` does not."""
    remaining = list(union(spans))
    for hole in union(cut):
        kept: list[Span] = []
        for span in remaining:
            if hole.end_ms <= span.start_ms or hole.start_ms >= span.end_ms:
                kept.append(span)
                continue
            if span.start_ms < hole.start_ms:
                kept.append(Span(start_ms=span.start_ms, end_ms=hole.start_ms))
            if hole.end_ms < span.end_ms:
                kept.append(Span(start_ms=hole.end_ms, end_ms=span.end_ms))
        remaining = kept
    return union(remaining)


def total_ms(spans: Iterable[Span]) -> int:
    return sum(span.length_ms for span in union(spans))


def covering(spans: Iterable[Span], *, at_ms: int) -> bool:
    return any(span.contains(at_ms) for span in spans)
