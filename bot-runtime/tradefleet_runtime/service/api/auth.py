"""The bearer-token check of the runtime API: every endpoint but the probes and ``/metrics``.

Used by :func:`~tradefleet_runtime.service.api.build_bot_app` (as a dependency of the status,
advanced, self-healing and control routers) and by the ``/ws/stream`` handshake. The token is the
bot's control token: the operator writes it to the bot's Secret, the pod gets it as an
environment variable, and the operator sends it with every request. A runtime started without
one refuses every guarded request, so its positions and signals are never open by accident.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.requests import HTTPConnection


@dataclass(frozen=True, kw_only=True, slots=True)
class Refusal:
    """Why a request was refused: HTTP status (401 or 403) and a message for the caller."""

    status_code: int
    detail: str


def refusal(*, authorization: str, expected: str) -> Refusal | None:
    """None when ``authorization`` (the header's value) carries the ``expected`` bearer token."""
    scheme, _, token = authorization.partition(" ")
    if not expected:
        return Refusal(
            status_code=403,
            detail="the runtime has no control token configured (api.controlTokenEnv): "
            "every endpoint but /healthz, /readyz and /metrics is refused",
        )
    if scheme.lower() != "bearer" or not token:
        return Refusal(status_code=401, detail="missing bearer token")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        return Refusal(status_code=403, detail="invalid control token")
    return None


def bearer_guard(*, token: Callable[[], str]) -> Callable[[HTTPConnection], None]:
    """A FastAPI dependency that refuses a request without the runtime's bearer token."""

    def guard(connection: HTTPConnection) -> None:
        refused = refusal(
            authorization=connection.headers.get("authorization", ""), expected=token()
        )
        if refused is not None:
            raise HTTPException(status_code=refused.status_code, detail=refused.detail)

    return guard
