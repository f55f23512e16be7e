"""Funding times of perpetual futures, counted per bar, for the backtests that charge funding.

Perpetuals settle funding every 8 hours at 00:00, 08:00 and 16:00 UTC (Binance, Bybit, OKX).
A bar opening at T and lasting L spans the funding times F with T <= F < T + L; a position
open when the bar opens (entered on an earlier bar) is charged for each of them at the
bar's open price: long pays ``rate × quantity × open``, short receives it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FUNDING_INTERVAL_MS = 8 * 3_600_000

IntArray = npt.NDArray[np.int64]


def funding_times_per_bar(*, timestamp_ms: IntArray, bar_seconds: int) -> IntArray:
    """How many funding times fall in each bar's [open, open + length)."""
    stamps = np.asarray(timestamp_ms, dtype=np.int64)
    ends = stamps + 1000 * bar_seconds
    # ceil(x / P) counts the funding times before x; the difference those inside the bar.
    counts: IntArray = -(-ends // FUNDING_INTERVAL_MS) - -(-stamps // FUNDING_INTERVAL_MS)
    return counts
