"""The bot runtime's HTTP API (FastAPI), served by uvicorn in the runtime's event loop.

:func:`build_bot_app` is called by the entry point (:mod:`tradefleet_runtime.__main__`) over
the read view of a running bot (:class:`~tradefleet_runtime.service.read_view.BotReadView`).
The operator polls ``GET /status`` over the pod IP and sends ``POST /control/<command>``, both
with the bot's bearer token (:mod:`.auth`: every endpoint needs it but the probes and metrics);
Kubernetes probes ``/healthz`` and ``/readyz``; Prometheus scrapes ``/metrics``. Every endpoint
is documented in ``docs/runtime-api.md``. Responses never contain credentials: every JSON body
is passed through the secret redaction of the execution layer.

One router per concern, each over the narrowest view it needs (:mod:`.view`): probes and
metrics (:mod:`.probes`), status and history (:mod:`.status`), the advanced signals
(:mod:`.advanced`), self-healing (:mod:`.self_healing`), control and the WebSocket
(:mod:`.control`), and the token check (:mod:`.auth`).
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from tradefleet_runtime.service.api.advanced import advanced_router
from tradefleet_runtime.service.api.auth import bearer_guard
from tradefleet_runtime.service.api.control import control_router
from tradefleet_runtime.service.api.probes import probes_router
from tradefleet_runtime.service.api.self_healing import self_healing_router
from tradefleet_runtime.service.api.status import status_router
from tradefleet_runtime.service.api.view import BotView


def build_bot_app(view: BotView) -> FastAPI:
    app = FastAPI(title="Tradefleet bot runtime", docs_url=None, redoc_url=None, openapi_url=None)
    # Probes and metrics stay open (the kubelet and Prometheus carry no token); everything
    # else shows the bot's positions, orders or signals and needs the bearer token.
    guarded = [Depends(bearer_guard(token=lambda: view.control_token))]
    app.include_router(probes_router(view=view))
    app.include_router(status_router(view=view), dependencies=guarded)
    app.include_router(advanced_router(view=view), dependencies=guarded)
    app.include_router(self_healing_router(view=view), dependencies=guarded)
    app.include_router(control_router(view=view))
    return app
