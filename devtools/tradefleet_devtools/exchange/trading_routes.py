"""Signed trading and account endpoints of the local exchange (dev/test tooling only).

``TradingRoutes`` answers Binance USDⓈ-M's order, algo (conditional) order, user trade,
position, balance and leverage endpoints through the matching engine, in Binance's JSON
shapes (``views``); the HTTP front (``tradefleet_devtools.exchange.server``) dispatches to
the table ``routes()`` returns, after checking the signature. ``order_ticket`` also serves
the fault layer (``chaos``), which reads an order before queueing it (``late_execution``).
"""

from __future__ import annotations

import time
from typing import Any

from tradefleet_devtools.exchange.engine import MatchingEngine
from tradefleet_devtools.exchange.market_routes import listed_symbol, symbols_or_one
from tradefleet_devtools.exchange.records import OrderTicket, RejectionError
from tradefleet_devtools.exchange.rest import ApiRequest, Handler, fmt, now_ms
from tradefleet_devtools.exchange.views import (
    algo_json,
    asset_json,
    fill_json,
    order_json,
    position_json,
)

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


def order_ticket(engine: MatchingEngine, api: ApiRequest) -> OrderTicket:
    """The regular order a ``POST /fapi/v1/order`` request asks for, its parameters parsed
    (not yet judged against the book or the account)."""
    return OrderTicket(
        symbol=listed_symbol(engine, api),
        side=api.required("side"),
        order_type=api.required("type"),
        qty=api.required_decimal("quantity"),
        price=api.decimal("price"),
        time_in_force=api.text("timeInForce") or "GTC",
        reduce_only=api.flag("reduceOnly"),
        client_order_id=api.text("newClientOrderId") or f"local-{time.time_ns()}",
        origin=api.origin,
    )


