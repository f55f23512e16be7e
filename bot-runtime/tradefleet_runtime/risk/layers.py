"""The pre-trade checks of :meth:`RiskEngine.evaluate
<tradefleet_runtime.risk.engine.RiskEngine.evaluate>`, as pure layer functions applied in
order (:data:`LAYERS`).

Each layer reads the facts of one evaluation (:class:`Facts`, fixed before the first layer)
and the intent as sized so far (:class:`Sizing`), and returns either a :class:`Refusal` (its
:class:`~tradefleet_runtime.risk.intent.RiskLayer` and the reason, written for the user) or
the sizing it hands on, adjusted or not. The first refusal wins. Called by the engine only; it
runs per tick, so every layer is scalar arithmetic over statistics precomputed per bar.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

from tradefleet_runtime.risk.breakers import BreakerTrip, reached
from tradefleet_runtime.risk.config import RegimeProfile, RiskLimits, RiskRegime
from tradefleet_runtime.risk.intent import RiskLayer, Side, SizeLimit, TradeIntent
from tradefleet_runtime.risk.kelly import KellyEstimate
from tradefleet_runtime.risk.market import (
    MarketRisk,
    SymbolRisk,
    base_asset,
    parametric_var_pct,
    return_correlation,
)
from tradefleet_runtime.risk.portfolio import PortfolioState


class Facts(NamedTuple):
    """What every layer reads of one evaluation.

    Named tuples, here and below, not frozen dataclasses: one of each is built per decision, on
    the tick-to-order path, and a tuple is as immutable and several times cheaper to build.
    """

    intent: TradeIntent
    direction: float  # +1 for a buy, -1 for a sell
    limits: RiskLimits
    portfolio: PortfolioState
    market: MarketRisk
    symbol_risk: SymbolRisk
    crash: bool
    regime: RiskRegime
    profile: RegimeProfile
    kelly: KellyEstimate
    trip: BreakerTrip | None
    exposure_limit_pct: float
    var_z: float


class Sizing(NamedTuple):
    """The intent as sized so far: its stop and target distances, then its size."""

    stop_distance: float = 0.0
    target_distance: float = 0.0
    notional: float = 0.0
    quantity: float = 0.0
    sized_by: SizeLimit | None = None


UNSIZED = Sizing()


def _sizing(
    stop_distance: float,
    target_distance: float,
    notional: float,
    quantity: float,
    sized_by: SizeLimit | None,
    /,
) -> Sizing:
    """A Sizing from its values in field order: ``tuple.__new__``, as ``Sizing._make`` does
    minus its length check; the keyword constructor costs several times more, per tick."""
    return tuple.__new__(Sizing, (stop_distance, target_distance, notional, quantity, sized_by))


class Refusal(NamedTuple):
    """A layer's refusal: which layer, and why."""

    layer: RiskLayer
    reason: str


class Layer(Protocol):
    def __call__(self, *, facts: Facts, sizing: Sizing) -> Sizing | Refusal: ...


def circuit_breaker(*, facts: Facts, sizing: Sizing) -> Sizing | Refusal:
    trip = facts.trip
    if trip is not None:
        return Refusal(
            RiskLayer.CIRCUIT_BREAKER, f"circuit breaker open ({trip.reason.value}): {trip.message}"
        )
    return sizing


def emergency(*, facts: Facts, sizing: Sizing) -> Sizing | Refusal:
    """A crash (the recent move many sigmas down): no new longs."""
    if facts.crash and facts.intent.side is Side.BUY:
        risk = facts.symbol_risk
        return Refusal(
            RiskLayer.EMERGENCY,
            f"crash: {facts.intent.symbol} moved {risk.recent_return:+.2%} over the last "
            f"{risk.recent_bars} bars, {risk.recent_move_sigmas:.1f}σ of its "
            f"baseline (limit −{facts.limits.crash_sigma:g}σ); no new longs",
        )
    return sizing


def volatility_shock(*, facts: Facts, sizing: Sizing) -> Sizing | Refusal:
    risk, limits = facts.symbol_risk, facts.limits
    if risk.volatility_ratio > limits.max_volatility_ratio:
        return Refusal(
            RiskLayer.VOLATILITY,
            f"volatility shock: the last {risk.recent_bars} bars are "
            f"{risk.volatility_ratio:.2f}× as volatile as the baseline "
            f"(limit {limits.max_volatility_ratio:g}×)",
        )
    return sizing


