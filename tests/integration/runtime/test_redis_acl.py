"""One bot's Redis login reaches its own keys and the streams of the sources it references, and
nothing else, on a real redis-server that requires a password (issue 20, item 1).

The users are the operator's (``tradefleet_operator.redis_users``, as it writes them with
``redisAcl``); the clients are redis-py, as the runtime's; and a whole paper runtime trades with its
bot's login, so the rules are known to allow everything a bot does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from conftest import FreezableWalk
from redis.exceptions import AuthenticationError, NoPermissionError
from runtime_support import BTC, RuntimeProcess, bot_status
from tradefleet_devtools.exchange import ExchangeAdminClient, LocalExchange
from tradefleet_devtools.redis_server import LocalRedis, RedisAccess
from tradefleet_operator.redis_users import RedisAcl, RedisUser, bot_user, source_user
from tradefleet_operator.render import ENV_REDIS_PASSWORD, ENV_REDIS_USERNAME, Owner
from tradefleet_runtime.persistence import store

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "operator-admin-password-41c2"
NAMESPACE = "desk"


def bot(name: str) -> Owner:
    return Owner(kind="TradingBot", name=name, namespace=NAMESPACE, uid=f"uid-{name}")


def source(name: str) -> Owner:
    return Owner(kind="SignalSource", name=name, namespace=NAMESPACE, uid=f"uid-src-{name}")


def config_of(name: str, *, sources: tuple[str, ...]) -> dict[str, object]:
    """What the operator renders for a bot's runtime, as far as Redis goes."""
    return {
        "redis": {"keyPrefix": f"tradefleet:bot:{NAMESPACE}:{name}"},
        "signalSources": [
            {"name": s, "redisStream": f"tradefleet:signals:{NAMESPACE}:{s}"} for s in sources
        ],
    }


ALPHA = bot_user(
    admin_password=ADMIN_PASSWORD, owner=bot("alpha"), config=config_of("alpha", sources=("news",))
)
BETA = bot_user(
    admin_password=ADMIN_PASSWORD, owner=bot("beta"), config=config_of("beta", sources=("whales",))
)
NEWS = source_user(admin_password=ADMIN_PASSWORD, owner=source("news"), inputs=())
TRANSFERS_STREAM = "desk:onchain:transfers"  # written by the desk's own transfer service
WHALES = source_user(
    admin_password=ADMIN_PASSWORD, owner=source("whales"), inputs=(TRANSFERS_STREAM,)
)
NEWS_STREAM = f"tradefleet:signals:{NAMESPACE}:news"
WHALES_STREAM = f"tradefleet:signals:{NAMESPACE}:whales"


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisAccess]:
    locked = LocalRedis(workdir=tmp_path_factory.mktemp("redis-acl"), password=ADMIN_PASSWORD)
    with locked.running() as access:
        yield access


@pytest.fixture
async def users(locked_redis: RedisAccess) -> AsyncIterator[None]:
    acl = RedisAcl(url=locked_redis.url, admin_password=ADMIN_PASSWORD)
    try:
        for user in (ALPHA, BETA, NEWS, WHALES):
            await acl.write(user)
        admin = aioredis.Redis.from_url(locked_redis.url, password=ADMIN_PASSWORD)
        await admin.xadd(NEWS_STREAM, {"symbol": "BTC/USDT", "value": "0.4"})
        await admin.xadd(WHALES_STREAM, {"symbol": "BTC/USDT", "value": "-0.2"})
        await admin.set("tradefleet:bot:desk:beta:halted", "1")
        await admin.aclose()
        yield
    finally:
        await acl.close()


def client_of(access: RedisAccess, user: RedisUser) -> aioredis.Redis:
    return store.redis_client(
        url=access.url,
        login=store.RedisLogin(username=user.username, password=user.password),
        timeout_s=2.0,
    )


