"""Money safety under a degraded exchange: never a doubled or unprotected position, never two
runtimes trading one bot, and a PnL that survives restarts.

Each test runs the real runtime (a subprocess, real ccxt over HTTP) against the local exchange
and reads the outcome from the exchange's own books, not from what the bot says about itself.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from conftest import API_KEY, API_SECRET, FreezableWalk
from runtime_support import BTC, RuntimeProcess, bot_status, eventually, flatten
from tradefleet_devtools.exchange import ExchangeAdminClient, FaultKind, FaultRule, LocalExchange
from tradefleet_devtools.redis_server import RedisAccess
from tradefleet_runtime.execution.model import OrderRequest, OrderSide, OrderType
from tradefleet_runtime.execution.venue import ApiCredentials, CcxtVenue, VenueMode

pytestmark = pytest.mark.integration

POSITIONS = ("/fapi/v2/positionRisk", "/fapi/v3/positionRisk")
ORDER = "/fapi/v1/order"
ALGO_ORDER = "/fapi/v1/algoOrder"
MANY = 100_000


async def push_price(
    *, admin: ExchangeAdminClient, walk: FreezableWalk, step: float, seconds: float
) -> None:
    """Move the price by ``step`` (a ratio) every 0.4 s for ``seconds``: an order-flow signal
    the bot trades on; then the market freezes."""
    price = float((await admin.state())["prices"]["BTCUSDT"])
    walk.frozen = False
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        price *= step
        await admin.set_price(symbol=BTC, price=price)
        await asyncio.sleep(0.4)
    walk.frozen = True


async def push_until(
    *,
    runtime: RuntimeProcess,
    admin: ExchangeAdminClient,
    walk: FreezableWalk,
    step: float,
    side: str,
) -> None:
    """Move the price until the bot reports a ``side`` position.

    The deadline covers the bot's warm-up too: under a full CI load its first decision has come
    43 s after it started, so 90 s leaves room without hiding a bot that never trades."""
    price = float((await admin.state())["prices"]["BTCUSDT"])
    walk.frozen = False
    deadline = time.monotonic() + 90
    while (await bot_status(runtime))["position"]["side"] != side:
        assert time.monotonic() < deadline, f"the bot did not go {side}:\n{runtime.log()[-2000:]}"
        price *= step
        await admin.set_price(symbol=BTC, price=price)
        await asyncio.sleep(0.4)
    walk.frozen = True


def entries(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Orders that can open or grow a position (everything but reduce-only exits)."""
    return [o for o in state["orders"] if not o["reduceOnly"]]


def live_stops(state: dict[str, Any], *, side: str) -> list[dict[str, Any]]:
    return [
        a for a in state["algo_orders"] if a["algoStatus"] == "NEW" and a["side"] == side.upper()
    ]


def position_amount(state: dict[str, Any]) -> float:
    return sum(float(p["positionAmt"]) for p in state["positions"])


async def started(runtime: RuntimeProcess, walk: FreezableWalk) -> None:
    walk.frozen = True
    runtime.start()
    await runtime.wait_for("/readyz", timeout_s=120)


