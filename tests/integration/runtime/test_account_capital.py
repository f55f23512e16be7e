"""A bot that shares its exchange account trades and measures itself on its own capital.

With ``spec.risk.capital`` the bot's equity is its capital plus the PnL of its own trades (fees
included) plus its open position's: what the rest of the account does — other bots, manual
trades, withdrawals — never sizes its orders, never draws it down, never trips its breaker.
The real runtime runs against the local exchange (real ccxt over HTTP) and real Redis; the
exchange's own books say what the bot's trades made.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, API_SECRET, FreezableWalk
from runtime_support import RuntimeProcess, bot_status, eventually, flatten
from test_order_safety import entries, push_until, started
from tradefleet_devtools.exchange import ExchangeAdminClient, LocalExchange
from tradefleet_devtools.redis_server import RedisAccess

pytestmark = pytest.mark.integration

CAPITAL = 2_000.0
MAX_POSITION_PCT = 10.0
# The rest of the account loses 4 000 of its 10 000 USDT while the bot is flat.
ACCOUNT_AFTER_OTHERS = 6_000.0


@pytest.fixture
def capital_runtime(
    tmp_path: Path, exchange: LocalExchange, redis_server: RedisAccess, key_prefix: str
) -> Any:
    process = RuntimeProcess.create(
        workdir=tmp_path,
        api_key=API_KEY,
        api_secret=API_SECRET,
        bot="slicebot",
        base_url=exchange.base_url,
        redis_url=redis_server.url,
        key_prefix=key_prefix,
        risk={
            "capital": CAPITAL,
            "maxPositionPct": MAX_POSITION_PCT,
            "maxVolatilityRatio": 1000.0,
            "crashSigma": 1000.0,
            "maxDailyVarPct": 100.0,
            # Tight enough that the account's 40 % loss would trip it, were it the bot's.
            "maxDrawdownPct": 20.0,
            "maxDailyLossPct": 20.0,
            "maxConsecutiveLosses": 100,
            "atrCircuitBreakerMultiplier": 50.0,
        },
    )
    yield process
    process.kill()


async def test_a_bot_with_capital_sizes_draws_down_and_books_pnl_on_its_own_slice(
    capital_runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    runtime = capital_runtime
    await started(runtime, walk)
    status = await bot_status(runtime)
    assert status["equity"] == pytest.approx(CAPITAL) and status["pnl"] == 0.0

    # Others lose 40 % of the account; the bot's slice is untouched and its breaker stays shut.
    await admin.reset(balance=ACCOUNT_AFTER_OTHERS)
    await asyncio.sleep(3.0)
    status = await bot_status(runtime)
    assert status["equity"] == pytest.approx(CAPITAL)
    assert status["drawdownPct"] == 0.0
    assert status["circuitBreaker"]["state"] == "Closed", status["circuitBreaker"]

    await push_until(runtime=runtime, admin=admin, walk=walk, step=1.002, side="long")
    state = await admin.state()
    (entry,) = entries(state)
    notional = sum(
        float(f["qty"]) * float(f["price"])
        for f in state["fills"]
        if f["orderId"] == entry["orderId"]
    )
    # Sized on the capital: at most maxPositionPct of 2 000, where the account holds 6 000.
    assert 0 < notional <= CAPITAL * MAX_POSITION_PCT / 100 * 1.01, notional
    assert (await runtime.post("/control/pause")).status_code == 200
    await flatten(runtime)

    # The bot's PnL is what its own round trip did to the account, fees included.
    wallet = float((await admin.ledger())["wallet"]["equity"])
    own = wallet - ACCOUNT_AFTER_OTHERS
    assert own != 0.0, "a round trip with fees left the account unchanged"

    # Its fees are looked up on the venue's trades (Binance reports none on orders).
    async def booked() -> bool:
        return bool((await bot_status(runtime))["pnl"] == pytest.approx(own, abs=1e-6))

    await eventually(booked, what="the round trip's PnL, fees included", runtime=runtime)
    status = await bot_status(runtime)
    assert status["position"]["side"] == "flat"
    assert status["equity"] == pytest.approx(CAPITAL + own, abs=1e-6)
    # One round trip is one trade for the loss-streak breaker and the Kelly statistics.
    portfolio = (await runtime.get("/equity")).json()["portfolio"]
    assert portfolio["trades"]["trades"] == 1, portfolio

    # And it survives a restart.
    assert await runtime.stop() == 0
    await started(runtime, walk)
    status = await bot_status(runtime)
    assert status["pnl"] == pytest.approx(own, abs=1e-6)
    assert status["equity"] == pytest.approx(CAPITAL + own, abs=1e-6)
