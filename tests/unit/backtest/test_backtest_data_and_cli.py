"""Bar data from CSV and its validation; the CLI's table, report files and error exits."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from tradefleet_runtime.backtest.__main__ import main
from tradefleet_runtime.backtest.data import BarSeries, load_csv
from tradefleet_runtime.backtest.errors import BacktestDataError

pytestmark = pytest.mark.unit

CSV = """Timestamp,Open,High,Low,Close,Volume
2024-01-01T00:00:00Z,100,101,99,100.5,10
2024-01-01T00:01:00Z,100.5,102,100,101.5,12
2024-01-01T00:02:00Z,101.5,101.5,100.5,101,8
"""


def test_a_csv_with_iso_times_loads_with_its_bar_length(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(CSV)
    bars = load_csv(path)
    assert len(bars) == 3
    assert bars.bar_seconds == 60
    assert bars.timestamp_ms[0] == 1_704_067_200_000
    np.testing.assert_array_equal(bars.close, [100.5, 101.5, 101.0])


def test_epoch_seconds_and_milliseconds_both_load(tmp_path: Path) -> None:
    for stamps in (("1704067200", "1704067260"), ("1704067200000", "1704067260000")):
        path = tmp_path / "bars.csv"
        path.write_text(
            f"time,open,high,low,close,volume\n{stamps[0]},1,1,1,1,0\n{stamps[1]},1,2,1,2,0\n"
        )
        assert load_csv(path).timestamp_ms.tolist() == [1_704_067_200_000, 1_704_067_260_000]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,open,high,low,close\n1,1,1,1,1\n", "lacks column.*volume"),
        (CSV.replace("100.5,10", "abc,10"), "row 2: close 'abc' is not a number"),
        (CSV.replace("102,100,101.5", "100,100,101.5"), "bar 1: needs low <= open, close <= high"),
        (CSV.replace("00:02:00", "00:00:30"), "bar 2: timestamp .* is not after"),
        (CSV.replace("2024-01-01T00:01:00Z", "yesterday"), "neither a number nor an ISO-8601"),
    ],
)
def test_bad_csv_files_are_refused_with_the_row(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(text)
    with pytest.raises(BacktestDataError, match=message):
        load_csv(path)


# What ``DataFrame.to_csv()`` writes for OHLCV bars indexed by time: the index is the first
# column and has no name (pandas 3.1, an unnamed DatetimeIndex, UTC and naive).
PANDAS_TIME_INDEX = """,open,high,low,close,volume
2024-01-01 00:00:00+00:00,100.0,101.0,99.0,100.5,10.0
2024-01-01 00:01:00+00:00,100.5,102.0,100.0,101.5,12.0
2024-01-01 00:02:00+00:00,101.5,101.5,100.5,101.0,8.0
"""
# ... and for bars with a timestamp column and the default RangeIndex.
PANDAS_ROW_INDEX = """,timestamp,open,high,low,close,volume
0,1704067200000,100.0,101.0,99.0,100.5,10.0
1,1704067260000,100.5,102.0,100.0,101.5,12.0
2,1704067320000,101.5,101.5,100.5,101.0,8.0
"""


@pytest.mark.parametrize(
    "text",
    [PANDAS_TIME_INDEX, PANDAS_TIME_INDEX.replace("+00:00", ""), PANDAS_ROW_INDEX],
    ids=["utc-index", "naive-index", "row-index"],
)
def test_a_csv_written_by_pandas_with_its_index_loads(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(text)
    bars = load_csv(path)
    assert bars.timestamp_ms.tolist() == [1_704_067_200_000, 1_704_067_260_000, 1_704_067_320_000]
    assert bars.bar_seconds == 60
    np.testing.assert_array_equal(bars.close, [100.5, 101.5, 101.0])
    np.testing.assert_array_equal(bars.volume, [10.0, 12.0, 8.0])


def test_an_unnamed_row_number_column_is_not_taken_for_times(tmp_path: Path) -> None:
    # Bars without a time column, written with pandas' default RangeIndex: 0, 1, 2 would
    # read as epoch seconds of 1970.
    path = tmp_path / "bars.csv"
    path.write_text(",open,high,low,close,volume\n0,1,1,1,1,0\n1,1,2,1,2,0\n2,2,2,1,1,0\n")
    with pytest.raises(BacktestDataError, match="row numbers, not times"):
        load_csv(path)


def test_a_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(BacktestDataError, match="cannot read"):
        load_csv(tmp_path / "absent.csv")


def test_windows_are_series_of_their_own() -> None:
    bars = BarSeries(
        timestamp_ms=np.arange(5) * 1000,
        open=np.ones(5),
        high=np.ones(5),
        low=np.ones(5),
        close=np.ones(5),
        volume=np.zeros(5),
        bar_seconds=1,
        regime=("squeeze",) * 5,
    )
    window = bars.window(start=1, stop=4)
    assert len(window) == 3
    assert window.regime == ("squeeze",) * 3
    with pytest.raises(BacktestDataError, match="not inside"):
        bars.window(start=3, stop=9)


def test_backtest_command_prints_the_table_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "backtest",
            "--synthetic", "4",
            "--bars", "1500",
            "--param", "emaFast=5",
            "--param", "emaSlow=20",
            "--out", str(tmp_path),
            "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "Sharpe (annualised)" in out and "Max drawdown" in out
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in page
    encoded = page.split("data:image/png;base64,")[1].split('"')[0]
    assert base64.b64decode(encoded) == (tmp_path / "equity.png").read_bytes()
    assert (tmp_path / "equity.png").read_bytes().startswith(b"\x89PNG")
    document = json.loads((tmp_path / "result.json").read_text())
    trades = document["backtest"]["trades"]
    assert trades and page.count("<tr>") >= len(trades)
    assert len((tmp_path / "trades.csv").read_text().splitlines()) == len(trades) + 1


def test_optimize_command_runs_search_and_walk_forward(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "optimize",
            "--synthetic", "4",
            "--bars", "2000",
            "--trials", "40",
            "--walk-forward",
            "--train-bars", "800",
            "--test-bars", "400",
            "--out", str(tmp_path),
            "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "best trial" in out and "Walk-forward:" in out and "verdict" in out
    document = json.loads((tmp_path / "result.json").read_text())
    assert document["search"]["trials"] == 40
    assert len(document["walkForward"]["windows"]) == 3


def test_optimize_searches_the_plugin_it_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "optimize",
            "--strategy", "momentum_breakout",
            "--synthetic", "4",
            "--bars", "1500",
            "--trials", "12",
            "--min-trades", "1",
            "--walk-forward",
            "--train-bars", "600",
            "--test-bars", "300",
            "--out", str(tmp_path),
            "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("momentum_breakout random search, 12 trials")
    document = json.loads((tmp_path / "result.json").read_text())
    tuned = set(document["search"]["best"]["parameters"])
    assert tuned == {
        "breakoutLookback", "volumeWindow", "volumeSpikeMultiplier", "stopLossPct",
        "takeProfitPct", "riskPerTradePct",
    }  # fmt: skip
    windows = document["walkForward"]["windows"]
    assert all(set(w["parameters"]) == tuned for w in windows if w["parameters"])


def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["backtest", "--synthetic", "1", "--bars", "300", "--param", "emaFast=50",
         "--out", str(tmp_path), "--no-progress"]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "error: spec.strategy.parameters.emaFast: emaFast (50) must be below emaSlow"
    )
    assert "Traceback" not in err
