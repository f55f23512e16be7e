"""A bot's share of its ExchangeAccount's request and orders budgets holds at the exchange, and
the bot reports the requests it made.

The operator renders ``exchange.requestIntervalMs`` (the account's requests per minute shared by
its bots); the runtime's exchange client spaces every request by it, and ``/status`` reports the
requests of the last minute, which the account adds up. The local exchange counts the requests
it served: the two figures must agree, and stay within the share.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import API_KEY, API_SECRET, FreezableWalk
from runtime_support import RuntimeProcess, eventually
from test_order_safety import live_stops, push_until, started
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


ORDER_INTERVAL_MS = 1500


async def test_a_bots_orders_are_spaced_by_its_share_of_the_orders_budget(
    runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    """An entry and the stop that protects it are two orders: with ``orderIntervalMs`` the stop
    reaches the exchange that long after the entry (without it, milliseconds after)."""
    runtime.config["exchange"]["orderIntervalMs"] = ORDER_INTERVAL_MS
    await started(runtime, walk)
    await push_until(runtime=runtime, admin=admin, walk=walk, step=1.002, side="long")

    async def stop_placed() -> bool:
        return bool(live_stops(await admin.state(), side="sell"))

    await eventually(stop_placed, what="the entry's stop", runtime=runtime)
    state = await admin.state()
    sent_ms = sorted(
        [int(o["time"]) for o in state["orders"]]
        + [int(a["createTime"]) for a in state["algo_orders"]]
    )
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent_ms)]
    print(f"orders reached the exchange at gaps of {gaps} ms")
    assert len(sent_ms) >= 2, state
    # The exchange stamps an order when it takes it: the entry's request may take longer to
    # arrive than the stop's (without the budget the stop follows within a few hundred ms).
    assert min(gaps) >= ORDER_INTERVAL_MS - 200, gaps
