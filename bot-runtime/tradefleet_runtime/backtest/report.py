"""Human-readable output of backtests: a text table, an equity/drawdown PNG, an HTML report.

The CLI (:mod:`tradefleet_runtime.backtest.__main__`) prints :func:`format_table` of
:func:`metrics_rows` and calls :func:`write_report`, which writes into one folder:
``equity.png`` (matplotlib, no display needed), ``price.png`` when given the bars (candles
with the trades marked, :mod:`tradefleet_runtime.backtest.candles`), ``report.html``
(self-contained: the PNGs embedded as base64, the figures and every trade), ``trades.csv``
and ``result.json``.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from tradefleet_runtime.backtest.benchmark import BuyAndHold
from tradefleet_runtime.backtest.candles import price_png
from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.errors import BacktestError
from tradefleet_runtime.backtest.metrics import BacktestMetrics
from tradefleet_runtime.backtest.model import BacktestResult, Trade


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportSection:
    """An extra table of the HTML report (optimization trials, walk-forward windows)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportFiles:
    directory: Path
    png: Path
    html: Path
    trades_csv: Path
    json: Path
    price_png: Path | None = None


def _number(value: float, *, digits: int = 2) -> str:
    return f"{value:,.{digits}f}" if np.isfinite(value) else ("∞" if value > 0 else "−∞")


def metrics_rows(metrics: BacktestMetrics) -> list[tuple[str, str]]:
    """(label, value) pairs of every figure, in reading order."""
    return [
        ("Bars traded", f"{metrics.bars:,}"),
        ("Initial equity", _number(metrics.initial_equity)),
        ("Final equity", _number(metrics.final_equity)),
        ("Total PnL", _number(metrics.total_pnl)),
        ("Total return", f"{_number(metrics.total_return_pct)} %"),
        ("Trades", f"{metrics.trades:,}"),
        ("Win rate", f"{_number(100.0 * metrics.win_rate, digits=1)} %"),
        ("Average win", _number(metrics.average_win)),
        ("Average loss", _number(metrics.average_loss)),
        ("Profit factor", _number(metrics.profit_factor)),
        ("Max drawdown", f"{_number(metrics.max_drawdown_pct)} %"),
        ("Sharpe (annualised)", _number(metrics.sharpe)),
        ("Sortino (annualised)", _number(metrics.sortino)),
        ("Exposure", f"{_number(metrics.exposure_pct, digits=1)} %"),
    ]


def comparison_section(*, result: BacktestResult, hold: BuyAndHold) -> ReportSection:
    """The strategy's return, drawdown and ratios beside buy-and-hold's over the same bars."""
    metrics = result.metrics
    rows = [
        ("Final equity", _number(metrics.final_equity), _number(hold.final_equity)),
        (
            "Total return",
            f"{_number(metrics.total_return_pct)} %",
            f"{_number(hold.total_return_pct)} %",
        ),
        (
            "Max drawdown",
            f"{_number(metrics.max_drawdown_pct)} %",
            f"{_number(hold.max_drawdown_pct)} %",
        ),
        ("Sharpe (annualised)", _number(metrics.sharpe), _number(hold.sharpe)),
        ("Sortino (annualised)", _number(metrics.sortino), _number(hold.sortino)),
    ]
    config = result.config
    title = "Strategy and buy-and-hold over the same bars"
    if config.funding_rate:
        rows.append(("Funding paid", _number(result.funding_paid), _number(hold.funding_paid)))
        title += f" (futures, funding {config.funding_rate_pct:g} % per 8 h)"
    return ReportSection(
        title=title, header=("figure", "strategy", "buy and hold"), rows=tuple(rows)
    )


