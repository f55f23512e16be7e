"""HTTP front of the local exchange: Binance USDⓈ-M futures REST dialect over aiohttp.

Dev/test tooling only — it is not a real exchange. Tests and the local demo start a
``LocalExchange`` (in-process, or ``python -m tradefleet_devtools.exchange``) and point
ccxt's own ``binanceusdm`` client at its base URL; the runtime's execution layer then runs
unchanged against it. Signed endpoints check ``X-MBX-APIKEY``, the HMAC-SHA256 signature
over the query string and body, and ``timestamp``/``recvWindow``, with Binance's error codes.

Admin endpoints (not part of Binance's API) drive tests: ``GET /_admin/state``,
``POST /_admin/price``, ``POST /_admin/advance``, ``POST|GET|DELETE /_admin/faults`` and
``POST /_admin/reset``; ``ExchangeAdminClient`` in ``tradefleet_devtools.exchange.admin``
wraps them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tradefleet_devtools.exchange.engine import (
    AlgoOrder,
    EngineConfig,
    ExchangeOrder,
    Fill,
    MatchingEngine,
    Position,
    RejectionError,
)
from tradefleet_devtools.exchange.faults import FaultInjector, FaultKind, FaultRule, FaultRuleError
from tradefleet_devtools.exchange.market import (
    BookShape,
    SimulatedMarket,
    SymbolSpec,
    default_start_price,
)
from tradefleet_devtools.exchange.prices import PriceSource, RandomWalkPriceSource

LOG = logging.getLogger(__name__)

Handler = Callable[[web.Request, "ApiRequest"], Awaitable[Any]]

KLINE_INTERVALS_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
ORDER_PLACEMENT = {("POST", "/fapi/v1/order"), ("POST", "/fapi/v1/algoOrder")}
LEVERAGE_BRACKETS = [
    {
        "bracket": 1,
        "initialLeverage": 125,
        "notionalCap": 50_000,
        "notionalFloor": 0,
        "maintMarginRatio": 0.004,
        "cum": 0.0,
    },
    {
        "bracket": 2,
        "initialLeverage": 100,
        "notionalCap": 600_000,
        "notionalFloor": 50_000,
        "maintMarginRatio": 0.005,
        "cum": 50.0,
    },
    {
        "bracket": 3,
        "initialLeverage": 50,
        "notionalCap": 10_000_000,
        "notionalFloor": 600_000,
        "maintMarginRatio": 0.01,
        "cum": 3_050.0,
    },
]


class _AdminInputError(ValueError):
    """An admin request with a malformed body."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiRequest:
    """Parameters of one API request, merged from query string and form body."""

    params: Mapping[str, str]
    fill_ratio: Decimal | None = None

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


@dataclass(kw_only=True, slots=True)
class _Route:
    handler: Handler
    signed: bool


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


def _now_ms() -> int:
    return int(time.time() * 1000)


def _fmt(value: Decimal, places: int = 8) -> str:
    return f"{value:.{places}f}"


