"""Command line of the backtester:
``python -m tradefleet_runtime.backtest {backtest,optimize,download-data,record-signals,book-ticks}``.

Run by people (and CI demos). ``backtest`` replays bars through one strategy plugin with
the event-driven engine, alone or fused (``--fusion-weight``) with the regime, order flow and a
recording of the bot's SignalSources (``--signals``); ``optimize`` searches a plugin's
parameters (EMA/RSI in the grid engine, the others in the event-driven one; random or
Bayesian), optionally runs a walk-forward analysis, and backtests the winner. Both print a
summary table and write an equity/drawdown PNG, a self-contained HTML report, trades.csv and
result.json into ``--out``. ``download-data`` caches an exchange's candles as a CSV those two
read (``backtest.download``); ``record-signals`` writes what a bot's SignalSources published
(``sources.recording``); ``book-ticks`` turns candles into a replay file of book ticks
(``backtest.book_ticks``) for ``python -m tradefleet_runtime replay``. Errors print one line and
exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import redis.asyncio as aioredis

from tradefleet_runtime.backtest.benchmark import buy_and_hold
from tradefleet_runtime.backtest.book_ticks import write_book_ticks
from tradefleet_runtime.backtest.data import BarSeries, load_csv, synthetic_bars
from tradefleet_runtime.backtest.download import (
    DEFAULT_PAGE_LIMIT,
    DownloadProgress,
    DownloadRequest,
    DownloadResult,
    download_candles,
)
from tradefleet_runtime.backtest.engine import FusionSetup, run_backtest
from tradefleet_runtime.backtest.errors import BacktestConfigError, BacktestError
from tradefleet_runtime.backtest.metrics import finite_or_none
from tradefleet_runtime.backtest.model import (
    DEFAULT_FUNDING_RATE_PCT,
    BacktestConfig,
    MarketType,
)
from tradefleet_runtime.backtest.report import (
    ReportSection,
    comparison_section,
    format_table,
    metrics_rows,
    write_report,
)
from tradefleet_runtime.backtest.risk_feed import RiskSetup
from tradefleet_runtime.backtest.search import (
    Objective,
    ObjectiveSpec,
    SearchMethod,
    SearchResult,
    search,
)
from tradefleet_runtime.backtest.timerange import (
    TimeRange,
    bars_in,
    format_utc,
    parse_timerange,
)
from tradefleet_runtime.backtest.walk_forward import WalkForwardReport, walk_forward
from tradefleet_runtime.config import load_runtime_config
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.execution.errors import ExchangeError
from tradefleet_runtime.execution.venue import CcxtVenue, VenueMode
from tradefleet_runtime.risk.errors import RiskError
from tradefleet_runtime.signals.errors import SignalError
from tradefleet_runtime.signals.fusion import AlphaFusion, FusionConfig
from tradefleet_runtime.signals.regime_config import RegimeConfig
from tradefleet_runtime.sources.recording import RecordingError, SignalRecording, record_signals
from tradefleet_runtime.strategies.errors import StrategyError
from tradefleet_runtime.strategies.parameters import StrategyParameters
from tradefleet_runtime.strategies.registry import STRATEGIES

_TOP_TRIALS = 10
_DEFAULT_BARS = 5_000
_DAY_MS = 86_400_000


def _parse_param(text: str) -> tuple[str, int | float]:
    key, equals, value = text.partition("=")
    if not (key and equals and value):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        number: int | float = int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{key}: {value!r} is not a number") from None
    return key, number


def _timerange(text: str) -> TimeRange:
    try:
        return parse_timerange(text)
    except BacktestConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_common(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="CSV with timestamp,open,high,low,close,volume")
    source.add_argument("--synthetic", type=int, metavar="SEED", help="labelled synthetic market")
    parser.add_argument(
        "--bars",
        type=int,
        default=None,
        help="synthetic bars (5000), or the last N bars of the CSV (default 5000, or every bar "
        "of --timerange)",
    )
    parser.add_argument(
        "--timerange",
        type=_timerange,
        default=None,
        metavar="START-END",
        help="bars of the CSV opening in [START, END): YYYYMMDD, epoch s or ms; an end may be "
        "left out (20240101-, -20240301)",
    )
    parser.add_argument("--bar-seconds", type=int, default=60, help="synthetic bar length")
    parser.add_argument(
        "--param",
        type=_parse_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="spec.strategy.parameters entry, camelCase (repeatable)",
    )
    parser.add_argument("--initial-equity", type=float, default=10_000.0)
    parser.add_argument("--fee-pct", type=float, default=0.1, help="per fill, percent")
    parser.add_argument("--slippage-pct", type=float, default=0.02, help="per fill, percent")
    parser.add_argument("--max-leverage", type=float, default=1.0)
    parser.add_argument("--long-only", action="store_true", help="ignore short signals")
    parser.add_argument("--symbol", default="BTC/USDT")
    parser.add_argument("--out", type=Path, required=True, help="folder for the report files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tradefleet_runtime.backtest",
        description="Backtest a strategy plugin or optimize its parameters.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    backtest = commands.add_parser("backtest", help="replay bars through one strategy")
    _add_common(backtest)
    backtest.add_argument("--strategy", default="ema_rsi", choices=sorted(STRATEGIES))
    backtest.add_argument(
        "--regime-detector",
        action="store_true",
        help="run the HMM regime detector (labels for regime_adaptive) instead of the data's labels",
    )
    backtest.add_argument(
        "--risk-engine", action="store_true", help="size and vet entries with the risk engine"
    )
    backtest.add_argument(
        "--fusion-weight",
        type=_parse_param,
        action="append",
        default=[],
        metavar="INPUT=WEIGHT",
        help="decide by fusion, as a bot does: the weight of a fusion input (strategy, regime, "
        "ofi, whale, sentiment, macro; repeatable, they must sum to 1)",
    )
    backtest.add_argument(
        "--signals",
        type=Path,
        default=None,
        help="a recording of the bot's SignalSources (record-signals): their whale, sentiment "
        "and macro readings join fusion as the bot read them at each bar's close",
    )
    backtest.add_argument(
        "--market",
        type=MarketType,
        default=MarketType.SPOT,
        choices=list(MarketType),
        help="futures charges funding on open positions",
    )
    backtest.add_argument(
        "--funding-rate-pct",
        type=float,
        default=DEFAULT_FUNDING_RATE_PCT,
        help="futures funding per 8 h, percent of the notional; longs pay, shorts receive",
    )
    optimize = commands.add_parser("optimize", help="search a strategy plugin's parameters")
    _add_common(optimize)
    optimize.add_argument(
        "--strategy",
        default="ema_rsi",
        choices=sorted(STRATEGIES),
        help="the plugin whose parameters are searched (ema_rsi in the grid engine, the others "
        "in the event-driven engine)",
    )
    optimize.add_argument("--method", default="random", choices=[m.value for m in SearchMethod])
    optimize.add_argument("--trials", type=int, default=200)
    optimize.add_argument("--objective", default="sharpe", choices=[o.value for o in Objective])
    optimize.add_argument("--drawdown-penalty", type=float, default=0.5)
    optimize.add_argument("--min-trades", type=int, default=5)
    optimize.add_argument("--seed", type=int, default=0)
    optimize.add_argument("--walk-forward", action="store_true", help="also run walk-forward")
    optimize.add_argument("--train-bars", type=int, default=2_000)
    optimize.add_argument("--test-bars", type=int, default=500)
    optimize.add_argument("--step-bars", type=int, default=None)
    # The grid engine charges no funding: optimization runs on spot terms.
    optimize.set_defaults(market=MarketType.SPOT, funding_rate_pct=DEFAULT_FUNDING_RATE_PCT)
    _add_download(commands.add_parser("download-data", help="cache an exchange's candles"))
    record = commands.add_parser(
        "record-signals", help="record what a bot's SignalSources published, for --signals"
    )
    record.add_argument(
        "--config", type=Path, required=True, help="the bot's runtime config (its ConfigMap's)"
    )
    record.add_argument("--redis-url", required=True, help="the Redis its sources publish to")
    record.add_argument(
        "--since-ms", type=int, default=None, help="only entries published from then on"
    )
    record.add_argument("--out", type=Path, required=True, help="the recording file to write")
    ticks = commands.add_parser(
        "book-ticks", help="candles as book ticks, a replay file for: tradefleet_runtime replay"
    )
    ticks.add_argument("--data", type=Path, required=True, help="candles CSV (download-data)")
    ticks.add_argument("--bars", type=int, default=None, help="the last N bars (default 5000)")
    ticks.add_argument("--timerange", type=_timerange, default=None, metavar="START-END")
    ticks.add_argument("--spread-bps", type=float, default=2.0, help="quoted spread, bps")
    ticks.add_argument("--size", type=float, default=1.0, help="size quoted on each side")
    ticks.add_argument("--out", type=Path, required=True, help="the replay file to write (CSV)")
    ticks.set_defaults(synthetic=None, bar_seconds=60)
    return parser


def _add_download(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exchange", default="binance", help="ccxt exchange id")
    parser.add_argument("--symbol", default="BTC/USDT", help="ccxt market symbol")
    parser.add_argument("--timeframe", default="1m", help="candle length, e.g. 1m, 1h, 1d")
    parser.add_argument(
        "--timerange",
        type=_timerange,
        default=None,
        metavar="START-END",
        help="candles opening in [START, END); without START the last --days; END defaults to now",
    )
    parser.add_argument("--days", type=int, default=30, help="history when START is left out")
    parser.add_argument(
        "--datadir", type=Path, default=Path("data"), help="cache root (EXCHANGE/SYMBOL/TF/)"
    )
    parser.add_argument(
        "--page-limit", type=int, default=DEFAULT_PAGE_LIMIT, help="candles asked per request"
    )
    parser.add_argument(
        "--base-url", default=None, help="another REST root for the exchange (a local one)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no line per page")


def _bars(arguments: argparse.Namespace) -> BarSeries:
    count = arguments.bars
    if count is not None and count < 2:
        raise BacktestConfigError(f"--bars must be >= 2, got {count}")
    if arguments.data is None:
        if arguments.timerange is not None:
            raise BacktestConfigError("--timerange selects bars of --data, not --synthetic")
        return synthetic_bars(
            seed=arguments.synthetic,
            n_bars=count or _DEFAULT_BARS,
            bar_seconds=arguments.bar_seconds,
        )
    bars = load_csv(arguments.data)
    if arguments.timerange is not None:
        bars = bars_in(bars, arguments.timerange)
    elif count is None:
        count = _DEFAULT_BARS
    if count is None or count >= len(bars):
        return bars
    return bars.window(start=len(bars) - count, stop=len(bars))


def _config(arguments: argparse.Namespace) -> BacktestConfig:
    return BacktestConfig(
        initial_equity=arguments.initial_equity,
        fee_pct=arguments.fee_pct,
        slippage_pct=arguments.slippage_pct,
        max_leverage=arguments.max_leverage,
        allow_short=not arguments.long_only,
        symbol=arguments.symbol,
        market=arguments.market,
        funding_rate_pct=arguments.funding_rate_pct,
    )


def _source(arguments: argparse.Namespace, bars: BarSeries) -> str:
    origin = (
        str(arguments.data)
        if arguments.data is not None
        else f"synthetic seed {arguments.synthetic}"
    )
    if arguments.timerange is not None:
        origin = f"{origin} {arguments.timerange.describe()}"
    return f"{origin}, {len(bars):,} bars of {bars.bar_seconds} s"


def _fusion(arguments: argparse.Namespace) -> FusionSetup | None:
    """Fusion as ``--fusion-weight`` and ``--signals`` ask for it; None decides by the plugin."""
    if not arguments.fusion_weight:
        if arguments.signals is not None:
            raise BacktestConfigError("--signals feed fusion: give its --fusion-weight too")
        return None
    signals = None
    if arguments.signals is not None:
        try:
            signals = SignalRecording.load(arguments.signals)
        except RecordingError as error:
            raise BacktestConfigError(str(error)) from None
    weights = dict(arguments.fusion_weight)
    return FusionSetup(fusion=AlphaFusion(config=FusionConfig(weights=weights)), signals=signals)


def _run_backtest(arguments: argparse.Namespace) -> None:
    bars = _bars(arguments)
    parameters = StrategyParameters.from_spec(dict(arguments.param))
    config = _config(arguments)
    result = run_backtest(
        bars=bars,
        strategy_name=arguments.strategy,
        parameters=parameters,
        config=config,
        regime=RegimeConfig() if arguments.regime_detector else None,
        fusion=_fusion(arguments),
        risk=RiskSetup() if arguments.risk_engine else None,
        progress=not arguments.no_progress,
    )
    title = f"{arguments.strategy} backtest — {_source(arguments, bars)}"
    print(title)
    print(format_table(header=("figure", "value"), rows=metrics_rows(result.metrics)))
    if result.rejected_entries:
        print(
            "entry signals not traded: "
            + ", ".join(
                f"{cause} {count}" for cause, count in sorted(result.rejected_entries.items())
            )
        )
    hold = buy_and_hold(bars=bars, config=config)
    comparison = comparison_section(result=result, hold=hold)
    print(comparison.title)
    print(format_table(header=comparison.header, rows=comparison.rows))
    files = write_report(
        result=result, out_dir=arguments.out, title=title, benchmark=hold, bars=bars
    )
    print(f"report: {files.html}  (pictures {files.png}, {files.price_png})")


def _trial_section(found: SearchResult) -> ReportSection:
    ranked = sorted(
        (trial for trial in found.trials if trial.valid), key=lambda trial: -trial.objective
    )[:_TOP_TRIALS]
    return ReportSection(
        title=f"Top {len(ranked)} of {len(found.trials)} trials ({found.valid_trials} valid)",
        header=("trial", "objective", "trades", "return %", "max DD %", "Sharpe", "parameters"),
        rows=tuple(
            (
                str(trial.number),
                f"{trial.objective:.3f}",
                str(trial.metrics.trades),
                f"{trial.metrics.total_return_pct:.2f}",
                f"{trial.metrics.max_drawdown_pct:.2f}",
                f"{trial.metrics.sharpe:.2f}",
                json.dumps(trial.tuned_parameters()),
            )
            for trial in ranked
        ),
    )


def _walk_forward_section(report: WalkForwardReport) -> ReportSection:
    def cell(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    rows = []
    for window in report.windows:
        best = window.best
        outside = window.out_of_sample
        rows.append(
            (
                str(window.index),
                f"{window.train_start}–{window.train_stop}",
                f"{window.train_stop}–{window.test_stop}",
                cell(best.objective if best else None),
                cell(outside.objective if outside else None),
                str(outside.metrics.trades) if outside else "—",
                json.dumps(best.tuned_parameters()) if best else "no valid trial",
            )
        )
    summary = (
        f"Walk-forward: mean in-sample {cell(report.mean_in_sample)}, out-of-sample "
        f"{cell(report.mean_out_of_sample)}, degradation ratio {cell(report.degradation_ratio)}, "
        f"verdict {report.verdict.value}"
    )
    return ReportSection(
        title=summary,
        header=(
            "window",
            "train bars",
            "test bars",
            "in-sample",
            "out-of-sample",
            "OOS trades",
            "parameters",
        ),
        rows=tuple(rows),
    )


def _run_optimize(arguments: argparse.Namespace) -> None:
    bars = _bars(arguments)
    config = _config(arguments)
    base = StrategyParameters.from_spec(dict(arguments.param))
    spec = ObjectiveSpec(
        objective=Objective(arguments.objective),
        drawdown_penalty=arguments.drawdown_penalty,
        min_trades=arguments.min_trades,
    )
    method = SearchMethod(arguments.method)
    progress = not arguments.no_progress
    found = search(
        method=method,
        bars=bars,
        trials=arguments.trials,
        spec=spec,
        seed=arguments.seed,
        config=config,
        base=base,
        progress=progress,
        strategy_name=arguments.strategy,
    )
    sections = [_trial_section(found)]
    extra: dict[str, object] = {
        "search": {
            "method": method.value,
            "objective": spec.objective.value,
            "trials": len(found.trials),
            "validTrials": found.valid_trials,
            "best": found.best.to_dict() if found.best else None,
        }
    }
    report = None
    if arguments.walk_forward:
        report = walk_forward(
            bars=bars,
            train_bars=arguments.train_bars,
            test_bars=arguments.test_bars,
            step_bars=arguments.step_bars,
            trials=arguments.trials,
            spec=spec,
            seed=arguments.seed,
            method=method,
            config=config,
            base=base,
            progress=progress,
            strategy_name=arguments.strategy,
        )
        sections.append(_walk_forward_section(report))
        extra["walkForward"] = report.to_dict()
    if found.best is None:
        raise BacktestConfigError(
            f"no trial reached {spec.min_trades} trades; lower --min-trades or use more bars"
        )
    best = found.best
    result = run_backtest(
        bars=bars, strategy_name=arguments.strategy, parameters=best.parameters, config=config
    )
    title = (
        f"{arguments.strategy} {method.value} search, {len(found.trials)} trials, objective "
        f"{spec.objective.value} — {_source(arguments, bars)}"
    )
    print(title)
    print(f"best trial {best.number}: objective {finite_or_none(best.objective)}")
    print(json.dumps(best.tuned_parameters()))
    print(format_table(header=("figure", "value"), rows=metrics_rows(result.metrics)))
    if report is not None:
        print(sections[-1].title)
    files = write_report(
        result=result,
        out_dir=arguments.out,
        title=title,
        sections=sections,
        extra_json=extra,
        benchmark=buy_and_hold(bars=bars, config=config),
        bars=bars,
    )
    print(f"report: {files.html}  (pictures {files.png}, {files.price_png})")


def _download_request(arguments: argparse.Namespace, *, now_ms: int) -> DownloadRequest:
    chosen = arguments.timerange or TimeRange(end_ms=None)
    if chosen.start_ms is None:
        if arguments.days < 1:
            raise BacktestConfigError(f"--days must be >= 1, got {arguments.days}")
        chosen = TimeRange(
            start_ms=(chosen.end_ms or now_ms) - arguments.days * _DAY_MS, end_ms=chosen.end_ms
        )
    return DownloadRequest(
        exchange_id=arguments.exchange,
        symbol=arguments.symbol,
        timeframe=arguments.timeframe,
        timerange=chosen,
        datadir=arguments.datadir,
        page_limit=arguments.page_limit,
    )


async def _download(arguments: argparse.Namespace) -> DownloadResult:
    now_ms = round(time.time() * 1000)
    request = _download_request(arguments, now_ms=now_ms)
    venue = CcxtVenue(
        exchange_id=request.exchange_id,
        mode=VenueMode.MARKET_DATA,
        base_url_override=arguments.base_url,
    )

    def report(progress: DownloadProgress) -> None:
        when = format_utc(progress.last_ms)
        print(f"{progress.fetched:,} candles fetched, up to {when}", flush=True)

    try:
        markets = await venue.load_markets()
        if request.symbol not in markets:
            raise BacktestConfigError(f"{request.exchange_id} has no market {request.symbol!r}")
        return await download_candles(
            venue=venue,
            request=request,
            now_ms=now_ms,
            on_page=None if arguments.no_progress else report,
        )
    finally:
        await venue.close()


def _run_download(arguments: argparse.Namespace) -> None:
    result = asyncio.run(_download(arguments))
    span = result.span
    resumed = (
        ""
        if result.resumed_after_ms is None
        else f", resumed after {format_utc(result.resumed_after_ms)}"
    )
    print(f"this run: {result.fetched:,} candles in {result.pages} page(s){resumed}")
    if span is None:
        print(f"{result.path}: no closed candle in the range yet")
        return
    print(
        f"{result.path}: {span.candles:,} candles, "
        f"{format_utc(span.first_ms)} → {format_utc(span.last_ms)}"
    )


async def _record(arguments: argparse.Namespace) -> SignalRecording:
    config = load_runtime_config(arguments.config)
    if not config.signal_sources:
        raise BacktestConfigError(f"{arguments.config} references no SignalSources")
    redis = aioredis.Redis.from_url(arguments.redis_url, decode_responses=True)
    try:
        return await record_signals(
            redis=redis, sources=config.signal_sources, since_ms=arguments.since_ms
        )
    finally:
        await redis.aclose()


def _run_record(arguments: argparse.Namespace) -> None:
    recording = asyncio.run(_record(arguments))
    recording.dump(arguments.out)
    counts = ", ".join(
        f"{ref.name} {len(recording.entries(ref.name))}" for ref in recording.sources
    )
    print(f"recorded {arguments.out}: entries by source: {counts}")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        if arguments.command == "backtest":
            _run_backtest(arguments)
        elif arguments.command == "optimize":
            _run_optimize(arguments)
        elif arguments.command == "record-signals":
            _run_record(arguments)
        elif arguments.command == "book-ticks":
            bars = _bars(arguments)
            written = write_book_ticks(
                bars=bars, path=arguments.out, spread_bps=arguments.spread_bps, size=arguments.size
            )
            print(f"{arguments.out}: {written:,} ticks from {len(bars):,} bars")
        else:
            _run_download(arguments)
    except (
        BacktestError,
        StrategyError,
        SignalError,
        RiskError,
        ExchangeError,
        ConfigError,
        RecordingError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
