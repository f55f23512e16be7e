"""Candle history from an exchange into a resumable CSV cache: ``download-data``.

Candles come through ccxt (:class:`CcxtVenue` in market-data mode, no key needed), page by
page with ``since``/``limit``, and land in
``DATADIR/EXCHANGE/SYMBOL/TIMEFRAME/candles.csv`` (``BTC/USDT:USDT`` is ``BTC_USDT_USDT``),
in the ``timestamp,open,high,low,close,volume`` layout :func:`load_csv` reads (epoch ms).

Every page is appended and flushed before the next is asked for, so an interrupted run
(Ctrl-C, a network failure, the exchange refusing) keeps what it had; the next run continues
from the last cached candle. A range starting before the cache's first candle fetches the
missing head and rewrites the file once it is complete. Only closed candles are cached (the
one still forming is left for a later run); a torn last line (the process died mid-write)
is dropped on the next run.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tradefleet_runtime.backtest.errors import BacktestConfigError, BacktestDataError
from tradefleet_runtime.backtest.timerange import TimeRange
from tradefleet_runtime.execution.errors import ExchangeError
from tradefleet_runtime.execution.model import Candle
from tradefleet_runtime.execution.venue import CcxtVenue

HEADER = ("timestamp", "open", "high", "low", "close", "volume")
CACHE_FILE = "candles.csv"
DEFAULT_PAGE_LIMIT = 1_000


@dataclass(frozen=True, kw_only=True, slots=True)
class DownloadRequest:
    """What to fetch: ``timerange`` must have a start (the CLI fills in ``--days``)."""

    exchange_id: str
    symbol: str
    timeframe: str
    timerange: TimeRange
    datadir: Path
    page_limit: int = DEFAULT_PAGE_LIMIT

    def __post_init__(self) -> None:
        if self.timerange.start_ms is None:
            raise BacktestConfigError("a download needs the start of its time range")
        if self.page_limit < 1:
            raise BacktestConfigError(f"page limit must be >= 1, got {self.page_limit}")

    @property
    def start_ms(self) -> int:
        start = self.timerange.start_ms
        if start is None:  # refused above; narrows the type
            raise BacktestConfigError("a download needs the start of its time range")
        return start

    @property
    def path(self) -> Path:
        return cache_path(
            datadir=self.datadir,
            exchange_id=self.exchange_id,
            symbol=self.symbol,
            timeframe=self.timeframe,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class DownloadProgress:
    """Reported after every page written: candles added this run, the newest one's time."""

    fetched: int
    last_ms: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CacheSpan:
    """The candles a cache file holds: first and last open time, and how many."""

    first_ms: int
    last_ms: int
    candles: int


@dataclass(frozen=True, kw_only=True, slots=True)
class DownloadResult:
    path: Path
    fetched: int
    pages: int
    resumed_after_ms: int | None
    span: CacheSpan | None


def cache_path(*, datadir: Path, exchange_id: str, symbol: str, timeframe: str) -> Path:
    """``DATADIR/EXCHANGE/SYMBOL/TIMEFRAME/candles.csv``, the symbol's ``/`` and ``:`` as ``_``."""
    safe_symbol = symbol.replace("/", "_").replace(":", "_")
    return datadir / exchange_id / safe_symbol / timeframe / CACHE_FILE


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line without its newline: what a process killed mid-write leaves."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def cached_span(path: Path) -> CacheSpan | None:
    """What a cache file holds (``None`` without candles); refuses a file of another layout."""
    if not path.exists():
        return None
    _drop_torn_tail(path)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if not rows:
        return None
    if tuple(rows[0]) != HEADER:
        raise BacktestDataError(f"{path} is not a download cache (header {', '.join(rows[0])})")
    if len(rows) == 1:
        return None
    try:
        return CacheSpan(first_ms=int(rows[1][0]), last_ms=int(rows[-1][0]), candles=len(rows) - 1)
    except ValueError:
        raise BacktestDataError(f"{path}: a cached timestamp is not epoch ms") from None


def _write_rows(handle: TextIO, candles: Iterable[Candle]) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerows(
        (c.timestamp_ms, repr(c.open), repr(c.high), repr(c.low), repr(c.close), repr(c.volume))
        for c in candles
    )
    handle.flush()


