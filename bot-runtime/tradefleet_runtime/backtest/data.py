"""Bar and L1-book histories the backtester replays: validated arrays, from CSV or synthetic.

The CLI builds a :class:`BarSeries` with :func:`load_csv` or :func:`synthetic_bars`;
the optimizer and walk-forward analysis cut it with :meth:`BarSeries.window`. Every
check happens here once, so the engines can assume finite, consistent, time-ordered bars.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tradefleet_runtime.backtest.errors import BacktestDataError
from tradefleet_runtime.marketdata.synthetic import (
    SyntheticBook,
    SyntheticMarketError,
    generate_market,
)
from tradefleet_runtime.strategies.base import Bar

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SECONDS_PER_YEAR = 365 * 86_400  # crypto markets trade every day
_CSV_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


def _float_column(*, name: str, values: npt.ArrayLike) -> FloatArray:
    array = np.array(values, dtype=np.float64)
    if array.ndim != 1:
        raise BacktestDataError(f"{name} must be one-dimensional, got shape {array.shape}")
    array.flags.writeable = False
    return array


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class BarSeries:
    """OHLCV bars in time order (``timestamp_ms`` = open time), read-only.

    ``regime`` optionally carries a regime label per bar (the synthetic market's true
    regimes, or labels computed offline) for the regime-adaptive strategy.
    """

    timestamp_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    bar_seconds: int
    regime: tuple[str, ...] | None = None

    # Over the complexity limit on purpose: one guard clause per invariant of the columns, read
    # top to bottom.
    def __post_init__(self) -> None:  # noqa: C901
        setter = object.__setattr__
        stamps = np.array(self.timestamp_ms, dtype=np.int64)
        stamps.flags.writeable = False
        setter(self, "timestamp_ms", stamps)
        for name in ("open", "high", "low", "close", "volume"):
            setter(self, name, _float_column(name=name, values=getattr(self, name)))
        n_bars = stamps.shape[0]
        if n_bars < 2:
            raise BacktestDataError(f"a backtest needs at least 2 bars, got {n_bars}")
        columns = (self.open, self.high, self.low, self.close, self.volume)
        if any(column.shape[0] != n_bars for column in columns):
            raise BacktestDataError("timestamp and OHLCV columns must have the same length")
        if self.regime is not None and len(self.regime) != n_bars:
            raise BacktestDataError(
                f"regime labels must cover every bar: {len(self.regime)} labels, {n_bars} bars"
            )
        if isinstance(self.bar_seconds, bool) or not isinstance(self.bar_seconds, int):
            raise BacktestDataError(f"bar_seconds must be an integer, got {self.bar_seconds!r}")
        if self.bar_seconds < 1:
            raise BacktestDataError(f"bar_seconds must be >= 1, got {self.bar_seconds}")
        prices = np.stack(columns[:4])
        if not np.isfinite(prices).all() or (prices <= 0.0).any():
            bad = int(np.flatnonzero(~(np.isfinite(prices) & (prices > 0.0)).all(axis=0))[0])
            raise BacktestDataError(f"bar {bad}: prices must be finite and > 0")
        volume = self.volume
        if not np.isfinite(volume).all() or (volume < 0.0).any():
            bad = int(np.flatnonzero(~(np.isfinite(volume) & (volume >= 0.0)))[0])
            raise BacktestDataError(f"bar {bad}: volume must be finite and >= 0")
        inconsistent = (self.low > np.minimum(self.open, self.close)) | (
            self.high < np.maximum(self.open, self.close)
        )
        if inconsistent.any():
            bad = int(np.flatnonzero(inconsistent)[0])
            raise BacktestDataError(f"bar {bad}: needs low <= open, close <= high")
        backwards = np.flatnonzero(np.diff(stamps) <= 0)
        if backwards.size:
            bad = int(backwards[0]) + 1
            raise BacktestDataError(
                f"bar {bad}: timestamp {int(stamps[bad])} ms is not after the previous bar's"
            )

    def __len__(self) -> int:
        return int(self.timestamp_ms.shape[0])

    @property
    def periods_per_year(self) -> float:
        """Bars per year, to annualise per-bar Sharpe and Sortino ratios."""
        return SECONDS_PER_YEAR / self.bar_seconds

    def bar(self, index: int) -> Bar:
        """Bar ``index`` as the strategy plugins take it."""
        return Bar(
            timestamp_ms=int(self.timestamp_ms[index]),
            open=float(self.open[index]),
            high=float(self.high[index]),
            low=float(self.low[index]),
            close=float(self.close[index]),
            volume=float(self.volume[index]),
            regime=self.regime[index] if self.regime is not None else None,
        )

    def check_start_index(self, start_index: int) -> None:
        """Raise unless trading can start at ``start_index`` with at least 2 bars left."""
        if isinstance(start_index, bool) or not isinstance(start_index, int):
            raise BacktestDataError(f"start_index must be an integer, got {start_index!r}")
        if not 0 <= start_index < len(self) - 1:
            raise BacktestDataError(
                f"start_index must leave at least 2 bars to trade: 0 <= start_index < "
                f"{len(self) - 1}, got {start_index}"
            )

    def window(self, *, start: int, stop: int) -> BarSeries:
        """Bars ``start`` (inclusive) to ``stop`` (exclusive) as a series of their own."""
        if not 0 <= start < stop <= len(self):
            raise BacktestDataError(
                f"window {start}..{stop} is not inside the {len(self)} bars available"
            )
        return BarSeries(
            timestamp_ms=self.timestamp_ms[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
            bar_seconds=self.bar_seconds,
            regime=self.regime[start:stop] if self.regime is not None else None,
        )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class BookSeries:
    """L1 book snapshots in time order, replayed into the order-flow engine between bars."""

    timestamp_ms: IntArray
    bid_price: FloatArray
    bid_size: FloatArray
    ask_price: FloatArray
    ask_size: FloatArray

    def __post_init__(self) -> None:
        setter = object.__setattr__
        stamps = np.array(self.timestamp_ms, dtype=np.int64)
        stamps.flags.writeable = False
        setter(self, "timestamp_ms", stamps)
        for name in ("bid_price", "bid_size", "ask_price", "ask_size"):
            column = _float_column(name=name, values=getattr(self, name))
            if column.shape != stamps.shape:
                raise BacktestDataError(f"{name} must have one value per snapshot")
            setter(self, name, column)
        if (np.diff(stamps) < 0).any():
            raise BacktestDataError("book snapshots must be in time order")

    @classmethod
    def from_synthetic(cls, book: SyntheticBook) -> BookSeries:
        return cls(
            timestamp_ms=book.timestamp_ms,
            bid_price=book.bid_price,
            bid_size=book.bid_size,
            ask_price=book.ask_price,
            ask_size=book.ask_size,
        )


def synthetic_bars(*, seed: int, n_bars: int, bar_seconds: int = 60) -> BarSeries:
    """The labelled synthetic market (regime-switching OHLCV) with its true regime per bar."""
    try:
        market = generate_market(seed=seed, n_bars=n_bars, bar_seconds=bar_seconds)
    except SyntheticMarketError as error:
        raise BacktestDataError(f"synthetic market: {error}") from error
    return BarSeries(
        timestamp_ms=market.timestamp_ms,
        open=market.open,
        high=market.high,
        low=market.low,
        close=market.close,
        volume=market.volume,
        bar_seconds=bar_seconds,
        regime=tuple(market.regime_names[code] for code in market.regime.tolist()),
    )


def _parse_timestamp(*, text: str, row: int) -> int:
    """Milliseconds since the epoch from an integer (s or ms) or an ISO-8601 time (UTC if naive)."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BacktestDataError(
                f"row {row}: timestamp {text!r} is neither a number nor an ISO-8601 time"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return round(moment.timestamp() * 1000)
    if not math.isfinite(number):
        raise BacktestDataError(f"row {row}: timestamp {text!r} is not finite")
    # Epoch seconds stay below 1e11 until the year 5138; larger numbers are milliseconds.
    return round(number * 1000) if abs(number) < 1e11 else round(number)


