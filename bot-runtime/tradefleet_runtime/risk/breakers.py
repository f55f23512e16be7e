"""Circuit breakers: the persisted breaker state, its transitions and the four trip rules.

``RiskEngine`` owns a ``BreakerState`` and applies the rules below on every mark and closed
trade; the bot runtime stores ``BreakerState.to_dict()`` in Redis on every transition and
restores it with ``from_dict`` on start, and reports transitions to the operator, which
mirrors them as the ``CircuitBreakerOpen`` condition. A limit is breached when it is reached:
a 20 % drawdown trips a 20 % limit, 19.99 % does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from tradefleet_runtime.risk._codec import as_int, as_object, as_str
from tradefleet_runtime.risk.config import RiskLimits
from tradefleet_runtime.risk.errors import RiskInputError, RiskStateError
from tradefleet_runtime.risk.kelly import TradeStats
from tradefleet_runtime.risk.portfolio import PortfolioState

# Relative slack so a figure computed to exactly the limit (e.g. equity = 0.8 × peak) counts
# as reaching it despite binary rounding.
_LIMIT_TOLERANCE = 1e-12


def reached(value: float, limit: float) -> bool:
    """Whether a non-negative ``value`` has reached a positive ``limit``."""
    return value >= limit * (1.0 - _LIMIT_TOLERANCE)


class BreakerReason(StrEnum):
    DRAWDOWN = "drawdown"
    DAILY_LOSS = "daily_loss"
    CONSECUTIVE_LOSSES = "consecutive_losses"
    ATR = "atr"


@dataclass(frozen=True, kw_only=True, slots=True)
class Breach:
    """A breaker rule that fired, with the figures a user needs to understand why."""

    reason: BreakerReason
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class BreakerTrip:
    reason: BreakerReason
    message: str
    tripped_at_ms: int


@dataclass(frozen=True, kw_only=True, slots=True)
class BreakerState:
    """Closed (``trip`` is None) or open with the trip that opened it; survives restarts."""

    trip: BreakerTrip | None = None

    @property
    def is_open(self) -> bool:
        return self.trip is not None

    def to_dict(self) -> dict[str, object]:
        if self.trip is None:
            return {"trip": None}
        return {
            "trip": {
                "reason": self.trip.reason.value,
                "message": self.trip.message,
                "trippedAtMs": self.trip.tripped_at_ms,
            }
        }

    @classmethod
    def from_dict(cls, data: object) -> BreakerState:
        fields = as_object(data, what="breaker state")
        if "trip" not in fields:
            raise RiskStateError("breaker state: field 'trip' is missing")
        trip = fields["trip"]
        if trip is None:
            return cls()
        trip_fields = as_object(trip, what="breaker trip")
        reason = as_str(trip_fields, "reason")
        try:
            parsed_reason = BreakerReason(reason)
        except ValueError:
            raise RiskStateError(f"breaker trip has unknown reason {reason!r}") from None
        return cls(
            trip=BreakerTrip(
                reason=parsed_reason,
                message=as_str(trip_fields, "message"),
                tripped_at_ms=as_int(trip_fields, "trippedAtMs"),
            )
        )


class TransitionKind(StrEnum):
    TRIPPED = "tripped"
    RESET = "reset"


@dataclass(frozen=True, kw_only=True, slots=True)
class BreakerTransition:
    """The breaker opened or closed; ``flatten`` asks the runtime to close every position."""

    kind: TransitionKind
    reason: BreakerReason  # for a reset, the reason the breaker had tripped for
    message: str
    at_ms: int
    flatten: bool = False


def drawdown_breach(*, portfolio: PortfolioState, limits: RiskLimits) -> Breach | None:
    drawdown = portfolio.drawdown_pct
    if not reached(drawdown, limits.max_drawdown_pct):
        return None
    return Breach(
        reason=BreakerReason.DRAWDOWN,
        message=(
            f"drawdown {drawdown:.2f}% (equity {portfolio.equity:.2f} vs high-water mark "
            f"{portfolio.peak_equity:.2f}) reached the {limits.max_drawdown_pct:g}% limit"
        ),
    )


def daily_loss_breach(*, portfolio: PortfolioState, limits: RiskLimits) -> Breach | None:
    loss = portfolio.daily_loss_pct
    if not reached(loss, limits.max_daily_loss_pct):
        return None
    return Breach(
        reason=BreakerReason.DAILY_LOSS,
        message=(
            f"daily loss {loss:.2f}% (equity {portfolio.equity:.2f} vs UTC day start "
            f"{portfolio.day_start_equity:.2f}) reached the {limits.max_daily_loss_pct:g}% limit"
        ),
    )


def atr_breach(
    *, portfolio: PortfolioState, atr_by_symbol: Mapping[str, float], limits: RiskLimits
) -> Breach | None:
    """The ATR rule: a position losing ``multiplier × ATR`` per unit; skipped until ATR exists."""
    multiplier = limits.atr_circuit_breaker_multiplier
    for position in portfolio.positions:
        atr = atr_by_symbol.get(position.symbol)
        if atr is None:
            continue
        if not (math.isfinite(atr) and atr > 0.0):
            raise RiskInputError(f"{position.symbol}: ATR must be finite and > 0, got {atr!r}")
        allowed_loss = multiplier * atr * abs(position.quantity)
        pnl = position.unrealised_pnl
        if reached(-pnl, allowed_loss):
            return Breach(
                reason=BreakerReason.ATR,
                message=(
                    f"{position.symbol} unrealised PnL {pnl:.2f} reached −{multiplier:g} × "
                    f"ATR {atr:g} × size {abs(position.quantity):g} = {-allowed_loss:.2f}"
                ),
            )
    return None


def consecutive_losses_breach(*, trades: TradeStats, limits: RiskLimits) -> Breach | None:
    if trades.loss_streak < limits.max_consecutive_losses:
        return None
    return Breach(
        reason=BreakerReason.CONSECUTIVE_LOSSES,
        message=(
            f"{trades.loss_streak} consecutive losing trades reached the limit of "
            f"{limits.max_consecutive_losses}"
        ),
    )
