"""HTTP front of the local exchange: Binance USDⓈ-M futures REST dialect over aiohttp, and its
diff-depth stream over a websocket (``depth_stream``).

Dev/test tooling only — it is not a real exchange. Tests and the local demo start a
``LocalExchange`` (in-process, or ``python -m tradefleet_devtools.exchange``) and point
ccxt's own ``binanceusdm`` client at its base URL; the runtime's execution layer then runs
unchanged against it. Signed endpoints check ``X-MBX-APIKEY``, the HMAC-SHA256 signature
over the query string and body, and ``timestamp``/``recvWindow``, with Binance's error codes.

This module owns the server's life cycle, routing and authentication. Endpoints live in
``market_routes`` (public) and ``trading_routes`` (signed); every API request goes through
the fault layer (``chaos``), which applies the rules posted to ``/_admin/faults``. Admin
endpoints (not part of Binance's API) are served by ``admin_routes`` and wrapped by
``ExchangeAdminClient`` in ``tradefleet_devtools.exchange.admin``.
"""

from __future__ import annotations

import hmac
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tradefleet_devtools.exchange.admin_routes import AdminRoutes
from tradefleet_devtools.exchange.chaos import ApiCall, FaultLayer, ServerClock
from tradefleet_devtools.exchange.depth_stream import DepthStream
from tradefleet_devtools.exchange.engine import MatchingEngine
from tradefleet_devtools.exchange.faults import FaultInjector
from tradefleet_devtools.exchange.market import (
    BookShape,
    SimulatedMarket,
    SymbolSpec,
    default_start_price,
)
from tradefleet_devtools.exchange.market_routes import MarketDataRoutes
from tradefleet_devtools.exchange.prices import PriceSource, RandomWalkPriceSource
from tradefleet_devtools.exchange.records import EngineConfig, OrderOrigin, RejectionError
from tradefleet_devtools.exchange.rest import (
    ApiRequest,
    Route,
    check_timestamp,
    now_ms,
    rejection_response,
    request_window,
    verify_signature,
)
from tradefleet_devtools.exchange.trading_routes import TradingRoutes

LOG = logging.getLogger(__name__)

# Where ccxt.pro's binanceusdm opens its public streams (``/public/ws/<n>``), and the plain
# ``/ws`` of older clients.
STREAM_PATHS = ("/public/ws", "/ws")
# Set by tests (and the chaos harness) to tell which runtime process sent an order.
SENDER_HEADER = "X-Tradefleet-Sender"


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalExchangeOptions:
    """Everything that shapes one local exchange instance."""

    symbols: Sequence[str] = ("BTC/USDT:USDT", "ETH/USDT:USDT")
    api_key: str = "local-key"
    api_secret: str = "local-secret"
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    volatility: float = 0.0001
    history_steps: int = 14_400
    engine: EngineConfig = field(default_factory=EngineConfig)
    book: BookShape = field(default_factory=BookShape)
    start_prices: Mapping[str, float] = field(default_factory=dict)
    price_sources: Mapping[str, PriceSource] = field(default_factory=dict)


