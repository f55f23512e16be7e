"""Paper trading against the local exchange's live book, read through real ccxt."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tradefleet_devtools.exchange import ExchangeAdminClient
from tradefleet_runtime.execution.errors import (
    DuplicateOrder,
    InsufficientFunds,
    OrderNotFound,
    SendRefused,
)
from tradefleet_runtime.execution.executor import OrderExecutor
from tradefleet_runtime.execution.model import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    VenuePositionSide,
)
from tradefleet_runtime.execution.paper import PaperFees, PaperVenue
from tradefleet_runtime.execution.venue import CcxtVenue, VenueMode

pytestmark = pytest.mark.integration

BTC = "BTC/USDT:USDT"
FEES = PaperFees(maker_rate=0.0002, taker_rate=0.0005)


@pytest.fixture
def paper(make_venue: Callable[..., CcxtVenue]) -> PaperVenue:
    return PaperVenue(
        market_data=make_venue(mode=VenueMode.MARKET_DATA),
        starting_balance=10_000.0,
        fees=FEES,
        default_leverage=5,
    )


def order(
    client_order_id: str,
    *,
    side: OrderSide = OrderSide.BUY,
    order_type: OrderType = OrderType.MARKET,
    amount: float | None = 1.0,
    price: float | None = None,
) -> OrderRequest:
    return OrderRequest(
        symbol=BTC,
        side=side,
        order_type=order_type,
        client_order_id=client_order_id,
        amount=amount,
        price=price,
    )


async def test_market_order_walks_the_live_book_with_taker_fees(
    paper: PaperVenue, admin: ExchangeAdminClient
) -> None:
    filled = await paper.create_order(order("tf-paper-buy"))

    # The local book: 0.666 @ 30003.0, then 1.0 @ 30006.0.
    assert filled.status is OrderStatus.FILLED
    assert filled.average_price == pytest.approx(30004.002)
    assert filled.fee_cost == pytest.approx(30004.002 * 0.0005)
    (position,) = await paper.fetch_positions(symbols=[BTC])
    assert (position.side, position.contracts) == (VenuePositionSide.LONG, 1.0)
    assert position.unrealized_pnl == pytest.approx(30_000.0 - 30004.002)
    usdt = (await paper.fetch_balances())["USDT"]
    assert usdt.total == pytest.approx(10_000 - 30004.002 * 0.0005 + 30_000.0 - 30004.002)
    assert usdt.used == pytest.approx(30_000.0 / 5)
    assert (await admin.state())["orders"] == []  # paper orders never reach the exchange

    await admin.set_price(symbol=BTC, price=31_000.0)
    closed = await paper.create_order(order("tf-paper-sell", side=OrderSide.SELL))
    # Bids around 31 000: 0.645 @ 30996.9, then 0.967 @ 30993.8 (20 000 and 30 000 USDT).
    exit_price = (0.645 * 30996.9 + 0.355 * 30993.8) / 1.0
    assert closed.average_price == pytest.approx(exit_price)
    assert await paper.fetch_positions(symbols=[BTC]) == []
    realised = exit_price - 30004.002
    fees = (30004.002 + exit_price) * 0.0005
    assert (await paper.fetch_balances())["USDT"].total == pytest.approx(10_000 + realised - fees)


async def test_resting_limit_fills_as_maker_when_the_book_crosses_it(
    paper: PaperVenue, admin: ExchangeAdminClient
) -> None:
    limit = order("tf-paper-limit", order_type=OrderType.LIMIT, amount=0.1, price=29_500.0)
    assert (await paper.create_order(limit)).status is OrderStatus.OPEN
    with pytest.raises(DuplicateOrder):
        await paper.create_order(limit)

    await admin.set_price(symbol=BTC, price=29_400.0)

    filled = await paper.fetch_order(symbol=BTC, client_order_id="tf-paper-limit")
    assert filled.status is OrderStatus.FILLED
    assert filled.average_price == 29_500.0
    assert filled.fee_cost == pytest.approx(0.1 * 29_500.0 * 0.0002)


async def test_paper_stops_protect_the_position(
    paper: PaperVenue, admin: ExchangeAdminClient
) -> None:
    executor = OrderExecutor(venue=paper)
    await executor.place(order("tf-paper-entry", amount=0.5))
    stop = await executor.place_stop_loss(
        symbol=BTC,
        position_side=VenuePositionSide.LONG,
        trigger_price=29_000.0,
        client_order_id="tf-paper-sl",
    )
    assert stop is not None and stop.status is OrderStatus.OPEN

    await admin.set_price(symbol=BTC, price=28_800.0)

    assert await paper.fetch_positions(symbols=[BTC]) == []
    fired = await paper.fetch_order(symbol=BTC, client_order_id="tf-paper-sl")
    assert fired.status is OrderStatus.FILLED
    assert fired.average_price is not None and fired.average_price < 28_800.0


async def test_paper_margin_and_lookups(paper: PaperVenue) -> None:
    with pytest.raises(InsufficientFunds):
        await paper.create_order(order("tf-paper-huge", amount=2.0))  # 60 000 / 5 > 10 000
    with pytest.raises(OrderNotFound):
        await paper.fetch_order(symbol=BTC, client_order_id="tf-paper-huge")


async def test_an_order_or_cancel_the_runtime_refuses_as_it_leaves_changes_nothing(
    paper: PaperVenue,
) -> None:
    resting = await paper.create_order(
        order("tf-paper-rest", order_type=OrderType.LIMIT, price=20_000.0)
    )
    with pytest.raises(SendRefused, match="tf-paper-late not sent: lease lost"):
        await paper.create_order(order("tf-paper-late"), may_send=lambda: "lease lost")
    with pytest.raises(SendRefused, match="cancel of tf-paper-rest not sent: lease lost"):
        await paper.cancel_order(
            symbol=BTC, client_order_id="tf-paper-rest", may_send=lambda: "lease lost"
        )
    assert await paper.fetch_positions(symbols=[BTC]) == []
    assert [o.client_order_id for o in await paper.fetch_open_orders(symbol=BTC)] == [
        resting.client_order_id
    ]
