"""Binance REST plumbing shared by the local exchange's modules (dev/test tooling only).

The HTTP front (``server``) builds an ``ApiRequest`` per API call and checks signed ones
with ``verify_signature`` and ``check_timestamp``; the route modules (``market_routes``,
``trading_routes``) read parameters through it and format numbers with ``fmt``; the fault
layer (``chaos``) passes its directives to the order handlers through it and answers
refusals with ``rejection_response``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tradefleet_devtools.exchange.records import OrderOrigin, RejectionError, SlowFill

# Binance accepts a timestamp up to this far ahead of its clock.
FUTURE_TOLERANCE_MS = 1_000
DEFAULT_RECV_WINDOW_MS = 5_000


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiRequest:
    """Parameters of one API request, merged from query string and form body, with who sent
    it and what the fault layer asks of its order (``fill_ratio``, ``slow_fill``)."""

    params: Mapping[str, str]
    origin: OrderOrigin = field(default_factory=OrderOrigin)
    fill_ratio: Decimal | None = None
    slow_fill: SlowFill | None = None

    def text(self, key: str) -> str | None:
        value = self.params.get(key)
        return value if value else None

    def required(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise RejectionError.missing(key)
        return value

    def decimal(self, key: str) -> Decimal | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            parsed = Decimal(value)
        except InvalidOperation:
            raise RejectionError.illegal(key) from None
        if not parsed.is_finite():
            raise RejectionError.illegal(key)
        return parsed

    def required_decimal(self, key: str) -> Decimal:
        value = self.decimal(key)
        if value is None:
            raise RejectionError.missing(key)
        return value

    def integer(self, key: str) -> int | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise RejectionError.illegal(key) from None

    def required_integer(self, key: str) -> int:
        value = self.integer(key)
        if value is None:
            raise RejectionError.missing(key)
        return value

    def flag(self, key: str) -> bool:
        return (self.text(key) or "false").lower() == "true"


Handler = Callable[[ApiRequest], Awaitable[Any]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Route:
    """One Binance endpoint: its handler and whether it needs a signed request."""

    handler: Handler
    signed: bool


def now_ms() -> int:
    """Wall-clock milliseconds: the engine's time (order, fill and kline times)."""
    return int(time.time() * 1000)


def fmt(value: Decimal, places: int = 8) -> str:
    return f"{value:.{places}f}"


def rejection_response(error: RejectionError) -> web.Response:
    return web.json_response({"code": error.code, "msg": error.message}, status=error.http_status)


def verify_signature(*, query: str, body: str, secret: str) -> dict[str, str]:
    """The signed parameters if the HMAC-SHA256 ``signature`` over query string and body
    (in that order, ``signature`` itself left out) is right; Binance's errors if not."""
    signed_parts: list[str] = []
    signature: str | None = None
    for raw in (query, body):
        for part in raw.split("&") if raw else []:
            if part.startswith("signature="):
                signature = part.partition("=")[2]
            else:
                signed_parts.append(part)
    if signature is None:
        raise RejectionError.missing("signature")
    payload = "&".join(signed_parts).encode()
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise RejectionError(
            http_status=400, code=-1022, message="Signature for this request is not valid."
        )
    return dict(parse_qsl("&".join(signed_parts)))


def request_window(params: Mapping[str, str]) -> tuple[int, int]:
    """``timestamp`` and ``recvWindow`` (default 5000) of a signed request."""
    try:
        return int(params["timestamp"]), int(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
    except (KeyError, ValueError):
        raise RejectionError.missing("timestamp") from None


def check_timestamp(*, timestamp_ms: int, recv_window_ms: int, server_ms: int) -> None:
    """Binance's rule, exactly: reject (``-1021``) when ``timestamp >= serverTime + 1000``
    or ``serverTime - timestamp > recvWindow``."""
    too_early = timestamp_ms >= server_ms + FUTURE_TOLERANCE_MS
    too_late = server_ms - timestamp_ms > recv_window_ms
    if too_early or too_late:
        raise RejectionError(
            http_status=400,
            code=-1021,
            message="Timestamp for this request is outside of the recvWindow.",
        )
