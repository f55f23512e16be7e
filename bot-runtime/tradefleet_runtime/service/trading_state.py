"""Whether the bot trades now, and if not why: the runtime's ``Trading`` condition. Pure.

Built by :class:`~tradefleet_runtime.service.bot.BotService` for ``/status`` (``trading``); the
operator copies it into the TradingBot's ``Trading`` condition, so every state a user must act
on names its cause. The reasons, by precedence (the first that applies wins):

=========================  ======  ========================================================
reason                     status  meaning / what to do
=========================  ======  ========================================================
``Standby``                False   another runtime of this bot holds the lease; wait
``KillSwitch``             False   halted by the kill switch; remove it to trade again
``AuthenticationFailed``   False   the exchange refused the key; fix it, then acknowledge
``RuntimeHalted``          False   the runtime halted itself (message says why); acknowledge
``Starting``               False   not yet reconciled with the exchange
``StateStoreUnavailable``  False   Redis unreachable: no order can be recorded, none is sent
``PositionUnprotected``    False   a position without a stop for more than 2 s
``CircuitBreakerOpen``     False   a breaker tripped; no new positions until it resets
``InsufficientFunds``      False   the runtime paused itself: not enough margin or balance
``OrdersUnresolved``       False   an order's outcome is unknown; new entries wait
``PausedByUser``           False   ``spec.paused``
``MarketDataStale``        False   no valid tick recently
``RateLimited``            True    trading, with slower polling after 429s
``Trading``                True    trading
=========================  ======  ========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tradefleet_runtime.persistence.store import Flags, RuntimeHaltCause, RuntimePauseCause
from tradefleet_runtime.service.protection import UNPROTECTED_ERROR_AFTER_S


class TradingReason(StrEnum):
    STANDBY = "Standby"
    KILL_SWITCH = "KillSwitch"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    RUNTIME_HALTED = "RuntimeHalted"
    STARTING = "Starting"
    STATE_STORE_UNAVAILABLE = "StateStoreUnavailable"
    POSITION_UNPROTECTED = "PositionUnprotected"
    CIRCUIT_BREAKER_OPEN = "CircuitBreakerOpen"
    INSUFFICIENT_FUNDS = "InsufficientFunds"
    ORDERS_UNRESOLVED = "OrdersUnresolved"
    PAUSED_BY_USER = "PausedByUser"
    MARKET_DATA_STALE = "MarketDataStale"
    RATE_LIMITED = "RateLimited"
    TRADING = "Trading"


@dataclass(frozen=True, kw_only=True, slots=True)
class TradingInputs:
    """What the runtime knows right now that decides the condition."""

    flags: Flags
    standby_for: str | None
    reconciled: bool
    store_healthy: bool
    unprotected_s: float
    breaker_message: str | None
    orders_blocked: str | None
    market_data_flowing: bool
    poll_slowdown: float


@dataclass(frozen=True, kw_only=True, slots=True)
class TradingCondition:
    trading: bool
    reason: TradingReason
    message: str

    def to_dict(self) -> dict[str, object]:
        return {
            "status": "True" if self.trading else "False",
            "reason": self.reason.value,
            "message": self.message,
        }


def trading_condition(state: TradingInputs) -> TradingCondition:
    for check in _CHECKS:
        found = check(state)
        if found is not None:
            return found
    return TradingCondition(trading=True, reason=TradingReason.TRADING, message="trading")


def _stopped(reason: TradingReason, message: str) -> TradingCondition:
    return TradingCondition(trading=False, reason=reason, message=message)


def _standby(s: TradingInputs) -> TradingCondition | None:
    if s.standby_for is None:
        return None
    return _stopped(
        TradingReason.STANDBY,
        f"another runtime of this bot ({s.standby_for}) holds the lease; this one waits",
    )


def _halted(s: TradingInputs) -> TradingCondition | None:
    flags = s.flags
    if flags.user_halted:
        return _stopped(TradingReason.KILL_SWITCH, "halted by the kill switch")
    if flags.runtime_halt is RuntimeHaltCause.AUTHENTICATION_FAILED:
        return _stopped(TradingReason.AUTHENTICATION_FAILED, flags.runtime_halt_reason)
    if flags.runtime_halt is not None:
        return _stopped(TradingReason.RUNTIME_HALTED, flags.runtime_halt_reason)
    return None


def _starting(s: TradingInputs) -> TradingCondition | None:
    if s.reconciled:
        return None
    return _stopped(TradingReason.STARTING, "not yet reconciled with the exchange")


def _store(s: TradingInputs) -> TradingCondition | None:
    if s.store_healthy:
        return None
    return _stopped(
        TradingReason.STATE_STORE_UNAVAILABLE,
        "Redis is unreachable: no order intent can be recorded, so none is sent",
    )


def _unprotected(s: TradingInputs) -> TradingCondition | None:
    if s.unprotected_s <= UNPROTECTED_ERROR_AFTER_S:
        return None
    return _stopped(
        TradingReason.POSITION_UNPROTECTED,
        f"the open position has had no stop for {s.unprotected_s:.0f}s",
    )


def _breaker(s: TradingInputs) -> TradingCondition | None:
    if s.breaker_message is None:
        return None
    return _stopped(TradingReason.CIRCUIT_BREAKER_OPEN, s.breaker_message)


def _paused(s: TradingInputs) -> TradingCondition | None:
    flags = s.flags
    if flags.runtime_pause is RuntimePauseCause.INSUFFICIENT_FUNDS:
        return _stopped(TradingReason.INSUFFICIENT_FUNDS, flags.runtime_pause_reason)
    if flags.runtime_pause is RuntimePauseCause.ORDERS_UNRESOLVED or s.orders_blocked:
        message = flags.runtime_pause_reason or f"new entries wait: {s.orders_blocked}"
        return _stopped(TradingReason.ORDERS_UNRESOLVED, message)
    if flags.user_paused:
        return _stopped(TradingReason.PAUSED_BY_USER, "paused (spec.paused)")
    return None


def _market_data(s: TradingInputs) -> TradingCondition | None:
    if s.market_data_flowing:
        return None
    return _stopped(TradingReason.MARKET_DATA_STALE, "no valid market data recently")


def _rate_limited(s: TradingInputs) -> TradingCondition | None:
    if s.poll_slowdown <= 1.0:
        return None
    return TradingCondition(
        trading=True,
        reason=TradingReason.RATE_LIMITED,
        message=f"rate limited by the exchange: polling {s.poll_slowdown:g}x slower",
    )


_CHECKS = (
    _standby,
    _halted,
    _starting,
    _store,
    _unprotected,
    _breaker,
    _paused,
    _market_data,
    _rate_limited,
)