class TradingRoutes:
    """Handlers of the signed endpoints of one account."""

    def __init__(self, *, engine: MatchingEngine) -> None:
        self.engine = engine

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {
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

    async def _create_order(self, api: ApiRequest) -> Any:
        order = self.engine.place_order(
            ticket=order_ticket(self.engine, api),
            now_ms=now_ms(),
            fill_ratio=api.fill_ratio,
            slow_fill=api.slow_fill,
        )
        return order_json(self.engine, order)

    async def _query_order(self, api: ApiRequest) -> Any:
        order = self.engine.find_order(
            symbol=listed_symbol(self.engine, api),
            order_id=api.integer("orderId"),
            client_order_id=api.text("origClientOrderId"),
        )
        return order_json(self.engine, order)

    async def _query_open_order(self, api: ApiRequest) -> Any:
        order = self.engine.find_order(
            symbol=listed_symbol(self.engine, api),
            order_id=api.integer("orderId"),
            client_order_id=api.text("origClientOrderId"),
        )
        if not order.is_open:
            raise RejectionError.unknown_order()
        return order_json(self.engine, order)

    async def _cancel_order(self, api: ApiRequest) -> Any:
        order = self.engine.cancel_order(
            symbol=listed_symbol(self.engine, api),
            order_id=api.integer("orderId"),
            client_order_id=api.text("origClientOrderId"),
            now_ms=now_ms(),
        )
        return order_json(self.engine, order)

    async def _open_orders(self, api: ApiRequest) -> Any:
        return [
            order_json(self.engine, o) for o in self.engine.open_orders(symbol=api.text("symbol"))
        ]

    async def _all_orders(self, api: ApiRequest) -> Any:
        orders = self.engine.orders(symbol=api.text("symbol"))
        limit = min(api.integer("limit") or 500, 1000)
        return [order_json(self.engine, o) for o in orders[-limit:]]

    async def _cancel_all(self, api: ApiRequest) -> Any:
        self.engine.cancel_all(symbol=listed_symbol(self.engine, api), now_ms=now_ms())
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def _user_trades(self, api: ApiRequest) -> Any:
        fills = self.engine.fills(symbol=listed_symbol(self.engine, api))
        order_id = api.integer("orderId")
        if order_id is not None:
            fills = [f for f in fills if f.order_id == order_id]
        limit = min(api.integer("limit") or 500, 1000)
        return [fill_json(self.engine, f) for f in fills[-limit:]]

    async def _create_algo_order(self, api: ApiRequest) -> Any:
        if api.required("algoType") != "CONDITIONAL":
            raise RejectionError(
                http_status=400, code=-1130, message="Invalid data sent for a parameter."
            )
        algo = self.engine.place_algo_order(
            symbol=listed_symbol(self.engine, api),
            side=api.required("side"),
            order_type=api.required("type"),
            qty=api.decimal("quantity"),
            trigger_price=api.required_decimal("triggerPrice"),
            reduce_only=api.flag("reduceOnly"),
            close_position=api.flag("closePosition"),
            client_algo_id=api.text("clientAlgoId") or f"local-{time.time_ns()}",
            now_ms=now_ms(),
            origin=api.origin,
        )
        return algo_json(self.engine, algo)

    async def _query_algo_order(self, api: ApiRequest) -> Any:
        algo = self.engine.find_algo_order(
            algo_id=api.integer("algoId"), client_algo_id=api.text("clientAlgoId")
        )
        return algo_json(self.engine, algo)

    async def _cancel_algo_order(self, api: ApiRequest) -> Any:
        algo = self.engine.cancel_algo_order(
            algo_id=api.integer("algoId"),
            client_algo_id=api.text("clientAlgoId"),
            now_ms=now_ms(),
        )
        return {
            "algoId": algo.algo_id,
            "clientAlgoId": algo.client_algo_id,
            "code": "200",
            "msg": "success",
        }

    async def _open_algo_orders(self, api: ApiRequest) -> Any:
        return [
            algo_json(self.engine, a)
            for a in self.engine.open_algo_orders(symbol=api.text("symbol"))
        ]

    async def _all_algo_orders(self, api: ApiRequest) -> Any:
        return [
            algo_json(self.engine, a)
            for a in self.engine.algo_orders(symbol=listed_symbol(self.engine, api))
        ]

    async def _cancel_all_algo(self, api: ApiRequest) -> Any:
        self.engine.cancel_all_algo(symbol=listed_symbol(self.engine, api), now_ms=now_ms())
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # ------------------------------------------------------------------------ account

    async def _position_risk_v3(self, api: ApiRequest) -> Any:
        symbol = api.text("symbol")
        return [
            position_json(self.engine, p)
            for p in self.engine.positions().values()
            if p.amount and symbol in (None, p.symbol)
        ]

    async def _position_risk_v2(self, api: ApiRequest) -> Any:
        symbol = api.text("symbol")
        entries = []
        for position in self.engine.positions().values():
            if symbol not in (None, position.symbol):
                continue
            fields = position_json(self.engine, position)
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

    async def _account(self, api: ApiRequest) -> Any:
        summary = self.engine.summary()
        asset = asset_json(self.engine)
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
            "availableBalance": fmt(summary.available_balance),
            "maxWithdrawAmount": fmt(summary.available_balance),
            "assets": [asset],
            "positions": [
                {
                    key: value
                    for key, value in position_json(self.engine, p).items()
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

    async def _balance(self, api: ApiRequest) -> Any:
        asset = asset_json(self.engine)
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

    async def _leverage(self, api: ApiRequest) -> Any:
        position = self.engine.set_leverage(
            symbol=listed_symbol(self.engine, api), leverage=api.required_integer("leverage")
        )
        return {
            "leverage": position.leverage,
            "maxNotionalValue": "10000000",
            "symbol": position.symbol,
        }

    async def _leverage_bracket(self, api: ApiRequest) -> Any:
        symbols, single = symbols_or_one(self.engine, api)
        entries = [
            {"symbol": s, "notionalCoef": 1.0, "brackets": LEVERAGE_BRACKETS} for s in symbols
        ]
        return entries[0] if single else entries

    async def _position_mode(self, api: ApiRequest) -> Any:
        return {"dualSidePosition": False}

    async def _commission_rate(self, api: ApiRequest) -> Any:
        return {
            "symbol": listed_symbol(self.engine, api),
            "makerCommissionRate": str(self.engine.config.maker_fee_rate),
            "takerCommissionRate": str(self.engine.config.taker_fee_rate),
        }
