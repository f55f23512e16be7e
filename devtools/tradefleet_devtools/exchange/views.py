"""The local exchange's records in Binance USDⓈ-M's JSON shapes (dev/test tooling only).

Called by the trading routes (``tradefleet_devtools.exchange.trading_routes``), which answer
ccxt with these shapes, and by the admin routes for ``GET /_admin/state``. Pure functions of
the engine's state.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradefleet_devtools.exchange.engine import MatchingEngine
from tradefleet_devtools.exchange.records import AlgoOrder, ExchangeOrder, ExchangePosition, Fill
from tradefleet_devtools.exchange.rest import fmt

MAINT_MARGIN_RATE = Decimal("0.004")


def order_json(engine: MatchingEngine, order: ExchangeOrder) -> dict[str, Any]:
    spec = engine.spec(order.symbol)
    return {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": order.status,
        "clientOrderId": order.client_order_id,
        "price": spec.format_price(order.price),
        "avgPrice": fmt(order.avg_price),
        "origQty": spec.format_qty(order.qty),
        "executedQty": spec.format_qty(order.executed_qty),
        "cumQty": spec.format_qty(order.executed_qty),
        "cumQuote": fmt(order.cum_quote),
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


def algo_json(engine: MatchingEngine, algo: AlgoOrder) -> dict[str, Any]:
    spec = engine.spec(algo.symbol)
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
        "actualPrice": "" if algo.actual_price is None else fmt(algo.actual_price),
    }


def fill_json(engine: MatchingEngine, fill: Fill) -> dict[str, Any]:
    spec = engine.spec(fill.symbol)
    return {
        "buyer": fill.side == "BUY",
        "commission": fmt(fill.commission),
        "commissionAsset": spec.quote,
        "id": fill.trade_id,
        "maker": fill.maker,
        "orderId": fill.order_id,
        "price": spec.format_price(fill.price),
        "qty": spec.format_qty(fill.qty),
        "quoteQty": fmt(fill.price * fill.qty),
        "realizedPnl": fmt(fill.realized_pnl),
        "side": fill.side,
        "positionSide": "BOTH",
        "symbol": fill.symbol,
        "time": fill.time_ms,
    }


def position_json(engine: MatchingEngine, position: ExchangePosition) -> dict[str, Any]:
    spec = engine.spec(position.symbol)
    mark = engine.market(position.symbol).mid
    notional = position.amount * mark
    unrealized = (mark - position.entry_price) * position.amount
    initial = abs(notional) / position.leverage
    return {
        "symbol": position.symbol,
        "positionSide": "BOTH",
        "positionAmt": spec.format_qty(position.amount),
        "entryPrice": fmt(position.entry_price),
        "breakEvenPrice": fmt(position.entry_price),
        "markPrice": fmt(mark),
        "unRealizedProfit": fmt(unrealized),
        "liquidationPrice": "0",
        "isolatedMargin": "0",
        "notional": fmt(notional),
        "marginAsset": spec.quote,
        "isolatedWallet": "0",
        "initialMargin": fmt(initial),
        "maintMargin": fmt(abs(notional) * MAINT_MARGIN_RATE),
        "positionInitialMargin": fmt(initial),
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": position.updated_ms,
    }


def asset_json(engine: MatchingEngine) -> dict[str, Any]:
    summary = engine.summary()
    return {
        "asset": "USDT",
        "walletBalance": fmt(summary.wallet_balance),
        "unrealizedProfit": fmt(summary.unrealized_pnl),
        "marginBalance": fmt(summary.margin_balance),
        "maintMargin": "0.00000000",
        "initialMargin": fmt(summary.initial_margin),
        "positionInitialMargin": fmt(summary.position_initial_margin),
        "openOrderInitialMargin": fmt(summary.open_order_initial_margin),
        "crossWalletBalance": fmt(summary.wallet_balance),
        "crossUnPnl": fmt(summary.unrealized_pnl),
        "availableBalance": fmt(summary.available_balance),
        "maxWithdrawAmount": fmt(summary.available_balance),
        "marginAvailable": True,
        "updateTime": summary.updated_ms,
    }
