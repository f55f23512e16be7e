"""``download-data`` against the local exchange: paging, an interrupted run resumed, a head
prepended, and a backtest on the file it wrote."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from tradefleet_devtools.exchange import LocalExchange, LocalExchangeOptions
from tradefleet_devtools.exchange.faults import FaultKind, FaultRule
from tradefleet_runtime.backtest.__main__ import main
from tradefleet_runtime.backtest.data import load_csv
from tradefleet_runtime.backtest.download import (
    DownloadProgress,
    DownloadRequest,
    cache_path,
    download_candles,
)
from tradefleet_runtime.backtest.errors import BacktestDataError
from tradefleet_runtime.backtest.timerange import TimeRange
from tradefleet_runtime.execution.venue import CcxtVenue, VenueMode

pytestmark = pytest.mark.integration

SYMBOL = "BTC/USDT:USDT"
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
KLINES = "GET /fapi/v1/klines"


@pytest.fixture
async def local_exchange() -> AsyncIterator[LocalExchange]:
    # Ten hours of one-second price steps: 600 one-minute candles, volatile enough to trade.
    options = LocalExchangeOptions(
        symbols=(SYMBOL,), api_key="k", api_secret="s", volatility=0.001, history_steps=36_000
    )
    async with LocalExchange(options) as running:
        yield running


@pytest.fixture
async def market_data(local_exchange: LocalExchange) -> AsyncIterator[CcxtVenue]:
    market_data = CcxtVenue(
        exchange_id="binanceusdm",
        mode=VenueMode.MARKET_DATA,
        base_url_override=local_exchange.base_url,
    )
    await market_data.load_markets()
    yield market_data
    await market_data.close()


def _minute(ms: int) -> int:
    return ms - ms % MINUTE_MS


def _request(datadir: Path, *, start_ms: int, end_ms: int | None = None) -> DownloadRequest:
    return DownloadRequest(
        exchange_id="binanceusdm",
        symbol=SYMBOL,
        timeframe="1m",
        timerange=TimeRange(start_ms=start_ms, end_ms=end_ms),
        datadir=datadir,
        page_limit=100,
    )


def _stamps(path: Path) -> list[int]:
    return [int(line.split(",")[0]) for line in path.read_text().splitlines()[1:]]


async def test_an_interrupted_download_resumes_after_its_last_cached_candle(
    local_exchange: LocalExchange, market_data: CcxtVenue, tmp_path: Path
) -> None:
    now = round(time.time() * 1000)
    start = _minute(now) - 8 * HOUR_MS
    request = _request(tmp_path, start_ms=start)

    def fail_after_two_pages(progress: DownloadProgress) -> None:
        if progress.fetched == 200:
            # The exchange answers the next kline request with a 503.
            local_exchange.faults.add([FaultRule(kind=FaultKind.HTTP_5XX, path="/fapi/v1/klines")])

    with pytest.raises(BacktestDataError, match=r"200 candle.* cached this run, run again"):
        await download_candles(
            venue=market_data, request=request, now_ms=now, on_page=fail_after_two_pages
        )
    path = cache_path(datadir=tmp_path, exchange_id="binanceusdm", symbol=SYMBOL, timeframe="1m")
    assert path == tmp_path / "binanceusdm" / "BTC_USDT_USDT" / "1m" / "candles.csv"
    first_run = _stamps(path)
    assert first_run == [start + i * MINUTE_MS for i in range(200)]
    requests_before = local_exchange.request_counts[KLINES]

    now = round(time.time() * 1000)
    resumed = await download_candles(venue=market_data, request=request, now_ms=now)
    assert resumed.resumed_after_ms == first_run[-1]
    # 8 hours of closed minutes: 480, less the one still forming if the clock just turned.
    expected = (_minute(now) - start) // MINUTE_MS
    assert resumed.fetched == expected - 200
    assert local_exchange.request_counts[KLINES] - requests_before == resumed.pages == 3
    stamps = _stamps(path)
    assert stamps[0] == start and len(stamps) == expected
    assert {later - earlier for earlier, later in pairwise(stamps)} == {MINUTE_MS}
    # What was cached in two runs is what the exchange serves in one go.
    whole = await market_data.fetch_ohlcv(symbol=SYMBOL, timeframe="1m", limit=len(stamps) + 2)
    served = {candle.timestamp_ms: candle.close for candle in whole}
    cached = load_csv(path)
    assert cached.close.tolist() == [served[stamp] for stamp in stamps]


async def test_a_range_starting_before_the_cache_prepends_the_head(
    market_data: CcxtVenue, tmp_path: Path
) -> None:
    now = round(time.time() * 1000)
    base = _minute(now) - 8 * HOUR_MS
    await download_candles(
        venue=market_data,
        request=_request(tmp_path, start_ms=base + 2 * HOUR_MS, end_ms=base + 3 * HOUR_MS),
        now_ms=now,
    )
    wider = await download_candles(
        venue=market_data,
        request=_request(tmp_path, start_ms=base + HOUR_MS, end_ms=base + 4 * HOUR_MS),
        now_ms=now,
    )
    assert wider.fetched == 120
    assert wider.span is not None and wider.span.candles == 180
    stamps = _stamps(wider.path)
    assert stamps == [base + HOUR_MS + i * MINUTE_MS for i in range(180)]
    assert not list(wider.path.parent.glob("*.head")) and not list(
        wider.path.parent.glob("*.merged")
    )


async def _cli(*arguments: str) -> str:
    """``python -m tradefleet_runtime.backtest`` in its own process (this loop serves the
    exchange meanwhile); its stdout, after checking it exited 0."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tradefleet_runtime.backtest",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_download_data_command_then_a_backtest_on_what_it_wrote(
    local_exchange: LocalExchange, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start_s = (_minute(round(time.time() * 1000)) - 9 * HOUR_MS) // 1000
    common = (
        "download-data",
        "--exchange", "binanceusdm",
        "--symbol", SYMBOL,
        "--timeframe", "1m",
        "--datadir", str(tmp_path / "data"),
        "--base-url", local_exchange.base_url,
        "--page-limit", "250",
    )  # fmt: skip
    first = await _cli(*common, "--timerange", f"{start_s}-{start_s + 4 * 3600}")
    assert "240 candles fetched" in first and "this run: 240 candles in 1 page(s)" in first
    second = await _cli(*common, "--timerange", f"{start_s}-", "--no-progress")
    path = tmp_path / "data" / "binanceusdm" / "BTC_USDT_USDT" / "1m" / "candles.csv"
    assert f"resumed after {_utc(start_s * 1000 + 239 * MINUTE_MS)}" in second
    assert f"{path}: " in second and "candles fetched" not in second
    bars = load_csv(path)
    assert bars.bar_seconds == 60 and len(bars) >= 539
    assert np.all(np.diff(bars.timestamp_ms) == MINUTE_MS)

    out = tmp_path / "report"
    code = main(
        ["backtest", "--data", str(path), "--param", "emaFast=5", "--param", "emaSlow=20",
         "--param", "stopLossPct=0.3", "--param", "takeProfitPct=0.6",
         "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert f"{len(bars):,} bars of 60 s" in printed and "Sharpe (annualised)" in printed
    assert (out / "report.html").exists() and (out / "trades.csv").exists()


def _utc(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))
