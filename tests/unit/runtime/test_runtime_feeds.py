"""Replay and synthetic feeds as the order book of a paper account: the account can be read
before the decision loop's first poll (as the runtime's start-up reconciliation does), and a
replay file that is not there yet is read once it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from tradefleet_runtime.execution.paper import PaperVenue
from tradefleet_runtime.marketdata.feeds import (
    FeedBookVenue,
    MarketDataError,
    ReplayMarketFeed,
    SyntheticMarketFeed,
)

pytestmark = pytest.mark.unit

BTC = "BTC/USDT:USDT"
REPLAY_CSV = (
    "timestamp_ms,bid_price,bid_size,ask_price,ask_size\n"
    "1700000000000,29999.5,3,30000.5,4\n"
    "1700000000100,30000.5,2,30001.5,1\n"
)


async def test_a_paper_account_on_a_synthetic_feed_is_read_before_the_first_poll() -> None:
    feed = SyntheticMarketFeed(symbol=BTC, bar_seconds=60, seed=3, snapshot_ms=100)
    venue = PaperVenue(
        market_data=FeedBookVenue(feed=feed),
        starting_balance=10_000.0,
        clock=lambda: feed.now_ms() / 1000.0,
    )

    # What the runtime's start-up reconciliation reads, before any poll of the feed.
    assert await venue.fetch_open_orders(symbol=BTC) == []
    assert await venue.fetch_positions(symbols=[BTC]) == []
    assert (await venue.fetch_balances())["USDT"].total == 10_000.0

    # The book read is the stream's first tick, emitted as any other: the clock is its time
    # and later reads show the same book until the decision loop polls the next one.
    first = feed.last_tick
    assert first is not None
    assert feed.now_ms() == first.timestamp_ms
    book = await venue.fetch_order_book(symbol=BTC)
    assert (book.bids[0].price, book.asks[0].price) == (first.bid_price, first.ask_price)
    assert feed.last_tick is first
    second = await feed.next_book()
    assert second.timestamp_ms == first.timestamp_ms + 100


async def test_a_replay_file_that_is_not_there_yet_is_replayed_once_it_is(
    tmp_path: Path,
) -> None:
    path = tmp_path / "book.csv"
    feed = ReplayMarketFeed(path=path, symbol=BTC, bar_seconds=60)
    venue = FeedBookVenue(feed=feed)

    with pytest.raises(MarketDataError, match="cannot read replay file"):
        await venue.fetch_order_book(symbol=BTC)
    path.write_text(REPLAY_CSV)

    book = await venue.fetch_order_book(symbol=BTC)
    assert (book.bids[0].price, book.timestamp_ms) == (29_999.5, 1_700_000_000_000)
    tick = await feed.next_book()
    assert (tick.bid_price, tick.timestamp_ms) == (30_000.5, 1_700_000_000_100)
    with pytest.raises(MarketDataError, match="exhausted"):
        await feed.next_book()


async def test_a_replay_file_without_the_columns_is_refused_until_it_has_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "book.csv"
    path.write_text("timestamp_ms,bid_price\n1700000000000,29999.5\n")
    feed = ReplayMarketFeed(path=path, symbol=BTC, bar_seconds=60)

    with pytest.raises(MarketDataError, match="lacks column"):
        await feed.next_book()
    path.write_text(REPLAY_CSV)

    assert (await feed.next_book()).timestamp_ms == 1_700_000_000_000
