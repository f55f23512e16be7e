"""A bot warms its models up on more candles than one exchange request returns."""

from __future__ import annotations

from itertools import pairwise

import pytest
from tradefleet_devtools.exchange import LocalExchange, LocalExchangeOptions
from tradefleet_runtime.execution.venue import CcxtVenue, VenueMode

pytestmark = pytest.mark.integration


async def test_history_beyond_one_kline_page_is_fetched_in_order() -> None:
    options = LocalExchangeOptions(
        symbols=["BTC/USDT:USDT"], api_key="k", api_secret="s", history_steps=90_000
    )
    async with LocalExchange(options) as exchange:
        venue = CcxtVenue(
            exchange_id="binanceusdm",
            mode=VenueMode.MARKET_DATA,
            base_url_override=exchange.base_url,
        )
        try:
            await venue.load_markets()
            candles = await venue.fetch_ohlcv(symbol="BTC/USDT:USDT", timeframe="1m", limit=1200)
        finally:
            await venue.close()
    # ccxt asks Binance for at most 1000 candles at a time; the venue pages back for the rest.
    assert len(candles) == 1200
    steps = {later.timestamp_ms - earlier.timestamp_ms for earlier, later in pairwise(candles)}
    assert steps == {60_000}, "consecutive, gap-free minutes, oldest first"
