"""Backoff arithmetic of the executor and validation of order requests."""

from __future__ import annotations

import random

import pytest
from tradefleet_runtime.execution.errors import InvalidOrderError
from tradefleet_runtime.execution.executor import RetryPolicy, RetryPolicyError
from tradefleet_runtime.execution.model import OrderRequest, OrderSide, OrderType
from tradefleet_runtime.execution.venue import ccxt_exchange_id, check_order_request

pytestmark = pytest.mark.unit


def test_backoff_doubles_up_to_the_cap_and_rate_limits_wait_longer() -> None:
    policy = RetryPolicy(
        base_delay_s=0.25, max_delay_s=2.0, rate_limit_factor=4.0, jitter_fraction=0.0
    )
    rng = random.Random(0)
    assert [policy.delay_s(attempt=n, rate_limited=False, rng=rng) for n in range(1, 6)] == [
        0.25,
        0.5,
        1.0,
        2.0,
        2.0,
    ]
    assert policy.delay_s(attempt=2, rate_limited=True, rng=rng) == 2.0


def test_jitter_stays_within_its_fraction() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=1.0, jitter_fraction=0.2)
    rng = random.Random(42)
    delays = [policy.delay_s(attempt=1, rate_limited=False, rng=rng) for _ in range(500)]
    assert min(delays) >= 0.8 and max(delays) <= 1.2
    assert max(delays) - min(delays) > 0.3  # it does spread retries out


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"jitter_fraction": 1.0},
        {"base_delay_s": 9.0},
        {"rate_limit_factor": 0.5},
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(RetryPolicyError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def request(**overrides: object) -> OrderRequest:
    fields: dict[str, object] = {
        "symbol": "BTC/USDT:USDT",
        "side": OrderSide.SELL,
        "order_type": OrderType.MARKET,
        "client_order_id": "tf-x",
        "amount": 0.01,
    }
    fields.update(overrides)
    return OrderRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides",
    [
        {"order_type": OrderType.LIMIT},
        {"order_type": OrderType.STOP_MARKET},
        {"amount": None},
        {"amount": 0.0},
        {"close_position": True},
    ],
    ids=[
        "limit-without-price",
        "stop-without-trigger",
        "no-amount",
        "zero-amount",
        "close-position-on-market",
    ],
)
def test_incomplete_requests_are_invalid(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidOrderError):
        check_order_request(request(**overrides))


def test_a_close_position_stop_needs_no_amount() -> None:
    check_order_request(
        request(
            order_type=OrderType.STOP_MARKET,
            amount=None,
            trigger_price=29_000.0,
            close_position=True,
        )
    )


def test_tradingbot_exchange_and_market_map_to_ccxt_ids() -> None:
    assert ccxt_exchange_id(exchange="binance", market="futures") == "binanceusdm"
    assert ccxt_exchange_id(exchange="binance", market="spot") == "binance"
    assert ccxt_exchange_id(exchange="okx", market="futures") == "okx"
