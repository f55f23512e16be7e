"""``/healthz``, ``/readyz`` and ``/metrics``: what Kubernetes probes and Prometheus scrapes.

Built by :func:`~tradefleet_runtime.service.api.build_bot_app`.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from tradefleet_runtime.execution.errors import redact
from tradefleet_runtime.service.api.replies import Replies
from tradefleet_runtime.service.api.view import ProbeView


def probes_router(*, view: ProbeView) -> APIRouter:
    router = APIRouter()
    replies = Replies(view=view)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        age = time.time() - view.heartbeat
        alive = age <= view.heartbeat_timeout_s
        return replies.json(
            {"status": "ok" if alive else "stale", "heartbeatAgeSeconds": age},
            status_code=200 if alive else 503,
        )

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        ready = view.reconciled and view.market_data_flowing
        return replies.json(
            {
                "ready": ready,
                "reconciled": view.reconciled,
                "marketDataFlowing": view.market_data_flowing,
                "phase": view.phase,
            },
            status_code=200 if ready else 503,
        )

    @router.get("/metrics")
    async def metrics() -> Response:
        body = redact(view.metrics_text(), secrets=view.secrets)
        return Response(content=body, media_type=CONTENT_TYPE_LATEST)

    return router
