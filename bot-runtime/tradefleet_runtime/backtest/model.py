"""What a backtest takes and gives: its settings, its trades and its result.

Shared by the event-driven engine, the grid engine, the optimizer, the reports and
the CLI. Settings are in percent like the CRD (``fee_pct = 0.1`` is 0.1 %); the
engines convert them to rates once, here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.backtest.fills import (
    EXIT_CIRCUIT_BREAKER,
    EXIT_END_OF_DATA,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
)
from tradefleet_runtime.backtest.metrics import BacktestMetrics
from tradefleet_runtime.signals.learning import LearnerState
from tradefleet_runtime.strategies.parameters import StrategyParameters

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class MarketType(StrEnum):
    """Spot, or perpetual futures (which charge funding while a position is open)."""

    SPOT = "spot"
    FUTURES = "futures"


DEFAULT_FUNDING_RATE_PCT = 0.01  # per 8 h: the usual rate of a perpetual (Binance's base rate)
_MAX_FUNDING_RATE_PCT = 3.0


@dataclass(frozen=True, kw_only=True, slots=True)
class BacktestConfig:
    """Account and market frictions of a backtest (percent units).

    ``funding_rate_pct`` applies to ``MarketType.FUTURES`` only: at every funding time
    (00:00, 08:00 and 16:00 UTC) an open position pays that percent of its notional when
    long and receives it when short (a negative rate reverses both).
    """

    initial_equity: float = 10_000.0
    fee_pct: float = 0.1  # per fill, of the fill's notional
    slippage_pct: float = 0.02  # per fill, against the trader
    max_leverage: float = 1.0  # caps a risk-sized position's notional at this × equity
    allow_short: bool = True
    symbol: str = "BTC/USDT"
    market: MarketType = MarketType.SPOT
    funding_rate_pct: float = DEFAULT_FUNDING_RATE_PCT  # per 8 h, futures only

    def __post_init__(self) -> None:
        if not (math.isfinite(self.initial_equity) and self.initial_equity > 0.0):
            raise BacktestConfigError(
                f"initial equity must be finite and > 0, got {self.initial_equity!r}"
            )
        for name, high in (("fee_pct", 10.0), ("slippage_pct", 10.0)):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= high):
                raise BacktestConfigError(f"{name} must be within [0, {high:g}], got {value!r}")
        if not (math.isfinite(self.max_leverage) and 0.0 < self.max_leverage <= 125.0):
            raise BacktestConfigError(
                f"max_leverage must be within (0, 125], got {self.max_leverage!r}"
            )
        if not isinstance(self.allow_short, bool):
            raise BacktestConfigError(
                f"allow_short must be true or false, got {self.allow_short!r}"
            )
        if not isinstance(self.market, MarketType):
            raise BacktestConfigError(f"market must be spot or futures, got {self.market!r}")
        rate = self.funding_rate_pct
        if not (math.isfinite(rate) and abs(rate) <= _MAX_FUNDING_RATE_PCT):
            raise BacktestConfigError(
                f"funding_rate_pct must be within ±{_MAX_FUNDING_RATE_PCT:g} (per 8 h), "
                f"got {rate!r}"
            )
        if "/" not in self.symbol:
            raise BacktestConfigError(f"symbol must look like BASE/QUOTE, got {self.symbol!r}")

    @property
    def fee_rate(self) -> float:
        return self.fee_pct / 100.0

    @property
    def slippage_rate(self) -> float:
        return self.slippage_pct / 100.0

    @property
    def funding_rate(self) -> float:
        """Funding per funding time as a fraction of the notional; 0 on spot."""
        return self.funding_rate_pct / 100.0 if self.market is MarketType.FUTURES else 0.0


DEFAULT_CONFIG = BacktestConfig()


class ExitReason(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    END_OF_DATA = "end_of_data"
    CIRCUIT_BREAKER = "circuit_breaker"


EXIT_REASON_BY_CODE: Mapping[int, ExitReason] = MappingProxyType(
    {
        EXIT_STOP_LOSS: ExitReason.STOP_LOSS,
        EXIT_TAKE_PROFIT: ExitReason.TAKE_PROFIT,
        EXIT_END_OF_DATA: ExitReason.END_OF_DATA,
        EXIT_CIRCUIT_BREAKER: ExitReason.CIRCUIT_BREAKER,
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Trade:
    """One round trip. Indices are bar positions in the series the backtest ran on."""

    direction: int  # +1 long, -1 short
    entry_index: int
    exit_index: int
    entry_time_ms: int
    exit_time_ms: int
    entry_price: float  # fill, slippage included
    exit_price: float  # fill, slippage included
    quantity: float
    stop_price: float
    target_price: float
    fees: float
    pnl: float  # after both fees and funding
    exit_reason: ExitReason
    entry_reason: str = ""
    funding: float = 0.0  # paid while open (negative: received); futures only

    @property
    def side(self) -> str:
        return "long" if self.direction > 0 else "short"

    @property
    def pnl_pct(self) -> float:
        """PnL after fees in percent of the entry notional."""
        return 100.0 * self.pnl / (self.quantity * self.entry_price)

    def to_dict(self) -> dict[str, object]:
        return {
            "side": self.side,
            "entryIndex": self.entry_index,
            "exitIndex": self.exit_index,
            "entryTimeMs": self.entry_time_ms,
            "exitTimeMs": self.exit_time_ms,
            "entryPrice": self.entry_price,
            "exitPrice": self.exit_price,
            "quantity": self.quantity,
            "stopPrice": self.stop_price,
            "targetPrice": self.target_price,
            "fees": self.fees,
            "funding": self.funding,
            "pnl": self.pnl,
            "pnlPct": self.pnl_pct,
            "exitReason": self.exit_reason.value,
            "entryReason": self.entry_reason,
        }


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class BacktestResult:
    """A finished backtest: figures, trades, and the equity marked at each traded bar's close.

    ``timestamp_ms`` and ``equity`` cover the bars from ``start_index`` on (earlier bars
    only warmed the indicators up). ``rejected_entries`` counts entry signals that did
    not become trades, by cause (a risk-engine layer, ``risk_warmup`` while ATR and
    returns are not yet available, ``short_disabled``).
    """

    strategy: str
    parameters: StrategyParameters
    config: BacktestConfig
    metrics: BacktestMetrics
    trades: tuple[Trade, ...]
    timestamp_ms: IntArray
    equity: FloatArray
    start_index: int
    rejected_entries: Mapping[str, int] = field(default_factory=dict)
    funding_paid: float = 0.0  # over all trades; negative when received
    fusion_learning: LearnerState | None = None  # with FusionSetup.learning: the end state

    def to_dict(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "parameters": self.parameters.to_spec(),
            "startIndex": self.start_index,
            "market": self.config.market.value,
            "fundingRatePct": self.config.funding_rate_pct,
            "fundingPaid": self.funding_paid,
            "metrics": self.metrics.to_dict(),
            "rejectedEntries": dict(self.rejected_entries),
            "trades": [trade.to_dict() for trade in self.trades],
            **(
                {
                    "fusionWeights": dict(self.fusion_learning.weights),
                    "fusionLearningUpdates": self.fusion_learning.updates,
                }
                if self.fusion_learning is not None
                else {}
            ),
        }
