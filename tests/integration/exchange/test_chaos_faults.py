"""The adversarial exchange through real ccxt: what a client sees, and what really happened.

Each test injects one of the chaos faults, drives the runtime's ``CcxtVenue`` (or its
``OrderExecutor``) against the local exchange, and then compares what the client was told
with the exchange's own ledger (``GET /_admin/ledger``), the record a chaos soak harness
judges invariants from. Client timeout 0.5 s, recvWindow 1 s (see conftest).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from tradefleet_devtools.exchange import (
    ExchangeAdminClient,
    FaultKind,
    FaultRule,
    LocalExchange,
)
from tradefleet_runtime.execution.errors import (
    ErrorClassification,
    OrderNotFound,
    RateLimitedError,
    SendRefused,
    TemporaryExchangeError,
)
from tradefleet_runtime.execution.executor import OrderExecutor, RetryPolicy
from tradefleet_runtime.execution.model import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    VenuePositionSide,
)
from tradefleet_runtime.execution.venue import ApiCredentials, CcxtVenue, VenueMode

pytestmark = pytest.mark.integration

BTC = "BTC/USDT:USDT"
BTCUSDT = "BTCUSDT"
ORDER_PATH = "/fapi/v1/order"
RECV_WINDOW_MS = 1_000
FAST_RETRIES = RetryPolicy(max_attempts=4, base_delay_s=0.05, max_delay_s=0.5)
LEDGER_ORDER_KEYS = {
    "order_id",
    "client_order_id",
    "symbol",
    "side",
    "type",
    "time_in_force",
    "reduce_only",
    "close_position",
    "price",
    "quantity",
    "executed_quantity",
    "average_price",
    "status",
    "received_ms",
    "booked_ms",
    "updated_ms",
    "algo_id",
    "rejection",
    "api_key",
    "sender",
    "request_timestamp_ms",
    "recv_window_ms",
}


def market_buy(client_order_id: str, amount: float = 0.01) -> OrderRequest:
    return OrderRequest(
        symbol=BTC,
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        client_order_id=client_order_id,
        amount=amount,
    )


def on_orders(kind: FaultKind, **fields: Any) -> FaultRule:
    return FaultRule(kind=kind, path=ORDER_PATH, method="POST", **fields)


def executor_for(venue: CcxtVenue, retry: RetryPolicy = FAST_RETRIES) -> OrderExecutor:
    return OrderExecutor(venue=venue, retry=retry, rng=random.Random(7))


async def sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


async def ledger_orders(admin: ExchangeAdminClient) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = (await admin.ledger())["orders"]
    return orders


async def raw_request(
    exchange: LocalExchange,
    *,
    method: str,
    path: str,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
) -> tuple[int, Mapping[str, str], Any]:
    """Status, headers and JSON body of one request, signed with ``secret`` if given."""
    query = dict(params or {})
    if secret is not None:
        query.update(timestamp=str(int(time.time() * 1000)), recvWindow=str(RECV_WINDOW_MS))
    encoded = urlencode(query)
    if secret is not None:
        signature = hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).hexdigest()
        encoded = f"{encoded}&signature={signature}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, f"{exchange.base_url}{path}?{encoded}", headers=dict(headers or {})
        ) as response,
    ):
        body = await response.json(content_type=None)
        return response.status, response.headers, body


# ------------------------------------------------------------------ executed, reply lost


async def test_accept_then_timeout_executes_the_order_the_client_gave_up_on(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults([on_orders(FaultKind.ACCEPT_THEN_TIMEOUT, hold_seconds=1.5)])
    sent = time.monotonic()

    with pytest.raises(TemporaryExchangeError):
        await venue.create_order(market_buy("tf-chaos-att"))
    assert time.monotonic() - sent < 1.2  # the client's own timeout, the reply still held

    (order,) = await ledger_orders(admin)
    assert (order["client_order_id"], order["status"], order["executed_quantity"]) == (
        "tf-chaos-att",
        "FILLED",
        "0.010",
    )
    found = await venue.fetch_order(symbol=BTC, client_order_id="tf-chaos-att")
    assert found.status is OrderStatus.FILLED
    assert found.filled == pytest.approx(0.01)
    (position,) = await venue.fetch_positions(symbols=[BTC])
    assert position.contracts == pytest.approx(0.01)


async def test_accept_then_timeout_reaches_a_patient_client_late(
    exchange: LocalExchange, admin: ExchangeAdminClient, api_key: str, api_secret: str
) -> None:
    patient = CcxtVenue(
        exchange_id="binanceusdm",
        mode=VenueMode.TESTNET,
        credentials=ApiCredentials(api_key=api_key, api_secret=api_secret),
        base_url_override=exchange.base_url,
        timeout_s=5.0,
        recv_window_ms=RECV_WINDOW_MS,
    )
    try:
        await patient.load_markets()
        await admin.add_faults([on_orders(FaultKind.ACCEPT_THEN_TIMEOUT, hold_seconds=1.0)])
        sent = time.monotonic()
        order = await patient.create_order(market_buy("tf-chaos-patient"))
        waited = time.monotonic() - sent
    finally:
        await patient.close()

    assert order.status is OrderStatus.FILLED
    assert 1.0 <= waited < 3.0


async def test_accept_then_5xx_answers_an_error_for_an_executed_order(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults([on_orders(FaultKind.ACCEPT_THEN_5XX, status=502)])

    with pytest.raises(TemporaryExchangeError) as raised:
        await venue.create_order(market_buy("tf-chaos-a5xx"))

    assert raised.value.classification is ErrorClassification.TEMPORARY
    ledger = await admin.ledger()
    (order,) = ledger["orders"]
    assert (order["status"], order["executed_quantity"]) == ("FILLED", "0.010")
    assert [f["client_order_id"] for f in ledger["fills"]] == ["tf-chaos-a5xx"]


@pytest.mark.parametrize(
    "rule",
    [
        on_orders(FaultKind.ACCEPT_THEN_TIMEOUT, hold_seconds=1.0),
        on_orders(FaultKind.ACCEPT_THEN_5XX, status=503),
    ],
    ids=["accept_then_timeout", "accept_then_5xx"],
)
async def test_the_executor_adopts_an_order_whose_reply_was_lost(
    venue: CcxtVenue, admin: ExchangeAdminClient, rule: FaultRule
) -> None:
    await admin.add_faults([rule])
    executor = executor_for(venue)

    order = await executor.place(market_buy("tf-chaos-adopt"))

    assert order.status is OrderStatus.FILLED
    assert [(o["client_order_id"], o["status"]) for o in await ledger_orders(admin)] == [
        ("tf-chaos-adopt", "FILLED")
    ]
    assert (await admin.state())["requests"]["POST /fapi/v1/order"] == 1
    assert executor.errors_by_classification[ErrorClassification.TEMPORARY] == 1


# ------------------------------------------------------------------------- slow fills


async def test_slow_fill_shows_progress_in_queries_trades_and_the_position(
    venue: CcxtVenue,
    admin: ExchangeAdminClient,
    exchange: LocalExchange,
    api_key: str,
    api_secret: str,
) -> None:
    await admin.add_faults([on_orders(FaultKind.SLOW_FILL, fill_seconds=2.4, fill_steps=3)])

    placed = await venue.create_order(market_buy("tf-chaos-slow", amount=0.03))
    replied = time.monotonic()
    assert placed.status is OrderStatus.OPEN
    assert placed.filled == pytest.approx(0.01)

    seen = []
    for at in (0.4, 1.8, 3.0):  # lots fall due 1.2 s and 2.4 s after the first
        await sleep_until(replied + at)
        order = await venue.fetch_order(symbol=BTC, client_order_id="tf-chaos-slow")
        status, _, trades = await raw_request(
            exchange,
            method="GET",
            path="/fapi/v1/userTrades",
            params={"symbol": BTCUSDT},
            headers={"X-MBX-APIKEY": api_key},
            secret=api_secret,
        )
        assert status == 200
        (position,) = await venue.fetch_positions(symbols=[BTC])
        seen.append(
            (order.status, round(order.filled, 3), len(trades), round(position.contracts, 3))
        )

    assert seen == [
        (OrderStatus.OPEN, 0.01, 1, 0.01),
        (OrderStatus.OPEN, 0.02, 2, 0.02),
        (OrderStatus.FILLED, 0.03, 3, 0.03),
    ]
    fill_times = [f["time_ms"] for f in (await admin.ledger())["fills"]]
    assert [later - fill_times[0] for later in fill_times] == [0, 1_200, 2_400]


# --------------------------------------------------------------------------------- 429


async def test_a_429_carries_retry_after_and_binances_1003_body(
    exchange: LocalExchange, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults([FaultRule(kind=FaultKind.HTTP_429, path="/fapi/v1/time", times=2)])

    answers = [await raw_request(exchange, method="GET", path="/fapi/v1/time") for _ in range(3)]

    assert [status for status, _, _ in answers] == [429, 429, 200]
    _, headers, body = answers[0]
    assert headers["Retry-After"] == "1"
    assert body["code"] == -1003
    assert "Too many requests" in body["msg"]


async def test_a_burst_of_429s_is_rate_limiting_until_it_passes(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults(
        [FaultRule(kind=FaultKind.HTTP_429, path="/fapi/v1/depth", method="GET", times=3)]
    )
    for _ in range(3):
        with pytest.raises(RateLimitedError):
            await venue.fetch_order_book(symbol=BTC, depth=5)
    book = await venue.fetch_order_book(symbol=BTC, depth=5)
    assert book.asks


# ---------------------------------------------------------------------- late execution


async def test_late_execution_is_not_found_at_first_then_executes_within_the_window(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults([on_orders(FaultKind.LATE_EXECUTION, hold_seconds=0.8)])
    sent = time.monotonic()

    with pytest.raises(TemporaryExchangeError):
        await venue.create_order(market_buy("tf-chaos-late"))
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(symbol=BTC, client_order_id="tf-chaos-late")
    (queued,) = await ledger_orders(admin)
    assert (queued["status"], queued["order_id"], queued["executed_quantity"]) == (
        "HELD",
        None,
        "0.000",
    )

    await sleep_until(sent + 1.0)
    (booked,) = await ledger_orders(admin)
    assert (booked["status"], booked["executed_quantity"]) == ("FILLED", "0.010")
    assert booked["booked_ms"] - booked["received_ms"] == pytest.approx(800, abs=1)
    assert booked["booked_ms"] <= booked["request_timestamp_ms"] + RECV_WINDOW_MS + 1_000
    found = await venue.fetch_order(symbol=BTC, client_order_id="tf-chaos-late")
    assert found.status is OrderStatus.FILLED


async def test_late_execution_past_the_receive_window_never_executes(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults([on_orders(FaultKind.LATE_EXECUTION, hold_seconds=1.5)])
    sent = time.monotonic()

    with pytest.raises(TemporaryExchangeError):
        await venue.create_order(market_buy("tf-chaos-too-late"))
    await sleep_until(sent + 2.0)

    ledger = await admin.ledger()
    (dropped,) = ledger["orders"]
    assert (dropped["status"], dropped["order_id"], dropped["booked_ms"]) == ("DROPPED", None, None)
    assert ledger["fills"] == []
    assert ledger["positions"][BTCUSDT]["amount"] == "0.000"
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(symbol=BTC, client_order_id="tf-chaos-too-late")


@pytest.mark.parametrize(
    "hold_seconds", [0.8, 1.5], ids=["booked-within-window", "dropped-past-window"]
)
async def test_an_executor_waiting_out_the_window_never_doubles_a_late_order(
    venue: CcxtVenue, admin: ExchangeAdminClient, hold_seconds: float
) -> None:
    await admin.add_faults([on_orders(FaultKind.LATE_EXECUTION, hold_seconds=hold_seconds)])
    sent = time.monotonic()

    order = await executor_for(venue).place(market_buy("tf-chaos-late-exec"))
    await sleep_until(sent + hold_seconds + 0.3)  # whatever was queued has settled

    assert order.status is OrderStatus.FILLED
    ledger = await admin.ledger()
    executed = [o for o in ledger["orders"] if o["order_id"] is not None]
    assert [(o["client_order_id"], o["status"]) for o in executed] == [
        ("tf-chaos-late-exec", "FILLED")
    ]
    assert ledger["positions"][BTCUSDT]["amount"] == "0.010"
    for entry in executed:
        assert entry["booked_ms"] <= entry["request_timestamp_ms"] + RECV_WINDOW_MS + 1_000


# --------------------------------------------------------------------------- clock skew


@pytest.mark.parametrize("skew_ms", [-3_000, 3_000], ids=["behind", "ahead"])
async def test_a_skewed_exchange_clock_is_measured_after_one_refusal_and_again_when_fixed(
    venue: CcxtVenue, admin: ExchangeAdminClient, exchange: LocalExchange, skew_ms: int
) -> None:
    await admin.add_faults(
        [FaultRule(kind=FaultKind.CLOCK_SKEW, skew_ms=skew_ms, hold_seconds=1.5)]
    )
    opened = time.monotonic()

    with pytest.raises(TemporaryExchangeError) as raised:
        await venue.fetch_balances()
    assert "-1021" in str(raised.value)
    assert raised.value.classification is ErrorClassification.TEMPORARY
    _, _, server = await raw_request(exchange, method="GET", path="/fapi/v1/time")
    assert server["serverTime"] - time.time() * 1000 == pytest.approx(skew_ms, abs=500)
    assert (await venue.fetch_ticker(symbol=BTC)).last == 30_000.0  # unsigned: unaffected

    # The venue measured the skew when it was refused: it signs with the exchange's time...
    assert (await venue.fetch_balances())["USDT"].total == pytest.approx(10_000.0)
    await sleep_until(opened + 1.6)
    # ... and when the clock is fixed, one refusal makes it measure again.
    with pytest.raises(TemporaryExchangeError):
        await venue.fetch_balances()
    assert (await venue.fetch_balances())["USDT"].total == pytest.approx(10_000.0)


# -------------------------------------------------------------------------- unreachable


async def test_an_unreachable_exchange_closes_every_request_then_recovers(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults([FaultRule(kind=FaultKind.UNREACHABLE, hold_seconds=1.0)])
    started = time.monotonic()

    with pytest.raises(TemporaryExchangeError):
        await venue.fetch_ticker(symbol=BTC)
    with pytest.raises(TemporaryExchangeError):
        await venue.create_order(market_buy("tf-chaos-down"))
    assert time.monotonic() - started < 0.5  # refused at once, not timed out
    state = await admin.state()  # the admin API stays up for the test to look
    assert state["orders"] == []
    assert [w["kind"] for w in state["fault_windows"]] == ["unreachable"]

    await sleep_until(started + 1.1)
    assert (await venue.fetch_ticker(symbol=BTC)).last == 30_000.0
    order = await venue.create_order(market_buy("tf-chaos-back"))
    assert order.status is OrderStatus.FILLED


async def test_the_executor_rides_out_a_short_outage(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults([FaultRule(kind=FaultKind.UNREACHABLE, hold_seconds=0.6)])
    executor = executor_for(venue, RetryPolicy(max_attempts=6, base_delay_s=0.1, max_delay_s=1.0))

    order = await executor.place(market_buy("tf-chaos-outage"))

    assert order.status is OrderStatus.FILLED
    assert [o["client_order_id"] for o in await ledger_orders(admin)] == ["tf-chaos-outage"]
    assert executor.errors_by_classification[ErrorClassification.TEMPORARY] >= 1


# ------------------------------------------------------------------------------ ledger


async def test_the_ledger_records_who_sent_each_order_and_all_it_executed(
    venue: CcxtVenue,
    admin: ExchangeAdminClient,
    exchange: LocalExchange,
    api_key: str,
    api_secret: str,
) -> None:
    status, _, _ = await raw_request(
        exchange,
        method="POST",
        path=ORDER_PATH,
        params={
            "symbol": BTCUSDT,
            "side": "BUY",
            "type": "MARKET",
            "quantity": "0.020",
            "newClientOrderId": "tf-chaos-tagged",
        },
        headers={"X-MBX-APIKEY": api_key, "X-Tradefleet-Sender": "runtime-a"},
        secret=api_secret,
    )
    assert status == 200
    await executor_for(venue).place_stop_loss(
        symbol=BTC,
        position_side=VenuePositionSide.LONG,
        trigger_price=29_000.0,
        client_order_id="tf-chaos-sl",
    )
    await admin.set_price(symbol=BTC, price=28_500.0)  # the stop fires

    ledger = await admin.ledger()

    assert set(ledger) == {"time_ms", "orders", "fills", "algo_orders", "positions", "wallet"}
    tagged, stopped = ledger["orders"]
    assert set(tagged) == set(stopped) == LEDGER_ORDER_KEYS
    assert (tagged["client_order_id"], tagged["sender"], tagged["api_key"]) == (
        "tf-chaos-tagged",
        "runtime-a",
        api_key,
    )
    assert (tagged["status"], tagged["executed_quantity"], tagged["recv_window_ms"]) == (
        "FILLED",
        "0.020",
        RECV_WINDOW_MS,
    )
    (algo,) = ledger["algo_orders"]
    assert (algo["client_algo_id"], algo["status"], algo["trigger_price"]) == (
        "tf-chaos-sl",
        "FINISHED",
        "29000.0",
    )
    assert algo["close_position"] is True
    assert algo["sender"] is None and algo["api_key"] == api_key
    assert (stopped["algo_id"], stopped["order_id"]) == (algo["algo_id"], algo["order_id"])
    assert (stopped["side"], stopped["reduce_only"], stopped["status"]) == ("SELL", True, "FILLED")
    # The invariant a soak harness checks: the fills add up to the position.
    signed = sum(
        Decimal(f["quantity"]) * (1 if f["side"] == "BUY" else -1) for f in ledger["fills"]
    )
    assert signed == Decimal(ledger["positions"][BTCUSDT]["amount"]) == 0
    assert set(ledger["positions"]) == {BTCUSDT, "ETHUSDT"}
    assert Decimal(ledger["wallet"]["balance"]) < 10_000


async def test_a_venue_resyncs_its_clock_after_the_exchange_refuses_its_timestamp(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    # The exchange's clock is off for longer than any retry: only a resync lets orders through.
    await admin.add_faults(
        [FaultRule(kind=FaultKind.CLOCK_SKEW, skew_ms=-4_000, hold_seconds=30.0)]
    )
    with pytest.raises(TemporaryExchangeError):
        await venue.fetch_balances()
    assert (await venue.fetch_balances())["USDT"].total == pytest.approx(10_000.0)


async def test_an_order_refused_for_its_timestamp_is_sent_again_at_once(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    # The exchange's clock runs 4 s behind ours: the order is refused for its timestamp (-1021)
    # before the exchange processes it. A soak trial's closing order waited out its submission
    # window (1.85 s) after such a refusal, and the short it closed had no stop for 2.35 s.
    await admin.add_faults(
        [FaultRule(kind=FaultKind.CLOCK_SKEW, skew_ms=-4_000, hold_seconds=30.0)]
    )
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(seconds)

    executor = OrderExecutor(venue=venue, retry=FAST_RETRIES, rng=random.Random(7), sleep=sleep)
    order = await executor.place(market_buy("tf-chaos-stamp"), fresh=True)
    assert order.status is OrderStatus.FILLED
    assert slept == [], "the executor waited for a request the exchange had refused unprocessed"
    assert [o["client_order_id"] for o in await ledger_orders(admin)] == ["tf-chaos-stamp"]


async def test_no_resend_leaves_once_the_caller_may_no_longer_send(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    # The first attempt is refused (5xx, nothing executed); by the time the executor would send
    # again, the caller's lease is gone (a chaos-soak trial: a runtime resumed after a hang
    # resent an entry 12.6 s after its intent, 2 s after another runtime had taken the lease).
    await admin.add_faults([on_orders(FaultKind.HTTP_5XX, times=1)])
    asked: list[int] = []

    def may_send() -> str | None:
        asked.append(1)
        return "lease lost: another runtime of this bot took over"

    with pytest.raises(SendRefused, match="lease lost"):
        await executor_for(venue).place(market_buy("tf-chaos-fenced"), may_send=may_send)
    assert asked == [1]
    assert await ledger_orders(admin) == []


async def test_an_order_id_never_sent_leaves_even_while_look_ups_fail(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    # Look-ups of orders answer 5xx. An id the caller has sent before must be looked up first
    # (it may have executed: resending could double it), so it does not leave; a new id cannot
    # exist anywhere and leaves at once (a chaos-soak trial's software-stop close waited 4 s
    # behind failing look-ups of its own, new id while the short it closed had no stop).
    await admin.add_faults(
        [FaultRule(kind=FaultKind.HTTP_5XX, path=ORDER_PATH, method="GET", times=100)]
    )
    with pytest.raises(TemporaryExchangeError):
        await executor_for(venue).place(market_buy("tf-chaos-seen-before"))
    assert await ledger_orders(admin) == []

    order = await executor_for(venue).place(market_buy("tf-chaos-never-sent"), fresh=True)
    assert order.status is OrderStatus.FILLED
    (booked,) = await ledger_orders(admin)
    assert booked["client_order_id"] == "tf-chaos-never-sent"
