"""The local exchange's price path: synthetic-market replay and admin-driven moves."""

from __future__ import annotations

import pytest
from tradefleet_devtools.exchange import (
    EngineConfig,
    ExchangeAdminClient,
    LocalExchange,
    LocalExchangeOptions,
    SyntheticReplayPriceSource,
)
from tradefleet_runtime.marketdata.synthetic import generate_market

pytestmark = pytest.mark.integration

BTC = "BTC/USDT:USDT"
HOUR_MS = 3_600_000


async def test_replay_follows_the_synthetic_closes_and_admin_moves_shift_the_level() -> None:
    closes = generate_market(seed=3, n_bars=1_000).close
    options = LocalExchangeOptions(
        symbols=(BTC,),
        history_steps=100,
        # One step per hour of wall time: nothing moves during the test but what it asks for.
        engine=EngineConfig(step_ms=HOUR_MS),
        price_sources={BTC: SyntheticReplayPriceSource(seed=3, n_bars=1_000)},
    )
    async with LocalExchange(options) as exchange:
        admin = ExchangeAdminClient(base_url=exchange.base_url)
        assert float((await admin.state())["prices"]["BTCUSDT"]) == pytest.approx(
            closes[99], abs=0.1
        )
        state = await admin.advance(steps=10)
        assert float(state["prices"]["BTCUSDT"]) == pytest.approx(closes[109], abs=0.1)

        await admin.set_price(symbol=BTC, price=20_000.0)
        state = await admin.advance(steps=1)
        # The path continues from the new level with the replay's next relative move.
        expected = 20_000.0 * closes[110] / closes[109]
        assert float(state["prices"]["BTCUSDT"]) == pytest.approx(expected, abs=0.1)