class _Pager:
    """Pages of closed candles in ``[since, until)``, each handed to ``sink`` as it comes;
    counts the candles and pages of the whole run."""

    __slots__ = ("fetched", "now_ms", "on_page", "pages", "request", "step_ms", "venue")

    def __init__(
        self,
        *,
        venue: CcxtVenue,
        request: DownloadRequest,
        step_ms: int,
        now_ms: int,
        on_page: Callable[[DownloadProgress], None] | None,
    ) -> None:
        self.venue = venue
        self.request = request
        self.step_ms = step_ms
        self.now_ms = now_ms
        self.on_page = on_page
        self.fetched = 0
        self.pages = 0

    async def run(self, *, since: int, until: int, sink: Callable[[list[Candle]], None]) -> None:
        request = self.request
        # No request for a candle that cannot have closed yet.
        while since < until and since + self.step_ms <= self.now_ms:
            try:
                page = await self.venue.fetch_ohlcv_since(
                    symbol=request.symbol,
                    timeframe=request.timeframe,
                    since_ms=since,
                    limit=request.page_limit,
                )
            except ExchangeError as error:
                raise BacktestDataError(
                    f"{request.exchange_id} {request.symbol} {request.timeframe}: {error}; "
                    f"{self.fetched} candle(s) cached this run, run again to resume"
                ) from error
            # Exchanges may answer with candles before ``since`` or past the range, and the
            # newest one is still forming: only closed candles of the range are kept.
            rows = [
                candle
                for candle in page
                if since <= candle.timestamp_ms < until
                and candle.timestamp_ms + self.step_ms <= self.now_ms
            ]
            if not rows:
                return
            sink(rows)
            self.fetched += len(rows)
            self.pages += 1
            since = rows[-1].timestamp_ms + self.step_ms
            if self.on_page is not None:
                self.on_page(DownloadProgress(fetched=self.fetched, last_ms=rows[-1].timestamp_ms))


async def _prepend_head(*, pager: _Pager, path: Path, since: int, until: int) -> None:
    """Fetch ``[since, until)`` before the cache's first candle, then rewrite the file."""
    part = path.with_name(path.name + ".head")
    fetched_before = pager.fetched
    with part.open("w", newline="", encoding="utf-8") as handle:
        await pager.run(since=since, until=until, sink=lambda rows: _write_rows(handle, rows))
    if pager.fetched == fetched_before:  # the exchange has nothing older: keep the file as is
        part.unlink()
        return
    merged = path.with_name(path.name + ".merged")
    with merged.open("w", newline="", encoding="utf-8") as out:
        out.write(",".join(HEADER) + "\n")
        out.write(part.read_text(encoding="utf-8"))
        with path.open(encoding="utf-8") as old:
            next(old)
            for line in old:
                out.write(line)
        out.flush()
        os.fsync(out.fileno())
    os.replace(merged, path)
    part.unlink()


async def download_candles(
    *,
    venue: CcxtVenue,
    request: DownloadRequest,
    now_ms: int,
    on_page: Callable[[DownloadProgress], None] | None = None,
) -> DownloadResult:
    """Bring the cache of ``request`` up to its time range (capped at ``now_ms``).

    ``venue`` has its markets loaded. Raises :class:`BacktestDataError` when the exchange
    fails; every page written before stays cached.
    """
    step_ms = venue.timeframe_ms(request.timeframe)
    path = request.path
    path.parent.mkdir(parents=True, exist_ok=True)
    start = request.start_ms
    end = min(request.timerange.end_ms or now_ms, now_ms)
    pager = _Pager(venue=venue, request=request, step_ms=step_ms, now_ms=now_ms, on_page=on_page)
    span = cached_span(path)
    if span is None:
        path.write_text(",".join(HEADER) + "\n", encoding="utf-8")
    elif start < span.first_ms:
        await _prepend_head(pager=pager, path=path, since=start, until=span.first_ms)
    # The tail always continues from the last cached candle, so the cache has no hole.
    resume = None if span is None else span.last_ms + step_ms
    with path.open("a", newline="", encoding="utf-8") as handle:
        await pager.run(
            since=start if resume is None else resume,
            until=end,
            sink=lambda rows: _write_rows(handle, rows),
        )
    return DownloadResult(
        path=path,
        fetched=pager.fetched,
        pages=pager.pages,
        resumed_after_ms=None if span is None else span.last_ms,
        span=cached_span(path),
    )