async def test_a_filled_entry_whose_position_cannot_be_read_is_not_doubled_and_gets_its_stop(
    runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    await started(runtime, walk)
    await admin.add_faults(
        [
            FaultRule(kind=FaultKind.HTTP_5XX, path=path, method="GET", times=MANY)
            for path in POSITIONS
        ]
    )

    await push_price(admin=admin, walk=walk, step=1.002, seconds=12)

    state = await admin.state()
    assert len(entries(state)) == 1, (
        "a second entry was sent while the first one's position could not be read: "
        f"{[(o['clientOrderId'], o['side'], o['executedQty']) for o in entries(state)]}"
    )
    assert position_amount(state) > 0
    assert live_stops(state, side="sell"), "the filled entry has no stop on the exchange"
    report = await bot_status(runtime)
    assert report["ordersBlocked"] is not None, report

    await admin.clear_faults()

    async def reads_its_position_again() -> bool:
        report = await bot_status(runtime)
        return report["ordersBlocked"] is None and report["position"]["side"] == "long"

    await eventually(reads_its_position_again, what="the position once readable", runtime=runtime)
    assert len(entries(await admin.state())) == 1


async def test_an_order_whose_outcome_is_unknown_blocks_new_entries_until_it_is_found(
    runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    await started(runtime, walk)
    # The exchange books the entry and the reply is lost; from then on neither the order nor
    # the position can be read.
    await admin.add_faults([FaultRule(kind=FaultKind.DROP_AFTER_ACCEPT, path=ORDER, method="POST")])
    rally = asyncio.create_task(push_price(admin=admin, walk=walk, step=1.002, seconds=30))
    try:
        deadline = time.monotonic() + 30
        while not (await admin.state())["orders"]:
            assert time.monotonic() < deadline, f"no entry was sent:\n{runtime.log()[-2000:]}"
        # Before the bot looks its lost entry up (it waits out the submission window first).
        await admin.add_faults(
            [
                FaultRule(kind=FaultKind.HTTP_5XX, path=path, method="GET", times=MANY)
                for path in (ORDER, *POSITIONS)
            ]
        )
    finally:
        rally.cancel()

    await push_price(admin=admin, walk=walk, step=1.002, seconds=8)
    # The exchange answers again while the signal still says buy: the lost entry must be
    # found before anything new is decided.
    await admin.clear_faults()
    await push_price(admin=admin, walk=walk, step=1.002, seconds=4)

    state = await admin.state()
    assert len(entries(state)) == 1, (
        "a new entry was sent while the first one's outcome was unknown: "
        f"{[(o['clientOrderId'], o['side'], o['executedQty']) for o in entries(state)]}"
    )
    attempted = re.findall(r"order intent recorded: entry .*", runtime.log())
    assert len(attempted) == 1, f"new entries were attempted on a position not known: {attempted}"

    async def found_and_protected() -> bool:
        report = await bot_status(runtime)
        return report["position"]["side"] == "long" and report.get("protection", {}).get(
            "stopKind"
        ) == ("exchange")

    await eventually(
        found_and_protected, what="the lost entry found and protected", runtime=runtime
    )
    assert len(entries(await admin.state())) == 1


async def test_a_stale_stop_is_never_taken_for_a_new_positions_stop(
    runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    await started(runtime, walk)
    await push_until(runtime=runtime, admin=admin, walk=walk, step=0.998, side="short")

    async def short_protected() -> bool:
        return bool(live_stops(await admin.state(), side="buy"))

    await eventually(short_protected, what="the short's stop", runtime=runtime)
    # The exit fills but cancelling the short's stop fails: the stop is left behind.
    await admin.add_faults(
        [FaultRule(kind=FaultKind.HTTP_5XX, path=ALGO_ORDER, method="DELETE", times=8)]
    )
    await flatten(runtime)
    await push_until(runtime=runtime, admin=admin, walk=walk, step=1.002, side="long")

    async def long_protected() -> bool:
        return bool(live_stops(await admin.state(), side="sell"))

    await eventually(long_protected, what="a stop on the long's closing side", runtime=runtime)

    async def stale_stop_gone() -> bool:
        return not live_stops(await admin.state(), side="buy")

    await eventually(stale_stop_gone, what="the stale stop cancelled", runtime=runtime)


async def test_a_second_runtime_of_the_same_bot_waits_and_a_fenced_runtime_stops(
    tmp_path: Path,
    exchange: LocalExchange,
    admin: ExchangeAdminClient,
    walk: FreezableWalk,
    redis_server: RedisAccess,
    key_prefix: str,
) -> None:
    def runtime_in(name: str) -> RuntimeProcess:
        return RuntimeProcess.create(
            workdir=tmp_path / name,
            api_key=API_KEY,
            api_secret=API_SECRET,
            bot="twinbot",
            base_url=exchange.base_url,
            redis_url=redis_server.url,
            key_prefix=key_prefix,
        )

    first, second = runtime_in("first"), runtime_in("second")
    try:
        await started(first, walk)
        second.start()

        async def second_waits() -> bool:
            try:
                reply = await second.get("/status")
            except httpx.HTTPError:
                return False  # not serving yet
            return reply.status_code == 200 and reply.json()["phase"] == "standby"

        await eventually(second_waits, what="the second runtime in standby", runtime=second)
        await push_price(admin=admin, walk=walk, step=1.002, seconds=4)
        assert (await bot_status(second))["phase"] == "standby"
        assert (await second.get("/readyz")).status_code == 503

        # The first runtime hangs (SIGSTOP) past its lease: the second takes over...
        assert first.process is not None
        first.process.send_signal(19)  # SIGSTOP
        await second.wait_for("/readyz", timeout_s=60)
        # ... and when the first one wakes up (into a market that moved) it sends nothing more
        # and ends, saying why.
        await push_price(admin=admin, walk=walk, step=0.998, seconds=2)
        logged_before = len(first.log())
        first.process.send_signal(18)  # SIGCONT
        code = await asyncio.to_thread(first.process.wait, 30)
        assert code != 0
        assert "lease lost" in first.termination_message()
        after_wake = first.log()[logged_before:]
        assert "lease lost" in after_wake
        assert "order intent recorded" not in after_wake, after_wake
        assert (await bot_status(second))["phase"] in ("trading", "degraded")
    finally:
        first.kill()
        second.kill()


async def test_a_bot_with_nothing_to_trade_with_keeps_its_loop_and_says_why(
    runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    # No quote currency at all and no stored portfolio: nothing to trade with.
    await admin.reset(balance=0.0)
    await started(runtime, walk)
    await push_price(admin=admin, walk=walk, step=1.002, seconds=6)

    heartbeat = (await bot_status(runtime))["heartbeat"]
    assert time.time() - heartbeat < 3, "the decision loop died: the heartbeat went stale"
    attempts = (await runtime.get("/api/advanced/self-healing/health")).json()
    messages = [a["message"] for a in attempts["recent_healing_attempts"]]
    assert any("no USDT to trade with" in message for message in messages), messages
    assert "Traceback" not in runtime.log()


async def test_a_rewound_decision_sequence_never_reuses_a_decision_id(
    runtime: RuntimeProcess,
    admin: ExchangeAdminClient,
    walk: FreezableWalk,
    redis_server: RedisAccess,
    key_prefix: str,
) -> None:
    async def decisions() -> dict[str, str]:
        """Client order id → decision id of every order the bot ever recorded."""
        raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            orders = await raw.hgetall(f"{key_prefix}:orders")
        finally:
            await raw.aclose()
        return {cid: json.loads(order)["decisionId"] for cid, order in orders.items()}

    await started(runtime, walk)
    await push_until(runtime=runtime, admin=admin, walk=walk, step=1.002, side="long")
    await flatten(runtime)
    assert await runtime.stop() == 0
    before = await decisions()
    # Redis lost its last writes (appendfsync everysec and a node crash): the sequence rewinds.
    raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        await raw.set(f"{key_prefix}:seq", "0")
    finally:
        await raw.aclose()

    await started(runtime, walk)
    await push_until(runtime=runtime, admin=admin, walk=walk, step=1.002, side="long")
    await flatten(runtime)

    new = {cid: decision for cid, decision in (await decisions()).items() if cid not in before}
    assert new, "no new order was recorded after the restart"
    reused = sorted(set(new.values()) & set(before.values()))
    assert not reused, (
        f"new decisions took the ids of old ones (their orders are skipped): {reused}"
    )


async def test_pnl_is_measured_from_the_first_start_across_restarts(
    runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    await started(runtime, walk)
    await push_until(runtime=runtime, admin=admin, walk=walk, step=1.002, side="long")
    await flatten(runtime)
    assert await runtime.stop() == 0
    equity = float((await admin.ledger())["wallet"]["equity"])
    assert equity != 10_000.0, "a round trip with fees left the account unchanged"

    await started(runtime, walk)
    # Measured from the equity of the first start (10 000 USDT), not from this start's.
    assert (await bot_status(runtime))["pnl"] == pytest.approx(equity - 10_000.0, abs=1e-6)


def unprotected_ms(state: dict[str, Any]) -> float:
    """How long after the first entry's first fill a stop on its closing side was resting:
    0 when one was already resting (placed before the fill)."""
    entry = min(entries(state), key=lambda o: o["orderId"])
    fill_ms = min(f["time"] for f in state["fills"] if f["orderId"] == entry["orderId"])
    closing = "SELL" if entry["side"] == "BUY" else "BUY"
    covering = [
        a["createTime"]
        for a in state["algo_orders"]
        if a["side"] == closing and (a["algoStatus"] == "NEW" or a["updateTime"] >= fill_ms)
    ]
    assert covering, f"no stop on the {closing} side ever covered the entry: {state['algo_orders']}"
    return max(0.0, min(covering) - fill_ms)


async def first_entry_filled(
    *, runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> dict[str, Any]:
    """Move the price up until the exchange books an entry, then settle for 3 s."""
    price = float((await admin.state())["prices"]["BTCUSDT"])
    walk.frozen = False
    deadline = time.monotonic() + 40
    while not (await admin.state())["fills"]:
        assert time.monotonic() < deadline, f"no entry was filled:\n{runtime.log()[-2000:]}"
        price *= 1.002
        await admin.set_price(symbol=BTC, price=price)
        await asyncio.sleep(0.4)
    walk.frozen = True
    await asyncio.sleep(3.0)
    return await admin.state()


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(
            FaultRule(kind=FaultKind.DROP_AFTER_ACCEPT, path=ORDER, method="POST"),
            id="entry-reply-lost",
        ),
        pytest.param(
            FaultRule(
                kind=FaultKind.SLOW_FILL, path=ORDER, method="POST", fill_seconds=6.0, fill_steps=3
            ),
            id="entry-fills-slowly",
        ),
        pytest.param(
            FaultRule(kind=FaultKind.HTTP_5XX, path=ALGO_ORDER, method="POST"),
            id="stop-refused-once",
        ),
        pytest.param(
            FaultRule(kind=FaultKind.HTTP_5XX, path=POSITIONS[1], method="GET", times=MANY),
            id="position-unreadable",
        ),
    ],
)
async def test_a_filled_entry_has_its_exchange_stop_within_2s_whatever_the_exchange_answers(
    runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk, fault: FaultRule
) -> None:
    await started(runtime, walk)
    await admin.add_faults([fault])

    state = await first_entry_filled(runtime=runtime, admin=admin, walk=walk)

    assert len(entries(state)) == 1, [(o["clientOrderId"], o["status"]) for o in entries(state)]
    assert unprotected_ms(state) <= 2000, (
        f"the entry was filled {unprotected_ms(state):.0f} ms before a stop rested on the exchange"
        f"\n{runtime.log()[-3000:]}"
    )


def log_time_ms(line: str) -> int:
    """The wall-clock time of a runtime log line ("2026-12-05 01:31:31,512 ...")."""
    stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    return int(stamp.timestamp() * 1000)


async def test_a_position_found_at_start_up_gets_its_stop_before_slow_look_ups(
    runtime: RuntimeProcess,
    exchange: LocalExchange,
    admin: ExchangeAdminClient,
    walk: FreezableWalk,
) -> None:
    # A position without a stop (its runtime died between the entry and the stop), and an
    # exchange that rate-limits the open-orders look-up of the next runtime's reconciliation.
    venue = CcxtVenue(
        exchange_id="binanceusdm",
        mode=VenueMode.TESTNET,
        credentials=ApiCredentials(api_key=API_KEY, api_secret=API_SECRET),
        base_url_override=exchange.base_url,
    )
    try:
        await venue.load_markets()
        await venue.create_order(
            OrderRequest(
                symbol=BTC,
                side=OrderSide.BUY,
                order_type=OrderType.MARKET,
                client_order_id="left-by-a-dead-runtime",
                amount=0.003,
            )
        )
    finally:
        await venue.close()
    await admin.add_faults(
        [FaultRule(kind=FaultKind.HTTP_429, path="/fapi/v1/openOrders", method="GET", times=4)]
    )

    await started(runtime, walk)

    leased = next(line for line in runtime.log().splitlines() if "lease acquired" in line)
    stops = live_stops(await admin.state(), side="sell")
    assert len(stops) == 1, stops
    waited_ms = stops[0]["createTime"] - log_time_ms(leased)
    assert waited_ms <= 2000, (
        f"the position found at start-up waited {waited_ms} ms for its stop\n{runtime.log()[-3000:]}"
    )


async def entry_held_while_unreadable(
    *, runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> float:
    """Push the price up until the bot's entry is held in the exchange's matching queue (1.5 s),
    then make the position unreadable; returns the price at which the entry was sent."""
    await started(runtime, walk)
    await admin.add_faults(
        [FaultRule(kind=FaultKind.LATE_EXECUTION, path=ORDER, method="POST", hold_seconds=1.5)]
    )
    price = float((await admin.state())["prices"]["BTCUSDT"])
    walk.frozen = False
    deadline = time.monotonic() + 40
    while not any(o["status"] == "HELD" for o in (await admin.ledger())["orders"]):
        assert time.monotonic() < deadline, f"no entry was sent:\n{runtime.log()[-2000:]}"
        price *= 1.002
        await admin.set_price(symbol=BTC, price=price)
        await asyncio.sleep(0.2)
    walk.frozen = True
    await admin.add_faults(
        [
            FaultRule(kind=FaultKind.HTTP_5XX, path=path, method="GET", times=MANY)
            for path in POSITIONS
        ]
    )
    return price


async def test_an_entry_filled_beyond_its_stop_is_closed_at_once(
    runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    # The exchange holds the entry in its matching queue; meanwhile the market falls through
    # the stop placed before it (which fires on no position and expires), and the entry then
    # fills below that stop, while the position cannot be read.
    price = await entry_held_while_unreadable(runtime=runtime, admin=admin, walk=walk)
    await admin.set_price(symbol=BTC, price=price * 0.95)
    await asyncio.sleep(6.0)

    state = await admin.state()
    (entry,) = entries(state)
    entry_fill_ms = min(f["time"] for f in state["fills"] if f["orderId"] == entry["orderId"])
    exits = [o for o in state["orders"] if o["reduceOnly"] and float(o["executedQty"]) > 0]
    assert position_amount(state) == 0, (
        f"the entry filled beyond its stop is still open\n{runtime.log()[-3000:]}"
    )
    exit_fill_ms = min(f["time"] for f in state["fills"] if f["orderId"] == exits[0]["orderId"])
    assert exit_fill_ms - entry_fill_ms <= 2000, (
        f"closed {exit_fill_ms - entry_fill_ms} ms after the entry filled\n{runtime.log()[-3000:]}"
    )


async def test_an_entry_whose_stop_fired_while_it_was_held_gets_a_new_stop(
    runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> None:
    # As above, but the market comes back before the entry executes: it fills above its stop,
    # and the stop placed before it has fired on no position and is gone.
    price = await entry_held_while_unreadable(runtime=runtime, admin=admin, walk=walk)
    await admin.set_price(symbol=BTC, price=price * 0.95)
    await asyncio.sleep(0.2)
    await admin.set_price(symbol=BTC, price=price)
    await asyncio.sleep(6.0)

    state = await admin.state()
    assert position_amount(state) > 0, f"the entry did not fill\n{runtime.log()[-3000:]}"
    try:
        waited_ms = unprotected_ms(state)
    except AssertionError as never:
        raise AssertionError(f"{never}\n{runtime.log()[-3000:]}") from None
    assert waited_ms <= 2000, (
        f"the entry was filled {waited_ms:.0f} ms before a stop rested on the exchange"
        f"\n{runtime.log()[-3000:]}"
    )
