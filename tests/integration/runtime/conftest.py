"""Fixtures of the runtime's integration tests: a local exchange, Redis, and runtime subprocesses.

The local exchange (the Binance USDⓈ-M look-alike of ``tradefleet_devtools.exchange``) runs in
the test's event loop with a slow random walk; the runtime subprocesses reach it with real ccxt
in testnet mode (credentials from the environment, as the operator passes them). Each test gets
its own Redis key prefix on the session's redis-server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from runtime_support import BTC, RuntimeProcess
from tradefleet_devtools.exchange import (
    ExchangeAdminClient,
    LocalExchange,
    LocalExchangeOptions,
    PricePoint,
    RandomWalkPriceSource,
)
from tradefleet_devtools.redis_server import RedisAccess

API_KEY = "tfkey-RECOGNISABLE-1a2b3c4d5e"
API_SECRET = "tfsecret-RECOGNISABLE-9f8e7d6c5b"


class FreezableWalk:
    """A random walk the test can stop: frozen, every step repeats the level (a static book),
    so a restarted runtime sees no order flow and its state can be compared at rest."""

    def __init__(self, *, seed: int, start_price: float, volatility: float) -> None:
        self._walk = RandomWalkPriceSource(
            seed=seed, start_price=start_price, volatility=volatility
        )
        self._price = start_price
        self.frozen = False

    @property
    def start_price(self) -> float:
        return self._walk.start_price

    def next_point(self) -> PricePoint:
        if not self.frozen:
            self._price = self._walk.next_point().price
        return PricePoint(price=self._price, volume=1.0)


@pytest.fixture
def walk() -> FreezableWalk:
    return FreezableWalk(seed=7, start_price=30_000.0, volatility=0.0003)


@pytest.fixture
async def exchange(walk: FreezableWalk) -> AsyncIterator[LocalExchange]:
    options = LocalExchangeOptions(
        symbols=(BTC,),
        api_key=API_KEY,
        api_secret=API_SECRET,
        history_steps=20_000,
        price_sources={BTC: walk},
    )
    async with LocalExchange(options) as running:
        yield running


@pytest.fixture
def admin(exchange: LocalExchange) -> ExchangeAdminClient:
    return ExchangeAdminClient(base_url=exchange.base_url)


@pytest.fixture
def key_prefix() -> str:
    """Redis keys of this test's bot, apart from every other test's on the shared server."""
    return f"tradefleet:bot:test:{uuid.uuid4().hex[:8]}"


@pytest.fixture
def runtime(
    tmp_path: Path, exchange: LocalExchange, redis_server: RedisAccess, key_prefix: str
) -> Iterator[RuntimeProcess]:
    """A testnet-mode runtime trading on the local exchange with its keys (not started)."""
    process = RuntimeProcess.create(
        workdir=tmp_path,
        api_key=API_KEY,
        api_secret=API_SECRET,
        bot="crashbot",
        base_url=exchange.base_url,
        redis_url=redis_server.url,
        key_prefix=key_prefix,
    )
    yield process
    process.kill()


@pytest.fixture
def paper_runtime(
    tmp_path: Path, exchange: LocalExchange, redis_server: RedisAccess, key_prefix: str
) -> Iterator[RuntimeProcess]:
    """A paper-mode runtime (no keys) reading the local exchange's market (not started)."""
    process = RuntimeProcess.paper(
        workdir=tmp_path,
        bot="paperbot",
        base_url=exchange.base_url,
        redis_url=redis_server.url,
        key_prefix=key_prefix,
    )
    yield process
    process.kill()


# Never contacted: the paper venue reads its book from the feed.
NO_EXCHANGE = "http://127.0.0.1:9"


@pytest.fixture
def feed_runtime(
    tmp_path: Path, redis_server: RedisAccess, key_prefix: str
) -> Iterator[RuntimeProcess]:
    """A paper-mode runtime whose market data comes from its own feed, no exchange at all."""
    process = RuntimeProcess.paper(
        workdir=tmp_path,
        bot="feedbot",
        base_url=NO_EXCHANGE,
        redis_url=redis_server.url,
        key_prefix=key_prefix,
    )
    yield process
    process.kill()
