"""API keys and secrets never reach logs or exception messages, even with ccxt at DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from tradefleet_devtools.exchange import ExchangeAdminClient, FaultKind, FaultRule
from tradefleet_runtime.execution.errors import AuthenticationFailed, ExchangeError
from tradefleet_runtime.execution.executor import OrderExecutor, RetryPolicy
from tradefleet_runtime.execution.model import OrderRequest, OrderSide, OrderType
from tradefleet_runtime.execution.venue import CCXT_LOGGER_NAME, CcxtVenue

pytestmark = pytest.mark.integration

BTC = "BTC/USDT:USDT"


async def test_credentials_are_redacted_everywhere(
    make_venue: Callable[..., CcxtVenue],
    admin: ExchangeAdminClient,
    api_key: str,
    api_secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    venue = make_venue()
    messages: list[str] = []
    executor = OrderExecutor(venue=venue, retry=RetryPolicy(max_attempts=2, base_delay_s=0.01))
    await venue.load_markets()
    await venue.fetch_balances()
    await admin.add_faults([FaultRule(kind=FaultKind.HTTP_5XX, method="POST")])
    await executor.place(
        OrderRequest(
            symbol=BTC,
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            client_order_id="tf-it-redact",
            amount=0.01,
        )
    )
    await admin.add_faults([FaultRule(kind=FaultKind.AUTH_FAILURE)])
    with pytest.raises(AuthenticationFailed) as raised:
        await venue.fetch_balances()
    messages.append(str(raised.value))
    # A key the exchange does not know echoes nothing back either.
    stranger = make_venue(api_key=api_key + "-other", api_secret=api_secret + "-other")
    with pytest.raises(ExchangeError) as stranger_error:
        await stranger.fetch_balances()
    messages.append(str(stranger_error.value))

    ccxt_records = [r for r in caplog.records if r.name == CCXT_LOGGER_NAME]
    assert any("X-MBX-APIKEY" in r.getMessage() for r in ccxt_records)  # headers were logged
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in (api_key, api_secret, api_key + "-other", api_secret + "-other"):
        assert secret not in logged
        assert all(secret not in message for message in messages)
    assert "***" in logged
