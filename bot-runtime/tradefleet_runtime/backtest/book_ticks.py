"""Candles turned into book ticks, for a replay through the live bot
(``python -m tradefleet_runtime replay``) where only candles were recorded.

Called by the backtest CLI's ``book-ticks``. Each bar becomes four ticks, a quarter of the bar
apart, whose mid prices walk open → low → high → close (a bar that closed up) or open → high →
low → close (one that closed down): the path that reaches the far extreme last, so a stop or
target inside the bar is met in a plausible order. The bot rebuilds exactly the candle from them
(its bars are built from the ticks' mids). Each tick quotes ``spread_bps`` around the mid with
``size`` on both sides, so order flow comes from the price moves alone (a candle carries no book).
Candles must open at multiples of their length, as an exchange's do and as the bot builds bars.
The file has the replay feed's columns (:data:`~tradefleet_runtime.marketdata.feeds.REPLAY_COLUMNS`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.marketdata.feeds import REPLAY_COLUMNS

TICKS_PER_BAR = 4


def write_book_ticks(*, bars: BarSeries, path: Path, spread_bps: float, size: float) -> int:
    """Write the ticks of ``bars`` to a CSV at ``path``; the number of ticks written."""
    if not 0.0 <= spread_bps < 10_000.0:
        raise BacktestConfigError(f"--spread-bps must be in [0, 10000), got {spread_bps}")
    if not size > 0.0:
        raise BacktestConfigError(f"--size must be > 0, got {size}")
    bar_ms = bars.bar_seconds * 1000
    unaligned = bars.timestamp_ms % bar_ms != 0
    if unaligned.any():
        first = int(bars.timestamp_ms[unaligned.argmax()])
        raise BacktestConfigError(
            f"candles must open at multiples of their length ({bars.bar_seconds} s, as an "
            f"exchange's do): the bot builds its bars so, and the candle opening at {first} ms "
            "would be split in two"
        )
    half = spread_bps / 2 / 10_000.0
    step_ms = bar_ms // TICKS_PER_BAR
    rows = 0
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPLAY_COLUMNS)
        columns = (bars.timestamp_ms, bars.open, bars.high, bars.low, bars.close)
        for opened, o, h, lo, c in zip(*(column.tolist() for column in columns), strict=True):
            path_prices = (o, lo, h, c) if c >= o else (o, h, lo, c)
            for k, mid in enumerate(path_prices):
                writer.writerow(
                    (opened + k * step_ms, mid * (1 - half), size, mid * (1 + half), size)
                )
                rows += 1
    return rows
