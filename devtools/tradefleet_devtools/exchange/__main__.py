"""Command line of the local exchange (dev/test tooling only — not a real exchange).

``python -m tradefleet_devtools.exchange --port 0 --symbols BTC/USDT:USDT,ETH/USDT:USDT
--api-key K --api-secret S`` prints the base URL on its first line of stdout and serves until
SIGINT/SIGTERM. Used by the local demo and the e2e tests, which start it as a process.
The key and secret may come from ``TRADEFLEET_EXCHANGE_API_KEY`` /
``TRADEFLEET_EXCHANGE_API_SECRET`` instead of the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from decimal import Decimal

from tradefleet_devtools.exchange.market import default_start_price
from tradefleet_devtools.exchange.prices import (
    CYCLE_PERIOD_SECONDS,
    CyclePriceSource,
    PriceSource,
    SyntheticReplayPriceSource,
)
from tradefleet_devtools.exchange.records import EngineConfig
from tradefleet_devtools.exchange.server import LocalExchange, LocalExchangeOptions


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tradefleet_devtools.exchange",
        description="Local Binance USDⓈ-M look-alike for tests (dev/test tooling only).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--symbols", default="BTC/USDT:USDT,ETH/USDT:USDT")
    parser.add_argument("--api-key", default=os.environ.get("TRADEFLEET_EXCHANGE_API_KEY"))
    parser.add_argument("--api-secret", default=os.environ.get("TRADEFLEET_EXCHANGE_API_SECRET"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--balance", type=Decimal, default=Decimal(10_000))
    parser.add_argument("--step-seconds", type=float, default=1.0)
    parser.add_argument(
        "--history-hours",
        type=float,
        default=4.0,
        help="price history generated before now (klines a bot warms its models up on)",
    )
    parser.add_argument(
        "--prices",
        choices=("random-walk", "synthetic"),
        default="random-walk",
        help="random-walk: seeded geometric walk; synthetic: replay regime-switching bars",
    )
    parser.add_argument(
        "--bar-seconds",
        type=float,
        default=None,
        help="with --prices synthetic, the time one generated bar spans (default: one step); "
        "60 makes the 1m candles show the generated bars, and their regimes, again",
    )
    parser.add_argument(
        "--regime-bars",
        type=int,
        default=None,
        help="with --prices synthetic, the regimes follow each other in turn, each lasting this "
        "many bars on average (default: they switch at random, 200 bars on average)",
    )
    parser.add_argument(
        "--cycle-symbols",
        default="",
        help=f"symbols (also listed in --symbols) whose price follows a "
        f"{CYCLE_PERIOD_SECONDS // 60}-minute sine cycle with noise instead of --prices: "
        "the same market whenever a test looks at it",
    )
    args = parser.parse_args(argv)
    if not args.api_key or not args.api_secret:
        parser.error("--api-key and --api-secret (or their environment variables) are required")
    if not args.step_seconds > 0:
        parser.error("--step-seconds must be positive")
    if args.bar_seconds is not None and not args.bar_seconds >= args.step_seconds:
        parser.error("--bar-seconds must be at least --step-seconds")
    if args.regime_bars is not None and args.regime_bars < 2:
        parser.error("--regime-bars must be at least 2")
    unlisted = set(_symbols(args.cycle_symbols)) - set(_symbols(args.symbols))
    if unlisted:
        parser.error(f"--cycle-symbols not listed in --symbols: {', '.join(sorted(unlisted))}")
    return args


def _symbols(listed: str) -> list[str]:
    return [s.strip() for s in listed.split(",") if s.strip()]


def _price_source(
    *, args: argparse.Namespace, symbol: str, cycling: bool, seed: int
) -> PriceSource | None:
    """The path of ``symbol``; None lets the exchange use its default random walk."""
    start_price = default_start_price(symbol)
    if cycling:
        return CyclePriceSource(
            seed=seed,
            start_price=start_price,
            period_steps=round(CYCLE_PERIOD_SECONDS / args.step_seconds),
        )
    if args.prices == "synthetic":
        bar_seconds = args.step_seconds if args.bar_seconds is None else args.bar_seconds
        return SyntheticReplayPriceSource(
            seed=seed,
            start_price=start_price,
            steps_per_bar=round(bar_seconds / args.step_seconds),
            regime_bars=args.regime_bars,
        )
    return None


async def _serve(args: argparse.Namespace) -> None:
    symbols = _symbols(args.symbols)
    cycle_symbols = set(_symbols(args.cycle_symbols))
    sources: dict[str, PriceSource] = {}
    for index, symbol in enumerate(symbols):
        source = _price_source(
            args=args, symbol=symbol, cycling=symbol in cycle_symbols, seed=args.seed + index
        )
        if source is not None:
            sources[symbol] = source
    options = LocalExchangeOptions(
        symbols=symbols,
        api_key=args.api_key,
        api_secret=args.api_secret,
        host=args.host,
        port=args.port,
        seed=args.seed,
        engine=EngineConfig(starting_balance=args.balance, step_ms=int(args.step_seconds * 1000)),
        history_steps=int(args.history_hours * 3600 / args.step_seconds),
        price_sources=sources,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with LocalExchange(options) as exchange:
        print(exchange.base_url, flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
