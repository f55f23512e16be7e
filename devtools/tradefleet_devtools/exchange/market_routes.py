"""Public market-data endpoints of the local exchange (dev/test tooling only).

``MarketDataRoutes`` answers Binance USDⓈ-M's unsigned endpoints (time, exchangeInfo, depth,
klines, tickers, premium index) from the matching engine's simulated markets; the HTTP front
(``tradefleet_devtools.exchange.server``) dispatches to the table ``routes()`` returns.
``serverTime`` comes from the exchange's clock, which a ``clock_skew`` fault moves; every
other time is the engine's wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tradefleet_devtools.exchange.depth_stream import DepthStream
from tradefleet_devtools.exchange.engine import MatchingEngine
from tradefleet_devtools.exchange.market import SymbolSpec
from tradefleet_devtools.exchange.records import RejectionError
from tradefleet_devtools.exchange.rest import ApiRequest, Handler, now_ms

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


def listed_symbol(engine: MatchingEngine, api: ApiRequest) -> str:
    """The request's ``symbol``, which must be listed (``-1121`` if not)."""
    symbol = api.required("symbol")
    engine.market(symbol)
    return symbol


def symbols_or_one(engine: MatchingEngine, api: ApiRequest) -> tuple[list[str], bool]:
    """Every listed symbol, or the request's ``symbol`` alone (then ``True``)."""
    symbol = api.text("symbol")
    if symbol is None:
        return list(engine.markets), False
    engine.market(symbol)
    return [symbol], True


class MarketDataRoutes:
    """Handlers of the public endpoints; ``server_ms`` is the exchange's (skewable) clock."""

    def __init__(
        self, *, engine: MatchingEngine, depth_stream: DepthStream, server_ms: Callable[[], int]
    ) -> None:
        self.engine = engine
        self._depth_stream = depth_stream
        self._server_ms = server_ms

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {
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

    async def _ping(self, api: ApiRequest) -> Any:
        return {}

    async def _time(self, api: ApiRequest) -> Any:
        return {"serverTime": self._server_ms()}

    async def _exchange_info(self, api: ApiRequest) -> Any:
        return {
            "timezone": "UTC",
            "serverTime": self._server_ms(),
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

    async def _depth(self, api: ApiRequest) -> Any:
        symbol = listed_symbol(self.engine, api)
        limit = api.integer("limit") or 500
        if limit not in DEPTH_LIMITS:
            raise RejectionError(
                http_status=400, code=-1130, message="Invalid data sent for a parameter."
            )
        # The stream's versioned book: its lastUpdateId is what the diff events count from.
        return self._depth_stream.snapshot(symbol=symbol, limit=limit)

    async def _klines(self, api: ApiRequest) -> Any:
        market = self.engine.market(listed_symbol(self.engine, api))
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

    def _ticker(self, symbol: str) -> dict[str, Any]:
        market = self.engine.market(symbol)
        now = now_ms()
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

    async def _ticker_24hr(self, api: ApiRequest) -> Any:
        symbols, single = symbols_or_one(self.engine, api)
        tickers = [self._ticker(s) for s in symbols]
        return tickers[0] if single else tickers

    async def _book_ticker(self, api: ApiRequest) -> Any:
        symbols, single = symbols_or_one(self.engine, api)
        now = now_ms()
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

    async def _ticker_price(self, api: ApiRequest) -> Any:
        symbols, single = symbols_or_one(self.engine, api)
        now = now_ms()
        prices = [
            {
                "symbol": s,
                "price": self.engine.spec(s).format_price(self.engine.market(s).mid),
                "time": now,
            }
            for s in symbols
        ]
        return prices[0] if single else prices

    async def _premium_index(self, api: ApiRequest) -> Any:
        symbols, single = symbols_or_one(self.engine, api)
        now = now_ms()
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
