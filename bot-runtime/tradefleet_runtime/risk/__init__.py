"""Risk engine of the bot runtime: Kelly sizing, ATR stops, regime profiles, seven limit layers
and persisted circuit breakers. Pure Python/numpy, no I/O.

Imported by the bot runtime's trading loop (``RiskEngine``), its persistence layer
(``BreakerState`` / ``PortfolioState`` ``to_dict``/``from_dict``), the operator's spec
validation (``RiskLimits.from_spec``) and the backtester (``wilder_atr``).
"""

from __future__ import annotations

from tradefleet_runtime.risk.atr import DEFAULT_ATR_PERIOD, WilderATR, wilder_atr
from tradefleet_runtime.risk.breakers import (
    BreakerReason,
    BreakerState,
    BreakerTransition,
    BreakerTrip,
    TransitionKind,
)
from tradefleet_runtime.risk.config import (
    DEFAULT_REGIME_MAP,
    DEFAULT_REGIME_PROFILES,
    RegimeProfile,
    RiskLimits,
    RiskRegime,
)
from tradefleet_runtime.risk.engine import BreakerUpdate, RiskDecision, RiskEngine
from tradefleet_runtime.risk.errors import (
    RiskConfigError,
    RiskError,
    RiskInputError,
    RiskStateError,
)
from tradefleet_runtime.risk.intent import RiskLayer, Side, SizeLimit, TradeIntent
from tradefleet_runtime.risk.kelly import KellyEstimate, TradeStats, estimate_kelly
from tradefleet_runtime.risk.market import MarketRisk, SymbolRisk
from tradefleet_runtime.risk.portfolio import PortfolioState, RiskPosition

__all__ = [
    "DEFAULT_ATR_PERIOD",
    "DEFAULT_REGIME_MAP",
    "DEFAULT_REGIME_PROFILES",
    "BreakerReason",
    "BreakerState",
    "BreakerTransition",
    "BreakerTrip",
    "BreakerUpdate",
    "KellyEstimate",
    "MarketRisk",
    "PortfolioState",
    "RegimeProfile",
    "RiskConfigError",
    "RiskDecision",
    "RiskEngine",
    "RiskError",
    "RiskInputError",
    "RiskLayer",
    "RiskLimits",
    "RiskPosition",
    "RiskRegime",
    "RiskStateError",
    "Side",
    "SizeLimit",
    "SymbolRisk",
    "TradeIntent",
    "TradeStats",
    "TransitionKind",
    "WilderATR",
    "estimate_kelly",
    "wilder_atr",
]
