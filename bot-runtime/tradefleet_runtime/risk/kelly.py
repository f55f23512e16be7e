"""Kelly sizing from the bot's own closed trades, shrunk towards a prior while history is short.

``RiskEngine`` calls ``estimate_kelly`` on every evaluation (a handful of float operations);
the engine's ``on_trade_closed`` advances ``TradeStats`` with ``TradeStats.with_trade``.

The win rate is the posterior mean of a Beta prior (``prior_trades`` pseudo-trades at
``prior_win_rate``) updated by the observed wins; the payoff ratio blends the prior ratio and
the observed average-win / average-loss ratio with weights ``prior_trades`` and the number of
trades. Full Kelly is ``K = W − (1 − W) / R``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from tradefleet_runtime.risk._codec import as_float, as_int, as_object
from tradefleet_runtime.risk.errors import RiskInputError, RiskStateError


@dataclass(frozen=True, kw_only=True, slots=True)
class TradeStats:
    """Summary of the bot's closed trades; returns are fractions of the trade's entry notional."""

    trades: int = 0
    wins: int = 0
    losses: int = 0
    gross_win_return: float = 0.0
    gross_loss_return: float = 0.0  # sum of |return| over losing trades
    loss_streak: int = 0  # losing trades in a row, ending with the latest

    def __post_init__(self) -> None:
        counts = (self.trades, self.wins, self.losses, self.loss_streak)
        if any(count < 0 for count in counts) or self.wins + self.losses > self.trades:
            raise RiskInputError(f"inconsistent trade counts: {self!r}")
        if self.loss_streak > self.losses:
            raise RiskInputError(f"loss streak exceeds losses: {self!r}")
        gross = (self.gross_win_return, self.gross_loss_return)
        if not all(math.isfinite(value) and value >= 0.0 for value in gross):
            raise RiskInputError(f"gross returns must be finite and ≥ 0: {self!r}")
        # A win has a positive return and a loss a negative one, so the sums follow the counts.
        if (self.wins > 0) != (self.gross_win_return > 0.0) or (self.losses > 0) != (
            self.gross_loss_return > 0.0
        ):
            raise RiskInputError(f"gross returns disagree with win/loss counts: {self!r}")

    def with_trade(self, trade_return: float) -> TradeStats:
        """The stats after one more closed trade; a zero return is neither a win nor a loss."""
        if not math.isfinite(trade_return):
            raise RiskInputError(f"trade return must be finite, got {trade_return!r}")
        if trade_return > 0.0:
            return replace(
                self,
                trades=self.trades + 1,
                wins=self.wins + 1,
                gross_win_return=self.gross_win_return + trade_return,
                loss_streak=0,
            )
        if trade_return < 0.0:
            return replace(
                self,
                trades=self.trades + 1,
                losses=self.losses + 1,
                gross_loss_return=self.gross_loss_return - trade_return,
                loss_streak=self.loss_streak + 1,
            )
        return replace(self, trades=self.trades + 1, loss_streak=0)

    def to_dict(self) -> dict[str, object]:
        return {
            "trades": self.trades,
            "wins": self.wins,
            "losses": self.losses,
            "grossWinReturn": self.gross_win_return,
            "grossLossReturn": self.gross_loss_return,
            "lossStreak": self.loss_streak,
        }

    @classmethod
    def from_dict(cls, data: object) -> TradeStats:
        fields = as_object(data, what="trade stats")
        try:
            return cls(
                trades=as_int(fields, "trades"),
                wins=as_int(fields, "wins"),
                losses=as_int(fields, "losses"),
                gross_win_return=as_float(fields, "grossWinReturn"),
                gross_loss_return=as_float(fields, "grossLossReturn"),
                loss_streak=as_int(fields, "lossStreak"),
            )
        except RiskInputError as error:
            raise RiskStateError(f"bad trade stats: {error}") from None


@dataclass(frozen=True, kw_only=True, slots=True)
class KellyEstimate:
    """The estimated edge behind a position size, reported with every risk decision."""

    win_rate: float
    payoff_ratio: float
    full_kelly: float  # K = W − (1 − W) / R; may be negative (no edge)
    trades: int


def estimate_kelly(
    *, stats: TradeStats, prior_win_rate: float, prior_trades: float, prior_payoff_ratio: float
) -> KellyEstimate:
    """Full-Kelly fraction from the trade history shrunk towards the prior."""
    win_rate = (prior_win_rate * prior_trades + stats.wins) / (prior_trades + stats.trades)
    if stats.wins and stats.losses:
        observed_ratio = (stats.gross_win_return / stats.wins) / (
            stats.gross_loss_return / stats.losses
        )
        payoff_ratio = (prior_payoff_ratio * prior_trades + observed_ratio * stats.trades) / (
            prior_trades + stats.trades
        )
    else:
        # Without both a win and a loss there is no observed ratio to blend in.
        payoff_ratio = prior_payoff_ratio
    return KellyEstimate(
        win_rate=win_rate,
        payoff_ratio=payoff_ratio,
        full_kelly=win_rate - (1.0 - win_rate) / payoff_ratio,
        trades=stats.trades,
    )
