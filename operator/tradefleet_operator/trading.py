"""Whether a bot trades, as its runtime reports it: the ``Trading`` condition and what it implies.

Pure functions called by the reconciler (:mod:`tradefleet_operator.reconcile`) once per pass with
the runtime's ``/status`` answer (or why there was none). The runtime decides the reason (see
``tradefleet_runtime.service.trading_state``); this module maps it onto the operator's vocabulary
(:mod:`tradefleet_operator.spec.vocabulary`), onto the phase it implies, and says whether it keeps
the bot from being ``Ready``: a stop a human must act on (a rejected key, the runtime's own halt,
insufficient funds, Redis down, stale market data, a position without a stop) makes the bot not
ready; a stop the user asked for (pause, kill switch) or a designed safety stop (a circuit
breaker, orders awaiting their outcome) does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from tradefleet_operator import conditions as cond
from tradefleet_operator.healing import PodView, RuntimeView
from tradefleet_operator.spec import BotPhase
from tradefleet_operator.spec.vocabulary import ConditionType, Reason

# The phase each runtime reason implies while the workload is available; absent: Running
# (Paused while spec.paused).
_PHASES: Mapping[Reason, BotPhase] = MappingProxyType(
    {
        Reason.KILL_SWITCH: BotPhase.HALTED,
        Reason.AUTHENTICATION_FAILED: BotPhase.HALTED,
        Reason.RUNTIME_HALTED: BotPhase.HALTED,
        Reason.BREAKER_OPEN: BotPhase.HALTED,
        Reason.INSUFFICIENT_FUNDS: BotPhase.PAUSED,
        Reason.ORDERS_UNRESOLVED: BotPhase.PAUSED,
        Reason.PAUSED_BY_USER: BotPhase.PAUSED,
        Reason.STATE_STORE_UNAVAILABLE: BotPhase.DEGRADED,
        Reason.POSITION_UNPROTECTED: BotPhase.DEGRADED,
        Reason.MARKET_DATA_STALE: BotPhase.DEGRADED,
        Reason.STARTING: BotPhase.PROGRESSING,
        Reason.STANDBY: BotPhase.PROGRESSING,
    }
)

# Reasons that make the bot not Ready: it cannot do its job until something changes.
NOT_READY: frozenset[Reason] = frozenset(
    {
        Reason.AUTHENTICATION_FAILED,
        Reason.RUNTIME_HALTED,
        Reason.INSUFFICIENT_FUNDS,
        Reason.STATE_STORE_UNAVAILABLE,
        Reason.POSITION_UNPROTECTED,
        Reason.MARKET_DATA_STALE,
        Reason.STARTING,
        Reason.STANDBY,
    }
)

# The runtime's reasons (tradefleet_runtime.service.trading_state.TradingReason), by their word.
RUNTIME_REASONS: Mapping[str, Reason] = MappingProxyType(
    {
        str(r): r
        for r in (
            Reason.STANDBY,
            Reason.KILL_SWITCH,
            Reason.AUTHENTICATION_FAILED,
            Reason.RUNTIME_HALTED,
            Reason.STARTING,
            Reason.STATE_STORE_UNAVAILABLE,
            Reason.POSITION_UNPROTECTED,
            Reason.BREAKER_OPEN,
            Reason.INSUFFICIENT_FUNDS,
            Reason.ORDERS_UNRESOLVED,
            Reason.PAUSED_BY_USER,
            Reason.MARKET_DATA_STALE,
            Reason.RATE_LIMITED,
            Reason.TRADING,
        )
    }
)


def _trading(status: bool, reason: Reason, message: str) -> cond.Condition:
    return cond.Condition(
        type=ConditionType.TRADING, status=status, reason=reason, message=message[:4096]
    )


def trading_condition(*, pod: PodView | None, runtime: RuntimeView | None) -> cond.Condition:
    """The ``Trading`` condition: the runtime's own, or why there is none."""
    if pod is None or not pod.running:
        return _trading(False, Reason.RUNTIME_NOT_RUNNING, "no runtime of the bot is running")
    if runtime is None or runtime.status is None:
        error = runtime.error if runtime is not None else "no pod IP"
        return _trading(
            False,
            Reason.RUNTIME_UNREACHABLE,
            f"the runtime's /status did not answer, so whether it trades is unknown: {error}",
        )
    reported = runtime.status.get("trading")
    if not isinstance(reported, Mapping):
        return _trading(False, Reason.TRADING_STATE_UNKNOWN, "the runtime reports no trading state")
    word = str(reported.get("reason") or "")
    message = str(reported.get("message") or word)
    reason = RUNTIME_REASONS.get(word)
    if reason is None:
        return _trading(
            False, Reason.TRADING_STATE_UNKNOWN, f"the runtime reports {word!r}: {message}"
        )
    return _trading(reported.get("status") == "True", reason, message)


def trading_phase(trading: cond.Condition) -> BotPhase | None:
    """The phase the runtime's trading state implies while the workload is available."""
    return _PHASES.get(Reason(trading.reason)) if trading.reason in set(Reason) else None


def blocks_ready(trading: cond.Condition) -> bool:
    return not trading.status and trading.reason in NOT_READY


def runtime_state(runtime: Mapping[str, Any]) -> dict[str, Any]:
    """``status.runtime``: who stopped the bot, as the runtime reports it, schema-normalised."""
    state: dict[str, Any] = {
        key: bool(runtime.get(key))
        for key in ("userPaused", "userHalted", "paused", "halted")
        if key in runtime
    }
    for key in ("pauseReason", "haltReason", "ordersBlocked"):
        value = runtime.get(key)
        if isinstance(value, str) and value:
            state[key] = value[:1024]
    protection = runtime.get("protection")
    if isinstance(protection, Mapping):
        kind = protection.get("stopKind")
        seconds = protection.get("unprotectedSeconds")
        state["protection"] = {
            **({"stopKind": kind} if kind in ("exchange", "software") else {}),
            "unprotectedSeconds": round(float(seconds), 3)
            if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0
            else 0.0,
        }
    lease = runtime.get("lease")
    if isinstance(lease, Mapping) and isinstance(lease.get("waitingFor"), str):
        state["standbyFor"] = str(lease["waitingFor"])[:253]
    return state
