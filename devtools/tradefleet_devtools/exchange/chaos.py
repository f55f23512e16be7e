"""How the local exchange misbehaves when a fault rule says so (dev/test tooling only).

The HTTP front (``tradefleet_devtools.exchange.server``) hands every API request to
``FaultLayer.serve``, which asks the ``FaultInjector`` (``faults``, pure rule bookkeeping)
what applies and then serves the request faithfully or not: refuses it (429, 5xx, 401),
holds it, executes it and loses or spoils the reply, shapes how its order fills
(``partial_fill``, ``slow_fill``, through the matching engine), queues its order past the
reply (``late_execution``), or closes the connection while the exchange is ``unreachable``.
``ServerClock`` is the exchange's clock as clients see it, moved by ``clock_skew``.

Every behaviour models something a real exchange does; in particular nothing executes an
order after the request's ``recvWindow`` has passed on the exchange's clock, which is the
guarantee clients rely on when they wait that window out before deciding an order is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import NoReturn

from aiohttp import web

from tradefleet_devtools.exchange.engine import MatchingEngine
from tradefleet_devtools.exchange.faults import FaultInjector, FaultKind, FaultRule
from tradefleet_devtools.exchange.records import RejectionError, SlowFill
from tradefleet_devtools.exchange.rest import (
    DEFAULT_RECV_WINDOW_MS,
    ApiRequest,
    Route,
    now_ms,
    rejection_response,
)
from tradefleet_devtools.exchange.trading_routes import order_ticket

LOG = logging.getLogger(__name__)

ORDER_PLACEMENT = ("POST", "/fapi/v1/order")
RATE_LIMITED = {
    "code": -1003,
    "msg": "Too many requests; current limit is 2400 requests per minute. Please use the "
    "websocket for live updates to avoid polling the API.",
}
# Binance answers 429 with the seconds to wait before the limit lifts.
RETRY_AFTER_SECONDS = "1"


class ServerClock:
    """The exchange's clock: the wall clock, plus ``skew_ms`` while a ``clock_skew`` window
    is open. It dates ``serverTime`` and judges ``timestamp``/``recvWindow``; the engine's
    own times (orders, fills, klines) stay on the wall clock so its history stays ordered."""

    def __init__(
        self,
        *,
        faults: FaultInjector,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._faults = faults
        self._wall = wall
        self._monotonic = monotonic

    def skew_ms(self) -> int:
        rule = self._faults.active(kind=FaultKind.CLOCK_SKEW, now_s=self._monotonic())
        return 0 if rule is None else rule.skew_ms

    def now_ms(self) -> int:
        return int(self._wall() * 1000) + self.skew_ms()


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiCall:
    """One API request as it arrived: the raw request, its body and the route serving it."""

    request: web.Request
    body: str
    route: Route

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def places_order(self) -> bool:
        return (self.method, self.path) == ORDER_PLACEMENT


Admit = Callable[[ApiCall], ApiRequest]
Behaviour = Callable[[ApiCall, FaultRule], Awaitable[web.StreamResponse]]


def _drop(request: web.Request) -> NoReturn:
    """Close the connection without a response."""
    if request.transport is not None:
        request.transport.abort()
    # A cancelled handler makes aiohttp drop the connection without writing anything.
    raise asyncio.CancelledError


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class FaultLayer:
    """Serves API requests, applying the live fault rules.

    ``admit`` authenticates a request (signature, and ``timestamp``/``recvWindow`` on the
    ``ServerClock``) and parses its parameters; it runs when the exchange would look at the
    request, which for ``timeout`` is only after the hold.
    """

    def __init__(
        self,
        *,
        faults: FaultInjector,
        engine: MatchingEngine,
        clock: ServerClock,
        admit: Admit,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._faults = faults
        self._engine = engine
        self._clock = clock
        self._admit = admit
        self._monotonic = monotonic
        self._behaviours: dict[FaultKind, Behaviour] = {
            FaultKind.HTTP_429: self._rate_limit,
            FaultKind.HTTP_5XX: self._server_error,
            FaultKind.AUTH_FAILURE: self._auth_failure,
            FaultKind.TIMEOUT: self._hold_then_execute,
            FaultKind.DROP_AFTER_ACCEPT: self._drop_after_accept,
            FaultKind.ACCEPT_THEN_TIMEOUT: self._accept_then_timeout,
            FaultKind.ACCEPT_THEN_5XX: self._accept_then_5xx,
            FaultKind.PARTIAL_FILL: self._partial_fill,
            FaultKind.SLOW_FILL: self._slow_fill,
            FaultKind.LATE_EXECUTION: self._late_execution,
        }

    async def serve(self, call: ApiCall) -> web.StreamResponse:
        now_s = self._monotonic()
        for rule in self._faults.open_windows(method=call.method, path=call.path, now_s=now_s):
            LOG.info(
                "fault window %s opened by %s %s for %.1fs",
                rule.kind.value,
                call.method,
                call.path,
                rule.hold_seconds,
            )
        if self._faults.active(kind=FaultKind.UNREACHABLE, now_s=now_s) is not None:
            LOG.info("unreachable: closing %s %s", call.method, call.path)
            _drop(call.request)
        fault = self._faults.take(
            method=call.method, path=call.path, places_order=call.places_order
        )
        if fault is None:
            return await self._outcome(call)
        LOG.info("injecting fault %s on %s %s", fault.kind.value, call.method, call.path)
        return await self._behaviours[fault.kind](call, fault)

    async def _outcome(
        self,
        call: ApiCall,
        *,
        fill_ratio: Decimal | None = None,
        slow_fill: SlowFill | None = None,
    ) -> web.Response:
        """The exchange's faithful answer: the handler's result, or its refusal."""
        try:
            api = replace(self._admit(call), fill_ratio=fill_ratio, slow_fill=slow_fill)
            result = await call.route.handler(api)
        except RejectionError as error:
            return rejection_response(error)
        return web.json_response(result)

    # ------------------------------------------------------------- refused, not executed

    async def _rate_limit(self, call: ApiCall, rule: FaultRule) -> web.StreamResponse:
        return web.json_response(
            RATE_LIMITED, status=429, headers={"Retry-After": RETRY_AFTER_SECONDS}
        )

    async def _server_error(self, call: ApiCall, rule: FaultRule) -> web.StreamResponse:
        return web.Response(status=rule.status, text="")

    async def _auth_failure(self, call: ApiCall, rule: FaultRule) -> web.StreamResponse:
        return rejection_response(
            RejectionError(
                http_status=401,
                code=-2015,
                message="Invalid API-key, IP, or permissions for action.",
            )
        )

    async def _hold_then_execute(self, call: ApiCall, rule: FaultRule) -> web.StreamResponse:
        await asyncio.sleep(rule.hold_seconds)
        self._engine.advance(now_ms=now_ms())
        return await self._outcome(call)

    # ------------------------------------------------- executed, the client left unsure

    async def _drop_after_accept(self, call: ApiCall, rule: FaultRule) -> web.StreamResponse:
        await self._outcome(call)
        LOG.info("dropping the response of an executed %s %s", call.method, call.path)
        _drop(call.request)

    async def _accept_then_timeout(self, call: ApiCall, rule: FaultRule) -> web.StreamResponse:
        response = await self._outcome(call)
        await asyncio.sleep(rule.hold_seconds)
        if _client_gone(call.request):
            _drop(call.request)
        return response

    async def _accept_then_5xx(self, call: ApiCall, rule: FaultRule) -> web.StreamResponse:
        await self._outcome(call)
        return web.Response(status=rule.status, text="")

    # ------------------------------------------------------------ orders filled oddly

    async def _partial_fill(self, call: ApiCall, rule: FaultRule) -> web.StreamResponse:
        return await self._outcome(call, fill_ratio=Decimal(repr(rule.fill_ratio)))

    async def _slow_fill(self, call: ApiCall, rule: FaultRule) -> web.StreamResponse:
        plan = SlowFill(seconds=rule.fill_seconds, steps=rule.fill_steps)
        return await self._outcome(call, slow_fill=plan)

    async def _late_execution(self, call: ApiCall, rule: FaultRule) -> web.StreamResponse:
        try:
            # Authentication, the receive window and parameter checks happen on arrival,
            # as on Binance; the book and the account judge the order when it is booked.
            api = self._admit(call)
            ticket = order_ticket(self._engine, api)
        except RejectionError as error:
            return rejection_response(error)
        received_ms = now_ms()
        origin = api.origin
        timestamp_ms = origin.request_timestamp_ms or received_ms
        window_ms = origin.recv_window_ms or DEFAULT_RECV_WINDOW_MS
        # The window ends at timestamp + recvWindow on the exchange's clock: on the engine's
        # wall clock that is the skew earlier (a fast exchange clock ends it sooner).
        held = self._engine.hold_order(
            ticket=ticket,
            now_ms=received_ms,
            due_ms=received_ms + round(rule.hold_seconds * 1000),
            deadline_ms=timestamp_ms + window_ms - self._clock.skew_ms(),
        )
        await asyncio.sleep(rule.hold_seconds)
        self._engine.advance(now_ms=now_ms())
        LOG.info(
            "late_execution: order %s %s after %.1fs in the matching queue",
            ticket.client_order_id,
            held.status,
            rule.hold_seconds,
        )
        _drop(call.request)