def stop_distances(*, facts: Facts, sizing: Sizing) -> Sizing | Refusal:
    """The ATR stop and target distances, widened to the fusion decision's if larger; a long
    whose stop would be at or below zero is refused as too volatile."""
    intent, limits, profile = facts.intent, facts.limits, facts.profile
    price, atr = intent.price, facts.symbol_risk.atr
    stop_distance = atr * limits.atr_stop_multiplier * profile.stop_multiplier
    target_distance = atr * limits.atr_take_profit_multiplier * profile.stop_multiplier
    if intent.stop_pct is not None:
        stop_distance = max(stop_distance, price * intent.stop_pct / 100.0)
    if intent.target_pct is not None:
        target_distance = max(target_distance, price * intent.target_pct / 100.0)
    if intent.side is Side.BUY and stop_distance >= price:
        return Refusal(
            RiskLayer.VOLATILITY,
            f"stop distance {stop_distance:g} is not below the entry price {price:g}",
        )
    return _sizing(stop_distance, target_distance, 0.0, 0.0, None)


def position_size(*, facts: Facts, sizing: Sizing) -> Sizing | Refusal:
    """The smallest of the Kelly, risk-budget and max-position sizes; refused without equity,
    without an edge, or at size zero."""
    intent, limits, profile, kelly = facts.intent, facts.limits, facts.profile, facts.kelly
    equity = facts.portfolio.equity
    if equity <= 0.0:
        return Refusal(RiskLayer.POSITION_SIZE, f"no equity to size from ({equity:.2f})")
    if kelly.full_kelly <= 0.0:
        return Refusal(
            RiskLayer.POSITION_SIZE,
            f"no edge: Kelly {kelly.full_kelly:.4f} from win rate {kelly.win_rate:.1%} and "
            f"payoff ratio {kelly.payoff_ratio:.2f} over {kelly.trades} trades",
        )
    multiplier = profile.position_multiplier * intent.size_multiplier
    risk_pct = (
        profile.risk_per_trade_pct
        if intent.risk_per_trade_pct is None
        else intent.risk_per_trade_pct
    )
    risk_budget = equity * risk_pct / 100.0 * multiplier
    # The smallest of the three sizes; on a tie the first named wins.
    sized_by = SizeLimit.KELLY
    notional = equity * kelly.full_kelly * limits.kelly_fraction * multiplier
    by_risk_budget = risk_budget * intent.price / sizing.stop_distance
    if by_risk_budget < notional:
        sized_by, notional = SizeLimit.RISK_PER_TRADE, by_risk_budget
    by_max_position = equity * limits.max_position_pct / 100.0
    if by_max_position < notional:
        sized_by, notional = SizeLimit.MAX_POSITION, by_max_position
    if notional <= 0.0:
        return Refusal(
            RiskLayer.POSITION_SIZE,
            f"size is zero (kellyFraction {limits.kelly_fraction:g}, {facts.regime.value} "
            f"position multiplier {profile.position_multiplier:g}, fusion size multiplier "
            f"{intent.size_multiplier:g})",
        )
    return _sizing(
        sizing.stop_distance, sizing.target_distance, notional, notional / intent.price, sized_by
    )


def total_exposure(*, facts: Facts, sizing: Sizing) -> Sizing | Refusal:
    """The regime profile's count of open positions, and the gross exposure limit."""
    positions, equity = facts.portfolio.positions, facts.portfolio.equity
    open_after = len({facts.intent.symbol, *(position.symbol for position in positions)})
    if open_after > facts.profile.max_positions:
        return Refusal(
            RiskLayer.TOTAL_EXPOSURE,
            f"{open_after} open positions would exceed the {facts.regime.value} profile's "
            f"{facts.profile.max_positions}",
        )
    gross_after = sum([abs(position.signed_notional) for position in positions]) + sizing.notional
    if gross_after > equity * facts.exposure_limit_pct / 100.0:
        return Refusal(
            RiskLayer.TOTAL_EXPOSURE,
            f"total exposure would be {100.0 * gross_after / equity:.2f}% of equity "
            f"(limit {facts.exposure_limit_pct:g}%)",
        )
    return sizing


