"""``--timerange``: freqtrade's notation, open ends, and the bars a backtest then replays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tradefleet_runtime.backtest.__main__ import main
from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.errors import BacktestConfigError, BacktestDataError
from tradefleet_runtime.backtest.timerange import TimeRange, bars_in, parse_timerange

pytestmark = pytest.mark.unit

JAN_1 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


@pytest.mark.parametrize(
    ("text", "start_ms", "end_ms"),
    [
        ("20240101-20240301", JAN_1, JAN_1 + 60 * DAY_MS),
        ("20240101-", JAN_1, None),
        ("-20240102", None, JAN_1 + DAY_MS),
        ("1704067200-1704070800", JAN_1, JAN_1 + HOUR_MS),
        ("1704067200000-", JAN_1, None),
    ],
)
def test_timeranges_parse_in_freqtrade_notation(
    text: str, start_ms: int | None, end_ms: int | None
) -> None:
    assert parse_timerange(text) == TimeRange(start_ms=start_ms, end_ms=end_ms)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("20240101", "expected START-END"),
        ("-", "neither a start nor an end"),
        ("2024-01-01-", "is not YYYYMMDD"),
        ("20241301-", "is no date"),
        ("20240301-20240101", "ends .* before it starts"),
    ],
)
def test_bad_timeranges_are_refused(text: str, message: str) -> None:
    with pytest.raises(BacktestConfigError, match=message):
        parse_timerange(text)


def _hourly_bars(days: int) -> BarSeries:
    n = days * 24
    close = 100.0 + np.sin(np.arange(n) / 5.0)
    return BarSeries(
        timestamp_ms=JAN_1 + np.arange(n) * HOUR_MS,
        open=close,
        high=close + 0.5,
        low=close - 0.5,
        close=close,
        volume=np.ones(n),
        bar_seconds=3600,
    )


def test_the_start_is_inclusive_and_the_end_exclusive() -> None:
    bars = _hourly_bars(3)
    day_two = bars_in(bars, parse_timerange("20240102-20240103"))
    assert len(day_two) == 24
    assert day_two.timestamp_ms[0] == JAN_1 + DAY_MS
    assert day_two.timestamp_ms[-1] == JAN_1 + 2 * DAY_MS - HOUR_MS
    assert len(bars_in(bars, parse_timerange("20240102-"))) == 48
    assert len(bars_in(bars, parse_timerange("-20240102"))) == 24


def test_a_range_outside_the_data_says_what_the_data_covers() -> None:
    with pytest.raises(BacktestDataError, match=r"holds 0 bar\(s\); the data covers 2024-01-01"):
        bars_in(_hourly_bars(2), parse_timerange("20240201-"))


def _write_csv(path: Path, bars: BarSeries) -> None:
    lines = ["timestamp,open,high,low,close,volume"]
    for index in range(len(bars)):
        bar = bars.bar(index)
        lines.append(f"{bar.timestamp_ms},{bar.open},{bar.high},{bar.low},{bar.close},1")
    path.write_text("\n".join(lines) + "\n")


def test_backtest_replays_only_the_bars_of_the_timerange(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "bars.csv"
    _write_csv(data, _hourly_bars(10))
    common = ["--data", str(data), "--out", str(tmp_path / "out"), "--no-progress"]
    assert main(["backtest", *common, "--timerange", "20240103-20240106"]) == 0
    out = capsys.readouterr().out
    assert "2024-01-03 00:00 → 2024-01-06 00:00, 72 bars of 3600 s" in out
    # Open end: from Jan 8 to the end of the data (3 days).
    assert main(["backtest", *common, "--timerange", "20240108-"]) == 0
    assert "72 bars of 3600 s" in capsys.readouterr().out
    # Without --timerange, --bars keeps its meaning (the last N bars).
    assert main(["backtest", *common, "--bars", "50"]) == 0
    assert "50 bars of 3600 s" in capsys.readouterr().out


def test_a_bad_timerange_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["backtest", "--synthetic", "1", "--timerange", "2024", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "expected START-END" in capsys.readouterr().err
    assert (
        main(["backtest", "--synthetic", "1", "--timerange", "20240101-", "--out", str(tmp_path)])
        == 2
    )
    assert "selects bars of --data, not --synthetic" in capsys.readouterr().err
