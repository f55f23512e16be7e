"""Whale monitor: recorded transfers through the file and HTTP sources, flows and thresholds."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from tradefleet_runtime.signals.errors import SignalConfigError, SignalSourceError
from tradefleet_runtime.signals.whale import (
    FlowDirection,
    JsonFeedWhaleSource,
    WhaleConfig,
    WhaleMonitor,
    WhaleThreshold,
    parse_transfer_document,
)

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"
TRANSFERS = FIXTURES / "whale_transfers.json"
NOW_MS = 1_700_000_000_000
EXCHANGES = {
    "bc1qexchangehot": "binance",
    "bc1qotherexchange": "coinbase",
    "0xEXCH1": "binance",
}


def _monitor(location: str) -> WhaleMonitor:
    config = WhaleConfig(exchange_addresses=EXCHANGES)
    return WhaleMonitor(config=config, source=JsonFeedWhaleSource(location=location))


async def test_recorded_transfers_give_the_expected_flows() -> None:
    monitor = _monitor(str(TRANSFERS))
    # Kept: BTC 0xa1 (in) and 0xa2 (out), ETH 0xa4 (in), USDT 0xa9 (in). Dropped: below
    # threshold (0xa3, 0xa5), exchange to exchange (0xa6), wallet to wallet (0xa7), older
    # than the 24 h lookback (0xa8), and the repeated 0xa2.
    assert await monitor.refresh() == 4
    assert monitor.coins() == ["BTC", "ETH", "USDT"]

    btc = monitor.signal(coin="btc", now_ms=NOW_MS)
    assert (btc.inflow_usd, btc.outflow_usd, btc.net_flow_usd) == (3e6, 6e6, -3e6)
    assert btc.signal is FlowDirection.BULLISH
    assert btc.strong
    assert btc.strength == pytest.approx(math.tanh(6.0))
    assert btc.reason == "Large exchange outflows: $3,000,000 net (accumulation)"
    assert btc.confidence == pytest.approx(2 / 5)
    reading = btc.as_reading()
    assert reading.value == pytest.approx(math.tanh(6.0))

    eth = monitor.signal(coin="ETH", now_ms=NOW_MS)
    assert eth.signal is FlowDirection.BEARISH and eth.strong
    assert eth.as_reading().value == pytest.approx(-math.tanh(6.0))

    usdt = monitor.signal(coin="USDT", now_ms=NOW_MS)
    assert usdt.signal is FlowDirection.BEARISH
    assert not usdt.strong
    assert usdt.strength == pytest.approx(math.tanh(0.5))
    assert "below the $500,000 strong-signal threshold" in usdt.reason


async def test_refreshing_again_does_not_double_count() -> None:
    monitor = _monitor(str(TRANSFERS))
    await monitor.refresh()
    assert await monitor.refresh() == 0
    assert monitor.signal(coin="BTC", now_ms=NOW_MS).transfer_count == 2


async def test_transfers_age_out_of_the_lookback() -> None:
    monitor = _monitor(str(TRANSFERS))
    await monitor.refresh()
    later = monitor.signal(coin="BTC", now_ms=NOW_MS + 86_400_000)
    assert later.transfer_count == 0
    assert later.signal is FlowDirection.NEUTRAL
    assert later.as_reading().value == 0.0
    assert later.reason.startswith("No whale transfers")


def test_api_shape() -> None:
    monitor = _monitor(str(TRANSFERS))
    monitor.ingest(parse_transfer_document(TRANSFERS.read_bytes()))
    payload = monitor.signal(coin="BTC", now_ms=NOW_MS).to_dict()
    assert payload["coin"] == "BTC"
    assert payload["signal"] == "bullish"
    assert payload["metrics"] == {
        "net_flow": -3e6,
        "inflows": 3e6,
        "outflows": 6e6,
        "transfers": 2,
    }


@pytest.fixture
async def feed_server() -> AsyncIterator[str]:
    async def transfers(_: web.Request) -> web.Response:
        return web.Response(body=TRANSFERS.read_bytes(), content_type="application/json")

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/transfers", transfers)
    app.router.add_get("/broken", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_http_feed_gives_the_same_signal_as_the_file(feed_server: str) -> None:
    over_http = _monitor(f"{feed_server}/transfers")
    assert await over_http.refresh() == 4
    from_file = _monitor(str(TRANSFERS))
    await from_file.refresh()
    assert over_http.signal(coin="BTC", now_ms=NOW_MS) == from_file.signal(
        coin="BTC", now_ms=NOW_MS
    )


async def test_unreachable_or_failing_feeds_raise_a_source_error(
    feed_server: str, tmp_path: Path
) -> None:
    with pytest.raises(SignalSourceError, match="HTTP 503"):
        await _monitor(f"{feed_server}/broken").refresh()
    with pytest.raises(SignalSourceError, match="cannot read feed file"):
        await _monitor(str(tmp_path / "missing.json")).refresh()
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(SignalSourceError, match="not valid JSON"):
        await _monitor(str(garbage)).refresh()


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ('[{"coin": "BTC"}]', "tx_hash"),
        (
            '[{"tx_hash": "x", "coin": "BTC", "amount": -1, "usd_value": 1, "from": "a", '
            '"to": "b", "timestamp_ms": 1}]',
            ">= 0",
        ),
        (
            '[{"tx_hash": "x", "coin": "BTC", "amount": 1, "usd_value": 1, "from": "a", '
            '"to": "b", "timestamp_ms": "soon"}]',
            "timestamp_ms",
        ),
        ('{"transfers": 3}', "list of transfers"),
    ],
)
def test_malformed_transfers_name_the_problem(record: str, message: str) -> None:
    with pytest.raises(SignalSourceError, match=message):
        parse_transfer_document(record.encode())


def test_thresholds_and_config_are_validated() -> None:
    assert WhaleThreshold(min_amount=1_000).admits(amount=1_000, usd_value=0)
    assert not WhaleThreshold(min_amount=1_000).admits(amount=999, usd_value=1e12)
    assert WhaleThreshold(min_usd=1e6, min_amount=10).admits(amount=10, usd_value=1)
    with pytest.raises(SignalConfigError, match="min_amount or min_usd"):
        WhaleThreshold()
    with pytest.raises(SignalConfigError, match="strong_net_flow_usd"):
        WhaleConfig(strong_net_flow_usd=0)
    with pytest.raises(SignalConfigError, match="upper-case"):
        WhaleConfig(thresholds={"btc": WhaleThreshold(min_usd=1)})