def single_asset_exposure(*, facts: Facts, sizing: Sizing) -> Sizing | Refusal:
    """The net exposure to the intent's base asset, across its symbols, after the trade."""
    equity, limit_pct = facts.portfolio.equity, facts.limits.max_single_asset_exposure_pct
    asset = base_asset(facts.intent.symbol)
    held = sum([p.signed_notional for p in facts.portfolio.positions if p.asset == asset])
    asset_after = facts.direction * sizing.notional + held
    if abs(asset_after) > equity * limit_pct / 100.0:
        return Refusal(
            RiskLayer.SINGLE_ASSET_EXPOSURE,
            f"{asset} exposure would be {100.0 * abs(asset_after) / equity:.2f}% of equity "
            f"(limit {limit_pct:g}%)",
        )
    return sizing


def drawdown(*, facts: Facts, sizing: Sizing) -> Sizing | Refusal:
    """A stop-out must not reach the drawdown limit, nor today's loss limit."""
    portfolio, limits = facts.portfolio, facts.limits
    equity = portfolio.equity
    loss_at_stop = sizing.quantity * sizing.stop_distance
    drawdown_at_stop = (
        100.0 * (portfolio.peak_equity - equity + loss_at_stop) / portfolio.peak_equity
    )
    if reached(drawdown_at_stop, limits.max_drawdown_pct):
        return Refusal(
            RiskLayer.DRAWDOWN,
            f"a stop-out (−{loss_at_stop:.2f}) would take drawdown to "
            f"{drawdown_at_stop:.2f}% (limit {limits.max_drawdown_pct:g}%)",
        )
    daily_loss_at_stop = (
        100.0 * (portfolio.day_start_equity - equity + loss_at_stop) / portfolio.day_start_equity
    )
    if reached(daily_loss_at_stop, limits.max_daily_loss_pct):
        return Refusal(
            RiskLayer.DRAWDOWN,
            f"a stop-out (−{loss_at_stop:.2f}) would take today's loss to "
            f"{daily_loss_at_stop:.2f}% (limit {limits.max_daily_loss_pct:g}%)",
        )
    return sizing


def daily_var(*, facts: Facts, sizing: Sizing) -> Sizing | Refusal:
    """The parametric daily VaR of the open positions with the trade."""
    equity, limits, symbol = facts.portfolio.equity, facts.limits, facts.intent.symbol
    weights = {p.symbol: p.signed_notional / equity for p in facts.portfolio.positions}
    weights[symbol] = weights.get(symbol, 0.0) + facts.direction * sizing.notional / equity
    var_pct = parametric_var_pct(weights=weights, market=facts.market, z=facts.var_z)
    if var_pct > limits.max_daily_var_pct:
        return Refusal(
            RiskLayer.DAILY_VAR,
            f"daily {limits.var_confidence_pct:g}% VaR would be {var_pct:.2f}% of equity "
            f"(limit {limits.max_daily_var_pct:g}%)",
        )
    return sizing


def correlation(*, facts: Facts, sizing: Sizing) -> Sizing | Refusal:
    """No trade whose P&L would move with another symbol's open position."""
    intent, limits = facts.intent, facts.limits
    for position in facts.portfolio.positions:
        if position.symbol == intent.symbol:
            continue
        # A short against a correlated long is a hedge, so compare the positions' P&L.
        pnl_correlation = (
            return_correlation(first=facts.symbol_risk, second=facts.market.symbol(position.symbol))
            * facts.direction
            * math.copysign(1.0, position.quantity)
        )
        if pnl_correlation > limits.max_correlation:
            return Refusal(
                RiskLayer.CORRELATION,
                f"{intent.side.value} {intent.symbol} would move with the open "
                f"{'long' if position.quantity > 0 else 'short'} {position.symbol} "
                f"(P&L correlation {pnl_correlation:.2f}, limit {limits.max_correlation:g})",
            )
    return sizing


# In this order: the first refusal wins, and sizing needs the stop distance.
LAYERS: tuple[Layer, ...] = (
    circuit_breaker,
    emergency,
    volatility_shock,
    stop_distances,
    position_size,
    total_exposure,
    single_asset_exposure,
    drawdown,
    daily_var,
    correlation,
)