async def test_a_bot_reaches_its_own_keys_and_its_sources_streams_and_nothing_else(
    locked_redis: RedisAccess, users: None
) -> None:
    alpha = client_of(locked_redis, ALPHA)
    try:
        await alpha.set("tradefleet:bot:desk:alpha:seq", "7")
        assert await alpha.get("tradefleet:bot:desk:alpha:seq") == "7"
        assert len(await alpha.xrevrange(NEWS_STREAM, count=1)) == 1
        refused = [
            alpha.get("tradefleet:bot:desk:beta:halted"),  # another bot's halt flag
            alpha.delete("tradefleet:bot:desk:beta:halted"),
            alpha.xrevrange(WHALES_STREAM, count=1),  # a stream it does not reference
            alpha.xadd(NEWS_STREAM, {"symbol": "BTC/USDT", "value": "1"}),  # forging a reading
            alpha.keys("*"),
            alpha.flushall(),
            alpha.execute_command("ACL", "SETUSER", ALPHA.username, "~*"),  # type: ignore[no-untyped-call]
        ]
        for attempt in refused:
            with pytest.raises(NoPermissionError):
                await attempt
    finally:
        await alpha.aclose()


async def test_a_whale_source_reads_the_stream_its_spec_names_and_no_other(
    locked_redis: RedisAccess, users: None
) -> None:
    whales = client_of(locked_redis, WHALES)
    try:
        assert await whales.xrevrange(TRANSFERS_STREAM, count=1) == []
        for attempt in (
            whales.xadd(TRANSFERS_STREAM, {"asset": "BTC"}),  # read-only
            whales.xrevrange(NEWS_STREAM, count=1),
        ):
            with pytest.raises(NoPermissionError):
                await attempt
    finally:
        await whales.aclose()


async def test_a_source_publishes_to_its_own_stream_only(
    locked_redis: RedisAccess, users: None
) -> None:
    news = client_of(locked_redis, NEWS)
    try:
        await news.xadd(NEWS_STREAM, {"symbol": "ETH/USDT", "value": "0.1"})
        for attempt in (
            news.xadd(WHALES_STREAM, {"symbol": "BTC/USDT", "value": "1"}),
            news.get("tradefleet:bot:desk:alpha:seq"),
            news.set("tradefleet:bot:desk:beta:halted", "0"),
        ):
            with pytest.raises(NoPermissionError):
                await attempt
    finally:
        await news.aclose()


async def test_without_a_login_or_with_another_bots_password_nothing_is_reachable(
    locked_redis: RedisAccess, users: None
) -> None:
    anonymous = aioredis.Redis.from_url(locked_redis.url)
    impostor = client_of(
        locked_redis, RedisUser(username=BETA.username, password=ALPHA.password, rules=())
    )
    try:
        with pytest.raises(AuthenticationError):
            await anonymous.get("tradefleet:bot:desk:beta:halted")
        with pytest.raises(AuthenticationError):
            await impostor.get("tradefleet:bot:desk:beta:halted")
    finally:
        await anonymous.aclose()
        await impostor.aclose()


async def test_a_paper_runtime_trades_with_its_bots_login(
    tmp_path: Path,
    locked_redis: RedisAccess,
    users: None,
    exchange: LocalExchange,
    admin: ExchangeAdminClient,
    walk: FreezableWalk,
) -> None:
    runtime = RuntimeProcess.paper(
        workdir=tmp_path,
        bot="alpha",
        base_url=exchange.base_url,
        redis_url=locked_redis.url,
        key_prefix="tradefleet:bot:desk:alpha",
    )
    runtime.env = {ENV_REDIS_USERNAME: ALPHA.username, ENV_REDIS_PASSWORD: ALPHA.password}
    assert (ENV_REDIS_USERNAME, ENV_REDIS_PASSWORD) == (
        store.ENV_REDIS_USERNAME,
        store.ENV_REDIS_PASSWORD,
    ), "the operator gives the pod the variables the runtime reads"
    try:
        walk.frozen = False
        runtime.start()
        await runtime.wait_for("/readyz", timeout_s=90)
        price = float((await admin.state())["prices"]["BTCUSDT"])
        deadline = time.monotonic() + 40
        while (await bot_status(runtime))["position"]["side"] == "flat":
            assert time.monotonic() < deadline, f"the bot did not trade:\n{runtime.log()[-3000:]}"
            price *= 1.002
            await admin.set_price(symbol=BTC, price=price)
            await asyncio.sleep(0.4)
        status = await bot_status(runtime)
        assert status["phase"] == "trading", status
        assert "NOPERM" not in runtime.log() and "WRONGPASS" not in runtime.log()
    finally:
        runtime.kill()
