"""The price the backtest traded, as candles with its entries and exits marked (``price.png``).

Each bar is a candle (green when it closed at or above its open, red below): a thin line
from low to high and a thick one from open to close. Long entries are green triangles up,
short entries red triangles down, exits black crosses, each at its bar and fill price.
Only the bars from ``start_index`` on are drawn (earlier ones only warmed the indicators
up). On long series the candles thin out to lines, still one per bar.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.model import BacktestResult

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_UP = "#26a269"
_DOWN = "#c0392b"


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class TradeMarks:
    """Where the chart marks the trades: open times (ms) and fill prices."""

    long_entry_ms: IntArray
    long_entry_price: FloatArray
    short_entry_ms: IntArray
    short_entry_price: FloatArray
    exit_ms: IntArray
    exit_price: FloatArray


def trade_marks(result: BacktestResult) -> TradeMarks:
    """The markers of ``result``'s trades."""
    trades = result.trades
    longs = [t for t in trades if t.direction > 0]
    shorts = [t for t in trades if t.direction < 0]
    return TradeMarks(
        long_entry_ms=np.array([t.entry_time_ms for t in longs], dtype=np.int64),
        long_entry_price=np.array([t.entry_price for t in longs], dtype=np.float64),
        short_entry_ms=np.array([t.entry_time_ms for t in shorts], dtype=np.int64),
        short_entry_price=np.array([t.entry_price for t in shorts], dtype=np.float64),
        exit_ms=np.array([t.exit_time_ms for t in trades], dtype=np.int64),
        exit_price=np.array([t.exit_price for t in trades], dtype=np.float64),
    )


def price_png(*, bars: BarSeries, result: BacktestResult, title: str) -> bytes:
    """Candles of ``bars`` from the result's start index on, with its trades marked, as PNG."""
    start = result.start_index
    times = bars.timestamp_ms[start:].astype("datetime64[ms]")
    open_, high, low, close = (
        bars.open[start:],
        bars.high[start:],
        bars.low[start:],
        bars.close[start:],
    )
    colours = [_UP if up else _DOWN for up in (close >= open_).tolist()]
    # ~800 px of plot: a body as wide as a bar's share of it, between a hairline and 6 pt.
    body_width = float(np.clip(550.0 / len(times), 0.5, 6.0))
    figure = Figure(figsize=(11, 5), dpi=100, layout="constrained")
    axes = figure.subplots()
    axes.vlines(times, low, high, colors=colours, linewidth=min(body_width, 0.8))
    axes.vlines(
        times, np.minimum(open_, close), np.maximum(open_, close), colors=colours,
        linewidth=body_width,
    )  # fmt: skip
    marks = trade_marks(result)
    for when, price, marker, colour, label in (
        (marks.long_entry_ms, marks.long_entry_price, "^", _UP, "long entry"),
        (marks.short_entry_ms, marks.short_entry_price, "v", _DOWN, "short entry"),
        (marks.exit_ms, marks.exit_price, "x", "#000000", "exit"),
    ):
        if when.size:
            axes.scatter(
                when.astype("datetime64[ms]"), price, marker=marker, color=colour, s=36,
                zorder=3, label=label,
            )  # fmt: skip
    if result.trades:
        axes.legend(loc="upper left")
    axes.set_ylabel("price")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
