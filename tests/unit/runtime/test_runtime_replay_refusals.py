"""What ``python -m tradefleet_runtime replay`` refuses, and how it says so: one line naming the
setting to change, exit code 2, before anything is started."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_runtime_config import rendered
from tradefleet_runtime.__main__ import main

pytestmark = pytest.mark.unit


def _replay(tmp_path: Path, capsys: pytest.CaptureFixture[str], **changes: Any) -> str:
    config = tmp_path / "bot.json"
    config.write_text(json.dumps(rendered(**changes)))
    assert main(["replay", str(config)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.strip()


def test_a_bot_on_exchange_market_data_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = _replay(tmp_path, capsys, exchange__mode="paper")
    assert error == (
        "replay: marketData.source must be replay (with marketData.replayPath, a file of book "
        "ticks), got exchange"
    )


def test_a_bot_that_would_trade_on_an_exchange_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = _replay(
        tmp_path, capsys, marketData={"source": "replay", "replayPath": str(tmp_path / "t.csv")}
    )
    assert error == "replay: exchange.mode must be paper, got testnet"


def test_a_replay_file_that_is_not_there_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "t.csv"
    error = _replay(
        tmp_path,
        capsys,
        exchange__mode="paper",
        exchange__credentials=None,
        marketData={"source": "replay", "replayPath": str(missing)},
    )
    assert error == f"replay: marketData.replayPath {missing} is not a readable file"


def test_a_bot_with_signal_sources_needs_their_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "t.csv").write_text("timestamp_ms,bid_price,bid_size,ask_price,ask_size\n")
    error = _replay(
        tmp_path,
        capsys,
        exchange__mode="paper",
        exchange__credentials=None,
        marketData={"source": "replay", "replayPath": str(tmp_path / "t.csv")},
    )
    assert error == (
        "replay: the bot reads SignalSources (news): give their recording (record-signals), "
        "or remove them from signalSources"
    )


def test_a_missing_config_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nowhere.json")]) == 2
    assert capsys.readouterr().err.startswith("replay: ")


def test_a_replay_file_without_its_columns_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ticks = tmp_path / "t.csv"
    ticks.write_text("time,price\n1700000000000,30000\n")
    error = _replay(
        tmp_path,
        capsys,
        exchange__mode="paper",
        exchange__credentials=None,
        signalSources=[],
        marketData={"source": "replay", "replayPath": str(ticks)},
    )
    assert error == (
        f"replay: the replay file gives no ticks: {ticks}: CSV lacks column(s) ask_price, "
        "ask_size, bid_price, bid_size, timestamp_ms"
    )