class LocalExchange:
    """A Binance USDⓈ-M look-alike on 127.0.0.1 for tests (dev/test tooling only).

    Use as ``async with LocalExchange(LocalExchangeOptions(...)) as exchange:`` or call
    ``await start()`` / ``await stop()``; ``start`` returns the base URL
    (``http://127.0.0.1:PORT``) to give ccxt as its API root.
    """

    def __init__(self, options: LocalExchangeOptions | None = None) -> None:
        self.options = options or LocalExchangeOptions()
        self.faults = FaultInjector()
        self.clock = ServerClock(faults=self.faults)
        self.request_counts: Counter[str] = Counter()
        self.engine = self._build_engine()
        self.depth_stream = DepthStream(engine=self.engine)
        market_data = MarketDataRoutes(
            engine=self.engine, depth_stream=self.depth_stream, server_ms=self.clock.now_ms
        )
        trading = TradingRoutes(engine=self.engine)
        self._routes = {k: Route(handler=h, signed=False) for k, h in market_data.routes().items()}
        self._routes.update({k: Route(handler=h, signed=True) for k, h in trading.routes().items()})
        self._admin = AdminRoutes(
            engine=self.engine,
            faults=self.faults,
            request_counts=self.request_counts,
            depth_stream=self.depth_stream,
        )
        self._faulty = FaultLayer(
            faults=self.faults, engine=self.engine, clock=self.clock, admit=self._admit
        )
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    def _build_engine(self) -> MatchingEngine:
        options = self.options
        now = now_ms()
        epoch = now - options.history_steps * options.engine.step_ms
        markets = []
        for index, unified in enumerate(options.symbols):
            start = options.start_prices.get(unified, default_start_price(unified))
            source = options.price_sources.get(unified) or RandomWalkPriceSource(
                seed=options.seed + index, start_price=start, volatility=options.volatility
            )
            spec = SymbolSpec.for_perpetual(unified=unified, reference_price=source.start_price)
            markets.append(
                SimulatedMarket(spec=spec, source=source, shape=options.book, start_ms=epoch)
            )
        engine = MatchingEngine(markets=markets, config=options.engine, epoch_ms=epoch)
        engine.advance(now_ms=now)
        return engine

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the local exchange is not started")
        return self._base_url

    async def start(self) -> str:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # Handlers run to completion when a client gives up: an order a client timed out on
        # is still executed, as on a real exchange.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self._base_url = f"http://{self.options.host}:{port}"
        LOG.info(
            "local exchange (dev/test tooling, NOT a real exchange) serving the Binance "
            "USDⓈ-M REST dialect at %s for %s",
            self._base_url,
            ", ".join(self.options.symbols),
        )
        return self._base_url

    async def stop(self) -> None:
        await self.depth_stream.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LocalExchange:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except RejectionError as error:
            return rejection_response(error)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_admin/"):
            return await self._admin.handle(request)
        if path.startswith(STREAM_PATHS):
            return await self.depth_stream.serve(request)
        route = self._routes.get((request.method, path))
        if route is None:
            return web.json_response(
                {"code": -5000, "msg": f"Path {path}, Method {request.method} is invalid"},
                status=404,
            )
        self.request_counts[f"{request.method} {path}"] += 1
        body = await request.text()
        self.engine.advance(now_ms=now_ms())
        return await self._faulty.serve(ApiCall(request=request, body=body, route=route))

    def _admit(self, call: ApiCall) -> ApiRequest:
        """The request's parameters and origin, once its key, signature and receive window
        pass (signed routes); Binance's error otherwise."""
        request = call.request
        params = dict(parse_qsl(request.query_string, keep_blank_values=True))
        params.update(parse_qsl(call.body, keep_blank_values=True))
        origin = OrderOrigin(
            api_key=request.headers.get("X-MBX-APIKEY"),
            sender=request.headers.get(SENDER_HEADER),
        )
        if call.route.signed:
            self._check_key(origin.api_key)
            signed = verify_signature(
                query=request.query_string, body=call.body, secret=self.options.api_secret
            )
            timestamp_ms, recv_window_ms = request_window(signed)
            check_timestamp(
                timestamp_ms=timestamp_ms,
                recv_window_ms=recv_window_ms,
                server_ms=self.clock.now_ms(),
            )
            origin = OrderOrigin(
                api_key=origin.api_key,
                sender=origin.sender,
                request_timestamp_ms=timestamp_ms,
                recv_window_ms=recv_window_ms,
            )
        return ApiRequest(params=params, origin=origin)

    def _check_key(self, key: str | None) -> None:
        if not key:
            raise RejectionError(http_status=401, code=-2014, message="API-key format invalid.")
        if not hmac.compare_digest(key, self.options.api_key):
            raise RejectionError(
                http_status=401,
                code=-2015,
                message="Invalid API-key, IP, or permissions for action.",
            )

    def state(self) -> dict[str, Any]:
        """Orders, conditional orders, positions, balances, prices and request counts."""
        return self._admin.state()

    def ledger(self) -> dict[str, Any]:
        """The exchange's own ledger (see ``tradefleet_devtools.exchange.ledger``)."""
        return self._admin.ledger()
