"""The risk engine: sizes, stops and vets every trade intent, and runs the circuit breakers.

The bot runtime holds one ``RiskEngine`` per bot. For every fusion decision it calls
``evaluate`` (pure; runs per tick, so it only does scalar arithmetic on statistics that
``SymbolRisk`` precomputed per bar). After every equity mark and every closed trade it calls
``on_mark`` / ``on_trade_closed``, which return the next ``PortfolioState`` and any breaker
transition to persist and report; ``reset`` is the user's explicit re-arm command.

Sizing: notional = equity × min(K × kellyFraction × m, riskPerTrade × m × entry / stop
distance, maxPositionPct), with K the full Kelly fraction from the bot's trades, m the regime
profile's position multiplier × the fusion size multiplier. The stop distance is
ATR × atrStopMultiplier × the profile's stop multiplier (the target likewise with
atrTakeProfitMultiplier), widened to the fusion decision's stop/target percentage if larger.

Then the layers (:mod:`tradefleet_runtime.risk.layers`), first refusal wins: circuit breaker, emergency (crash: no new longs),
volatility (shock), position size (no edge), total exposure (and the profile's position
count), single-asset exposure, drawdown (a stop-out must not reach the drawdown or daily-loss
limit), daily VaR, correlation (with other symbols' open positions, direction-aware).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

from tradefleet_runtime.risk.breakers import (
    Breach,
    BreakerState,
    BreakerTransition,
    BreakerTrip,
    TransitionKind,
    atr_breach,
    consecutive_losses_breach,
    daily_loss_breach,
    drawdown_breach,
)
from tradefleet_runtime.risk.config import RegimeProfile, RiskLimits, RiskRegime
from tradefleet_runtime.risk.errors import RiskInputError
from tradefleet_runtime.risk.intent import RiskLayer, Side, SizeLimit, TradeIntent
from tradefleet_runtime.risk.kelly import KellyEstimate, TradeStats, estimate_kelly
from tradefleet_runtime.risk.layers import LAYERS, UNSIZED, Facts, Refusal, Sizing
from tradefleet_runtime.risk.market import MarketRisk, var_z
from tradefleet_runtime.risk.portfolio import PortfolioState, RiskPosition, utc_day
from tradefleet_runtime.risk.regime import select_regime


class RiskDecision(NamedTuple):
    """The engine's answer to one intent; ``reason`` is written for the user.

    A named tuple, not a frozen dataclass: one is built per decision, on the tick-to-order
    path, and a tuple is as immutable and about three times cheaper to build.
    """

    approved: bool
    symbol: str
    side: Side
    quantity: float  # base units; 0 when rejected
    notional: float  # quote currency at the entry price; 0 when rejected
    stop_price: float | None  # None when rejected
    target_price: float | None  # None when rejected
    regime: RiskRegime
    profile: RegimeProfile
    kelly: KellyEstimate
    sized_by: SizeLimit | None  # None when rejected
    rejected_by: RiskLayer | None  # None when approved
    refusal: str  # why ``rejected_by`` refused; empty when approved
    decided_at_ms: int

    @property
    def reason(self) -> str:
        """Why the intent was refused, or what was approved.

        An approval's text is built here, when read (API, logs), not on the per-tick path.
        """
        sized_by = self.sized_by
        if sized_by is None:  # only approvals are sized
            return self.refusal
        return (
            f"{self.side.value} {self.quantity:g} {self.symbol} ({self.notional:.2f} notional, "
            f"sized by {sized_by.value}, {self.regime.value} regime), "
            f"stop {self.stop_price:g}, target {self.target_price:g}"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class BreakerUpdate:
    """The portfolio after an update, and the breaker transition it caused, if any."""

    portfolio: PortfolioState
    transition: BreakerTransition | None


class RiskEngine:
    """Risk decisions and circuit breakers for one bot; holds the breaker state."""

    __slots__ = (
        "_breaker",
        "_exposure_limit_pct",
        "_kelly",
        "_kelly_stats",
        "_limits",
        "_var_z",
    )

    def __init__(self, *, limits: RiskLimits, breaker: BreakerState | None = None) -> None:
        self._limits = limits
        self._breaker = breaker if breaker is not None else BreakerState()
        self._var_z = var_z(limits.var_confidence_pct)
        self._exposure_limit_pct = min(limits.max_total_exposure_pct, 100.0 * limits.max_leverage)
        # The Kelly estimate of the last TradeStats seen: it changes when a trade closes, not
        # per tick, and TradeStats is immutable, so the same object always gives the same one.
        self._kelly_stats: TradeStats | None = None
        self._kelly: KellyEstimate | None = None

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @property
    def breaker(self) -> BreakerState:
        return self._breaker

    def evaluate(
        self, *, intent: TradeIntent, portfolio: PortfolioState, market: MarketRisk, now_ms: int
    ) -> RiskDecision:
        """Size and vet ``intent``; the first layer that refuses it is named in the decision."""
        facts = self._facts(intent=intent, portfolio=portfolio, market=market)
        sizing = UNSIZED
        for layer in LAYERS:
            outcome = layer(facts=facts, sizing=sizing)
            if isinstance(outcome, Refusal):
                return _decision(facts=facts, sizing=UNSIZED, refusal=outcome, now_ms=now_ms)
            sizing = outcome
        return _decision(facts=facts, sizing=sizing, refusal=None, now_ms=now_ms)

    def _facts(
        self, *, intent: TradeIntent, portfolio: PortfolioState, market: MarketRisk
    ) -> Facts:
        """What the layers read: the symbol's statistics, the regime and its profile, Kelly."""
        limits = self._limits
        symbol_risk = market.symbol(intent.symbol)
        if symbol_risk.recent_bars != limits.recent_window_bars:
            raise RiskInputError(
                f"{intent.symbol}: market data has a {symbol_risk.recent_bars}-bar recent window, "
                f"recentWindowBars is {limits.recent_window_bars}"
            )
        crash = symbol_risk.recent_move_sigmas <= -limits.crash_sigma
        regime = select_regime(
            limits=limits,
            label=market.regime_label,
            momentum=market.momentum,
            crash=crash,
            drawdown_pct=portfolio.drawdown_pct,
        )
        return Facts(
            intent=intent,
            direction=1.0 if intent.side is Side.BUY else -1.0,
            limits=limits,
            portfolio=portfolio,
            market=market,
            symbol_risk=symbol_risk,
            crash=crash,
            regime=regime,
            profile=limits.regime_profiles[regime],
            kelly=self._kelly_for(portfolio.trades),
            trip=self._breaker.trip,
            exposure_limit_pct=self._exposure_limit_pct,
            var_z=self._var_z,
        )

    def _kelly_for(self, stats: TradeStats) -> KellyEstimate:
        kelly = self._kelly
        if kelly is None or stats is not self._kelly_stats:
            limits = self._limits
            kelly = self._kelly = estimate_kelly(
                stats=stats,
                prior_win_rate=limits.kelly_prior_win_rate,
                prior_trades=limits.kelly_prior_trades,
                prior_payoff_ratio=limits.kelly_prior_payoff_ratio,
            )
            self._kelly_stats = stats
        return kelly

    def on_mark(
        self,
        *,
        portfolio: PortfolioState,
        equity: float,
        positions: tuple[RiskPosition, ...],
        atr_by_symbol: Mapping[str, float],
        now_ms: int,
    ) -> BreakerUpdate:
        """Record a new equity mark; checks the drawdown, daily-loss and ATR breakers.

        An open breaker whose cooldown has elapsed is reset here instead.
        """
        day = utc_day(now_ms)
        day_start = portfolio.day_start_equity
        # The first mark of a new UTC day is its baseline; a blown account keeps the old one.
        if day > portfolio.utc_day and equity > 0.0:
            day_start = equity
        marked = PortfolioState(
            equity=equity,
            peak_equity=max(portfolio.peak_equity, equity),
            day_start_equity=day_start,
            utc_day=max(day, portfolio.utc_day),
            positions=positions,
            trades=portfolio.trades,
        )
        trip = self._breaker.trip
        if trip is not None:
            cooldown = self._limits.breaker_cooldown_seconds
            # Re-arming re-bases on the current equity, which a blown account does not have.
            if cooldown and now_ms >= trip.tripped_at_ms + 1000 * cooldown and equity > 0.0:
                return self._reset(
                    trip=trip,
                    portfolio=marked,
                    now_ms=now_ms,
                    cause=f"cooldown of {cooldown} s elapsed",
                )
            return BreakerUpdate(portfolio=marked, transition=None)
        limits = self._limits
        breach = (
            drawdown_breach(portfolio=marked, limits=limits)
            or daily_loss_breach(portfolio=marked, limits=limits)
            or atr_breach(portfolio=marked, atr_by_symbol=atr_by_symbol, limits=limits)
        )
        return BreakerUpdate(portfolio=marked, transition=self._trip(breach=breach, now_ms=now_ms))

    def on_trade_closed(
        self, *, portfolio: PortfolioState, trade_return: float, now_ms: int
    ) -> BreakerUpdate:
        """Record a closed trade (return on its entry notional); checks consecutive losses."""
        trades = portfolio.trades.with_trade(trade_return)
        updated = replace(portfolio, trades=trades)
        if self._breaker.is_open:
            return BreakerUpdate(portfolio=updated, transition=None)
        breach = consecutive_losses_breach(trades=trades, limits=self._limits)
        return BreakerUpdate(portfolio=updated, transition=self._trip(breach=breach, now_ms=now_ms))

    def reset(self, *, portfolio: PortfolioState, now_ms: int) -> BreakerUpdate:
        """The user's re-arm command; a no-op when the breaker is closed."""
        trip = self._breaker.trip
        if trip is None:
            return BreakerUpdate(portfolio=portfolio, transition=None)
        if portfolio.equity <= 0.0:
            raise RiskInputError(
                f"cannot re-arm the circuit breaker with equity {portfolio.equity:.2f}"
            )
        return self._reset(trip=trip, portfolio=portfolio, now_ms=now_ms, cause="reset by command")

    def _trip(self, *, breach: Breach | None, now_ms: int) -> BreakerTransition | None:
        if breach is None:
            return None
        self._breaker = BreakerState(
            trip=BreakerTrip(reason=breach.reason, message=breach.message, tripped_at_ms=now_ms)
        )
        return BreakerTransition(
            kind=TransitionKind.TRIPPED,
            reason=breach.reason,
            message=breach.message,
            at_ms=now_ms,
            flatten=self._limits.flatten_on_trip,
        )

    def _reset(
        self, *, trip: BreakerTrip, portfolio: PortfolioState, now_ms: int, cause: str
    ) -> BreakerUpdate:
        """Close the breaker and re-base what it measured, so the old loss does not re-trip it."""
        self._breaker = BreakerState()
        rebased = replace(
            portfolio,
            peak_equity=portfolio.equity,
            day_start_equity=portfolio.equity,
            trades=replace(portfolio.trades, loss_streak=0),
        )
        return BreakerUpdate(
            portfolio=rebased,
            transition=BreakerTransition(
                kind=TransitionKind.RESET,
                reason=trip.reason,
                message=f"{cause} (had tripped on: {trip.message})",
                at_ms=now_ms,
            ),
        )


def _decision(
    *, facts: Facts, sizing: Sizing, refusal: Refusal | None, now_ms: int
) -> RiskDecision:
    """The decision of an evaluation: refused by ``refusal``'s layer, or approved as sized."""
    intent = facts.intent
    approved = refusal is None
    return RiskDecision(
        approved=approved,
        symbol=intent.symbol,
        side=intent.side,
        quantity=sizing.quantity,
        notional=sizing.notional,
        stop_price=intent.price - facts.direction * sizing.stop_distance if approved else None,
        target_price=intent.price + facts.direction * sizing.target_distance if approved else None,
        regime=facts.regime,
        profile=facts.profile,
        kelly=facts.kelly,
        sized_by=sizing.sized_by,
        rejected_by=refusal.layer if refusal is not None else None,
        refusal=refusal.reason if refusal is not None else "",
        decided_at_ms=now_ms,
    )
