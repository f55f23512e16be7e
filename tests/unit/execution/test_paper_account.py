"""The paper venue's account is saved by its journal before a changing call returns, undone when
the save fails, and continued by a venue built from what was saved.

The book comes from a replay file (one level, deep enough for every order here) read through
``FeedBookVenue``; each ``step`` moves to the next row. The journal keeps the saved accounts in a
list, as the Redis journal keeps them in Redis (its own tests are the integration tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tradefleet_runtime.execution import paper
from tradefleet_runtime.execution.errors import InvalidOrderError, VenueConfigurationError
from tradefleet_runtime.execution.model import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    VenuePositionSide,
)
from tradefleet_runtime.execution.paper import (
    PaperAccount,
    PaperAccountSaveError,
    PaperVenue,
)
from tradefleet_runtime.marketdata.feeds import FeedBookVenue, ReplayMarketFeed

pytestmark = pytest.mark.unit

BTC = "BTC/USDT:USDT"
# Bid/ask around 30 000, then 29 000 (below the stops these tests place at 29 500).
PRICES = (30_000.0, 30_000.0, 29_000.0, 29_000.0)


@dataclass
class ListJournal:
    """Saves into a list; ``failing`` makes the next saves raise as an unreachable Redis would."""

    saved: list[tuple[PaperAccount, PaperAccount | None]] = field(default_factory=list)
    failing: bool = False

    @property
    def last(self) -> PaperAccount:
        return self.saved[-1][0]

    async def save(self, *, account: PaperAccount, previous: PaperAccount | None) -> None:
        if self.failing:
            raise PaperAccountSaveError("Redis is unreachable")
        self.saved.append((account, previous))


@dataclass
class Book:
    """A replayed book the test moves row by row."""

    feed: ReplayMarketFeed

    async def step(self) -> None:
        await self.feed.next_book()


def replay(tmp_path: Path, prices: Sequence[float]) -> ReplayMarketFeed:
    rows = ["timestamp_ms,bid_price,bid_size,ask_price,ask_size"]
    rows += [
        f"{1_700_000_000_000 + 100 * i},{p - 0.5},100,{p + 0.5},100" for i, p in enumerate(prices)
    ]
    path = tmp_path / "book.csv"
    path.write_text("\n".join(rows) + "\n")
    return ReplayMarketFeed(path=path, symbol=BTC, bar_seconds=60)


@pytest.fixture
async def book(tmp_path: Path) -> Book:
    moving = Book(feed=replay(tmp_path, PRICES))
    await moving.step()
    return moving


def venue_on(
    book: Book, *, journal: ListJournal | None, account: PaperAccount | None = None
) -> PaperVenue:
    return PaperVenue(
        market_data=FeedBookVenue(feed=book.feed),
        starting_balance=10_000.0,
        default_leverage=5,
        clock=lambda: 1_700_000_000.0,
        account=account,
        journal=journal,
    )


def market(
    client_order_id: str, *, side: OrderSide = OrderSide.BUY, amount: float = 0.1
) -> OrderRequest:
    return OrderRequest(
        symbol=BTC,
        side=side,
        order_type=OrderType.MARKET,
        client_order_id=client_order_id,
        amount=amount,
    )


def stop(client_order_id: str, *, trigger_price: float = 29_500.0) -> OrderRequest:
    return OrderRequest(
        symbol=BTC,
        side=OrderSide.SELL,
        order_type=OrderType.STOP_MARKET,
        client_order_id=client_order_id,
        amount=None,
        trigger_price=trigger_price,
        close_position=True,
    )


async def test_every_change_is_saved_before_the_call_returns_and_reads_save_nothing(
    book: Book,
) -> None:
    journal = ListJournal()
    venue = venue_on(book, journal=journal)

    entry = await venue.create_order(market("tf-entry"))
    assert journal.last == venue.account
    assert journal.last.orders == (entry,)
    assert journal.last.exposures[BTC].amount == pytest.approx(0.1)
    assert journal.saved[0][1] is None  # a new account: written whole

    await venue.set_leverage(symbol=BTC, leverage=3)
    assert journal.last.leverage == {BTC: 3}
    assert journal.saved[-1][1] is journal.saved[-2][0]  # diffed against the last save

    await venue.create_order(stop("tf-sl"))
    saves = len(journal.saved)
    await venue.fetch_balances()
    await venue.fetch_open_orders(symbol=BTC)
    assert len(journal.saved) == saves  # nothing changed, nothing written

    await book.step()
    await book.step()  # 29 000: the stop triggers on the next read
    assert await venue.fetch_positions(symbols=[BTC]) == []
    assert len(journal.saved) == saves + 1
    fired = journal.last.orders[-1]
    assert (fired.client_order_id, fired.status) == ("tf-sl", OrderStatus.FILLED)
    assert journal.last.exposures == {}
    assert journal.last == venue.account


async def test_a_failed_save_undoes_the_call_and_the_next_save_writes_everything(
    book: Book,
) -> None:
    journal = ListJournal()
    venue = venue_on(book, journal=journal)
    await venue.create_order(market("tf-entry"))
    before = venue.account

    journal.failing = True
    with pytest.raises(PaperAccountSaveError):
        await venue.create_order(market("tf-more"))
    with pytest.raises(PaperAccountSaveError):
        await venue.set_leverage(symbol=BTC, leverage=2)
    assert venue.account == before
    assert (await venue.fetch_balances())["USDT"].total == pytest.approx(
        before.wallet + (30_000.0 - before.exposures[BTC].entry_price) * 0.1
    )

    journal.failing = False
    retried = await venue.create_order(market("tf-more"))
    assert journal.saved[-1][1] is None  # what reached Redis is unknown: rewrite it all
    assert retried.exchange_order_id == "paper-2"  # the undone call gave no id away
    assert journal.last.exposures[BTC].amount == pytest.approx(0.2)


async def test_a_venue_built_from_the_saved_account_continues_it(book: Book) -> None:
    journal = ListJournal()
    first = venue_on(book, journal=journal)
    await first.set_leverage(symbol=BTC, leverage=4)
    entry = await first.create_order(market("tf-entry", amount=0.5))
    await first.create_order(stop("tf-sl"))
    balances = await first.fetch_balances()
    positions = await first.fetch_positions(symbols=[BTC])
    open_orders = await first.fetch_open_orders(symbol=BTC)

    # The process dies here; the next one starts from what was saved.
    second = venue_on(book, journal=journal, account=journal.last)
    assert await second.fetch_balances() == balances
    assert await second.fetch_positions(symbols=[BTC]) == positions
    assert await second.fetch_open_orders(symbol=BTC) == open_orders
    assert positions[0].leverage == 4.0
    assert await second.fetch_order(symbol=BTC, client_order_id="tf-entry") == entry

    more = await second.create_order(market("tf-next", amount=0.1))
    assert more.exchange_order_id == "paper-3"  # numbering goes on, no id given twice
    assert journal.saved[-1][1] == journal.saved[-2][0]

    (position,) = await second.fetch_positions(symbols=[BTC])
    assert (position.side, position.contracts) == (VenuePositionSide.LONG, pytest.approx(0.6))

    await book.step()
    await book.step()  # 29 000: the restored stop closes the position
    assert await second.fetch_positions(symbols=[BTC]) == []
    fired = await second.fetch_order(symbol=BTC, client_order_id="tf-sl")
    assert fired.status is OrderStatus.FILLED
    assert journal.last.exposures == {}


async def test_an_account_in_another_currency_is_refused(book: Book) -> None:
    journal = ListJournal()
    await venue_on(book, journal=journal).create_order(market("tf-entry"))
    with pytest.raises(VenueConfigurationError, match="in USDT, not USDC"):
        PaperVenue(
            market_data=FeedBookVenue(feed=book.feed),
            starting_balance=10_000.0,
            quote_currency="USDC",
            account=journal.last,
            journal=journal,
        )


async def test_old_final_orders_are_forgotten_open_ones_never(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paper, "FINAL_ORDERS_KEPT", 2)
    journal = ListJournal()
    venue = venue_on(book, journal=journal)
    await venue.create_order(market("tf-1"))
    await venue.create_order(stop("tf-sl"))
    for number in range(2, 5):
        await venue.create_order(market(f"tf-{number}"))

    kept = [(o.client_order_id, o.status) for o in journal.last.orders]
    assert kept == [
        ("tf-sl", OrderStatus.OPEN),
        ("tf-3", OrderStatus.FILLED),
        ("tf-4", OrderStatus.FILLED),
    ]
    assert journal.last.next_order_number == 6


async def test_a_second_close_position_stop_on_one_side_is_refused_as_on_binance(
    book: Book,
) -> None:
    venue = venue_on(book, journal=ListJournal())
    await venue.create_order(market("tf-entry"))
    await venue.create_order(stop("tf-sl-1"))

    with pytest.raises(InvalidOrderError, match="already open"):
        await venue.create_order(stop("tf-sl-2", trigger_price=29_400.0))

    await venue.cancel_order(symbol=BTC, client_order_id="tf-sl-1", conditional=True)
    again = await venue.create_order(stop("tf-sl-3", trigger_price=29_400.0))
    assert again.status is OrderStatus.OPEN
    assert [o.client_order_id for o in await venue.fetch_open_orders(symbol=BTC)] == ["tf-sl-3"]
