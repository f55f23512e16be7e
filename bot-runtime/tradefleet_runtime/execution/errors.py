"""The execution layer's exception hierarchy, and the one place ccxt's errors are translated.

``CcxtVenue`` calls ``translate_ccxt_error`` on every ccxt exception; everything above the
venue (the executor, the runtime loop, the health endpoint, metrics) sees only these classes.
Each class carries a ``classification`` (shown by health and metrics) and says whether a
retry can help. Messages pass through ``redact`` so API keys and secrets never leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import ccxt.async_support as ccxt

DUPLICATE_CLIENT_ORDER_ID_CODE = -4116
# Binance: "An open stop or take profit order with GTE and closePosition in the direction is
# existing." Nothing was placed; ccxt maps it to its generic ExchangeError.
CLOSE_POSITION_STOP_EXISTS_CODE = -4130
_BINANCE_CODE = re.compile(r'"code"\s*:\s*"?(-?\d+)')
REDACTED = "***"


class ErrorClassification(StrEnum):
    """What went wrong, in the terms the runtime reacts to and the health endpoint shows."""

    TEMPORARY = "temporary"
    RATE_LIMITED = "rate_limited"
    AUTHENTICATION = "authentication"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INVALID_ORDER = "invalid_order"
    ORDER_NOT_FOUND = "order_not_found"
    DUPLICATE_ORDER = "duplicate_order"
    CONFIGURATION = "configuration"
    EXCHANGE = "exchange"


class ExchangeError(Exception):
    """Base of every error the execution layer raises; not retried unless a subclass says so."""

    classification: ClassVar[ErrorClassification] = ErrorClassification.EXCHANGE
    retryable: ClassVar[bool] = False


class TemporaryExchangeError(ExchangeError):
    """Network failure, timeout, 5xx or maintenance: the outcome is unknown, retry with backoff."""

    classification = ErrorClassification.TEMPORARY
    retryable = True


class TimestampRefused(TemporaryExchangeError):  # noqa: N818 - a refusal, not a failure
    """The exchange refused the request for its timestamp or nonce (Binance -1021) before
    processing it: it never executed, and once the clock difference is measured it can be sent
    again at once. Temporary for everyone else: the next attempt is signed anew."""


class SendRefused(TemporaryExchangeError):  # noqa: N818 - a refusal, not a failure
    """The runtime refused to let a request leave (its lease is gone or too old to cover the
    request, or the bot halted): this attempt was not sent. ``sent_before``: an earlier attempt
    of the same request left, and its outcome stays unknown until a look-up settles it."""

    def __init__(self, *, what: str, reason: str, sent_before: bool) -> None:
        super().__init__(f"{what} not sent: {reason}")
        self.reason = reason
        self.sent_before = sent_before


class RateLimitedError(ExchangeError):
    """The exchange refused the request for rate limiting: slow down, then retry."""

    classification = ErrorClassification.RATE_LIMITED
    retryable = True


class AuthenticationFailed(ExchangeError):  # noqa: N818 - name fixed by the execution API
    """Bad, revoked or under-privileged credentials: never retried, the bot halts."""

    classification = ErrorClassification.AUTHENTICATION


class InsufficientFunds(ExchangeError):  # noqa: N818 - name fixed by the execution API
    """Not enough margin or balance for the order: not retried, trading pauses."""

    classification = ErrorClassification.INSUFFICIENT_FUNDS


class InvalidOrderError(ExchangeError):
    """The exchange rejected the order as malformed or not allowed: not retried."""

    classification = ErrorClassification.INVALID_ORDER


class OrderNotFound(ExchangeError):  # noqa: N818 - name fixed by the execution API
    """No order with that id (or client order id) exists on the venue."""

    classification = ErrorClassification.ORDER_NOT_FOUND


class DuplicateOrder(ExchangeError):  # noqa: N818 - name fixed by the execution API
    """An open order already carries this client order id; the original stands."""

    classification = ErrorClassification.DUPLICATE_ORDER


class VenueConfigurationError(ExchangeError):
    """A venue cannot be built or used as configured (mode, credentials, opt-in)."""

    classification = ErrorClassification.CONFIGURATION


def redact(text: str, *, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def _binance_code(message: str) -> int | None:
    match = _BINANCE_CODE.search(message)
    return int(match.group(1)) if match else None


def translate_ccxt_error(error: ccxt.BaseError, *, secrets: Iterable[str]) -> ExchangeError:
    """Our exception for a ccxt exception, its message redacted.

    Order of the checks follows ccxt's hierarchy: rate limiting is a kind of NetworkError
    there, and OrderNotFound / DuplicateOrderId are kinds of InvalidOrder. Binance reports
    a duplicated client order id as ``-4116``, which ccxt maps to InvalidOrder, and a second
    closePosition stop on one side as ``-4130``, which ccxt leaves a generic ExchangeError:
    both are refusals, nothing was placed.
    """
    # Imported here: only a process that loaded ccxt for an exchange client has a ccxt error to
    # translate, and one without (a paper bot on shared market data) must not load it.
    import ccxt.async_support as ccxt  # noqa: PLC0415

    message = redact(str(error), secrets=secrets)
    translated: ExchangeError
    if isinstance(error, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        translated = RateLimitedError(message)
    elif isinstance(error, ccxt.OperationFailed):
        translated = TemporaryExchangeError(message)
    elif isinstance(error, ccxt.AuthenticationError):
        translated = AuthenticationFailed(message)
    elif isinstance(error, ccxt.InsufficientFunds):
        translated = InsufficientFunds(message)
    elif isinstance(error, ccxt.DuplicateOrderId) or (
        _binance_code(message) == DUPLICATE_CLIENT_ORDER_ID_CODE
    ):
        translated = DuplicateOrder(message)
    elif isinstance(error, ccxt.OrderNotFound):
        translated = OrderNotFound(message)
    elif isinstance(error, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.ArgumentsRequired) or (
        _binance_code(message) == CLOSE_POSITION_STOP_EXISTS_CODE
    ):
        translated = InvalidOrderError(message)
    elif isinstance(error, ccxt.NotSupported):
        translated = VenueConfigurationError(message)
    else:
        translated = ExchangeError(message)
    return translated
