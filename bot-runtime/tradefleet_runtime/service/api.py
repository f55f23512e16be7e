"""The bot runtime's HTTP API (FastAPI), served by uvicorn in the runtime's event loop.

Built by :func:`build_bot_app` over a running :class:`~tradefleet_runtime.service.bot.BotService`.
The operator polls ``GET /status`` over the pod IP and sends ``POST /control/<command>`` with
the bot's bearer token; Kubernetes probes ``/healthz`` and ``/readyz``; Prometheus scrapes
``/metrics``. Every endpoint is documented in ``docs/runtime-api.md``. Responses never contain
credentials: every JSON body is passed through the secret redaction of the execution layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from tradefleet_runtime.execution.errors import redact
from tradefleet_runtime.marketdata.ticks import DropReason
from tradefleet_runtime.service.bot import BotService
from tradefleet_runtime.service.control import COMMANDS
from tradefleet_runtime.signals.regime import MODELLED_LABELS
from tradefleet_runtime.signals.whale import FlowDirection

WS_HEARTBEAT_S = 5.0
HISTORY_LIMIT_MAX = 10_000


def scrub(value: Any, *, secrets: tuple[str, ...]) -> Any:
    """``value`` with every secret removed from every string in it (keys included)."""
    if isinstance(value, str):
        return redact(value, secrets=secrets)
    if isinstance(value, dict):
        return {
            scrub(key, secrets=secrets): scrub(item, secrets=secrets) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item, secrets=secrets) for item in value]
    return value


def _coin(symbol: str) -> str:
    return symbol.partition("/")[0]


def build_bot_app(service: BotService) -> FastAPI:
    app = FastAPI(title="Tradefleet bot runtime", docs_url=None, redoc_url=None, openapi_url=None)

    def reply(payload: object, *, status_code: int = 200) -> JSONResponse:
        content = scrub(json.loads(json.dumps(payload, default=str)), secrets=service.secrets)
        return JSONResponse(content=content, status_code=status_code)

    def not_here(what: str) -> JSONResponse:
        return reply(
            {"detail": f"{what} is not traded by this bot (it trades {service.symbol})"},
            status_code=404,
        )

    def limit_of(request: Request, default: int) -> int:
        raw = request.query_params.get("limit", str(default))
        return max(1, min(HISTORY_LIMIT_MAX, int(raw))) if raw.isdigit() else default

    # ----------------------------------------------------------- probes, metrics

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        age = time.time() - service.heartbeat
        alive = age <= service.config.heartbeat_timeout_s
        return reply(
            {"status": "ok" if alive else "stale", "heartbeatAgeSeconds": age},
            status_code=200 if alive else 503,
        )

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ready = service.reconciled and service.market_data_flowing
        return reply(
            {
                "ready": ready,
                "reconciled": service.reconciled,
                "marketDataFlowing": service.market_data_flowing,
                "phase": service.phase,
            },
            status_code=200 if ready else 503,
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        body = redact(service.metrics.render().decode(), secrets=service.secrets)
        return Response(content=body, media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------ status

    @app.get("/status")
    async def status() -> JSONResponse:
        return reply(service.status())

    @app.get("/signals")
    async def signals(request: Request) -> JSONResponse:
        decision = service.last_decision
        now_ms = int(time.time() * 1000)
        history = await service.store.history(name="signals", limit=limit_of(request, 100))
        return reply(
            {
                "symbol": service.symbol,
                "fusion": decision.fused.to_dict() if decision else None,
                "lastDecision": decision.to_dict() if decision else None,
                "ofi": service.pipeline.last_ofi.to_dict() if service.pipeline.last_ofi else None,
                "regime": service.market.bars.regime.to_dict()
                if service.market.bars.regime
                else None,
                "signalSources": service.market.sources.status(now_ms=now_ms),
                "ticksDropped": dict(service.market.drop_counts),
                "recentDrops": list(service.market.recent_drops),
                "history": history,
            }
        )

    @app.get("/equity")
    async def equity(request: Request) -> JSONResponse:
        points = await service.store.history(name="equity", limit=limit_of(request, 1000))
        return reply(
            {
                "equity": service.equity(),
                "startingEquity": service.starting_equity,
                "portfolio": service.portfolio.to_dict() if service.portfolio else None,
                "balance": service.balance.to_dict() if service.balance else None,
                "curve": list(reversed(points)),
            }
        )

    @app.get("/strategy")
    async def strategy() -> JSONResponse:
        settings = service.config.strategy
        return reply(
            {
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
                    label.value: params.to_dict()
                    for label, params in settings.regime_params.items()
                },
                "parameters": dict(settings.parameters),
                "signalSources": [
                    {"name": ref.name, "weight": ref.weight, "redisStream": ref.redis_stream}
                    for ref in service.config.signal_sources
                ],
                "strategyComponent": {
                    "inFusion": service.market.bars.strategy is not None,
                    "weight": service.fusion.config.weights.get("strategy", 0.0),
                    "lastSignal": service.market.bars.strategy_signal.to_dict()
                    if service.market.bars.strategy_signal is not None
                    else None,
                },
                "fusionWeightsApplied": dict(service.fusion.config.weights),
                "configHash": service.config.config_hash,
                "refusedConfig": service.refused_config,
            }
        )

    # --------------------------------------------------------- /api/advanced/*

    @app.get("/api/advanced/regime/summary")
    async def regime_summary() -> JSONResponse:
        state = service.market.bars.regime
        return reply(
            {
                "symbols": {service.symbol: state.to_dict() if state else None},
                "model": service.market.bars.detector.status.to_dict(),
                "labels": [label.value for label in MODELLED_LABELS],
            }
        )

    @app.get("/api/advanced/regime/{symbol:path}")
    async def regime(symbol: str) -> JSONResponse:
        if symbol != service.symbol:
            return not_here(symbol)
        state = service.market.bars.regime
        if state is None:
            return reply(
                {"symbol": symbol, "regime": "unknown", "reason": service.market.bars.problem}
            )
        return reply(state.to_dict())

    @app.get("/api/advanced/ofi/stats/{symbol:path}")
    async def ofi_stats(symbol: str) -> JSONResponse:
        if symbol != service.symbol:
            return not_here(symbol)
        signal = service.pipeline.last_ofi
        return reply(
            {
                "symbol": symbol,
                "config": {
                    "window_ms": service.pipeline.ofi_config.window_ms,
                    "lookback_ms": service.pipeline.ofi_config.lookback_ms,
                    "threshold": service.pipeline.ofi_config.threshold,
                },
                "snapshot_count": signal.snapshot_count if signal else 0,
                "coverage": signal.coverage if signal else 0.0,
                "ticks_dropped": {
                    reason.value: service.market.drop_counts[reason.value] for reason in DropReason
                },
            }
        )

    @app.get("/api/advanced/ofi/{symbol:path}")
    async def ofi(symbol: str) -> JSONResponse:
        if symbol != service.symbol:
            return not_here(symbol)
        signal = service.pipeline.last_ofi
        if signal is None:
            return reply({"symbol": symbol, "recommendation": "neutral", "reason": "no ticks yet"})
        return reply(signal.to_dict())

    def source_view(kind: str) -> list[dict[str, Any]]:
        return [
            {"source": snapshot.name, "weight": snapshot.weight, **snapshot.reading.to_dict()}
            for snapshot in service.market.sources.latest(kind=kind)
            if snapshot.reading is not None
        ]

    def combined(kind: str) -> tuple[float, float, list[dict[str, Any]]]:
        readings = [
            r
            for r in service.market.sources.readings(now_ms=int(time.time() * 1000))
            if r.name == kind
        ]
        value = readings[0].value if readings else 0.0
        confidence = readings[0].confidence if readings else 0.0
        return value, confidence, source_view(kind)

    @app.get("/api/advanced/whale/summary")
    async def whale_summary() -> JSONResponse:
        value, _, sources = combined("whale")
        return reply(
            {
                "coins": {_coin(service.symbol): {"strength": abs(value), "value": value}},
                "sources": sources,
            }
        )

    @app.get("/api/advanced/whale/{coin}")
    async def whale(coin: str) -> JSONResponse:
        if coin.upper() != _coin(service.symbol):
            return not_here(coin)
        value, confidence, sources = combined("whale")
        direction = (
            FlowDirection.BULLISH
            if value > 0
            else FlowDirection.BEARISH
            if value < 0
            else FlowDirection.NEUTRAL
        )
        return reply(
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

    def sentiment_payload(coin: str) -> dict[str, Any]:
        value, confidence, sources = combined("sentiment")
        label = "bullish" if value >= 0.1 else "bearish" if value <= -0.1 else "neutral"
        return {
            "coin": coin,
            "sentiment": label,
            "score": value,
            "confidence": confidence,
            "recommendation": "buy" if value >= 0.2 else "sell" if value <= -0.2 else "hold",
            "sources": sources,
        }

    @app.get("/api/advanced/sentiment/summary")
    async def sentiment_summary() -> JSONResponse:
        return reply({"coins": {_coin(service.symbol): sentiment_payload(_coin(service.symbol))}})

    @app.get("/api/advanced/sentiment/{coin}")
    async def sentiment(coin: str) -> JSONResponse:
        if coin.upper() != _coin(service.symbol):
            return not_here(coin)
        return reply(sentiment_payload(coin.upper()))

    def macro_payload() -> dict[str, Any]:
        value, confidence, sources = combined("macro")
        return {
            "symbol": service.symbol,
            "signal": "increase_risk" if value > 0 else "reduce_risk" if value < 0 else "neutral",
            "bias": value,
            "confidence": confidence,
            "reason": f"weighted mean of {len(sources)} macro SignalSource(s)"
            if sources
            else "no fresh macro SignalSource reading",
            "sources": sources,
        }

    @app.get("/api/advanced/macro/signal")
    async def macro_signal() -> JSONResponse:
        return reply(macro_payload())

    @app.get("/api/advanced/macro/summary")
    async def macro_summary() -> JSONResponse:
        return reply(
            {
                **macro_payload(),
                "signalSources": service.market.sources.status(now_ms=int(time.time() * 1000)),
            }
        )

    def fusion_payload(symbol: str) -> dict[str, Any] | None:
        decision = service.last_decision
        if symbol != service.symbol:
            return None
        if decision is None:
            return {
                "symbol": symbol,
                "signal": "neutral",
                "score": 0.0,
                "reasoning": ["no decision yet"],
            }
        return decision.fused.to_dict()

    @app.get("/api/advanced/fusion/{symbol:path}")
    async def fusion(symbol: str) -> JSONResponse:
        payload = fusion_payload(symbol)
        return reply(payload) if payload is not None else not_here(symbol)

    @app.post("/api/advanced/fusion/portfolio")
    async def fusion_portfolio(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return reply({"detail": 'the body must be JSON: {"symbols": [...]}'}, status_code=400)
        symbols = body.get("symbols") if isinstance(body, dict) else None
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            return reply({"detail": 'expected {"symbols": ["BASE/QUOTE", ...]}'}, status_code=400)
        return reply({"signals": {s: fusion_payload(s) for s in symbols}})

    @app.get("/api/advanced/self-healing/health")
    async def health() -> JSONResponse:
        return reply(
            service.healing.report(
                extra={
                    "phase": service.phase,
                    "configHash": service.config.config_hash,
                    "refusedConfig": service.refused_config,
                    "pollSlowdown": service.poll_slowdown,
                    "ticksDropped": dict(service.market.drop_counts),
                    "redisHealthy": service.store_healthy,
                    "halted": service.flags.halted,
                    "haltReason": service.flags.halt_reason or None,
                    "paused": service.flags.paused,
                    "pauseReason": service.flags.pause_reason or None,
                }
            )
        )

    # ---------------------------------------------------------------- control

    @app.post("/control/{command}")
    async def control(command: str, request: Request) -> JSONResponse:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return reply(
                {"detail": "missing bearer token"},
                status_code=401,
            )
        expected = service.control_token
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            return reply({"detail": "invalid control token"}, status_code=403)
        if command not in COMMANDS:
            return reply(
                {"detail": f"unknown command {command!r}; one of {', '.join(COMMANDS)}"},
                status_code=404,
            )
        return reply(await service.command(command))

    # -------------------------------------------------------------- websocket

    @app.websocket("/ws/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        with service.events.subscribe() as queue:
            # Reading alongside sending answers a client's close at once (unread, the client
            # waited out its close timeout) and ends the stream as soon as the server stops.
            sender = asyncio.create_task(send_events(websocket=websocket, queue=queue))
            closer = asyncio.create_task(wait_for_disconnect(websocket=websocket))
            try:
                done, _ = await asyncio.wait({sender, closer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (sender, closer):
                    task.cancel()
                await asyncio.gather(sender, closer, return_exceptions=True)
            for task in done:
                with contextlib.suppress(WebSocketDisconnect):
                    task.result()

    async def send_events(*, websocket: WebSocket, queue: asyncio.Queue[dict[str, object]]) -> None:
        event: dict[str, object] = {"type": "hello", "at": time.time(), "data": service.status()}
        while True:
            await websocket.send_text(
                json.dumps(scrub(event, secrets=service.secrets), default=str)
            )
            try:
                event = await asyncio.wait_for(queue.get(), timeout=WS_HEARTBEAT_S)
            except TimeoutError:
                event = {
                    "type": "heartbeat",
                    "at": time.time(),
                    "data": {"heartbeat": service.heartbeat, "phase": service.phase},
                }

    async def wait_for_disconnect(*, websocket: WebSocket) -> None:
        # Clients have nothing to say to the stream; their messages are read and dropped so
        # they never fill the server's receive queue.
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    return app
