"""Local exchange: a Binance USDⓈ-M futures look-alike for tests and the local demo.

DEV/TEST TOOLING ONLY — not a real exchange, never used in production. There is no internet
here, so the runtime's ccxt adapter is exercised with ccxt's real ``binanceusdm`` client, over
real HTTP with real request signing, against this server on 127.0.0.1. It simulates a
market (a price path from a pluggable ``PriceSource`` around which a book is quoted), a
matching engine, a futures account, and faults injected on demand (``FaultRule``, see
``faults`` for the kinds), and keeps a ledger of everything it executed for invariant checks
(``ExchangeAdminClient.ledger``).

In-process: ``async with LocalExchange(LocalExchangeOptions(...)) as exchange`` then
``exchange.base_url``; out of process: ``python -m tradefleet_devtools.exchange``.
"""

from __future__ import annotations

from tradefleet_devtools.exchange.admin import AdminRequestError, ExchangeAdminClient
from tradefleet_devtools.exchange.faults import FaultKind, FaultRule, FaultRuleError
from tradefleet_devtools.exchange.market import BookShape
from tradefleet_devtools.exchange.prices import (
    PricePoint,
    PriceSource,
    RandomWalkPriceSource,
    SyntheticReplayPriceSource,
)
from tradefleet_devtools.exchange.records import EngineConfig
from tradefleet_devtools.exchange.server import LocalExchange, LocalExchangeOptions

__all__ = [
    "AdminRequestError",
    "BookShape",
    "EngineConfig",
    "ExchangeAdminClient",
    "FaultKind",
    "FaultRule",
    "FaultRuleError",
    "LocalExchange",
    "LocalExchangeOptions",
    "PricePoint",
    "PriceSource",
    "RandomWalkPriceSource",
    "SyntheticReplayPriceSource",
]
