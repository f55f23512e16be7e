"""``/status``, ``/signals``, ``/equity`` and ``/strategy``: the bot's state and its history.

Built by :func:`~tradefleet_runtime.service.api.build_bot_app`. The operator polls ``/status``.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tradefleet_runtime.service.api.replies import Replies, limit_of
from tradefleet_runtime.service.api.view import StatusView


def status_router(*, view: StatusView) -> APIRouter:
    router = APIRouter()
    replies = Replies(view=view)

    @router.get("/status")
    async def status() -> JSONResponse:
        return replies.json(view.status())

    @router.get("/signals")
    async def signals(request: Request) -> JSONResponse:
        decision = view.last_decision
        now_ms = int(time.time() * 1000)
        history = await view.history(name="signals", limit=limit_of(request, 100))
        return replies.json(
            {
                "symbol": view.symbol,
                "fusion": decision.fused.to_dict() if decision else None,
                "lastDecision": decision.to_dict() if decision else None,
                "ofi": view.last_ofi.to_dict() if view.last_ofi else None,
                "regime": view.regime.to_dict() if view.regime else None,
                "signalSources": view.source_status(now_ms=now_ms),
                "ticksDropped": dict(view.drop_counts),
                "recentDrops": list(view.recent_drops),
                "history": history,
            }
        )

    @router.get("/equity")
    async def equity(request: Request) -> JSONResponse:
        points = await view.history(name="equity", limit=limit_of(request, 1000))
        return replies.json(
            {
                "equity": view.equity(),
                "startingEquity": view.starting_equity,
                "portfolio": view.portfolio.to_dict() if view.portfolio else None,
                "balance": view.balance.to_dict() if view.balance else None,
                "curve": list(reversed(points)),
            }
        )

    @router.get("/strategy")
    async def strategy() -> JSONResponse:
        return replies.json(strategy_document(view))

    return router


def strategy_document(view: StatusView) -> dict[str, object]:
    """The body of ``/strategy``: the running strategy settings and what fusion applies."""
    settings = view.config.strategy
    signal = view.strategy_signal
    return {
        "name": settings.name,
        "timeframe": settings.timeframe,
        "fusionWeights": dict(settings.fusion_weights),
        "thresholds": {
            "buy": settings.thresholds.buy,
            "strongBuy": settings.thresholds.strong_buy,
            "sell": settings.thresholds.sell,
            "strongSell": settings.thresholds.strong_sell,
        },
        "regimeParameters": {
            label.value: params.to_dict() for label, params in settings.regime_params.items()
        },
        "parameters": dict(settings.parameters),
        "signalSources": [
            {"name": ref.name, "weight": ref.weight, "redisStream": ref.redis_stream}
            for ref in view.config.signal_sources
        ],
        "strategyComponent": {
            "inFusion": view.strategy_in_fusion,
            "weight": view.fusion_weights.get("strategy", 0.0),
            "lastSignal": signal.to_dict() if signal is not None else None,
        },
        "fusionWeightsApplied": dict(view.fusion_weights),
        "configHash": view.config.config_hash,
        "refusedConfig": view.refused_config,
    }
