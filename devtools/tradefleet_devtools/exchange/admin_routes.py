"""Admin endpoints of the local exchange — not part of Binance's API (dev/test tooling only).

The HTTP front (``tradefleet_devtools.exchange.server``) sends every ``/_admin/...`` request
to ``AdminRoutes.handle``; tests reach them through ``ExchangeAdminClient``
(``tradefleet_devtools.exchange.admin``). Endpoints: ``GET /_admin/state``,
``GET /_admin/ledger``, ``POST /_admin/price``, ``POST /_admin/advance``,
``POST|GET|DELETE /_admin/faults``, ``POST /_admin/reset`` and ``POST /_admin/stream`` (the
depth stream's faults, see ``depth_stream``). They are never subject to
faults, so a test can always see and repair the exchange it broke.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from tradefleet_devtools.exchange.depth_stream import DepthStream
from tradefleet_devtools.exchange.engine import MatchingEngine
from tradefleet_devtools.exchange.faults import FaultInjector, FaultRule, FaultRuleError
from tradefleet_devtools.exchange.ledger import ledger_view
from tradefleet_devtools.exchange.records import RejectionError
from tradefleet_devtools.exchange.rest import fmt, now_ms
from tradefleet_devtools.exchange.views import algo_json, fill_json, order_json, position_json

AdminHandler = Callable[[object, int], Awaitable[Any]]


class _AdminInputError(ValueError):
    """An admin request with a malformed body."""


class AdminRoutes:
    """The admin endpoints over one exchange's engine, fault rules and request counts."""

    def __init__(
        self,
        *,
        engine: MatchingEngine,
        faults: FaultInjector,
        request_counts: Counter[str],
        depth_stream: DepthStream,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.faults = faults
        self.request_counts = request_counts
        self.depth_stream = depth_stream
        self._monotonic = monotonic
        self._routes: dict[tuple[str, str], AdminHandler] = {
            ("GET", "/_admin/state"): self._state,
            ("GET", "/_admin/ledger"): self._ledger,
            ("POST", "/_admin/price"): self._price,
            ("POST", "/_admin/advance"): self._advance,
            ("POST", "/_admin/faults"): self._add_faults,
            ("GET", "/_admin/faults"): self._faults,
            ("DELETE", "/_admin/faults"): self._clear_faults,
            ("POST", "/_admin/reset"): self._reset,
            ("POST", "/_admin/stream"): self._stream,
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            payload = await request.json() if request.can_read_body else None
        except json.JSONDecodeError:
            return web.json_response({"error": "the body must be JSON"}, status=400)
        route = self._routes.get((request.method, request.path))
        if route is None:
            return web.json_response(
                {"error": f"no admin endpoint {request.method} {request.path}"}, status=404
            )
        now = now_ms()
        self.engine.advance(now_ms=now)
        try:
            return web.json_response(await route(payload, now))
        except (_AdminInputError, FaultRuleError, RejectionError) as error:
            return web.json_response({"error": str(error)}, status=400)

    async def _state(self, payload: object, now: int) -> Any:
        return self.state()

    async def _ledger(self, payload: object, now: int) -> Any:
        return ledger_view(self.engine, now_ms=now)

    def ledger(self) -> dict[str, Any]:
        """The ledger now, for in-process callers (``LocalExchange.ledger``)."""
        now = now_ms()
        self.engine.advance(now_ms=now)
        return ledger_view(self.engine, now_ms=now)

    async def _price(self, payload: object, now: int) -> Any:
        if not isinstance(payload, dict):
            raise _AdminInputError('expected {"symbol": ..., "price": ...}')
        symbol = self._symbol(payload.get("symbol"))
        price = payload.get("price")
        if isinstance(price, bool) or not isinstance(price, int | float) or price <= 0:
            raise _AdminInputError("price must be a positive number")
        self.engine.set_price(symbol=symbol, price=Decimal(repr(price)), now_ms=now)
        return self.state()

    async def _advance(self, payload: object, now: int) -> Any:
        steps = payload.get("steps") if isinstance(payload, dict) else None
        if isinstance(steps, bool) or not isinstance(steps, int) or not 0 < steps <= 100_000:
            raise _AdminInputError("steps must be an integer in [1, 100000]")
        self.engine.step(steps=steps, now_ms=now)
        return self.state()

    async def _stream(self, payload: object, now: int) -> Any:
        expected = 'expected {"drop": N >= 0, "disconnect": bool, "enabled": bool}, each optional'
        if not isinstance(payload, dict) or not set(payload) <= {"drop", "disconnect", "enabled"}:
            raise _AdminInputError(expected)
        drop = payload.get("drop", 0)
        disconnect = payload.get("disconnect", False)
        enabled = payload.get("enabled")
        if (
            isinstance(drop, bool)
            or not isinstance(drop, int)
            or drop < 0
            or not isinstance(disconnect, bool)
            or not isinstance(enabled, bool | None)
        ):
            raise _AdminInputError(expected)
        return await self.depth_stream.apply_fault(
            drop=drop, disconnect=disconnect, enabled=enabled
        )

    async def _add_faults(self, payload: object, now: int) -> Any:
        if not isinstance(payload, list):
            raise _AdminInputError("expected a JSON list of fault rules")
        rules = []
        for index, raw in enumerate(payload):
            try:
                rules.append(FaultRule.from_json(raw))
            except FaultRuleError as error:
                # A harness posting many rules needs to know which one is wrong.
                raise FaultRuleError(f"rule {index}: {error}") from None
        self.faults.add(rules)
        return [r.to_json() for r in self.faults.pending()]

    async def _faults(self, payload: object, now: int) -> Any:
        return [r.to_json() for r in self.faults.pending()]

    async def _clear_faults(self, payload: object, now: int) -> Any:
        self.faults.clear()
        return []

    async def _reset(self, payload: object, now: int) -> Any:
        balance = payload.get("balance") if isinstance(payload, dict) else None
        if balance is not None and (
            isinstance(balance, bool) or not isinstance(balance, int | float) or balance < 0
        ):
            raise _AdminInputError("balance must be a non-negative number")
        self.engine.reset(balance=None if balance is None else Decimal(repr(balance)), now_ms=now)
        self.faults.clear()
        self.depth_stream.clear_faults()
        self.request_counts.clear()
        return self.state()

    def _symbol(self, raw: object) -> str:
        if not isinstance(raw, str):
            raise _AdminInputError("symbol must be a string")
        for exchange_id, market in self.engine.markets.items():
            if raw in (exchange_id, market.spec.unified):
                return exchange_id
        raise _AdminInputError(f"unknown symbol {raw!r}")

    def state(self) -> dict[str, Any]:
        """Orders, conditional orders, positions, balances, prices, request counts, pending
        fault rules and open fault windows, in Binance's shapes where it has one."""
        engine = self.engine
        summary = engine.summary()
        now_s = self._monotonic()
        return {
            "prices": {s: m.spec.format_price(m.mid) for s, m in engine.markets.items()},
            "orders": [order_json(engine, o) for o in engine.orders(symbol=None)],
            "algo_orders": [algo_json(engine, a) for a in engine.algo_orders(symbol=None)],
            "positions": [
                position_json(engine, p) for p in engine.positions().values() if p.amount
            ],
            "fills": [fill_json(engine, f) for f in engine.fills(symbol=None)],
            "balances": {
                "USDT": {
                    "wallet": fmt(summary.wallet_balance),
                    "unrealized_pnl": fmt(summary.unrealized_pnl),
                    "available": fmt(summary.available_balance),
                    "initial_margin": fmt(summary.initial_margin),
                }
            },
            "requests": dict(self.request_counts),
            "faults": [r.to_json() for r in self.faults.pending()],
            "fault_windows": [
                {**w.rule.to_json(), "ends_in_seconds": round(w.until_s - now_s, 3)}
                for w in self.faults.windows(now_s=now_s)
            ],
        }
