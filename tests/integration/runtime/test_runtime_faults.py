"""Fault injection: every fault ends in its documented behaviour, the process survives, and the
reason shows in ``/api/advanced/self-healing/health`` and in ``/metrics``.

One runtime (testnet mode, real ccxt) against the local exchange with faults injected through
its admin API, and its own redis-server so the test can restart Redis under it. Documented
behaviour (docs/runtime-api.md, "Self-healing"): 429 → slower polling; 5xx and timeouts →
retry; a dropped response after the exchange accepted the order → looked up and adopted, never
sent twice; a partial fill → the filled part is the position; an authentication failure → halt
until a human acknowledges (a user's resume does not lift it); a Redis restart → reconnect with backoff.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from conftest import API_KEY, API_SECRET, FreezableWalk
from runtime_support import BTC, RuntimeProcess, flatten
from tradefleet_devtools.exchange import ExchangeAdminClient, FaultKind, FaultRule, LocalExchange
from tradefleet_devtools.redis_server import LocalRedis
from tradefleet_runtime.execution.client_order_id import owns
from tradefleet_runtime.execution.venue import ccxt_exchange_id

pytestmark = pytest.mark.integration

DEPTH = "/fapi/v1/depth"
ORDER = "/fapi/v1/order"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[LocalRedis]:
    server = LocalRedis(workdir=tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def eventually(
    check: Callable[[], Awaitable[bool]], *, what: str, seconds: float = 20.0
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def health(runtime: RuntimeProcess) -> dict[str, Any]:
    response = await runtime.get("/api/advanced/self-healing/health")
    assert response.status_code == 200
    payload: dict[str, Any] = response.json()
    return payload


async def attempts(runtime: RuntimeProcess, error_class: str) -> list[dict[str, Any]]:
    return [
        a
        for a in (await health(runtime))["recent_healing_attempts"]
        if a["error_class"] == error_class
    ]


async def status(runtime: RuntimeProcess) -> dict[str, Any]:
    payload: dict[str, Any] = (await runtime.get("/status")).json()
    return payload


async def open_position(
    *, runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    """Push the price up until the bot holds a position, then freeze the market."""
    price = float((await admin.state())["prices"]["BTCUSDT"])
    walk.frozen = False
    deadline = time.monotonic() + 30
    while (await status(runtime))["position"]["side"] == "flat":
        assert time.monotonic() < deadline, "the bot did not open a position"
        price *= 1.002
        await admin.set_price(symbol=BTC, price=price)
        await asyncio.sleep(0.4)
    walk.frozen = True
    await asyncio.sleep(0.5)


async def test_injected_faults_heal_and_are_reported(
    tmp_path: Path,
    exchange: LocalExchange,
    admin: ExchangeAdminClient,
    walk: FreezableWalk,
    own_redis: LocalRedis,
) -> None:
    runtime = RuntimeProcess.create(
        workdir=tmp_path,
        api_key=API_KEY,
        api_secret=API_SECRET,
        bot="faultbot",
        base_url=exchange.base_url,
        redis_url=f"redis://127.0.0.1:{own_redis.port}/0",
        key_prefix=f"tradefleet:bot:test:{uuid.uuid4().hex[:8]}",
    )
    walk.frozen = True
    runtime.start()
    try:
        await runtime.wait_for("/readyz", timeout_s=120)

        # 429, 5xx and a timeout on market data: slower polling, retries; the bot keeps going.
        await admin.add_faults(
            [
                FaultRule(kind=FaultKind.HTTP_429, path=DEPTH, method="GET", times=2),
                FaultRule(kind=FaultKind.HTTP_5XX, path=DEPTH, method="GET", times=2),
                FaultRule(kind=FaultKind.TIMEOUT, path=DEPTH, method="GET", hold_seconds=3.5),
            ]
        )

        async def market_faults_seen() -> bool:
            return (
                bool(await attempts(runtime, "rate_limited"))
                and len(await attempts(runtime, "connection")) >= 3
            )

        await eventually(market_faults_seen, what="rate-limit and connection healing", seconds=40)
        assert (await attempts(runtime, "rate_limited"))[0]["action"] == "slow_polling"
        assert {a["action"] for a in await attempts(runtime, "connection")} <= {
            "retry",
            "reset_connection",
        }
        await runtime.wait_for("/readyz", timeout_s=30)

        # A partial fill: the filled half is the position, reported as partial_fill.
        await open_position(runtime=runtime, admin=admin, walk=walk)
        size = (await status(runtime))["position"]["size"]
        await admin.add_faults(
            [FaultRule(kind=FaultKind.PARTIAL_FILL, path=ORDER, method="POST", fill_ratio=0.5)]
        )
        await flatten(runtime)
        assert (await attempts(runtime, "partial_fill"))[0]["action"] == "adopt_filled_quantity"
        remaining = (await status(runtime))["position"]["size"]
        assert 0 < remaining < size

        # The exchange executes the order but the answer is lost: adopted, never sent twice.
        await admin.add_faults(
            [FaultRule(kind=FaultKind.DROP_AFTER_ACCEPT, path=ORDER, method="POST")]
        )
        await flatten(runtime)
        assert (await status(runtime))["position"]["side"] == "flat"
        ids = [o["clientOrderId"] for o in (await admin.state())["orders"]]
        assert not [cid for cid, n in Counter(ids).items() if n > 1]

        # Authentication failure: halt and ask for a human; a user's resume (the operator's, for
        # spec.paused) leaves it halted, the human's acknowledge brings it back.
        await admin.add_faults([FaultRule(kind=FaultKind.AUTH_FAILURE, path=DEPTH, method="GET")])

        async def halted() -> bool:
            return (await status(runtime))["phase"] == "halted"

        await eventually(halted, what="the halt after an authentication failure")
        report = await health(runtime)
        assert report["overall_status"] == "needs_human"
        assert "authentication" in (report["human_reason"] or "")
        assert (await runtime.post("/control/resume")).status_code == 200
        assert (await status(runtime))["phase"] == "halted"
        assert (await status(runtime))["trading"]["reason"] == "AuthenticationFailed"
        assert (await runtime.post("/control/acknowledge")).status_code == 200

        async def trading() -> bool:
            return (await status(runtime))["phase"] == "trading"

        await eventually(trading, what="trading after acknowledge")
        assert (await health(runtime))["needs_human"] is False

        # Redis restart: reconnect with backoff, recorded; the process survives.
        own_redis.stop()

        async def redis_down_seen() -> bool:
            return (await health(runtime))["redisHealthy"] is False

        await eventually(redis_down_seen, what="the Redis outage to be noticed")
        assert (await status(runtime))["phase"] == "degraded"
        own_redis.start()

        async def redis_back() -> bool:
            report = await health(runtime)
            return report["redisHealthy"] is True and any(
                a["error_class"] == "redis" and a["resolved"]
                for a in report["recent_healing_attempts"]
            )

        await eventually(redis_back, what="the Redis reconnection", seconds=40)
        await eventually(trading, what="trading after the Redis restart")

        text = (await runtime.get("/metrics")).text
        for error_class in (
            "rate_limited",
            "connection",
            "partial_fill",
            "authentication",
            "redis",
        ):
            assert (
                metric(text, "tradefleet_bot_healing_attempts_total", error_class=error_class) >= 1
            ), error_class
        for classification in ("rate_limited", "temporary", "authentication"):
            assert (
                metric(text, "tradefleet_bot_exchange_errors_total", classification=classification)
                >= 1
            )
        assert runtime.alive()
        assert await runtime.stop() == 0
    finally:
        runtime.kill()


async def test_api_keys_never_appear_in_logs_metrics_responses_or_redis(
    runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    runtime.start()
    await runtime.wait_for("/readyz", timeout_s=120)
    await open_position(runtime=runtime, admin=admin, walk=walk)
    await admin.add_faults([FaultRule(kind=FaultKind.AUTH_FAILURE, path=DEPTH, method="GET")])
    await asyncio.sleep(1.0)
    assert (await runtime.post("/control/acknowledge")).status_code == 200
    assert (await runtime.post("/control/flatten", token="wrong")).status_code == 403
    assert (await runtime.post("/control/flatten", token=None)).status_code == 401
    await flatten(runtime)

    bodies = []
    for path in (
        "/status", "/signals", "/equity", "/strategy", "/metrics", "/healthz", "/readyz",
        f"/api/advanced/regime/{BTC}", "/api/advanced/regime/summary", f"/api/advanced/ofi/{BTC}",
        f"/api/advanced/ofi/stats/{BTC}", "/api/advanced/whale/BTC", "/api/advanced/whale/summary",
        "/api/advanced/sentiment/BTC", "/api/advanced/sentiment/summary",
        "/api/advanced/macro/signal", "/api/advanced/macro/summary", f"/api/advanced/fusion/{BTC}",
        "/api/advanced/self-healing/health",
    ):  # fmt: skip
        response = await runtime.get(path)
        assert response.status_code in (200, 503), (path, response.status_code)
        bodies.append(response.text)

    client = aioredis.Redis.from_url(runtime.config["redis"]["url"], decode_responses=True)
    try:
        stored = []
        async for key in client.scan_iter(match="*"):
            kind = await client.type(key)
            if kind == "string":
                value: Any = await client.get(key)
            elif kind == "hash":
                value = await client.hgetall(key)
            elif kind == "list":
                value = await client.lrange(key, 0, -1)
            elif kind == "set":
                value = await client.smembers(key)
            else:
                value = await client.xrange(key) if kind == "stream" else ""
            stored.append(f"{key} {value}")
    finally:
        await client.aclose()
    assert await runtime.stop() == 0
    haystacks = {"log": runtime.log(), "api": "\n".join(bodies), "redis": "\n".join(stored)}
    venue = runtime.config["exchange"]
    exchange_id = ccxt_exchange_id(exchange=venue["id"], market=venue["market"])
    order_ids = [
        word
        for word in re.findall(r"[\w-]+", haystacks["redis"])
        if owns(exchange=exchange_id, bot_name=runtime.config["bot"]["name"], client_order_id=word)
    ]
    assert len(haystacks["redis"]) > 1000 and order_ids
    for where, text in haystacks.items():
        for secret in (API_KEY, API_SECRET):
            assert secret not in text, f"{secret[:8]}… leaked into the {where}"
            assert not re.search(re.escape(secret[-10:]), text), (
                f"a part of a key leaked into the {where}"
            )


async def test_a_connection_rebuilt_during_start_up_is_the_one_start_up_goes_on_with(
    runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    # The history of bars is refused often enough in a row (5xx) for the runtime to rebuild its
    # exchange connection while warming up; once the exchange answers again the bot comes up.
    # (A chaos-soak trial found a runtime 'starting' for good after an unreachable window:
    # warm-up kept asking through the connection the rebuild had closed.)
    await admin.add_faults(
        [FaultRule(kind=FaultKind.HTTP_5XX, path="/fapi/v1/klines", method="GET", times=8)]
    )
    walk.frozen = True
    runtime.start()
    await runtime.wait_for("/readyz", timeout_s=60)
    assert (
        "exchange connection rebuilt"
        in (await runtime.get("/api/advanced/self-healing/health")).text
    )
    # While it could not start, its log said why.
    assert "warming up failed, retrying:" in runtime.log()
