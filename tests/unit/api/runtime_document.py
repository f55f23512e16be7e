"""A bot's RuntimeConfig document as the operator renders it, with an empty strategy and risk:
the API tests put the spec pieces they check into a copy of it."""

from __future__ import annotations

from typing import Any

RENDERED: dict[str, Any] = {
    "apiVersion": "tradefleet.io/v1alpha1",
    "kind": "RuntimeConfig",
    "bot": {"name": "bot-1", "namespace": "default"},
    "exchange": {"id": "binance", "market": "spot", "symbol": "BTC/USDT", "mode": "paper"},
    "strategy": {},
    "risk": {},
    "redis": {"url": "redis://localhost:6379/0", "keyPrefix": "tradefleet:default:bot-1"},
    "api": {"port": 8080},
}
