"""The download cache file: where it lives, what a killed writer leaves, foreign files."""

from __future__ import annotations

from pathlib import Path

import pytest
from tradefleet_runtime.backtest.data import load_csv
from tradefleet_runtime.backtest.download import (
    CacheSpan,
    DownloadRequest,
    cache_path,
    cached_span,
)
from tradefleet_runtime.backtest.errors import BacktestConfigError, BacktestDataError
from tradefleet_runtime.backtest.timerange import TimeRange

pytestmark = pytest.mark.unit

CACHE = (
    "timestamp,open,high,low,close,volume\n"
    "1704067200000,100.0,101.0,99.0,100.5,10.0\n"
    "1704067260000,100.5,102.0,100.0,101.5,12.0\n"
)


def test_a_torn_last_line_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "candles.csv"
    path.write_text(CACHE + "1704067320000,101.5,10")
    assert cached_span(path) == CacheSpan(
        first_ms=1_704_067_200_000, last_ms=1_704_067_260_000, candles=2
    )
    assert path.read_text() == CACHE
    assert load_csv(path).close.tolist() == [100.5, 101.5]


def test_a_file_of_another_layout_is_not_taken_for_a_cache(tmp_path: Path) -> None:
    path = tmp_path / "candles.csv"
    path.write_text(CACHE.replace("timestamp,", "date,"))
    with pytest.raises(BacktestDataError, match="is not a download cache"):
        cached_span(path)


def test_an_empty_or_absent_cache_holds_nothing(tmp_path: Path) -> None:
    assert cached_span(tmp_path / "absent.csv") is None
    header_only = tmp_path / "candles.csv"
    header_only.write_text(CACHE.splitlines()[0] + "\n")
    assert cached_span(header_only) is None


def test_one_directory_per_exchange_symbol_and_timeframe(tmp_path: Path) -> None:
    assert cache_path(
        datadir=tmp_path, exchange_id="binanceusdm", symbol="ETH/USDT:USDT", timeframe="4h"
    ) == (tmp_path / "binanceusdm" / "ETH_USDT_USDT" / "4h" / "candles.csv")


def test_a_download_needs_a_start(tmp_path: Path) -> None:
    with pytest.raises(BacktestConfigError, match="needs the start"):
        DownloadRequest(
            exchange_id="binance",
            symbol="BTC/USDT",
            timeframe="1m",
            timerange=TimeRange(end_ms=1_704_067_200_000),
            datadir=tmp_path,
        )
