"""The demo's market: the candles each demo bot warms up on carry regimes its model can fit.

A demo bot shows its regime only once its regime model fits the history it reads at start-up
(``marketData.historyBars`` candles at its timeframe). The test starts the local exchange as the
demo does, reads that history through ccxt over HTTP like the runtime, and fits the runtime's
regime detector on it for every bot of ``manifests/demo``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tradefleet_devtools.stack import DEMO_MARKET, ExchangeProcess
from tradefleet_runtime.config import MarketDataSettings
from tradefleet_runtime.execution.venue import CcxtVenue, VenueMode
from tradefleet_runtime.signals.regime import RegimeDetector
from tradefleet_runtime.signals.regime_config import RegimeConfig

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def _default_timeframe() -> str:
    crd = yaml.safe_load((ROOT / "crds" / "tradefleet.io_tradingbots.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return str(spec["properties"]["strategy"]["properties"]["timeframe"]["default"])


def _demo_bots() -> list[tuple[str, str, str]]:
    """(name, symbol, timeframe) of every demo TradingBot."""
    bots = []
    for path in sorted((ROOT / "manifests" / "demo").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "TradingBot":
                spec = document["spec"]
                timeframe = (spec.get("strategy") or {}).get("timeframe") or _default_timeframe()
                bots.append((document["metadata"]["name"], spec["symbol"], timeframe))
    return bots


async def test_every_demo_bot_fits_its_regime_model_on_the_history_it_starts_with(
    tmp_path: Path,
) -> None:
    bots = _demo_bots()
    assert len(bots) >= 3
    exchange = ExchangeProcess(workdir=tmp_path, market=DEMO_MARKET)
    url = exchange.start()
    venue = CcxtVenue(exchange_id="binanceusdm", mode=VenueMode.MARKET_DATA, base_url_override=url)
    refused = {}
    try:
        await venue.load_markets()
        for name, symbol, timeframe in bots:
            candles = await venue.fetch_ohlcv(
                symbol=symbol, timeframe=timeframe, limit=MarketDataSettings().history_bars
            )
            detector = RegimeDetector(symbol=symbol, config=RegimeConfig())
            for candle in candles:
                detector.update(close=candle.close, timestamp_ms=candle.timestamp_ms)
            outcome = detector.refit()
            if not outcome.accepted:
                refused[name] = f"{symbol} {timeframe}, {len(candles)} candles: {outcome.reason}"
    finally:
        await venue.close()
        exchange.stop()
    assert not refused, refused
