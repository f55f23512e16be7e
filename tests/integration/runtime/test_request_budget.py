"""A bot's share of its ExchangeAccount's request budget holds at the exchange, and the bot
reports what it used.

The operator renders ``exchange.requestIntervalMs`` (the account's requests per minute shared by
its bots); the runtime's exchange client spaces every request by it, and ``/status`` reports the
requests of the last minute, which the account adds up. The local exchange counts the requests
it served: the two figures must agree, and stay within the share.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, API_SECRET, FreezableWalk
from runtime_support import RuntimeProcess
from test_order_safety import started
from tradefleet_devtools.exchange import ExchangeAdminClient, LocalExchange
from tradefleet_devtools.redis_server import RedisAccess

pytestmark = pytest.mark.integration

INTERVAL_MS = 400  # 150 requests a minute
RUN_S = 12.0


def _runtime(
    *, workdir: Path, exchange: LocalExchange, redis_url: str, key_prefix: str, interval: int | None
) -> RuntimeProcess:
    process = RuntimeProcess.create(
        workdir=workdir,
        api_key=API_KEY,
        api_secret=API_SECRET,
        bot="budgetbot",
        base_url=exchange.base_url,
        redis_url=redis_url,
        key_prefix=key_prefix,
    )
    if interval is not None:
        process.config["exchange"]["requestIntervalMs"] = interval
    return process


async def _served(admin: ExchangeAdminClient) -> int:
    state: dict[str, Any] = await admin.state()
    return sum(int(count) for count in state["requests"].values())


async def _run(
    process: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> tuple[int, int, float]:
    await admin.reset()
    began = time.monotonic()
    await started(process, walk)
    walk.frozen = False
    await asyncio.sleep(RUN_S)
    reported = int((await process.get("/status")).json()["requestsPerMinute"])
    served = await _served(admin)
    elapsed = time.monotonic() - began
    await process.stop()
    return reported, served, elapsed


async def test_a_bots_requests_stay_within_its_share_and_it_reports_them(
    tmp_path: Path,
    exchange: LocalExchange,
    admin: ExchangeAdminClient,
    walk: FreezableWalk,
    redis_server: RedisAccess,
    key_prefix: str,
) -> None:
    spaced = _runtime(
        workdir=tmp_path / "spaced",
        exchange=exchange,
        redis_url=redis_server.url,
        key_prefix=key_prefix,
        interval=INTERVAL_MS,
    )
    reported, served, elapsed = await _run(spaced, admin, walk)
    print(f"spaced {INTERVAL_MS} ms: reported {reported}, served {served} in {elapsed:.1f} s")
    # One request may start as the figures are read.
    assert abs(reported - served) <= 2, (reported, served)
    # Within the share: one request per interval (plus the first), however the bot polls.
    assert 0 < served <= elapsed * 1000 / INTERVAL_MS + 1, (served, elapsed)

    # The same bot without a share polls as fast as its market data asks (every 100 ms).
    free = _runtime(
        workdir=tmp_path / "free",
        exchange=exchange,
        redis_url=redis_server.url,
        key_prefix=key_prefix + ":free",
        interval=None,
    )
    _, served_free, elapsed_free = await _run(free, admin, walk)
    print(f"unspaced: served {served_free} in {elapsed_free:.1f} s")
    assert served_free > 2 * served
