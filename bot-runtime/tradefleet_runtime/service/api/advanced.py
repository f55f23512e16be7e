"""``/api/advanced/*`` but the health report: the bot's regime, order flow, SignalSources
(whale, sentiment, macro) and fused signal.

Built by :func:`~tradefleet_runtime.service.api.build_bot_app`. Endpoints answer for the bot's
one symbol (or its coin); any other is a 404.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tradefleet_runtime.marketdata.ticks import DropReason
from tradefleet_runtime.service.api.replies import Replies, coin_of
from tradefleet_runtime.service.api.view import AdvancedView, SourcesView
from tradefleet_runtime.signals.regime_config import MODELLED_LABELS
from tradefleet_runtime.signals.whale import FlowDirection


def advanced_router(*, view: AdvancedView) -> APIRouter:
    router = APIRouter(prefix="/api/advanced")
    replies = Replies(view=view)
    for part in (
        _regime_router(view=view, replies=replies),
        _ofi_router(view=view, replies=replies),
        _source_router(view=view, replies=replies),
        _fusion_router(view=view, replies=replies),
    ):
        router.include_router(part)
    return router


def _regime_router(*, view: AdvancedView, replies: Replies) -> APIRouter:
    router = APIRouter()

    @router.get("/regime/summary")
    async def regime_summary() -> JSONResponse:
        state = view.regime
        return replies.json(
            {
                "symbols": {view.symbol: state.to_dict() if state else None},
                "model": view.regime_model.to_dict(),
                "labels": [label.value for label in MODELLED_LABELS],
            }
        )

    @router.get("/regime/{symbol:path}")
    async def regime(symbol: str) -> JSONResponse:
        if symbol != view.symbol:
            return replies.not_here(symbol)
        state = view.regime
        if state is None:
            return replies.json(
                {"symbol": symbol, "regime": "unknown", "reason": view.regime_problem}
            )
        return replies.json(state.to_dict())

    return router


def _ofi_router(*, view: AdvancedView, replies: Replies) -> APIRouter:
    router = APIRouter()

    @router.get("/ofi/stats/{symbol:path}")
    async def ofi_stats(symbol: str) -> JSONResponse:
        if symbol != view.symbol:
            return replies.not_here(symbol)
        signal = view.last_ofi
        return replies.json(
            {
                "symbol": symbol,
                "config": {
                    "window_ms": view.ofi_config.window_ms,
                    "lookback_ms": view.ofi_config.lookback_ms,
                    "threshold": view.ofi_config.threshold,
                },
                "snapshot_count": signal.snapshot_count if signal else 0,
                "coverage": signal.coverage if signal else 0.0,
                "ticks_dropped": {
                    reason.value: view.drop_counts.get(reason.value, 0) for reason in DropReason
                },
            }
        )

    @router.get("/ofi/{symbol:path}")
    async def ofi(symbol: str) -> JSONResponse:
        if symbol != view.symbol:
            return replies.not_here(symbol)
        signal = view.last_ofi
        if signal is None:
            return replies.json(
                {"symbol": symbol, "recommendation": "neutral", "reason": "no ticks yet"}
            )
        return replies.json(signal.to_dict())

    return router


def _source_router(*, view: AdvancedView, replies: Replies) -> APIRouter:
    router = APIRouter()
    traded = coin_of(view.symbol)

    @router.get("/whale/summary")
    async def whale_summary() -> JSONResponse:
        value, _, sources = _combined(view, kind="whale")
        return replies.json(
            {"coins": {traded: {"strength": abs(value), "value": value}}, "sources": sources}
        )

    @router.get("/whale/{coin}")
    async def whale(coin: str) -> JSONResponse:
        if coin.upper() != traded:
            return replies.not_here(coin)
        value, confidence, sources = _combined(view, kind="whale")
        direction = (
            FlowDirection.BULLISH
            if value > 0
            else FlowDirection.BEARISH
            if value < 0
            else FlowDirection.NEUTRAL
        )
        return replies.json(
            {
                "coin": coin.upper(),
                "signal": direction.value,
                "strength": abs(value),
                "confidence": confidence,
                "reason": f"weighted mean of {len(sources)} whale SignalSource(s)"
                if sources
                else "no fresh whale SignalSource reading",
                "sources": sources,
            }
        )

    @router.get("/sentiment/summary")
    async def sentiment_summary() -> JSONResponse:
        return replies.json({"coins": {traded: _sentiment(view, coin=traded)}})

    @router.get("/sentiment/{coin}")
    async def sentiment(coin: str) -> JSONResponse:
        if coin.upper() != traded:
            return replies.not_here(coin)
        return replies.json(_sentiment(view, coin=coin.upper()))

    @router.get("/macro/signal")
    async def macro_signal() -> JSONResponse:
        return replies.json(_macro(view))

    @router.get("/macro/summary")
    async def macro_summary() -> JSONResponse:
        now_ms = int(time.time() * 1000)
        return replies.json({**_macro(view), "signalSources": view.source_status(now_ms=now_ms)})

    return router


def _fusion_router(*, view: AdvancedView, replies: Replies) -> APIRouter:
    router = APIRouter()

    def fused(symbol: str) -> dict[str, Any] | None:
        decision = view.last_decision
        if symbol != view.symbol:
            return None
        if decision is None:
            return {
                "symbol": symbol,
                "signal": "neutral",
                "score": 0.0,
                "reasoning": ["no decision yet"],
            }
        return decision.fused.to_dict()

    @router.get("/fusion/{symbol:path}")
    async def fusion(symbol: str) -> JSONResponse:
        payload = fused(symbol)
        return replies.json(payload) if payload is not None else replies.not_here(symbol)

    @router.post("/fusion/portfolio")
    async def fusion_portfolio(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return replies.json(
                {"detail": 'the body must be JSON: {"symbols": [...]}'}, status_code=400
            )
        symbols = body.get("symbols") if isinstance(body, dict) else None
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            return replies.json(
                {"detail": 'expected {"symbols": ["BASE/QUOTE", ...]}'}, status_code=400
            )
        return replies.json({"signals": {s: fused(s) for s in symbols}})

    return router


def _combined(view: SourcesView, *, kind: str) -> tuple[float, float, list[dict[str, Any]]]:
    """The fused reading of one kind of SignalSource (value, confidence) and each source's."""
    readings = [r for r in view.source_readings(now_ms=int(time.time() * 1000)) if r.name == kind]
    value = readings[0].value if readings else 0.0
    confidence = readings[0].confidence if readings else 0.0
    sources = [
        {"source": snapshot.name, "weight": snapshot.weight, **snapshot.reading.to_dict()}
        for snapshot in view.source_snapshots(kind=kind)
        if snapshot.reading is not None
    ]
    return value, confidence, sources


def _sentiment(view: SourcesView, *, coin: str) -> dict[str, Any]:
    value, confidence, sources = _combined(view, kind="sentiment")
    label = "bullish" if value >= 0.1 else "bearish" if value <= -0.1 else "neutral"
    return {
        "coin": coin,
        "sentiment": label,
        "score": value,
        "confidence": confidence,
        "recommendation": "buy" if value >= 0.2 else "sell" if value <= -0.2 else "hold",
        "sources": sources,
    }


def _macro(view: AdvancedView) -> dict[str, Any]:
    value, confidence, sources = _combined(view, kind="macro")
    return {
        "symbol": view.symbol,
        "signal": "increase_risk" if value > 0 else "reduce_risk" if value < 0 else "neutral",
        "bias": value,
        "confidence": confidence,
        "reason": f"weighted mean of {len(sources)} macro SignalSource(s)"
        if sources
        else "no fresh macro SignalSource reading",
        "sources": sources,
    }
