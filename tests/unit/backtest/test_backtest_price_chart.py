"""The report's price chart: candles of the traded bars with every entry and exit marked."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from tradefleet_runtime.backtest.candles import trade_marks
from tradefleet_runtime.backtest.data import synthetic_bars
from tradefleet_runtime.backtest.engine import run_backtest
from tradefleet_runtime.backtest.report import write_report
from tradefleet_runtime.strategies.parameters import StrategyParameters

pytestmark = pytest.mark.unit


def test_every_trade_is_marked_at_its_bar_and_fill_and_the_chart_is_in_the_report(
    tmp_path: Path,
) -> None:
    bars = synthetic_bars(seed=4, n_bars=400)
    result = run_backtest(
        bars=bars,
        strategy_name="ema_rsi",
        parameters=StrategyParameters.from_spec({"emaFast": 5, "emaSlow": 20}),
        start_index=50,
    )
    longs = [t for t in result.trades if t.direction > 0]
    shorts = [t for t in result.trades if t.direction < 0]
    assert longs and shorts
    marks = trade_marks(result)
    assert marks.long_entry_ms.tolist() == [t.entry_time_ms for t in longs]
    assert marks.long_entry_price.tolist() == [t.entry_price for t in longs]
    assert marks.short_entry_ms.tolist() == [t.entry_time_ms for t in shorts]
    assert marks.short_entry_price.tolist() == [t.entry_price for t in shorts]
    assert marks.exit_ms.tolist() == [t.exit_time_ms for t in result.trades]
    assert marks.exit_price.tolist() == [t.exit_price for t in result.trades]
    assert all(int(bars.timestamp_ms[50]) <= t.entry_time_ms for t in result.trades)

    files = write_report(result=result, out_dir=tmp_path, title="chart", bars=bars)
    assert files.price_png == tmp_path / "price.png"
    picture = files.price_png.read_bytes()
    assert picture.startswith(b"\x89PNG")
    page = files.html.read_text()
    embedded = page.split('alt="price with entries and exits" src="data:image/png;base64,')[1]
    assert base64.b64decode(embedded.split('"')[0]) == picture
    # Without the bars there is no price chart.
    plain = write_report(result=result, out_dir=tmp_path / "plain", title="chart")
    assert plain.price_png is None and not (tmp_path / "plain" / "price.png").exists()
