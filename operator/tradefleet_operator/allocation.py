"""An ExchangeAccount's decisions: how its capital is split between its bots, what the account
holds, and when it halts. Pure.

Called by the account's pass (:mod:`tradefleet_operator.accounts`), which reads the bots from
the operator's index and writes what is decided here into the account's status, and by a bot's
pass (:mod:`tradefleet_operator.reconcile`), which reads its terms from that status
(:func:`tradefleet_operator.account_terms.bot_terms`).

A bot's equity on an account is its allocation plus its PnL (the runtime's ``status.pnl``, its
trades' PnL since it started, which survives restarts and capital changes). The account's equity
is its free capital plus every bot's equity, so the allocated capital and the bots' PnL; its
drawdown is measured from its peak, which restarts at the current equity when the capital
changes or the account is rearmed.

Allocation policies take each bot's return over every period between two rebalances: its PnL
gained over the period, over the allocation it traded with.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tradefleet_api.models import AllocationPolicy, AllocationSpec

from tradefleet_operator.conditions import format_time, parse_time

# Returns a bot needs before riskParity or sharpe weigh it by them.
MIN_RETURNS = 3
# A bot whose Sharpe ratio is not positive keeps this share of an equal weight: it still
# trades, small, and can earn its way back.
SHARPE_FLOOR = 0.1
# The longest spacing of requests or orders a runtime accepts (its config's bound): a budget
# that small for that many bots spaces each bot's an hour apart, not a refused config.
MAX_INTERVAL_MS = 3_600_000
# Bots that join an account are allocated once no other bot has joined it for this long (by the
# bots' creationTimestamps). The bots of one `kubectl apply -f fleet/` are created milliseconds
# apart: allocated as each arrived, the first would be given the whole account, and trade with it
# until the next one joined and cut it to its share.
JOIN_SETTLE_S = 3.0
# ... and at most this long after the first of them was created: bots created every second or
# two (a loop of applies) would otherwise never leave the account quiet for JOIN_SETTLE_S.
JOIN_WAIT_MAX_S = 30.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Balance:
    """The exchange's balance of one currency, as one bot's runtime last read it."""

    currency: str
    free: float
    used: float
    total: float
    observed_at: datetime
    reported_by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class BotFigures:
    """One bot of an account as its status reports it."""

    name: str
    pnl: float | None = None
    exposure: float = 0.0
    requests_per_minute: int = 0
    balance: Balance | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class BotSlice:
    """One bot's slice of the account, as kept in ``status.bots``."""

    name: str
    allocation: float
    period_start_pnl: float = 0.0
    returns: tuple[float, ...] = field(default=())

    def to_status(self, figures: BotFigures | None) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": self.name,
            "allocation": self.allocation,
            "periodStartPnl": self.period_start_pnl,
            "returns": list(self.returns),
        }
        if figures is not None:
            row["equity"] = self.allocation + (figures.pnl or 0.0)
            row["exposure"] = figures.exposure
            row["requestsPerMinute"] = figures.requests_per_minute
        return row


def slices_of(status: Mapping[str, Any]) -> dict[str, BotSlice]:
    """The slices an account's ``status.bots`` holds, by bot name (unreadable rows left out)."""
    slices: dict[str, BotSlice] = {}
    for row in status.get("bots") or []:
        if not isinstance(row, Mapping) or not isinstance(row.get("name"), str):
            continue
        allocation = _number(row.get("allocation"))
        if allocation is None:
            continue
        returns = tuple(r for r in (_number(x) for x in row.get("returns") or []) if r is not None)
        slices[row["name"]] = BotSlice(
            name=row["name"],
            allocation=allocation,
            period_start_pnl=_number(row.get("periodStartPnl")) or 0.0,
            returns=returns,
        )
    return slices


def bot_figures(*, name: str, status: Mapping[str, Any]) -> BotFigures:
    """A bot's :class:`BotFigures` from its TradingBot ``status``."""
    position = status.get("position")
    exposure = 0.0
    if isinstance(position, Mapping):
        exposure = abs(_number(position.get("size")) or 0.0) * abs(
            _number(position.get("entryPrice")) or 0.0
        )
    return BotFigures(
        name=name,
        pnl=_number(status.get("pnl")),
        exposure=exposure,
        requests_per_minute=int(_number(status.get("requestsPerMinute")) or 0),
        balance=_balance(name=name, reported=status.get("balance")),
    )


