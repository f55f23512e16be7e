"""What the risk engine is asked and what its answers name: a trade intent and its side, the
layer that refused a trade, and the limit that sized an approved one.

Built by the bot's decision pipeline and the backtester (``TradeIntent``); read by
:mod:`tradefleet_runtime.risk.layers` and :mod:`tradefleet_runtime.risk.engine`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from tradefleet_runtime.risk.errors import RiskInputError
from tradefleet_runtime.risk.market import base_asset


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, kw_only=True, slots=True)
class TradeIntent:
    """A fusion decision to open or add to a position, before risk sizing."""

    symbol: str
    side: Side
    price: float  # expected entry price
    size_multiplier: float = 1.0  # the fusion decision's position-size multiplier
    stop_pct: float | None = None  # the stop distance the decision asks for, % of entry
    target_pct: float | None = None  # the target distance the decision asks for, % of entry
    # A strategy plugin's risk budget per trade, % of equity, in place of the regime profile's.
    risk_per_trade_pct: float | None = None

    def __post_init__(self) -> None:
        base_asset(self.symbol)
        if not isinstance(self.side, Side):
            raise RiskInputError(f"side must be a Side, got {self.side!r}")
        if not (math.isfinite(self.price) and self.price > 0.0):
            raise RiskInputError(f"{self.symbol}: price must be finite and > 0, got {self.price!r}")
        if not (math.isfinite(self.size_multiplier) and self.size_multiplier >= 0.0):
            raise RiskInputError(
                f"{self.symbol}: size multiplier must be finite and ≥ 0, "
                f"got {self.size_multiplier!r}"
            )
        for name, pct in (
            ("stop", self.stop_pct),
            ("target", self.target_pct),
            ("risk per trade", self.risk_per_trade_pct),
        ):
            if pct is not None and not (math.isfinite(pct) and pct > 0.0):
                raise RiskInputError(f"{self.symbol}: {name} % must be finite and > 0, got {pct!r}")


class RiskLayer(StrEnum):
    """The check that refused a trade."""

    CIRCUIT_BREAKER = "circuit_breaker"
    EMERGENCY = "emergency"
    VOLATILITY = "volatility"
    POSITION_SIZE = "position_size"
    TOTAL_EXPOSURE = "total_exposure"
    SINGLE_ASSET_EXPOSURE = "single_asset_exposure"
    DRAWDOWN = "drawdown"
    DAILY_VAR = "daily_var"
    CORRELATION = "correlation"


class SizeLimit(StrEnum):
    """The sizing constraint that bound an approved trade's size."""

    KELLY = "kelly"
    RISK_PER_TRADE = "risk_per_trade"
    MAX_POSITION = "max_position"
