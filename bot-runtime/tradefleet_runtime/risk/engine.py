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

Then the layers, first refusal wins: circuit breaker, emergency (crash: no new longs),
volatility (shock), position size (no edge), total exposure (and the profile's position
count), single-asset exposure, drawdown (a stop-out must not reach the drawdown or daily-loss
limit), daily VaR, correlation (with other symbols' open positions, direction-aware).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
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
    reached,
)
from tradefleet_runtime.risk.config import RegimeProfile, RiskLimits, RiskRegime
from tradefleet_runtime.risk.errors import RiskInputError
from tradefleet_runtime.risk.kelly import KellyEstimate, TradeStats, estimate_kelly
from tradefleet_runtime.risk.market import (
    MarketRisk,
    base_asset,
    parametric_var_pct,
    return_correlation,
    var_z,
)
from tradefleet_runtime.risk.portfolio import PortfolioState, Position, utc_day
from tradefleet_runtime.risk.regime import select_regime


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
    stop_pct: float | None = None  # the fusion decision's stop distance, % of entry
    target_pct: float | None = None  # the fusion decision's target distance, % of entry

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
        for name, pct in (("stop", self.stop_pct), ("target", self.target_pct)):
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
        profile = limits.regime_profiles[regime]
        kelly = self._kelly_for(portfolio.trades)

        def reject(layer: RiskLayer, reason: str) -> RiskDecision:
            return RiskDecision(
                approved=False,
                symbol=intent.symbol,
                side=intent.side,
                quantity=0.0,
                notional=0.0,
                stop_price=None,
                target_price=None,
                regime=regime,
                profile=profile,
                kelly=kelly,
                sized_by=None,
                rejected_by=layer,
                refusal=reason,
                decided_at_ms=now_ms,
            )

        trip = self._breaker.trip
        if trip is not None:
            return reject(
                RiskLayer.CIRCUIT_BREAKER,
                f"circuit breaker open ({trip.reason.value}): {trip.message}",
            )
        if crash and intent.side is Side.BUY:
            return reject(
                RiskLayer.EMERGENCY,
                f"crash: {intent.symbol} moved {symbol_risk.recent_return:+.2%} over the last "
                f"{symbol_risk.recent_bars} bars, {symbol_risk.recent_move_sigmas:.1f}σ of its "
                f"baseline (limit −{limits.crash_sigma:g}σ); no new longs",
            )
        if symbol_risk.volatility_ratio > limits.max_volatility_ratio:
            return reject(
                RiskLayer.VOLATILITY,
                f"volatility shock: the last {symbol_risk.recent_bars} bars are "
                f"{symbol_risk.volatility_ratio:.2f}× as volatile as the baseline "
                f"(limit {limits.max_volatility_ratio:g}×)",
            )

        price = intent.price
        stop_distance = symbol_risk.atr * limits.atr_stop_multiplier * profile.stop_multiplier
        target_distance = (
            symbol_risk.atr * limits.atr_take_profit_multiplier * profile.stop_multiplier
        )
        if intent.stop_pct is not None:
            stop_distance = max(stop_distance, price * intent.stop_pct / 100.0)
        if intent.target_pct is not None:
            target_distance = max(target_distance, price * intent.target_pct / 100.0)
        direction = 1.0 if intent.side is Side.BUY else -1.0
        if intent.side is Side.BUY and stop_distance >= price:
            return reject(
                RiskLayer.VOLATILITY,
                f"stop distance {stop_distance:g} is not below the entry price {price:g}",
            )

        equity = portfolio.equity
        if equity <= 0.0:
            return reject(RiskLayer.POSITION_SIZE, f"no equity to size from ({equity:.2f})")
        if kelly.full_kelly <= 0.0:
            return reject(
                RiskLayer.POSITION_SIZE,
                f"no edge: Kelly {kelly.full_kelly:.4f} from win rate {kelly.win_rate:.1%} and "
                f"payoff ratio {kelly.payoff_ratio:.2f} over {kelly.trades} trades",
            )
        multiplier = profile.position_multiplier * intent.size_multiplier
        risk_budget = equity * profile.risk_per_trade_pct / 100.0 * multiplier
        # The smallest of the three sizes; on a tie the first named wins.
        sized_by = SizeLimit.KELLY
        notional = equity * kelly.full_kelly * limits.kelly_fraction * multiplier
        by_risk_budget = risk_budget * price / stop_distance
        if by_risk_budget < notional:
            sized_by, notional = SizeLimit.RISK_PER_TRADE, by_risk_budget
        by_max_position = equity * limits.max_position_pct / 100.0
        if by_max_position < notional:
            sized_by, notional = SizeLimit.MAX_POSITION, by_max_position
        if notional <= 0.0:
            return reject(
                RiskLayer.POSITION_SIZE,
                f"size is zero (kellyFraction {limits.kelly_fraction:g}, {regime.value} "
                f"position multiplier {profile.position_multiplier:g}, fusion size multiplier "
                f"{intent.size_multiplier:g})",
            )
        quantity = notional / price

        # One pass over the open positions gathers what the exposure and VaR layers need.
        positions = portfolio.positions
        asset = base_asset(intent.symbol)
        open_symbols = {intent.symbol}
        exposures: list[float] = []
        asset_exposures: list[float] = []
        weights: dict[str, float] = {}
        for position in positions:
            signed_notional = position.signed_notional
            open_symbols.add(position.symbol)
            exposures.append(abs(signed_notional))
            if position.asset == asset:
                asset_exposures.append(signed_notional)
            weights[position.symbol] = signed_notional / equity

        open_after = len(open_symbols)
        if open_after > profile.max_positions:
            return reject(
                RiskLayer.TOTAL_EXPOSURE,
                f"{open_after} open positions would exceed the {regime.value} profile's "
                f"{profile.max_positions}",
            )
        exposure_limit_pct = self._exposure_limit_pct
        gross_after = sum(exposures) + notional
        if gross_after > equity * exposure_limit_pct / 100.0:
            return reject(
                RiskLayer.TOTAL_EXPOSURE,
                f"total exposure would be {100.0 * gross_after / equity:.2f}% of equity "
                f"(limit {exposure_limit_pct:g}%)",
            )
        asset_after = direction * notional + sum(asset_exposures)
        if abs(asset_after) > equity * limits.max_single_asset_exposure_pct / 100.0:
            return reject(
                RiskLayer.SINGLE_ASSET_EXPOSURE,
                f"{asset} exposure would be {100.0 * abs(asset_after) / equity:.2f}% of equity "
                f"(limit {limits.max_single_asset_exposure_pct:g}%)",
            )

        loss_at_stop = quantity * stop_distance
        drawdown_at_stop = (
            100.0 * (portfolio.peak_equity - equity + loss_at_stop) / portfolio.peak_equity
        )
        if reached(drawdown_at_stop, limits.max_drawdown_pct):
            return reject(
                RiskLayer.DRAWDOWN,
                f"a stop-out (−{loss_at_stop:.2f}) would take drawdown to "
                f"{drawdown_at_stop:.2f}% (limit {limits.max_drawdown_pct:g}%)",
            )
        daily_loss_at_stop = (
            100.0
            * (portfolio.day_start_equity - equity + loss_at_stop)
            / portfolio.day_start_equity
        )
        if reached(daily_loss_at_stop, limits.max_daily_loss_pct):
            return reject(
                RiskLayer.DRAWDOWN,
                f"a stop-out (−{loss_at_stop:.2f}) would take today's loss to "
                f"{daily_loss_at_stop:.2f}% (limit {limits.max_daily_loss_pct:g}%)",
            )

        weights[intent.symbol] = weights.get(intent.symbol, 0.0) + direction * notional / equity
        var_pct = parametric_var_pct(weights=weights, market=market, z=self._var_z)
        if var_pct > limits.max_daily_var_pct:
            return reject(
                RiskLayer.DAILY_VAR,
                f"daily {limits.var_confidence_pct:g}% VaR would be {var_pct:.2f}% of equity "
                f"(limit {limits.max_daily_var_pct:g}%)",
            )

        for position in positions:
            if position.symbol == intent.symbol:
                continue
            # A short against a correlated long is a hedge, so compare the positions' P&L.
            correlation = (
                return_correlation(first=symbol_risk, second=market.symbol(position.symbol))
                * direction
                * math.copysign(1.0, position.quantity)
            )
            if correlation > limits.max_correlation:
                return reject(
                    RiskLayer.CORRELATION,
                    f"{intent.side.value} {intent.symbol} would move with the open "
                    f"{'long' if position.quantity > 0 else 'short'} {position.symbol} "
                    f"(P&L correlation {correlation:.2f}, limit {limits.max_correlation:g})",
                )

        stop_price = price - direction * stop_distance
        target_price = price + direction * target_distance
        return RiskDecision(
            approved=True,
            symbol=intent.symbol,
            side=intent.side,
            quantity=quantity,
            notional=notional,
            stop_price=stop_price,
            target_price=target_price,
            regime=regime,
            profile=profile,
            kelly=kelly,
            sized_by=sized_by,
            rejected_by=None,
            refusal="",
            decided_at_ms=now_ms,
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
        positions: tuple[Position, ...],
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
