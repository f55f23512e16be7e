"""ccxt's exceptions map onto our hierarchy once, with secrets redacted."""

from __future__ import annotations

import ccxt.async_support as ccxt
import pytest
from tradefleet_runtime.execution.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    ErrorClassification,
    ExchangeError,
    InsufficientFunds,
    InvalidOrderError,
    OrderNotFound,
    RateLimitedError,
    TemporaryExchangeError,
    VenueConfigurationError,
    translate_ccxt_error,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("ccxt_error", "expected", "classification", "retryable"),
    [
        (ccxt.RequestTimeout, TemporaryExchangeError, "temporary", True),
        (ccxt.ExchangeNotAvailable, TemporaryExchangeError, "temporary", True),
        (ccxt.OnMaintenance, TemporaryExchangeError, "temporary", True),
        (ccxt.NetworkError, TemporaryExchangeError, "temporary", True),
        (ccxt.InvalidNonce, TemporaryExchangeError, "temporary", True),
        (ccxt.DDoSProtection, RateLimitedError, "rate_limited", True),
        (ccxt.RateLimitExceeded, RateLimitedError, "rate_limited", True),
        (ccxt.AuthenticationError, AuthenticationFailed, "authentication", False),
        (ccxt.PermissionDenied, AuthenticationFailed, "authentication", False),
        (ccxt.InsufficientFunds, InsufficientFunds, "insufficient_funds", False),
        (ccxt.InvalidOrder, InvalidOrderError, "invalid_order", False),
        (ccxt.BadRequest, InvalidOrderError, "invalid_order", False),
        (ccxt.OrderNotFound, OrderNotFound, "order_not_found", False),
        (ccxt.DuplicateOrderId, DuplicateOrder, "duplicate_order", False),
        (ccxt.NotSupported, VenueConfigurationError, "configuration", False),
        (ccxt.ExchangeError, ExchangeError, "exchange", False),
    ],
)
def test_each_ccxt_error_has_one_translation(
    ccxt_error: type[Exception], expected: type[ExchangeError], classification: str, retryable: bool
) -> None:
    translated = translate_ccxt_error(ccxt_error("binanceusdm boom"), secrets=())
    assert type(translated) is expected
    assert translated.classification is ErrorClassification(classification)
    assert translated.retryable is retryable


@pytest.mark.parametrize("ccxt_error", [ccxt.InvalidOrder, ccxt.ExchangeError])
def test_binance_duplicate_client_order_id_is_a_duplicate(ccxt_error: type[Exception]) -> None:
    error = ccxt_error('binanceusdm {"code":-4116,"msg":"ClientOrderId is duplicated."}')
    assert isinstance(translate_ccxt_error(error, secrets=()), DuplicateOrder)


def test_messages_are_redacted() -> None:
    error = ccxt.AuthenticationError("binanceusdm key KEY123 secret SEC456 refused")
    translated = translate_ccxt_error(error, secrets=("KEY123", "SEC456", ""))
    assert str(translated) == "binanceusdm key *** secret *** refused"


def test_binance_second_close_position_stop_is_a_refusal_not_an_unknown_outcome() -> None:
    error = ccxt.ExchangeError(
        'binanceusdm {"code":-4130,"msg":"An open stop or take profit order with GTE and '
        'closePosition in the direction is existing."}'
    )
    translated = translate_ccxt_error(error, secrets=())
    assert isinstance(translated, InvalidOrderError)
    assert not translated.retryable