def _parse_price(*, text: str, column: str, row: int) -> float:
    try:
        return float(text)
    except ValueError:
        raise BacktestDataError(f"row {row}: {column} {text!r} is not a number") from None


def _header(names: list[str]) -> list[str]:
    """Canonical column names: lower case, ``time``/``date``/``datetime`` read as timestamp.

    A first column without a name is the index ``DataFrame.to_csv()`` writes: bars indexed
    by time when no other column names the timestamp, an ignored column otherwise.
    """
    aliases = {"time": "timestamp", "date": "timestamp", "datetime": "timestamp"}
    header = [aliases.get(name, name) for name in (name.strip().lower() for name in names)]
    if header and header[0] == "" and "timestamp" not in header:
        header[0] = "timestamp"
    return header


def _refuse_row_numbers(*, path: Path, body: list[list[str]]) -> None:
    """Raise when the unnamed index taken for the times counts rows (pandas' RangeIndex)."""
    firsts = [row[0].strip() for row in body[:3] if row]
    if len(firsts) >= 2 and firsts == [str(number) for number in range(len(firsts))]:
        raise BacktestDataError(
            f"{path}: the unnamed first column holds row numbers, not times, and no other "
            "column is named timestamp, time or date"
        )


def _read_rows(path: Path) -> list[list[str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as error:
        raise BacktestDataError(f"cannot read {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise BacktestDataError(f"{path} is not UTF-8 text: {error}") from error
    if not rows:
        raise BacktestDataError(f"{path} is empty")
    return rows


def load_csv(path: Path) -> BarSeries:
    """Bars from a CSV with a header naming timestamp, open, high, low, close, volume.

    Column names are matched case-insensitively (``time``/``date`` also name the
    timestamp); timestamps are epoch seconds, epoch milliseconds or ISO-8601. A first
    column without a name (the index ``DataFrame.to_csv()`` writes) holds the times when
    no column is named for them. The bar length is the most common gap between timestamps.
    """
    rows = _read_rows(path)
    header = _header(rows[0])
    missing = [name for name in _CSV_COLUMNS if name not in header]
    if missing:
        raise BacktestDataError(
            f"{path}: header lacks column(s) {', '.join(missing)}; got {', '.join(rows[0])}"
        )
    index = {name: header.index(name) for name in _CSV_COLUMNS}
    body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    if rows[0][0].strip() == "" and index["timestamp"] == 0:
        _refuse_row_numbers(path=path, body=body)
    stamps: list[int] = []
    values: dict[str, list[float]] = {name: [] for name in _CSV_COLUMNS[1:]}
    for number, row in enumerate(body, start=2):
        if len(row) < len(header):
            raise BacktestDataError(f"{path} row {number}: expected {len(header)} fields")
        stamps.append(_parse_timestamp(text=row[index["timestamp"]], row=number))
        for name, column in values.items():
            column.append(_parse_price(text=row[index[name]], column=name, row=number))
    if len(stamps) < 2:
        raise BacktestDataError(f"{path}: needs at least 2 bars, got {len(stamps)}")
    gaps = np.diff(np.array(stamps, dtype=np.int64))
    # Rows out of time order are reported by BarSeries with their position; the bar length
    # comes from the forward gaps.
    lengths, counts = np.unique(gaps[gaps > 0], return_counts=True)
    bar_ms = int(lengths[np.argmax(counts)]) if lengths.size else 1000
    if bar_ms < 1000:
        raise BacktestDataError(f"{path}: bars must be at least 1 s apart, got {bar_ms} ms")
    return BarSeries(
        timestamp_ms=np.array(stamps, dtype=np.int64),
        open=np.array(values["open"]),
        high=np.array(values["high"]),
        low=np.array(values["low"]),
        close=np.array(values["close"]),
        volume=np.array(values["volume"]),
        bar_seconds=bar_ms // 1000,
    )