def format_table(*, rows: Sequence[Sequence[str]], header: Sequence[str] = ()) -> str:
    """A plain-text table with aligned columns (the first left-aligned, the rest right)."""
    table = [list(header), *[list(row) for row in rows]] if header else [list(r) for r in rows]
    if not table:
        return ""
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    lines = [line(row) for row in table]
    if header:
        lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def equity_png(*, result: BacktestResult, title: str, benchmark: BuyAndHold | None = None) -> bytes:
    """Equity (top, with buy-and-hold's when given) and drawdown from the running peak in %
    (bottom) over time, as PNG."""
    times = result.timestamp_ms.astype("datetime64[ms]")
    equity = result.equity
    peak = np.maximum.accumulate(np.concatenate(([result.metrics.initial_equity], equity)))[1:]
    drawdown = 100.0 * (equity / peak - 1.0)
    figure = Figure(figsize=(11, 6), dpi=100, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot(times, equity, color="#1f5fa8", linewidth=1.0, label="strategy")
    if benchmark is not None:
        top.plot(times, benchmark.equity, color="#999999", linewidth=0.8, label="buy and hold")
        top.legend(loc="upper left")
    top.axhline(result.metrics.initial_equity, color="#888888", linewidth=0.8, linestyle="--")
    top.set_ylabel("equity")
    top.set_title(title)
    top.grid(alpha=0.3)
    bottom.fill_between(times, drawdown, 0.0, color="#c0392b", alpha=0.5, linewidth=0)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _iso(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


_TRADE_HEADER = (
    "#",
    "side",
    "entry time",
    "entry bar",
    "entry price",
    "exit time",
    "exit bar",
    "exit price",
    "quantity",
    "PnL",
    "PnL %",
    "exit reason",
)


def _trade_row(number: int, trade: Trade) -> tuple[str, ...]:
    return (
        str(number),
        trade.side,
        _iso(trade.entry_time_ms),
        str(trade.entry_index),
        f"{trade.entry_price:.6g}",
        _iso(trade.exit_time_ms),
        str(trade.exit_index),
        f"{trade.exit_price:.6g}",
        f"{trade.quantity:.6g}",
        _number(trade.pnl),
        _number(trade.pnl_pct),
        trade.exit_reason.value,
    )


def _html_table(*, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; }
"""


def render_html(
    *,
    result: BacktestResult,
    title: str,
    png: bytes,
    sections: Sequence[ReportSection] = (),
    price: bytes | None = None,
) -> str:
    """The self-contained HTML report (with the price chart when ``price`` is given)."""
    parameters = sorted(result.parameters.to_spec().items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Strategy <b>{html.escape(result.strategy)}</b> on {html.escape(result.config.symbol)}; "
        f"fee {result.config.fee_pct:g} %, slippage {result.config.slippage_pct:g} % per fill.</p>",
        f'<img alt="equity and drawdown" src="data:image/png;base64,{base64.b64encode(png).decode()}">',
        *(
            ()
            if price is None
            else (
                f'<img alt="price with entries and exits" src="data:image/png;base64,{base64.b64encode(price).decode()}">',
            )
        ),
        "<h2>Figures</h2>",
        _html_table(header=("figure", "value"), rows=metrics_rows(result.metrics)),
        "<h2>Parameters</h2>",
        _html_table(header=("parameter", "value"), rows=[(k, f"{v:g}") for k, v in parameters]),
    ]
    if result.rejected_entries:
        parts += [
            "<h2>Entry signals not traded</h2>",
            _html_table(
                header=("cause", "signals"),
                rows=[
                    (cause, str(count)) for cause, count in sorted(result.rejected_entries.items())
                ],
            ),
        ]
    for section in sections:
        parts += [
            f"<h2>{html.escape(section.title)}</h2>",
            _html_table(header=section.header, rows=section.rows),
        ]
    parts += [
        f"<h2>Trades ({len(result.trades)})</h2>",
        _html_table(
            header=_TRADE_HEADER,
            rows=[_trade_row(number, trade) for number, trade in enumerate(result.trades, 1)],
        ),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(
    *,
    result: BacktestResult,
    out_dir: Path,
    title: str,
    sections: Sequence[ReportSection] = (),
    extra_json: Mapping[str, object] | None = None,
    benchmark: BuyAndHold | None = None,
    bars: BarSeries | None = None,
) -> ReportFiles:
    """Write equity.png, report.html, trades.csv and result.json into ``out_dir``.

    With ``benchmark``, buy-and-hold is drawn beside the strategy, compared in a table
    (before ``sections``) and written to result.json as ``buyAndHold``. With ``bars`` (the
    series the backtest ran on), price.png draws them as candles with the trades marked.
    """
    files = ReportFiles(
        directory=out_dir,
        png=out_dir / "equity.png",
        html=out_dir / "report.html",
        trades_csv=out_dir / "trades.csv",
        json=out_dir / "result.json",
        price_png=None if bars is None else out_dir / "price.png",
    )
    png = equity_png(result=result, title=title, benchmark=benchmark)
    price = None if bars is None else price_png(bars=bars, result=result, title=title)
    document: dict[str, object] = {"backtest": result.to_dict()}
    if benchmark is not None:
        document["buyAndHold"] = benchmark.to_dict()
        sections = [comparison_section(result=result, hold=benchmark), *sections]
    if extra_json:
        document.update(extra_json)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        files.png.write_bytes(png)
        if files.price_png is not None and price is not None:
            files.price_png.write_bytes(price)
        files.html.write_text(
            render_html(result=result, title=title, png=png, sections=sections, price=price),
            encoding="utf-8",
        )
        with files.trades_csv.open("w", newline="", encoding="utf-8") as handle:
            names = [item.name for item in fields(Trade)]
            writer = csv.DictWriter(handle, fieldnames=[*names, "pnl_pct"])
            writer.writeheader()
            for trade in result.trades:
                row = {name: getattr(trade, name) for name in names}
                row["exit_reason"] = trade.exit_reason.value
                row["pnl_pct"] = trade.pnl_pct
                writer.writerow(row)
        files.json.write_text(json.dumps(document, indent=2, allow_nan=False), encoding="utf-8")
    except OSError as error:
        raise BacktestError(
            f"cannot write the report to {out_dir}: {error.strerror or error}"
        ) from error
    return files
