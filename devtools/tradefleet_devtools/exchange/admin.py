"""Typed async client of the local exchange's admin endpoints (dev/test tooling only).

Integration and e2e tests, and the chaos soak harness, use it to drive prices, inject
faults, reset and inspect the state and the ledger of a ``LocalExchange`` running in-process
or as ``python -m tradefleet_devtools.exchange``; the endpoints are served by
``tradefleet_devtools.exchange.admin_routes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

from tradefleet_devtools.exchange.faults import FaultRule


class AdminRequestError(RuntimeError):
    """The local exchange refused an admin request."""


class ExchangeAdminClient:
    """Admin endpoints of one local exchange, addressed by its base URL."""

    def __init__(self, *, base_url: str) -> None:
        self._base_url = base_url.rstrip("/")

    async def _call(self, *, method: str, path: str, payload: object = None) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, f"{self._base_url}{path}", json=payload) as response,
        ):
            body = await response.json()
            if response.status != 200:
                raise AdminRequestError(f"{method} {path}: {response.status} {body}")
            return body

    async def state(self) -> dict[str, Any]:
        """Orders, algo orders, positions, fills, balances, prices and request counts."""
        result: dict[str, Any] = await self._call(method="GET", path="/_admin/state")
        return result

    async def ledger(self) -> dict[str, Any]:
        """The exchange's own record for invariant checks: every order received or executed
        (with the API key and ``X-Tradefleet-Sender`` that sent it), every fill, conditional
        orders, positions per symbol and the wallet; see ``tradefleet_devtools.exchange.ledger``.
        """
        result: dict[str, Any] = await self._call(method="GET", path="/_admin/ledger")
        return result

    async def set_price(self, *, symbol: str, price: float) -> dict[str, Any]:
        """Move a symbol's mid price now; stops and resting orders react immediately."""
        result: dict[str, Any] = await self._call(
            method="POST", path="/_admin/price", payload={"symbol": symbol, "price": price}
        )
        return result

    async def advance(self, *, steps: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            method="POST", path="/_admin/advance", payload={"steps": steps}
        )
        return result

    async def add_faults(self, rules: Sequence[FaultRule]) -> None:
        await self._call(method="POST", path="/_admin/faults", payload=[r.to_json() for r in rules])

    async def faults(self) -> list[FaultRule]:
        """The rules not used up yet (a window rule's current window shows in ``state``)."""
        rules = await self._call(method="GET", path="/_admin/faults")
        return [FaultRule.from_json(raw) for raw in rules]

    async def clear_faults(self) -> None:
        await self._call(method="DELETE", path="/_admin/faults")

    async def reset(self, *, balance: float | None = None) -> dict[str, Any]:
        """Forget orders, fills, positions, faults (the stream's too) and request counts; set
        the wallet."""
        payload = {} if balance is None else {"balance": balance}
        result: dict[str, Any] = await self._call(
            method="POST", path="/_admin/reset", payload=payload
        )
        return result

    async def stream_fault(
        self, *, drop: int = 0, disconnect: bool = False, enabled: bool | None = None
    ) -> dict[str, Any]:
        """Faults of the depth stream: drop the next ``drop`` events, close every client, refuse
        new connections (``enabled=False``) or accept them again; the stream's state (see
        ``depth_stream``)."""
        payload: dict[str, Any] = {"drop": drop, "disconnect": disconnect}
        if enabled is not None:
            payload["enabled"] = enabled
        result: dict[str, Any] = await self._call(
            method="POST", path="/_admin/stream", payload=payload
        )
        return result
