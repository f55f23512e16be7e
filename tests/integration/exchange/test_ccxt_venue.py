"""The ccxt venue, through ccxt's real binanceusdm client, against the local exchange."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import pytest
from tradefleet_devtools.exchange import ExchangeAdminClient
from tradefleet_runtime.execution.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    InsufficientFunds,
    InvalidOrderError,
    OrderNotFound,
    VenueConfigurationError,
)
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


def market_buy(client_order_id: str, amount: float) -> OrderRequest:
    return OrderRequest(
        symbol=BTC,
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        client_order_id=client_order_id,
        amount=amount,
    )


def limit_buy(client_order_id: str, price: float) -> OrderRequest:
    return OrderRequest(
        symbol=BTC,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        client_order_id=client_order_id,
        amount=0.01,
        price=price,
    )


async def test_market_data_reads_the_simulated_market(venue: CcxtVenue) -> None:
    markets = await venue.load_markets()
    assert set(markets) == {BTC, "ETH/USDT:USDT"}
    assert markets[BTC].amount_step == 0.001
    assert markets[BTC].price_tick == 0.1
    assert markets[BTC].min_notional == 5.0

    book = await venue.fetch_order_book(symbol=BTC, depth=5)
    # Mid 30 000, spread 2 bps, levels 1 bp apart, 20 000 USDT growing by half per level.
    assert [(level.price, level.amount) for level in book.asks[:2]] == [
        (30003.0, 0.666),
        (30006.0, 1.0),
    ]
    assert [(level.price, level.amount) for level in book.bids[:2]] == [
        (29997.0, 0.666),
        (29994.0, 1.0),
    ]
    assert len(book.bids) == len(book.asks) == 5

    ticker = await venue.fetch_ticker(symbol=BTC)
    assert ticker.last == 30000.0

    candles = await venue.fetch_ohlcv(symbol=BTC, timeframe="1m", limit=5)
    assert 1 <= len(candles) <= 5
    assert all(c.close == 30000.0 for c in candles)
    assert [c.timestamp_ms for c in candles] == sorted(c.timestamp_ms for c in candles)


async def test_market_order_walks_the_book_and_the_account_shows_it(venue: CcxtVenue) -> None:
    order = await venue.create_order(market_buy("tf-it-walk-entry", 1.0))

    assert order.status is OrderStatus.FILLED
    assert order.filled == 1.0
    # 0.666 @ 30003.0 + 0.334 @ 30006.0
    assert order.average_price == pytest.approx(30004.002)

    (position,) = await venue.fetch_positions(symbols=[BTC])
    assert position.side is VenuePositionSide.LONG
    assert position.contracts == 1.0
    assert position.entry_price == pytest.approx(30004.002)
    assert position.unrealized_pnl == pytest.approx(-4.002)

    usdt = (await venue.fetch_balances())["USDT"]
    taker_fee = 30004.002 * 0.0005
    assert usdt.total == pytest.approx(10_000 - taker_fee - 4.002)
    # Default leverage 20: 1 BTC at mark 30 000 ties up 1 500 USDT.
    assert usdt.used == pytest.approx(1_500.0)


async def test_orders_are_found_and_cancelled_by_client_order_id(venue: CcxtVenue) -> None:
    placed = await venue.create_order(limit_buy("tf-it-limit-1", 25_000.0))
    assert placed.status is OrderStatus.OPEN

    fetched = await venue.fetch_order(symbol=BTC, client_order_id="tf-it-limit-1")
    assert fetched.exchange_order_id == placed.exchange_order_id
    assert [o.client_order_id for o in await venue.fetch_open_orders(symbol=BTC)] == [
        "tf-it-limit-1"
    ]

    cancelled = await venue.cancel_order(symbol=BTC, client_order_id="tf-it-limit-1")
    assert cancelled.status is OrderStatus.CANCELED
    assert await venue.fetch_open_orders(symbol=BTC) == []
    with pytest.raises(OrderNotFound):
        await venue.fetch_order(symbol=BTC, client_order_id="tf-it-never-sent")


async def test_resting_limit_fills_as_maker_when_the_market_comes_down(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await venue.create_order(limit_buy("tf-it-maker", 29_000.0))
    await admin.set_price(symbol=BTC, price=28_900.0)

    order = await venue.fetch_order(symbol=BTC, client_order_id="tf-it-maker")
    assert order.status is OrderStatus.FILLED
    assert order.average_price == 29_000.0
    state = await admin.state()
    (fill,) = state["fills"]
    assert fill["maker"] is True
    assert float(fill["commission"]) == pytest.approx(0.01 * 29_000 * 0.0002)


async def test_duplicate_client_order_id_of_an_open_order_is_refused(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await venue.create_order(limit_buy("tf-it-dup", 25_000.0))
    with pytest.raises(DuplicateOrder) as raised:
        await venue.create_order(limit_buy("tf-it-dup", 25_100.0))
    assert raised.value.classification.value == "duplicate_order"
    assert len((await admin.state())["orders"]) == 1


async def test_stop_market_close_position_triggers_when_the_price_falls(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await venue.create_order(market_buy("tf-it-long", 0.1))
    stop = await venue.create_order(
        OrderRequest(
            symbol=BTC,
            side=OrderSide.SELL,
            order_type=OrderType.STOP_MARKET,
            client_order_id="tf-it-long-sl",
            amount=None,
            trigger_price=29_000.0,
            close_position=True,
        )
    )
    assert stop.status is OrderStatus.OPEN
    assert stop.order_type is OrderType.STOP_MARKET
    assert [o.client_order_id for o in await venue.fetch_open_orders(symbol=BTC)] == [
        "tf-it-long-sl"
    ]

    await admin.set_price(symbol=BTC, price=28_500.0)

    triggered = await venue.fetch_order(
        symbol=BTC, client_order_id="tf-it-long-sl", conditional=True
    )
    assert triggered.status is OrderStatus.FILLED
    assert triggered.triggered_order_id is not None
    assert await venue.fetch_positions(symbols=[BTC]) == []
    assert await venue.fetch_open_orders(symbol=BTC) == []


async def test_take_profit_reduce_only_and_cancel_of_a_conditional_order(
    venue: CcxtVenue, admin: ExchangeAdminClient
) -> None:
    await venue.create_order(market_buy("tf-it-tp-entry", 0.2))
    take_profit = OrderRequest(
        symbol=BTC,
        side=OrderSide.SELL,
        order_type=OrderType.TAKE_PROFIT_MARKET,
        client_order_id="tf-it-tp",
        amount=0.1,
        trigger_price=31_000.0,
        reduce_only=True,
    )
    assert (await venue.create_order(take_profit)).order_type is OrderType.TAKE_PROFIT_MARKET
    stop = OrderRequest(
        symbol=BTC,
        side=OrderSide.SELL,
        order_type=OrderType.STOP_MARKET,
        client_order_id="tf-it-tp-sl",
        amount=0.2,
        trigger_price=29_000.0,
        reduce_only=True,
    )
    await venue.create_order(stop)
    cancelled = await venue.cancel_order(
        symbol=BTC, client_order_id="tf-it-tp-sl", conditional=True
    )
    assert cancelled.status is OrderStatus.CANCELED

    await admin.set_price(symbol=BTC, price=31_500.0)

    (position,) = await venue.fetch_positions(symbols=[BTC])
    assert position.contracts == pytest.approx(0.1)


async def test_rejections_are_classified(venue: CcxtVenue, admin: ExchangeAdminClient) -> None:
    with pytest.raises(InvalidOrderError):
        await venue.create_order(market_buy("tf-it-tiny", 0.0001))  # below the 5 USDT minimum
    with pytest.raises(InvalidOrderError):  # would trigger at once
        await venue.create_order(
            OrderRequest(
                symbol=BTC,
                side=OrderSide.SELL,
                order_type=OrderType.STOP_MARKET,
                client_order_id="tf-it-bad-stop",
                amount=0.01,
                trigger_price=31_000.0,
            )
        )
    await admin.reset(balance=100.0)
    with pytest.raises(InsufficientFunds) as raised:
        await venue.create_order(market_buy("tf-it-too-big", 1.0))
    assert raised.value.classification.value == "insufficient_funds"
    assert (await admin.state())["orders"] == []


@pytest.mark.parametrize("wrong_key", [False, True], ids=["bad-signature", "unknown-key"])
async def test_bad_credentials_fail_authentication(
    make_venue: Callable[..., CcxtVenue], api_key: str, wrong_key: bool
) -> None:
    wrong = make_venue(api_key="not-the-key" if wrong_key else api_key, api_secret="not-the-secret")
    with pytest.raises(AuthenticationFailed) as raised:
        await wrong.fetch_balances()
    assert raised.value.classification.value == "authentication"
    assert not raised.value.retryable


def test_live_mode_needs_opt_in_and_credentials() -> None:
    credentials = ApiCredentials(api_key="k", api_secret="s")
    with pytest.raises(VenueConfigurationError, match="opt-in"):
        CcxtVenue(exchange_id="binanceusdm", mode=VenueMode.LIVE, credentials=credentials)
    with pytest.raises(VenueConfigurationError, match="credentials"):
        CcxtVenue(exchange_id="binanceusdm", mode=VenueMode.LIVE, allow_live=True)
    with pytest.raises(VenueConfigurationError, match="no exchange"):
        CcxtVenue(exchange_id="nonexistent-exchange", mode=VenueMode.MARKET_DATA)
    assert "k" not in repr(credentials) and "s'" not in repr(credentials)


async def test_the_command_line_server_prints_its_url_and_serves(
    make_venue: Callable[..., CcxtVenue], api_key: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tradefleet_devtools.exchange",
        "--port",
        "0",
        "--symbols",
        f"{BTC},ETH/USDT:USDT",
        "--api-key",
        api_key,
        "--api-secret",
        "cli-secret",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        cli_venue = make_venue(base_url=url, api_secret="cli-secret")
        assert set(await cli_venue.load_markets()) == {BTC, "ETH/USDT:USDT"}
        assert (await cli_venue.fetch_balances())["USDT"].total == 10_000.0
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
    assert b"dev/test tooling" in stderr
