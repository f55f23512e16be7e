"""Candles as book ticks for a replay through the live bot (``book-ticks``): the bot rebuilds
exactly the candles from the ticks, and a bad option is one line and exit code 2."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import numpy as np
import pytest
from tradefleet_runtime.backtest.__main__ import main
from tradefleet_runtime.backtest.book_ticks import write_book_ticks
from tradefleet_runtime.backtest.data import load_csv, synthetic_bars
from tradefleet_runtime.marketdata.feeds import MarketDataError, ReplayMarketFeed

pytestmark = pytest.mark.unit


def _write_candles(path: Path, n_bars: int, *, shift_ms: int = 40_000) -> None:
    """Synthetic candles, opening on the minute as an exchange's (shifted by ``shift_ms``)."""
    bars = synthetic_bars(seed=4, n_bars=n_bars)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("timestamp", "open", "high", "low", "close", "volume"))
        columns = (bars.timestamp_ms + shift_ms, bars.open, bars.high, bars.low, bars.close)
        rows = zip(*(column.tolist() for column in (*columns, bars.volume)), strict=True)
        writer.writerows(rows)


async def _replayed_bars(path: Path) -> list[tuple[int, float, float, float, float]]:
    feed = ReplayMarketFeed(path=path, symbol="BTC/USDT", bar_seconds=60)
    with pytest.raises(MarketDataError, match="exhausted"):
        while True:
            await feed.next_book()
    return [(c.timestamp_ms, c.open, c.high, c.low, c.close) for c in feed.built_bars]


def test_the_bot_rebuilds_the_candles_from_their_ticks(tmp_path: Path) -> None:
    candles = tmp_path / "candles.csv"
    _write_candles(candles, 120)
    bars = load_csv(candles)
    ticks = tmp_path / "book.csv"
    assert write_book_ticks(bars=bars, path=ticks, spread_bps=2.0, size=1.0) == 480
    rebuilt = asyncio.run(_replayed_bars(ticks))
    expected = np.column_stack((bars.timestamp_ms, bars.open, bars.high, bars.low, bars.close))
    # Every candle but the last, which no later tick closes.
    np.testing.assert_allclose(np.array(rebuilt), expected[:-1], rtol=1e-12)


def test_the_command_writes_a_replay_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candles, ticks = tmp_path / "candles.csv", tmp_path / "book.csv"
    _write_candles(candles, 30)
    assert main(["book-ticks", "--data", str(candles), "--out", str(ticks)]) == 0
    assert capsys.readouterr().out == f"{ticks}: 120 ticks from 30 bars\n"
    header, first = ticks.read_text().splitlines()[:2]
    assert header == "timestamp_ms,bid_price,bid_size,ask_price,ask_size"
    bid, ask = float(first.split(",")[1]), float(first.split(",")[3])
    assert (ask - bid) / ((ask + bid) / 2) == pytest.approx(2e-4)


def test_a_negative_spread_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candles = tmp_path / "candles.csv"
    _write_candles(candles, 10)
    arguments = ["book-ticks", "--data", str(candles), "--spread-bps", "-1", "--out", "x.csv"]
    assert main(arguments) == 2
    assert capsys.readouterr().err == "error: --spread-bps must be in [0, 10000), got -1.0\n"


def test_candles_off_the_minute_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candles = tmp_path / "candles.csv"
    _write_candles(candles, 10, shift_ms=0)  # the synthetic market opens 20 s past a minute
    assert main(["book-ticks", "--data", str(candles), "--out", str(tmp_path / "b.csv")]) == 2
    assert capsys.readouterr().err == (
        "error: candles must open at multiples of their length (60 s, as an exchange's do): the "
        "bot builds its bars so, and the candle opening at 1700000000000 ms would be split in two\n"
    )
