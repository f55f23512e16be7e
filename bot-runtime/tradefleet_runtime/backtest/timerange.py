"""Time ranges in freqtrade's notation (``20240101-20240301``) and the bars inside one.

``--timerange`` of the backtest, optimize and download-data commands. Each end is a UTC
date ``YYYYMMDD``, epoch seconds (10 digits) or epoch milliseconds (13 digits), and may be
left out (``20240101-``: from then on; ``-20240301``: up to then). The start is inclusive,
the end exclusive: ``20240101-20240301`` is January and February, whole days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.errors import BacktestConfigError, BacktestDataError

_END = re.compile(r"\d{8}|\d{10}|\d{13}")


@dataclass(frozen=True, kw_only=True, slots=True)
class TimeRange:
    """``start_ms`` inclusive, ``end_ms`` exclusive; ``None`` leaves that end open."""

    start_ms: int | None = None
    end_ms: int | None = None

    def __post_init__(self) -> None:
        if self.start_ms is not None and self.end_ms is not None and self.end_ms <= self.start_ms:
            raise BacktestConfigError(
                f"time range ends ({format_utc(self.end_ms)}) before it starts ({format_utc(self.start_ms)})"
            )

    def contains(self, timestamp_ms: int) -> bool:
        """Whether a bar opening at ``timestamp_ms`` is inside the range."""
        return (self.start_ms is None or timestamp_ms >= self.start_ms) and (
            self.end_ms is None or timestamp_ms < self.end_ms
        )

    def describe(self) -> str:
        """The range in words for titles and messages, e.g. ``2024-01-01 00:00 → open``."""
        start = format_utc(self.start_ms) if self.start_ms is not None else "open"
        end = format_utc(self.end_ms) if self.end_ms is not None else "open"
        return f"{start} → {end}"


def format_utc(timestamp_ms: int) -> str:
    """``YYYY-MM-DD HH:MM`` (UTC) of an epoch-ms time."""
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _end_ms(text: str, *, whole: str) -> int | None:
    if not text:
        return None
    if not _END.fullmatch(text):
        raise BacktestConfigError(
            f"--timerange {whole!r}: {text!r} is not YYYYMMDD, epoch seconds or epoch ms"
        )
    if len(text) == 8:
        try:
            day = datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            raise BacktestConfigError(f"--timerange {whole!r}: {text!r} is no date") from None
        return round(day.timestamp() * 1000)
    return int(text) * 1000 if len(text) == 10 else int(text)


def parse_timerange(text: str) -> TimeRange:
    """``START-END`` with either end optional (but not both); see the module's docstring."""
    start, dash, end = text.strip().partition("-")
    if not dash:
        raise BacktestConfigError(f"--timerange {text!r}: expected START-END, e.g. 20240101-")
    parsed = TimeRange(start_ms=_end_ms(start, whole=text), end_ms=_end_ms(end, whole=text))
    if parsed.start_ms is None and parsed.end_ms is None:
        raise BacktestConfigError(f"--timerange {text!r} names neither a start nor an end")
    return parsed


def bars_in(bars: BarSeries, timerange: TimeRange) -> BarSeries:
    """The bars opening inside ``timerange``, as a series of their own."""
    stamps = bars.timestamp_ms
    start = 0 if timerange.start_ms is None else int(np.searchsorted(stamps, timerange.start_ms))
    stop = (
        len(bars)
        if timerange.end_ms is None
        else int(np.searchsorted(stamps, timerange.end_ms, side="left"))
    )
    if stop - start < 2:
        first, last = int(stamps[0]), int(stamps[-1])
        raise BacktestDataError(
            f"time range {timerange.describe()} holds {max(0, stop - start)} bar(s); "
            f"the data covers {format_utc(first)} → {format_utc(last)}"
        )
    return bars.window(start=start, stop=stop)
