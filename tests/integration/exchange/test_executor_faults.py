"""Injected faults through real ccxt: how they are classified and what the executor does.

Client timeout 0.5 s, recvWindow 1 s (see conftest): a request held past the client's
timeout is rejected by the exchange once its recvWindow has passed, and the executor waits
that window out before looking the order up and resubmitting.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from tradefleet_devtools.exchange import ExchangeAdminClient, FaultKind, FaultRule
from tradefleet_runtime.execution.errors import (
    AuthenticationFailed,
    ErrorClassification,
    ExchangeError,
    RateLimitedError,
    TemporaryExchangeError,
)
from tradefleet_runtime.execution.executor import OrderExecutor, OrderLookup, RetryPolicy
from tradefleet_runtime.execution.model import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    VenuePositionSide,
)
from tradefleet_runtime.execution.venue import CcxtVenue

pytestmark = pytest.mark.integration

BTC = "BTC/USDT:USDT"
ORDER_PATH = "/fapi/v1/order"
FAST_RETRIES = RetryPolicy(max_attempts=4, base_delay_s=0.05, max_delay_s=0.5)


def executor_for(venue: CcxtVenue) -> OrderExecutor:
    return OrderExecutor(venue=venue, retry=FAST_RETRIES, rng=random.Random(7))


def market_buy(client_order_id: str, amount: float = 0.01) -> OrderRequest:
    return OrderRequest(
        symbol=BTC,
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        client_order_id=client_order_id,
        amount=amount,
    )


async def orders_on_exchange(admin: ExchangeAdminClient) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = (await admin.state())["orders"]
    return orders


@pytest.mark.parametrize(
    ("rule", "error_type", "classification"),
    [
        (
            FaultRule(kind=FaultKind.HTTP_429, path=ORDER_PATH, method="POST"),
            RateLimitedError,
            "rate_limited",
        ),
        (
            FaultRule(kind=FaultKind.HTTP_5XX, path=ORDER_PATH, method="POST"),
            TemporaryExchangeError,
            "temporary",
        ),
        (
            FaultRule(kind=FaultKind.TIMEOUT, path=ORDER_PATH, method="POST", hold_seconds=1.5),
            TemporaryExchangeError,
            "temporary",
        ),
        (
            FaultRule(kind=FaultKind.DROP_AFTER_ACCEPT, path=ORDER_PATH, method="POST"),
            TemporaryExchangeError,
            "temporary",
        ),
    ],
    ids=["429", "5xx", "timeout", "drop_after_accept"],
)
async def test_transport_faults_are_classified_as_retryable(
    venue: CcxtVenue,
    admin: ExchangeAdminClient,
    rule: FaultRule,
    error_type: type[ExchangeError],
    classification: str,
) -> None:
    await admin.add_faults([rule])
    with pytest.raises(error_type) as raised:
        await venue.create_order(market_buy("tf-it-fault"))
    assert raised.value.classification.value == classification
    assert raised.value.retryable


async def test_drop_after_accept_books_the_order_and_the_executor_adopts_it(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults(
        [FaultRule(kind=FaultKind.DROP_AFTER_ACCEPT, path=ORDER_PATH, method="POST")]
    )
    executor = executor_for(venue)

    order = await executor.place(market_buy("tf-it-dropped"))

    assert order.status is OrderStatus.FILLED
    assert order.client_order_id == "tf-it-dropped"
    assert len(await orders_on_exchange(admin)) == 1
    assert (await admin.state())["requests"]["POST /fapi/v1/order"] == 1
    assert executor.errors_by_classification[ErrorClassification.TEMPORARY] == 1


async def test_a_timed_out_order_is_executed_exactly_once(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults(
        [FaultRule(kind=FaultKind.TIMEOUT, path=ORDER_PATH, method="POST", hold_seconds=1.5)]
    )
    executor = executor_for(venue)

    order = await executor.place(market_buy("tf-it-timeout"))
    assert order.status is OrderStatus.FILLED
    await asyncio.sleep(1.2)  # the held request wakes up past its recvWindow and is refused

    orders = await orders_on_exchange(admin)
    assert [o["clientOrderId"] for o in orders] == ["tf-it-timeout"]
    (position,) = await venue.fetch_positions(symbols=[BTC])
    assert position.contracts == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("kind", "classification"),
    [
        (FaultKind.HTTP_429, ErrorClassification.RATE_LIMITED),
        (FaultKind.HTTP_5XX, ErrorClassification.TEMPORARY),
    ],
    ids=["429", "5xx"],
)
async def test_refused_requests_are_retried_into_one_order(
    venue: CcxtVenue,
    admin: ExchangeAdminClient,
    kind: FaultKind,
    classification: ErrorClassification,
) -> None:
    await admin.add_faults([FaultRule(kind=kind, path=ORDER_PATH, method="POST", times=2)])
    executor = executor_for(venue)

    order = await executor.place(market_buy("tf-it-retried"))

    assert order.status is OrderStatus.FILLED
    assert len(await orders_on_exchange(admin)) == 1
    assert (await admin.state())["requests"]["POST /fapi/v1/order"] == 3
    assert executor.errors_by_classification[classification] == 2


async def test_retries_are_bounded(venue: CcxtVenue, admin: ExchangeAdminClient) -> None:
    await admin.add_faults(
        [FaultRule(kind=FaultKind.HTTP_429, path=ORDER_PATH, method="POST", times=10)]
    )
    with pytest.raises(RateLimitedError):
        await executor_for(venue).place(market_buy("tf-it-give-up"))
    assert (await admin.state())["requests"]["POST /fapi/v1/order"] == FAST_RETRIES.max_attempts
    assert await orders_on_exchange(admin) == []


async def test_partial_fill_is_reported_and_the_position_matches(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults([FaultRule(kind=FaultKind.PARTIAL_FILL, fill_ratio=0.4)])
    order = await executor_for(venue).place(market_buy("tf-it-partial", amount=0.1))

    assert order.status is OrderStatus.EXPIRED
    assert order.filled == pytest.approx(0.04)
    assert order.remaining == pytest.approx(0.06)
    (position,) = await venue.fetch_positions(symbols=[BTC])
    assert position.contracts == pytest.approx(0.04)


async def test_auth_failure_halts_without_retrying(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await admin.add_faults([FaultRule(kind=FaultKind.AUTH_FAILURE, times=5)])
    executor = executor_for(venue)
    with pytest.raises(AuthenticationFailed):
        await executor.place(market_buy("tf-it-auth"))
    state = await admin.state()
    assert state["requests"]["GET /fapi/v1/order"] == 1  # the pre-submit lookup, not retried
    assert "POST /fapi/v1/order" not in state["requests"]
    assert state["orders"] == []
    assert executor.last_error is not None
    assert executor.last_error.classification is ErrorClassification.AUTHENTICATION


async def test_the_same_decision_never_places_a_second_order(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    executor = executor_for(venue)
    first = await executor.place(market_buy("tf-it-once"))
    # A restart replays the decision: same client order id, fresh executor.
    again = await executor_for(venue).place(market_buy("tf-it-once"))
    limit = OrderRequest(
        symbol=BTC,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        client_order_id="tf-it-once-limit",
        amount=0.01,
        price=25_000.0,
    )
    resting = await executor.place(limit)
    # Concurrent submissions of one open order: the exchange refuses the second (-4116).
    await asyncio.gather(venue.create_order(limit), return_exceptions=True)
    resting_again = await executor.place(limit)

    assert again.exchange_order_id == first.exchange_order_id
    assert resting_again.exchange_order_id == resting.exchange_order_id
    assert sorted(o["clientOrderId"] for o in await orders_on_exchange(admin)) == [
        "tf-it-once",
        "tf-it-once-limit",
    ]


async def test_stop_loss_protection_rests_on_the_exchange_and_fires(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    executor = executor_for(venue)
    await executor.place(market_buy("tf-it-protected", amount=0.05))
    stop = await executor.place_stop_loss(
        symbol=BTC,
        position_side=VenuePositionSide.LONG,
        trigger_price=28_800.0,
        client_order_id="tf-it-protected-sl",
    )
    assert stop is not None and stop.status is OrderStatus.OPEN

    await admin.set_price(symbol=BTC, price=28_000.0)  # a drawdown while the bot is away

    assert await venue.fetch_positions(symbols=[BTC]) == []
    fired = await venue.fetch_order(
        symbol=BTC, client_order_id="tf-it-protected-sl", conditional=True
    )
    assert fired.status is OrderStatus.FILLED
    usdt = (await venue.fetch_balances())["USDT"]
    assert usdt.total < 10_000 - 0.05 * (30_003.0 - 28_000.0) * 0.9


async def test_reconcile_reports_what_the_exchange_holds(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    executor = executor_for(venue)
    await executor.place(market_buy("tf-it-rec-filled", amount=0.02))
    resting = OrderRequest(
        symbol=BTC,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        client_order_id="tf-it-rec-open",
        amount=0.01,
        price=25_000.0,
    )
    await executor.place(resting)
    await executor.place(
        OrderRequest(
            symbol=BTC,
            side=OrderSide.BUY,
            order_type=OrderType.LIMIT,
            client_order_id="tf-it-rec-cancelled",
            amount=0.01,
            price=24_000.0,
        )
    )
    await venue.cancel_order(symbol=BTC, client_order_id="tf-it-rec-cancelled")
    await executor.place_stop_loss(
        symbol=BTC,
        position_side=VenuePositionSide.LONG,
        trigger_price=28_000.0,
        client_order_id="tf-it-rec-sl",
    )
    tracked = [
        OrderLookup(symbol=BTC, client_order_id="tf-it-rec-filled"),
        OrderLookup(symbol=BTC, client_order_id="tf-it-rec-open"),
        OrderLookup(symbol=BTC, client_order_id="tf-it-rec-cancelled"),
        OrderLookup(symbol=BTC, client_order_id="tf-it-rec-never-sent"),
    ]

    snapshot = await executor_for(venue).reconcile(symbols=[BTC], tracked=tracked)

    assert sorted(o.client_order_id for o in snapshot.open_orders) == [
        "tf-it-rec-open",
        "tf-it-rec-sl",
    ]
    assert [o.client_order_id for o in snapshot.untracked_open_orders] == ["tf-it-rec-sl"]
    assert {o.client_order_id: o.status for o in snapshot.resolved_orders} == {
        "tf-it-rec-filled": OrderStatus.FILLED,
        "tf-it-rec-cancelled": OrderStatus.CANCELED,
    }
    assert snapshot.missing_client_order_ids == ("tf-it-rec-never-sent",)
    (position,) = snapshot.positions
    assert position.contracts == pytest.approx(0.02)
    assert [b.currency for b in snapshot.balances] == ["USDT"]