def _balance(*, name: str, reported: Any) -> Balance | None:
    if not isinstance(reported, Mapping) or not isinstance(reported.get("currency"), str):
        return None
    free, used, total = (_number(reported.get(key)) for key in ("free", "used", "total"))
    observed = reported.get("observedAt")
    observed_at = parse_time(observed) if isinstance(observed, str) else None
    if free is None or used is None or total is None or observed_at is None:
        return None
    return Balance(
        currency=reported["currency"],
        free=free,
        used=used,
        total=total,
        observed_at=observed_at,
        reported_by=name,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Funding:
    """One currency the bots of an account hold their balance in: the allocations of those bots,
    and the latest balance of it any bot read (None: none has yet)."""

    currency: str
    allocated: float
    balance: Balance | None

    @property
    def covered(self) -> bool | None:
        """Whether the exchange holds the allocations; None while no balance is known."""
        if self.balance is None:
            return None
        # A cent of rounding is not a shortfall.
        return self.allocated <= self.balance.total + 0.01

    def to_status(self) -> dict[str, Any] | None:
        balance = self.balance
        if balance is None:
            return None
        return {
            "currency": self.currency,
            "free": balance.free,
            "used": balance.used,
            "total": balance.total,
            "allocated": self.allocated,
            "observedAt": format_time(balance.observed_at),
            "reportedBy": balance.reported_by,
        }


def funding(
    *,
    currencies: Mapping[str, str],
    slices: Mapping[str, BotSlice],
    bots: Sequence[BotFigures],
) -> list[Funding]:
    """Per currency: the allocations of the bots holding their balance in it (``currencies``:
    bot name to currency) and the latest balance of it the bots read, in currency order."""
    latest: dict[str, Balance] = {}
    for bot in bots:
        balance = bot.balance
        if balance is None:
            continue
        known = latest.get(balance.currency)
        if known is None or balance.observed_at > known.observed_at:
            latest[balance.currency] = balance
    allocated: dict[str, float] = {}
    for name, currency in currencies.items():
        own = slices.get(name)
        allocated[currency] = allocated.get(currency, 0.0) + (own.allocation if own else 0.0)
    return [
        Funding(
            currency=currency, allocated=allocated.get(currency, 0.0), balance=latest.get(currency)
        )
        for currency in sorted(set(allocated) | set(latest))
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class JoinWait:
    """Bots that joined an account and are not allocated yet, and how long until they are."""

    names: frozenset[str]
    wait_s: float


def joins_waiting(*, joined: Mapping[str, datetime | None], now: datetime) -> JoinWait | None:
    """Whether the bots that ``joined`` (by name, with their creation times) wait for the bots
    applied with them (see JOIN_SETTLE_S); None when they are allocated now."""
    created = [moment for moment in joined.values() if moment is not None]
    if not created:
        return None
    until = min(
        max(created) + timedelta(seconds=JOIN_SETTLE_S),
        min(created) + timedelta(seconds=JOIN_WAIT_MAX_S),
    )
    wait_s = (until - now).total_seconds()
    return JoinWait(names=frozenset(joined), wait_s=wait_s) if wait_s > 0 else None


def rebalance(
    *,
    spec: AllocationSpec,
    bots: Sequence[BotFigures],
    previous: Mapping[str, BotSlice],
) -> dict[str, BotSlice]:
    """Every bot's new slice: each bot's return over the period that ends is recorded (up to
    ``spec.lookback``), then the capital is split by ``spec.policy``."""
    recorded: dict[str, tuple[float, ...]] = {}
    for bot in bots:
        before = previous.get(bot.name)
        returns = before.returns if before is not None else ()
        if before is not None and before.allocation > 0 and bot.pnl is not None:
            gained = bot.pnl - before.period_start_pnl
            returns = (*returns, gained / before.allocation)[-spec.lookback :]
        recorded[bot.name] = returns
    amounts = allocate(spec=spec, names=[bot.name for bot in bots], returns=recorded)
    return {
        bot.name: BotSlice(
            name=bot.name,
            allocation=amounts[bot.name],
            period_start_pnl=bot.pnl or 0.0,
            returns=recorded[bot.name],
        )
        for bot in bots
    }


def allocate(
    *, spec: AllocationSpec, names: Sequence[str], returns: Mapping[str, Sequence[float]]
) -> dict[str, float]:
    """The capital of each of ``names`` under ``spec`` (whose fixed amounts, validated, do not
    exceed its capital)."""
    if not names:
        return {}
    capital = spec.capital
    policy = spec.policy
    if policy is AllocationPolicy.FIXED:
        amounts = dict(spec.amounts or {})
        fixed_total = sum(amounts.values())
        rest = [name for name in names if name not in amounts]
        share = max(0.0, capital - fixed_total) / len(rest) if rest else 0.0
        return {name: float(amounts.get(name, share)) for name in names}
    if policy is AllocationPolicy.WEIGHTED:
        weights = {name: float((spec.weights or {}).get(name, 1.0)) for name in names}
    elif policy is AllocationPolicy.RISK_PARITY:
        weights = _risk_parity_weights(names=names, returns=returns)
    elif policy is AllocationPolicy.SHARPE:
        weights = _sharpe_weights(names=names, returns=returns)
    else:
        weights = dict.fromkeys(names, 1.0)
    total = sum(weights.values())
    if total <= 0:
        return dict.fromkeys(names, 0.0)
    return {name: capital * weights[name] / total for name in names}


def _has_history(*, names: Sequence[str], returns: Mapping[str, Sequence[float]]) -> bool:
    return all(len(returns.get(name, ())) >= MIN_RETURNS for name in names)


def _risk_parity_weights(
    *, names: Sequence[str], returns: Mapping[str, Sequence[float]]
) -> dict[str, float]:
    """Inverse volatility; equal until every bot has history. A bot whose returns never moved
    (it has not traded) weighs as the average of the others."""
    if not _has_history(names=names, returns=returns):
        return dict.fromkeys(names, 1.0)
    inverse = {name: _inverse_volatility(returns[name]) for name in names}
    known = [w for w in inverse.values() if w is not None]
    fallback = statistics.fmean(known) if known else 1.0
    return {name: fallback if w is None else w for name, w in inverse.items()}


def _inverse_volatility(returns: Sequence[float]) -> float | None:
    deviation = statistics.stdev(returns)
    return 1.0 / deviation if deviation > 0 else None


def _sharpe_weights(
    *, names: Sequence[str], returns: Mapping[str, Sequence[float]]
) -> dict[str, float]:
    """Each bot's Sharpe ratio over its period returns; equal until every bot has history, and
    equal among all when none is positive. A bot at or below 0 keeps :data:`SHARPE_FLOOR` of an
    equal weight."""
    if not _has_history(names=names, returns=returns):
        return dict.fromkeys(names, 1.0)
    ratios = {name: _sharpe(returns[name]) for name in names}
    positive = [r for r in ratios.values() if r > 0]
    if not positive:
        return dict.fromkeys(names, 1.0)
    floor = SHARPE_FLOOR * sum(positive) / len(names)
    return {name: max(ratio, floor) for name, ratio in ratios.items()}


def _sharpe(returns: Sequence[float]) -> float:
    deviation = statistics.stdev(returns)
    mean = statistics.fmean(returns)
    if deviation > 0:
        return mean / deviation
    # Returns that never varied: the sign of what they earned, no more.
    return math.copysign(1.0, mean) if mean else 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountFigures:
    """What an account holds now."""

    capital: float
    allocated: float
    free: float
    equity: float
    peak_equity: float
    drawdown_pct: float
    gross_exposure: float
    requests_per_minute: int


def account_figures(
    *,
    capital: float,
    slices: Mapping[str, BotSlice],
    bots: Sequence[BotFigures],
    previous: Mapping[str, Any],
    rearmed: bool,
) -> AccountFigures:
    """The account's figures; its peak restarts at the current equity when ``capital`` is not
    the one the previous status measured from, or the account was ``rearmed``."""
    allocated = sum(s.allocation for s in slices.values())
    free = max(0.0, capital - allocated)
    pnl = sum(bot.pnl or 0.0 for bot in bots if bot.name in slices)
    equity = free + allocated + pnl
    previous_peak = _number(previous.get("peakEquity"))
    same_capital = _number(previous.get("capital")) == capital
    if previous_peak is None or not same_capital or rearmed:
        peak = equity
    else:
        peak = max(previous_peak, equity)
    drawdown = 100.0 * (peak - equity) / peak if peak > 0 else 0.0
    return AccountFigures(
        capital=capital,
        allocated=allocated,
        free=free,
        equity=equity,
        peak_equity=peak,
        drawdown_pct=max(0.0, drawdown),
        gross_exposure=sum(bot.exposure for bot in bots),
        requests_per_minute=sum(bot.requests_per_minute for bot in bots),
    )


def bots_budget(*, requests_per_minute: int, workloads: int) -> int:
    """Requests per minute an account's bots share: all of its budget, or half of it while
    shared market-data workloads (:mod:`tradefleet_operator.market_workloads`) use the rest."""
    return max(1, requests_per_minute // 2) if workloads else requests_per_minute


def request_interval_ms(*, requests_per_minute: int, bots: int) -> int:
    """The least time between two requests of one bot's exchange client, so that ``bots`` bots
    together stay within ``requests_per_minute``."""
    return min(MAX_INTERVAL_MS, max(1, math.ceil(60_000 * max(1, bots) / requests_per_minute)))


def order_interval_ms(*, orders_per_second: float | None, bots: int) -> int | None:
    """The least time between two orders of one bot, so that ``bots`` bots together average at
    most ``orders_per_second``; None without an orders budget."""
    if orders_per_second is None:
        return None
    return min(MAX_INTERVAL_MS, max(1, math.ceil(1000 * max(1, bots) / orders_per_second)))


def exposure_limit_pct(
    *, max_gross_exposure: float | None, allocated: float, own_limit_pct: float
) -> float:
    """A bot's ``maxTotalExposurePct`` on an account: its own, or its share of the account's
    gross exposure limit if lower. Its share is its allocation over the capital allocated, and
    its equity is about its allocation, so the limit in percent of equity is the same for
    every bot: the gross limit over the capital allocated."""
    if max_gross_exposure is None or allocated <= 0:
        return own_limit_pct
    return min(own_limit_pct, 100.0 * max_gross_exposure / allocated)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