class LocalExchange:
    """A Binance USDⓈ-M look-alike on 127.0.0.1 for tests (dev/test tooling only).

    Use as ``async with LocalExchange(LocalExchangeOptions(...)) as exchange:`` or call
    ``await start()`` / ``await stop()``; ``start`` returns the base URL
    (``http://127.0.0.1:PORT``) to give ccxt as its API root.
    """

    def __init__(self, options: LocalExchangeOptions | None = None) -> None:
        self.options = options or LocalExchangeOptions()
        self.faults = FaultInjector()
        self.request_counts: Counter[str] = Counter()
        self.engine = self._build_engine()
        self._routes = self._route_table()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    def _build_engine(self) -> MatchingEngine:
        options = self.options
        now = _now_ms()
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
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LocalExchange:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------ plumbing

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except RejectionError as error:
            return web.json_response(
                {"code": error.code, "msg": error.message}, status=error.http_status
            )

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_admin/"):
            return await self._admin(request)
        route = self._routes.get((request.method, path))
        if route is None:
            return web.json_response(
                {"code": -5000, "msg": f"Path {path}, Method {request.method} is invalid"},
                status=404,
            )
        self.request_counts[f"{request.method} {path}"] += 1
        body = await request.text()
        self.engine.advance(now_ms=_now_ms())
        fault = self.faults.take(
            method=request.method, path=path, places_order=(request.method, path) in ORDER_PLACEMENT
        )
        fill_ratio: Decimal | None = None
        if fault is not None:
            LOG.info("injecting fault %s on %s %s", fault.kind.value, request.method, path)
            if fault.kind is FaultKind.HTTP_429:
                return web.json_response(
                    {
                        "code": -1003,
                        "msg": "Too many requests; current limit is 2400 requests "
                        "per minute. Please use the websocket for live updates to avoid polling "
                        "the API.",
                    },
                    status=429,
                    headers={"Retry-After": "1"},
                )
            if fault.kind is FaultKind.HTTP_5XX:
                return web.Response(status=fault.status, text="")
            if fault.kind is FaultKind.AUTH_FAILURE:
                raise RejectionError(
                    http_status=401,
                    code=-2015,
                    message="Invalid API-key, IP, or permissions for action.",
                )
            if fault.kind is FaultKind.TIMEOUT:
                await asyncio.sleep(fault.hold_seconds)
                self.engine.advance(now_ms=_now_ms())
            if fault.kind is FaultKind.PARTIAL_FILL:
                fill_ratio = Decimal(repr(fault.fill_ratio))
        params = dict(parse_qsl(request.query_string, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        if route.signed:
            self._authenticate(request=request, body=body)
        result = await route.handler(request, ApiRequest(params=params, fill_ratio=fill_ratio))
        if fault is not None and fault.kind is FaultKind.DROP_AFTER_ACCEPT:
            LOG.info("dropping the response of an executed %s %s", request.method, path)
            if request.transport is not None:
                request.transport.abort()
            # A cancelled handler makes aiohttp drop the connection without writing anything.
            raise asyncio.CancelledError
        return web.json_response(result)

    def _authenticate(self, *, request: web.Request, body: str) -> None:
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise RejectionError(http_status=401, code=-2014, message="API-key format invalid.")
        if not hmac.compare_digest(key, self.options.api_key):
            raise RejectionError(
                http_status=401,
                code=-2015,
                message="Invalid API-key, IP, or permissions for action.",
            )
        signed_parts: list[str] = []
        signature: str | None = None
        for raw in (request.query_string, body):
            for part in raw.split("&") if raw else []:
                if part.startswith("signature="):
                    signature = part.partition("=")[2]
                else:
                    signed_parts.append(part)
        if signature is None:
            raise RejectionError.missing("signature")
        payload = "&".join(signed_parts).encode()
        expected = hmac.new(self.options.api_secret.encode(), payload, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise RejectionError(
                http_status=400, code=-1022, message="Signature for this request is not valid."
            )
        params = dict(parse_qsl("&".join(signed_parts)))
        try:
            timestamp = int(params["timestamp"])
            recv_window = int(params.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            raise RejectionError.missing("timestamp") from None
        now = _now_ms()
        if not (timestamp < now + 1000 and now - timestamp <= recv_window):
            raise RejectionError(
                http_status=400,
                code=-1021,
                message="Timestamp for this request is outside of the recvWindow.",
            )

    def _route_table(self) -> dict[tuple[str, str], _Route]:
        public: dict[tuple[str, str], Handler] = {
            ("GET", "/fapi/v1/ping"): self._ping,
            ("GET", "/fapi/v1/time"): self._time,
            ("GET", "/fapi/v1/exchangeInfo"): self._exchange_info,
            ("GET", "/fapi/v1/depth"): self._depth,
            ("GET", "/fapi/v1/klines"): self._klines,
            ("GET", "/fapi/v1/ticker/24hr"): self._ticker_24hr,
            ("GET", "/fapi/v1/ticker/bookTicker"): self._book_ticker,
            ("GET", "/fapi/v1/ticker/price"): self._ticker_price,
            ("GET", "/fapi/v1/premiumIndex"): self._premium_index,
        }
        signed: dict[tuple[str, str], Handler] = {
            ("POST", "/fapi/v1/order"): self._create_order,
            ("GET", "/fapi/v1/order"): self._query_order,
            ("DELETE", "/fapi/v1/order"): self._cancel_order,
            ("GET", "/fapi/v1/openOrder"): self._query_open_order,
            ("GET", "/fapi/v1/openOrders"): self._open_orders,
            ("GET", "/fapi/v1/allOrders"): self._all_orders,
            ("DELETE", "/fapi/v1/allOpenOrders"): self._cancel_all,
            ("GET", "/fapi/v1/userTrades"): self._user_trades,
            ("POST", "/fapi/v1/algoOrder"): self._create_algo_order,
            ("GET", "/fapi/v1/algoOrder"): self._query_algo_order,
            ("DELETE", "/fapi/v1/algoOrder"): self._cancel_algo_order,
            ("GET", "/fapi/v1/openAlgoOrders"): self._open_algo_orders,
            ("GET", "/fapi/v1/allAlgoOrders"): self._all_algo_orders,
            ("DELETE", "/fapi/v1/algoOpenOrders"): self._cancel_all_algo,
            ("GET", "/fapi/v2/positionRisk"): self._position_risk_v2,
            ("GET", "/fapi/v3/positionRisk"): self._position_risk_v3,
            ("GET", "/fapi/v2/account"): self._account,
            ("GET", "/fapi/v3/account"): self._account,
            ("GET", "/fapi/v2/balance"): self._balance,
            ("GET", "/fapi/v3/balance"): self._balance,
            ("POST", "/fapi/v1/leverage"): self._leverage,
            ("GET", "/fapi/v1/leverageBracket"): self._leverage_bracket,
            ("GET", "/fapi/v1/positionSide/dual"): self._position_mode,
            ("GET", "/fapi/v1/commissionRate"): self._commission_rate,
        }
        routes = {k: _Route(handler=h, signed=False) for k, h in public.items()}
        routes.update({k: _Route(handler=h, signed=True) for k, h in signed.items()})
        return routes

    # ------------------------------------------------------------------- market data

    async def _ping(self, request: web.Request, api: ApiRequest) -> Any:
        return {}

    async def _time(self, request: web.Request, api: ApiRequest) -> Any:
        return {"serverTime": _now_ms()}

    async def _exchange_info(self, request: web.Request, api: ApiRequest) -> Any:
        return {
            "timezone": "UTC",
            "serverTime": _now_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 2400,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [self._symbol_info(m.spec) for m in self.engine.markets.values()],
        }

    @staticmethod
    def _symbol_info(spec: SymbolSpec) -> dict[str, Any]:
        return {
            "symbol": spec.exchange_id,
            "pair": spec.exchange_id,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": spec.base,
            "quoteAsset": spec.quote,
            "marginAsset": spec.quote,
            "pricePrecision": spec.price_precision,
            "quantityPrecision": spec.quantity_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": str(spec.tick_size),
                    "maxPrice": "10000000",
                    "tickSize": str(spec.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "stepSize": str(spec.step_size),
                    "maxQty": str(spec.max_qty),
                    "minQty": str(spec.min_qty),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "stepSize": str(spec.step_size),
                    "maxQty": str(spec.max_qty),
                    "minQty": str(spec.min_qty),
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": str(spec.min_notional)},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": "1.0500",
                    "multiplierDown": "0.9500",
                    "multiplierDecimal": "4",
                },
            ],
            "orderTypes": [
                "LIMIT",
                "MARKET",
                "STOP",
                "STOP_MARKET",
                "TAKE_PROFIT",
                "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET",
            ],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        }

    def _symbol(self, api: ApiRequest) -> str:
        symbol = api.required("symbol")
        self.engine.market(symbol)
        return symbol

    async def _depth(self, request: web.Request, api: ApiRequest) -> Any:
        market = self.engine.market(self._symbol(api))
        limit = api.integer("limit") or 500
        if limit not in DEPTH_LIMITS:
            raise RejectionError(
                http_status=400, code=-1130, message="Invalid data sent for a parameter."
            )
        spec = market.spec
        now = _now_ms()
        return {
            "lastUpdateId": now,
            "E": now,
            "T": now,
            "bids": [
                [spec.format_price(lv.price), spec.format_qty(lv.qty)]
                for lv in market.ladder(side="bid", depth=limit)
            ],
            "asks": [
                [spec.format_price(lv.price), spec.format_qty(lv.qty)]
                for lv in market.ladder(side="ask", depth=limit)
            ],
        }

    async def _klines(self, request: web.Request, api: ApiRequest) -> Any:
        market = self.engine.market(self._symbol(api))
        interval = api.required("interval")
        if interval not in KLINE_INTERVALS_MS:
            raise RejectionError(http_status=400, code=-1120, message="Invalid interval.")
        limit = min(api.integer("limit") or 500, 1500)
        candles = market.klines(
            interval_ms=KLINE_INTERVALS_MS[interval],
            start_ms=api.integer("startTime"),
            end_ms=api.integer("endTime"),
            limit=limit,
        )
        places = market.spec.price_precision
        return [
            [
                c.open_time_ms,
                f"{c.open:.{places}f}",
                f"{c.high:.{places}f}",
                f"{c.low:.{places}f}",
                f"{c.close:.{places}f}",
                f"{c.volume:.3f}",
                c.close_time_ms,
                f"{c.volume * c.close:.4f}",
                c.trades,
                "0",
                "0",
                "0",
            ]
            for c in candles
        ]

    def _symbols_or_one(self, api: ApiRequest) -> tuple[list[str], bool]:
        symbol = api.text("symbol")
        if symbol is None:
            return list(self.engine.markets), False
        self.engine.market(symbol)
        return [symbol], True

    def _ticker(self, symbol: str) -> dict[str, Any]:
        market = self.engine.market(symbol)
        now = _now_ms()
        day = market.klines(
            interval_ms=86_400_000, start_ms=now - 86_400_000, end_ms=now, limit=1_000_000
        )
        last = market.mid
        spec = market.spec
        open_price = Decimal(repr(day[0].open)) if day else last
        high = max((c.high for c in day), default=float(last))
        low = min((c.low for c in day), default=float(last))
        volume = sum(c.volume for c in day)
        change = last - open_price
        return {
            "symbol": symbol,
            "priceChange": spec.format_price(change),
            "priceChangePercent": f"{(change / open_price * 100):.3f}",
            "weightedAvgPrice": spec.format_price(last),
            "lastPrice": spec.format_price(last),
            "lastQty": spec.format_qty(spec.step_size),
            "openPrice": spec.format_price(open_price),
            "highPrice": f"{max(high, float(last)):.{spec.price_precision}f}",
            "lowPrice": f"{min(low, float(last)):.{spec.price_precision}f}",
            "volume": f"{volume:.3f}",
            "quoteVolume": f"{volume * float(last):.2f}",
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": 1,
            "lastId": 1 + sum(c.trades for c in day),
            "count": sum(c.trades for c in day),
        }

    async def _ticker_24hr(self, request: web.Request, api: ApiRequest) -> Any:
        symbols, single = self._symbols_or_one(api)
        tickers = [self._ticker(s) for s in symbols]
        return tickers[0] if single else tickers

    async def _book_ticker(self, request: web.Request, api: ApiRequest) -> Any:
        symbols, single = self._symbols_or_one(api)
        now = _now_ms()
        tickers = []
        for symbol in symbols:
            market = self.engine.market(symbol)
            bid, ask = market.level(side="bid", index=0), market.level(side="ask", index=0)
            spec = market.spec
            tickers.append(
                {
                    "symbol": symbol,
                    "bidPrice": spec.format_price(bid.price),
                    "bidQty": spec.format_qty(bid.qty),
                    "askPrice": spec.format_price(ask.price),
                    "askQty": spec.format_qty(ask.qty),
                    "time": now,
                    "lastUpdateId": now,
                }
            )
        return tickers[0] if single else tickers

    async def _ticker_price(self, request: web.Request, api: ApiRequest) -> Any:
        symbols, single = self._symbols_or_one(api)
        now = _now_ms()
        prices = [
            {
                "symbol": s,
                "price": self.engine.spec(s).format_price(self.engine.market(s).mid),
                "time": now,
            }
            for s in symbols
        ]
        return prices[0] if single else prices

    async def _premium_index(self, request: web.Request, api: ApiRequest) -> Any:
        symbols, single = self._symbols_or_one(api)
        now = _now_ms()
        next_funding = now - now % 28_800_000 + 28_800_000
        entries = []
        for symbol in symbols:
            mid = self.engine.spec(symbol).format_price(self.engine.market(symbol).mid)
            entries.append(
                {
                    "symbol": symbol,
                    "markPrice": mid,
                    "indexPrice": mid,
                    "estimatedSettlePrice": mid,
                    "lastFundingRate": "0.00010000",
                    "interestRate": "0.00010000",
                    "nextFundingTime": next_funding,
                    "time": now,
                }
            )
        return entries[0] if single else entries

    # ------------------------------------------------------------------------- orders

    def _order_json(self, order: ExchangeOrder) -> dict[str, Any]:
        spec = self.engine.spec(order.symbol)
        return {
            "orderId": order.order_id,
            "symbol": order.symbol,
            "status": order.status,
            "clientOrderId": order.client_order_id,
            "price": spec.format_price(order.price),
            "avgPrice": _fmt(order.avg_price),
            "origQty": spec.format_qty(order.qty),
            "executedQty": spec.format_qty(order.executed_qty),
            "cumQty": spec.format_qty(order.executed_qty),
            "cumQuote": _fmt(order.cum_quote),
            "timeInForce": order.time_in_force,
            "type": order.order_type,
            "origType": order.order_type,
            "reduceOnly": order.reduce_only,
            "closePosition": False,
            "side": order.side,
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "NONE",
            "goodTillDate": 0,
            "time": order.created_ms,
            "updateTime": order.updated_ms,
        }

    def _algo_json(self, algo: AlgoOrder) -> dict[str, Any]:
        spec = self.engine.spec(algo.symbol)
        return {
            "algoId": algo.algo_id,
            "clientAlgoId": algo.client_algo_id,
            "algoType": "CONDITIONAL",
            "orderType": algo.order_type,
            "symbol": algo.symbol,
            "side": algo.side,
            "positionSide": "BOTH",
            "timeInForce": "GTC",
            "quantity": spec.format_qty(algo.qty),
            "algoStatus": algo.status,
            "triggerPrice": spec.format_price(algo.trigger_price),
            "price": "0",
            "icebergQuantity": None,
            "selfTradePreventionMode": "NONE",
            "workingType": "CONTRACT_PRICE",
            "priceMatch": "NONE",
            "closePosition": algo.close_position,
            "priceProtect": False,
            "reduceOnly": algo.reduce_only,
            "createTime": algo.created_ms,
            "updateTime": algo.updated_ms,
            "triggerTime": algo.trigger_ms,
            "goodTillDate": 0,
            "actualOrderId": "" if algo.actual_order_id is None else str(algo.actual_order_id),
            "actualPrice": "" if algo.actual_price is None else _fmt(algo.actual_price),
        }

    async def _create_order(self, request: web.Request, api: ApiRequest) -> Any:
        symbol = self._symbol(api)
        order = self.engine.place_order(
            symbol=symbol,
            side=api.required("side"),
            order_type=api.required("type"),
            qty=api.required_decimal("quantity"),
            price=api.decimal("price"),
            time_in_force=api.text("timeInForce") or "GTC",
            reduce_only=api.flag("reduceOnly"),
            client_order_id=api.text("newClientOrderId") or f"local-{time.time_ns()}",
            now_ms=_now_ms(),
            fill_ratio=api.fill_ratio,
        )
        return self._order_json(order)

    async def _query_order(self, request: web.Request, api: ApiRequest) -> Any:
        order = self.engine.find_order(
            symbol=self._symbol(api),
            order_id=api.integer("orderId"),
            client_order_id=api.text("origClientOrderId"),
        )
        return self._order_json(order)

    async def _query_open_order(self, request: web.Request, api: ApiRequest) -> Any:
        order = self.engine.find_order(
            symbol=self._symbol(api),
            order_id=api.integer("orderId"),
            client_order_id=api.text("origClientOrderId"),
        )
        if not order.is_open:
            raise RejectionError(http_status=400, code=-2013, message="Order does not exist.")
        return self._order_json(order)

    async def _cancel_order(self, request: web.Request, api: ApiRequest) -> Any:
        order = self.engine.cancel_order(
            symbol=self._symbol(api),
            order_id=api.integer("orderId"),
            client_order_id=api.text("origClientOrderId"),
            now_ms=_now_ms(),
        )
        return self._order_json(order)

    async def _open_orders(self, request: web.Request, api: ApiRequest) -> Any:
        return [self._order_json(o) for o in self.engine.open_orders(symbol=api.text("symbol"))]

    async def _all_orders(self, request: web.Request, api: ApiRequest) -> Any:
        orders = self.engine.orders(symbol=api.text("symbol"))
        limit = min(api.integer("limit") or 500, 1000)
        return [self._order_json(o) for o in orders[-limit:]]

    async def _cancel_all(self, request: web.Request, api: ApiRequest) -> Any:
        self.engine.cancel_all(symbol=self._symbol(api), now_ms=_now_ms())
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _fill_json(self, fill: Fill) -> dict[str, Any]:
        spec = self.engine.spec(fill.symbol)
        return {
            "buyer": fill.side == "BUY",
            "commission": _fmt(fill.commission),
            "commissionAsset": spec.quote,
            "id": fill.trade_id,
            "maker": fill.maker,
            "orderId": fill.order_id,
            "price": spec.format_price(fill.price),
            "qty": spec.format_qty(fill.qty),
            "quoteQty": _fmt(fill.price * fill.qty),
            "realizedPnl": _fmt(fill.realized_pnl),
            "side": fill.side,
            "positionSide": "BOTH",
            "symbol": fill.symbol,
            "time": fill.time_ms,
        }

    async def _user_trades(self, request: web.Request, api: ApiRequest) -> Any:
        fills = self.engine.fills(symbol=self._symbol(api))
        order_id = api.integer("orderId")
        if order_id is not None:
            fills = [f for f in fills if f.order_id == order_id]
        limit = min(api.integer("limit") or 500, 1000)
        return [self._fill_json(f) for f in fills[-limit:]]

    async def _create_algo_order(self, request: web.Request, api: ApiRequest) -> Any:
        if api.required("algoType") != "CONDITIONAL":
            raise RejectionError(
                http_status=400, code=-1130, message="Invalid data sent for a parameter."
            )
        algo = self.engine.place_algo_order(
            symbol=self._symbol(api),
            side=api.required("side"),
            order_type=api.required("type"),
            qty=api.decimal("quantity"),
            trigger_price=api.required_decimal("triggerPrice"),
            reduce_only=api.flag("reduceOnly"),
            close_position=api.flag("closePosition"),
            client_algo_id=api.text("clientAlgoId") or f"local-{time.time_ns()}",
            now_ms=_now_ms(),
        )
        return self._algo_json(algo)

    async def _query_algo_order(self, request: web.Request, api: ApiRequest) -> Any:
        algo = self.engine.find_algo_order(
            algo_id=api.integer("algoId"), client_algo_id=api.text("clientAlgoId")
        )
        return self._algo_json(algo)

    async def _cancel_algo_order(self, request: web.Request, api: ApiRequest) -> Any:
        algo = self.engine.cancel_algo_order(
            algo_id=api.integer("algoId"),
            client_algo_id=api.text("clientAlgoId"),
            now_ms=_now_ms(),
        )
        return {
            "algoId": algo.algo_id,
            "clientAlgoId": algo.client_algo_id,
            "code": "200",
            "msg": "success",
        }

    async def _open_algo_orders(self, request: web.Request, api: ApiRequest) -> Any:
        return [self._algo_json(a) for a in self.engine.open_algo_orders(symbol=api.text("symbol"))]

    async def _all_algo_orders(self, request: web.Request, api: ApiRequest) -> Any:
        return [self._algo_json(a) for a in self.engine.algo_orders(symbol=self._symbol(api))]

    async def _cancel_all_algo(self, request: web.Request, api: ApiRequest) -> Any:
        self.engine.cancel_all_algo(symbol=self._symbol(api), now_ms=_now_ms())
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # ------------------------------------------------------------------------ account

    def _position_fields(self, position: Position) -> dict[str, Any]:
        spec = self.engine.spec(position.symbol)
        mark = self.engine.market(position.symbol).mid
        notional = position.amount * mark
        unrealized = (mark - position.entry_price) * position.amount
        initial = abs(notional) / position.leverage
        return {
            "symbol": position.symbol,
            "positionSide": "BOTH",
            "positionAmt": spec.format_qty(position.amount),
            "entryPrice": _fmt(position.entry_price),
            "breakEvenPrice": _fmt(position.entry_price),
            "markPrice": _fmt(mark),
            "unRealizedProfit": _fmt(unrealized),
            "liquidationPrice": "0",
            "isolatedMargin": "0",
            "notional": _fmt(notional),
            "marginAsset": spec.quote,
            "isolatedWallet": "0",
            "initialMargin": _fmt(initial),
            "maintMargin": _fmt(abs(notional) * Decimal("0.004")),
            "positionInitialMargin": _fmt(initial),
            "openOrderInitialMargin": "0",
            "adl": 0,
            "bidNotional": "0",
            "askNotional": "0",
            "updateTime": position.updated_ms,
        }

    async def _position_risk_v3(self, request: web.Request, api: ApiRequest) -> Any:
        symbol = api.text("symbol")
        return [
            self._position_fields(p)
            for p in self.engine.positions().values()
            if p.amount and symbol in (None, p.symbol)
        ]

    async def _position_risk_v2(self, request: web.Request, api: ApiRequest) -> Any:
        symbol = api.text("symbol")
        entries = []
        for position in self.engine.positions().values():
            if symbol not in (None, position.symbol):
                continue
            fields = self._position_fields(position)
            fields.update(
                {
                    "leverage": str(position.leverage),
                    "marginType": "cross",
                    "isAutoAddMargin": "false",
                    "maxNotionalValue": "10000000",
                }
            )
            entries.append(fields)
        return entries

    def _asset_json(self) -> dict[str, Any]:
        summary = self.engine.summary()
        return {
            "asset": "USDT",
            "walletBalance": _fmt(summary.wallet_balance),
            "unrealizedProfit": _fmt(summary.unrealized_pnl),
            "marginBalance": _fmt(summary.margin_balance),
            "maintMargin": "0.00000000",
            "initialMargin": _fmt(summary.initial_margin),
            "positionInitialMargin": _fmt(summary.position_initial_margin),
            "openOrderInitialMargin": _fmt(summary.open_order_initial_margin),
            "crossWalletBalance": _fmt(summary.wallet_balance),
            "crossUnPnl": _fmt(summary.unrealized_pnl),
            "availableBalance": _fmt(summary.available_balance),
            "maxWithdrawAmount": _fmt(summary.available_balance),
            "marginAvailable": True,
            "updateTime": summary.updated_ms,
        }

    async def _account(self, request: web.Request, api: ApiRequest) -> Any:
        summary = self.engine.summary()
        asset = self._asset_json()
        return {
            "totalInitialMargin": asset["initialMargin"],
            "totalMaintMargin": asset["maintMargin"],
            "totalWalletBalance": asset["walletBalance"],
            "totalUnrealizedProfit": asset["unrealizedProfit"],
            "totalMarginBalance": asset["marginBalance"],
            "totalPositionInitialMargin": asset["positionInitialMargin"],
            "totalOpenOrderInitialMargin": asset["openOrderInitialMargin"],
            "totalCrossWalletBalance": asset["crossWalletBalance"],
            "totalCrossUnPnl": asset["crossUnPnl"],
            "availableBalance": _fmt(summary.available_balance),
            "maxWithdrawAmount": _fmt(summary.available_balance),
            "assets": [asset],
            "positions": [
                {
                    key: value
                    for key, value in self._position_fields(p).items()
                    if key
                    in {
                        "symbol",
                        "positionSide",
                        "positionAmt",
                        "unRealizedProfit",
                        "isolatedMargin",
                        "notional",
                        "isolatedWallet",
                        "initialMargin",
                        "maintMargin",
                        "updateTime",
                    }
                }
                for p in self.engine.positions().values()
            ],
        }

    async def _balance(self, request: web.Request, api: ApiRequest) -> Any:
        asset = self._asset_json()
        return [
            {
                "accountAlias": "local",
                "asset": "USDT",
                "balance": asset["walletBalance"],
                "crossWalletBalance": asset["crossWalletBalance"],
                "crossUnPnl": asset["crossUnPnl"],
                "availableBalance": asset["availableBalance"],
                "maxWithdrawAmount": asset["maxWithdrawAmount"],
                "marginAvailable": True,
                "updateTime": asset["updateTime"],
            }
        ]

    async def _leverage(self, request: web.Request, api: ApiRequest) -> Any:
        position = self.engine.set_leverage(
            symbol=self._symbol(api), leverage=api.required_integer("leverage")
        )
        return {
            "leverage": position.leverage,
            "maxNotionalValue": "10000000",
            "symbol": position.symbol,
        }

    async def _leverage_bracket(self, request: web.Request, api: ApiRequest) -> Any:
        symbols, single = self._symbols_or_one(api)
        entries = [
            {"symbol": s, "notionalCoef": 1.0, "brackets": LEVERAGE_BRACKETS} for s in symbols
        ]
        return entries[0] if single else entries

    async def _position_mode(self, request: web.Request, api: ApiRequest) -> Any:
        return {"dualSidePosition": False}

    async def _commission_rate(self, request: web.Request, api: ApiRequest) -> Any:
        return {
            "symbol": self._symbol(api),
            "makerCommissionRate": str(self.engine.config.maker_fee_rate),
            "takerCommissionRate": str(self.engine.config.taker_fee_rate),
        }

    # -------------------------------------------------------------------------- admin

    async def _admin(self, request: web.Request) -> web.StreamResponse:
        try:
            payload = await request.json() if request.can_read_body else None
        except json.JSONDecodeError:
            return web.json_response({"error": "the body must be JSON"}, status=400)
        now = _now_ms()
        self.engine.advance(now_ms=now)
        route = (request.method, request.path)
        try:
            if route == ("GET", "/_admin/state"):
                return web.json_response(self.state())
            if route == ("POST", "/_admin/price"):
                if not isinstance(payload, dict):
                    raise _AdminInputError('expected {"symbol": ..., "price": ...}')
                symbol = self._admin_symbol(payload.get("symbol"))
                price = payload.get("price")
                if isinstance(price, bool) or not isinstance(price, int | float) or price <= 0:
                    raise _AdminInputError("price must be a positive number")
                self.engine.set_price(symbol=symbol, price=Decimal(repr(price)), now_ms=now)
                return web.json_response(self.state())
            if route == ("POST", "/_admin/advance"):
                steps = payload.get("steps") if isinstance(payload, dict) else None
                if (
                    isinstance(steps, bool)
                    or not isinstance(steps, int)
                    or not 0 < steps <= 100_000
                ):
                    raise _AdminInputError("steps must be an integer in [1, 100000]")
                self.engine.step(steps=steps, now_ms=now)
                return web.json_response(self.state())
            if route == ("POST", "/_admin/faults"):
                if not isinstance(payload, list):
                    raise _AdminInputError("expected a JSON list of fault rules")
                self.faults.add([FaultRule.from_json(raw) for raw in payload])
                return web.json_response([r.to_json() for r in self.faults.pending()])
            if route == ("GET", "/_admin/faults"):
                return web.json_response([r.to_json() for r in self.faults.pending()])
            if route == ("DELETE", "/_admin/faults"):
                self.faults.clear()
                return web.json_response([])
            if route == ("POST", "/_admin/reset"):
                balance = payload.get("balance") if isinstance(payload, dict) else None
                if balance is not None and (
                    isinstance(balance, bool) or not isinstance(balance, int | float) or balance < 0
                ):
                    raise _AdminInputError("balance must be a non-negative number")
                self.engine.reset(
                    balance=None if balance is None else Decimal(repr(balance)), now_ms=now
                )
                self.faults.clear()
                self.request_counts.clear()
                return web.json_response(self.state())
        except (_AdminInputError, FaultRuleError, RejectionError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(
            {"error": f"no admin endpoint {request.method} {request.path}"}, status=404
        )

    def _admin_symbol(self, raw: object) -> str:
        if not isinstance(raw, str):
            raise _AdminInputError("symbol must be a string")
        for exchange_id, market in self.engine.markets.items():
            if raw in (exchange_id, market.spec.unified):
                return exchange_id
        raise _AdminInputError(f"unknown symbol {raw!r}")

    def state(self) -> dict[str, Any]:
        """Orders, conditional orders, positions, balances, prices and request counts."""
        summary = self.engine.summary()
        return {
            "prices": {s: m.spec.format_price(m.mid) for s, m in self.engine.markets.items()},
            "orders": [self._order_json(o) for o in self.engine.orders(symbol=None)],
            "algo_orders": [self._algo_json(a) for a in self.engine.algo_orders(symbol=None)],
            "positions": [
                self._position_fields(p) for p in self.engine.positions().values() if p.amount
            ],
            "fills": [
                self._fill_json(f)
                for symbol in self.engine.markets
                for f in self.engine.fills(symbol=symbol)
            ],
            "balances": {
                "USDT": {
                    "wallet": _fmt(summary.wallet_balance),
                    "unrealized_pnl": _fmt(summary.unrealized_pnl),
                    "available": _fmt(summary.available_balance),
                    "initial_margin": _fmt(summary.initial_margin),
                }
            },
            "requests": dict(self.request_counts),
            "faults": [r.to_json() for r in self.faults.pending()],
        }
