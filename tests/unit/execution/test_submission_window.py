"""How long a sent order request may still execute: ``CcxtVenue.submission_window_s``.

The executor waits this long after an unanswered order before it concludes the order will
never exist (and may resend it), and a restarted bot waits it out before reconciling; a window
shorter than the exchange's real one can double an order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
from tradefleet_runtime.execution.signing import RECEIVE_WINDOWS
from tradefleet_runtime.execution.venue import ApiCredentials, CcxtVenue, VenueMode

pytestmark = pytest.mark.unit

RECV_WINDOW_MS = 5_000
TIMEOUT_S = 10.0
CREDENTIALS = ApiCredentials(api_key="tf-unit-key", api_secret="tf-unit-secret")

VenueFactory = Callable[..., CcxtVenue]


@pytest.fixture
async def make_venue() -> AsyncIterator[VenueFactory]:
    made: list[CcxtVenue] = []

    def build(exchange_id: str, **kwargs: Any) -> CcxtVenue:
        venue = CcxtVenue(
            exchange_id=exchange_id,
            mode=VenueMode.MARKET_DATA,
            timeout_s=TIMEOUT_S,
            recv_window_ms=RECV_WINDOW_MS,
            **kwargs,
        )
        made.append(venue)
        return venue

    yield build
    for venue in made:
        await venue.close()


def test_binance_futures_window_covers_recv_window_and_binance_forward_skew(
    make_venue: VenueFactory,
) -> None:
    # Binance accepts a request while timestamp < serverTime + 1000 and
    # serverTime - timestamp <= recvWindow: stamped by a clock up to 1 s ahead of Binance's,
    # it can still execute recvWindow + 1 s after it was sent.
    venue = make_venue("binanceusdm")
    assert venue.submission_window_s >= RECV_WINDOW_MS / 1000 + 1.0


@pytest.mark.parametrize("exchange_id", ["okx", "kraken", "gate", "kucoin"])
def test_exchanges_without_a_receive_window_wait_out_the_client_timeout(
    make_venue: VenueFactory, exchange_id: str
) -> None:
    # No server-side deadline: a request the client gave up on may still be executing until
    # the timeout has passed (plus the exchange's processing); recvWindow means nothing there.
    venue = make_venue(exchange_id)
    assert venue.submission_window_s > TIMEOUT_S


@pytest.mark.parametrize("exchange_id", sorted(RECEIVE_WINDOWS))
def test_receive_window_exchanges_wait_recv_window_plus_their_forward_skew(
    make_venue: VenueFactory, exchange_id: str
) -> None:
    venue = make_venue(exchange_id)
    skew = RECEIVE_WINDOWS[exchange_id].forward_skew_s
    assert venue.submission_window_s >= RECV_WINDOW_MS / 1000 + skew
    # Bounded by the exchange, not by the client timeout: a timeout longer than the window
    # does not lengthen it.
    assert venue.submission_window_s < TIMEOUT_S


def test_a_recv_window_given_through_options_is_the_one_waited_for(
    make_venue: VenueFactory,
) -> None:
    venue = make_venue("binanceusdm", options={"recvWindow": 20_000})
    assert venue.submission_window_s >= 20.0 + 1.0


async def test_binance_signs_orders_with_the_recv_window_the_window_assumes() -> None:
    venue = CcxtVenue(
        exchange_id="binanceusdm",
        mode=VenueMode.TESTNET,
        credentials=CREDENTIALS,
        recv_window_ms=RECV_WINDOW_MS,
    )
    try:
        # ccxt's own signing of a private request: what Binance would check the timestamp against.
        signed = venue._exchange.sign("order", ["fapiPrivate"], "POST", {"symbol": "BTCUSDT"})
        assert parse_qs(signed["body"])["recvWindow"] == [str(RECV_WINDOW_MS)]
    finally:
        await venue.close()


async def test_bybit_signs_orders_with_the_recv_window_the_window_assumes() -> None:
    venue = CcxtVenue(
        exchange_id="bybit",
        mode=VenueMode.TESTNET,
        credentials=CREDENTIALS,
        recv_window_ms=RECV_WINDOW_MS,
    )
    try:
        signed = venue._exchange.sign("v5/order/create", ["private"], "POST", {"category": "x"})
        assert signed["headers"]["X-BAPI-RECV-WINDOW"] == str(RECV_WINDOW_MS)
    finally:
        await venue.close()


@pytest.mark.parametrize("exchange_id", ["okx", "kraken", "coinbase", "bitget", "htx"])
def test_no_recv_window_option_where_the_exchange_has_none(
    make_venue: VenueFactory, exchange_id: str
) -> None:
    venue = make_venue(exchange_id)
    assert "recvWindow" not in venue._exchange.options
