"""``/api/advanced/self-healing/health``: the health report of the runtime's self-healing,
with the figures an operator reads next to it.

Built by :func:`~tradefleet_runtime.service.api.build_bot_app`.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tradefleet_runtime.service.api.replies import Replies
from tradefleet_runtime.service.api.view import HealingView


def self_healing_router(*, view: HealingView) -> APIRouter:
    router = APIRouter()
    replies = Replies(view=view)

    @router.get("/api/advanced/self-healing/health")
    async def health() -> JSONResponse:
        flags = view.flags
        return replies.json(
            view.health_report(
                extra={
                    "phase": view.phase,
                    "configHash": view.config.config_hash,
                    "refusedConfig": view.refused_config,
                    "pollSlowdown": view.poll_slowdown,
                    "ticksDropped": dict(view.drop_counts),
                    "redisHealthy": view.store_healthy,
                    "halted": flags.halted,
                    "haltReason": flags.halt_reason or None,
                    "paused": flags.paused,
                    "pauseReason": flags.pause_reason or None,
                }
            )
        )

    return router
