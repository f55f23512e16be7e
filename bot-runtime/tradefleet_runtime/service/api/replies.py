"""JSON replies of the bot's HTTP API, with every secret scrubbed out.

Used by every router of :mod:`tradefleet_runtime.service.api`: responses never contain
credentials, so every JSON body (and the WebSocket's events) passes through :func:`scrub`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from tradefleet_runtime.execution.errors import redact
from tradefleet_runtime.service.api.view import ReplyView

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


def coin_of(symbol: str) -> str:
    """The base currency of ``BASE/QUOTE``: the coin of the whale and sentiment endpoints."""
    return symbol.partition("/")[0]


def limit_of(request: Request, default: int) -> int:
    """The ``limit`` query parameter of a history, within 1..HISTORY_LIMIT_MAX."""
    raw = request.query_params.get("limit", str(default))
    return max(1, min(HISTORY_LIMIT_MAX, int(raw))) if raw.isdigit() else default


@dataclass(frozen=True, kw_only=True)
class Replies:
    """Builds the API's JSON responses for one bot."""

    view: ReplyView

    def json(self, payload: object, *, status_code: int = 200) -> JSONResponse:
        content = scrub(json.loads(json.dumps(payload, default=str)), secrets=self.view.secrets)
        return JSONResponse(content=content, status_code=status_code)

    def not_here(self, what: str) -> JSONResponse:
        """404 for a symbol or coin this bot does not trade."""
        return self.json(
            {"detail": f"{what} is not traded by this bot (it trades {self.view.symbol})"},
            status_code=404,
        )
