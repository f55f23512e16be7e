"""Fixtures for the execution layer's integration tests: a local exchange and ccxt venues on it.

Each test gets a fresh ``LocalExchange`` on a random 127.0.0.1 port with a flat price path
(volatility 0, BTC at 30 000, ETH at 2 000) so fills are hand-computable; tests move prices
through the admin endpoint. Venues are real ``CcxtVenue`` instances (ccxt's async
``binanceusdm``) pointed at the server with ``base_url_override``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from tradefleet_devtools.exchange import ExchangeAdminClient, LocalExchange, LocalExchangeOptions
from tradefleet_runtime.execution.venue import ApiCredentials, CcxtVenue, VenueMode

API_KEY = "tf-test-key-6f1d2c9a"
API_SECRET = "tf-test-secret-0b7e44c1d2"
BTC = "BTC/USDT:USDT"
CLIENT_TIMEOUT_S = 0.5
RECV_WINDOW_MS = 1_000


@pytest.fixture
async def exchange() -> AsyncIterator[LocalExchange]:
    options = LocalExchangeOptions(
        symbols=(BTC, "ETH/USDT:USDT"),
        api_key=API_KEY,
        api_secret=API_SECRET,
        volatility=0.0,
        history_steps=600,
    )
    async with LocalExchange(options) as running:
        yield running


@pytest.fixture
def admin(exchange: LocalExchange) -> ExchangeAdminClient:
    return ExchangeAdminClient(base_url=exchange.base_url)


VenueFactory = Callable[..., CcxtVenue]


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def api_secret() -> str:
    return API_SECRET


@pytest.fixture
async def make_venue(exchange: LocalExchange) -> AsyncIterator[VenueFactory]:
    """Builds testnet-mode ccxt venues on the local exchange; closes them afterwards."""
    made: list[CcxtVenue] = []

    def build(
        *,
        base_url: str | None = None,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        mode: VenueMode = VenueMode.TESTNET,
    ) -> CcxtVenue:
        credentials = (
            None
            if mode is VenueMode.MARKET_DATA
            else ApiCredentials(api_key=api_key, api_secret=api_secret)
        )
        venue = CcxtVenue(
            exchange_id="binanceusdm",
            mode=mode,
            credentials=credentials,
            base_url_override=base_url or exchange.base_url,
            timeout_s=CLIENT_TIMEOUT_S,
            recv_window_ms=RECV_WINDOW_MS,
        )
        made.append(venue)
        return venue

    yield build
    for venue in made:
        await venue.close()


@pytest.fixture
async def venue(make_venue: VenueFactory) -> CcxtVenue:
    ccxt_venue = make_venue()
    await ccxt_venue.load_markets()
    return ccxt_venue
