"""Kelly estimation: hand-computed W/R cases, the prior with no history, the trade summary."""

from __future__ import annotations

import pytest
from tradefleet_runtime.risk import RiskInputError, TradeStats, estimate_kelly

pytestmark = pytest.mark.unit

PRIOR = {"prior_win_rate": 0.5, "prior_trades": 20.0, "prior_payoff_ratio": 1.5}


def stats(*, wins: int, losses: int, average_win: float, average_loss: float) -> TradeStats:
    return TradeStats(
        trades=wins + losses,
        wins=wins,
        losses=losses,
        gross_win_return=wins * average_win,
        gross_loss_return=losses * average_loss,
    )


def test_with_no_trades_the_prior_alone_sets_the_edge() -> None:
    estimate = estimate_kelly(stats=TradeStats(), **PRIOR)
    # W = 0.5, R = 1.5: K = 0.5 − 0.5 / 1.5 = 1/6.
    assert (estimate.win_rate, estimate.payoff_ratio, estimate.trades) == (0.5, 1.5, 0)
    assert estimate.full_kelly == pytest.approx(1 / 6)


def test_short_history_is_blended_half_and_half_with_a_prior_of_equal_weight() -> None:
    # 12 wins averaging 3 %, 8 losses averaging 1.5 %: observed R = 2.
    estimate = estimate_kelly(
        stats=stats(wins=12, losses=8, average_win=0.03, average_loss=0.015), **PRIOR
    )
    # W = (10 + 12) / (20 + 20) = 0.55; R = (20·1.5 + 20·2) / 40 = 1.75.
    assert estimate.win_rate == pytest.approx(0.55)
    assert estimate.payoff_ratio == pytest.approx(1.75)
    assert estimate.full_kelly == pytest.approx(0.55 - 0.45 / 1.75)  # 0.292857…


def test_long_history_dominates_the_prior() -> None:
    estimate = estimate_kelly(
        stats=stats(wins=228, losses=152, average_win=0.02, average_loss=0.01), **PRIOR
    )
    # W = (10 + 228) / 400 = 0.595; R = (30 + 380·2) / 400 = 1.975.
    assert estimate.win_rate == pytest.approx(0.595)
    assert estimate.payoff_ratio == pytest.approx(1.975)
    assert estimate.full_kelly == pytest.approx(0.595 - 0.405 / 1.975)


def test_without_a_loss_yet_the_payoff_ratio_stays_at_the_prior() -> None:
    estimate = estimate_kelly(
        stats=stats(wins=5, losses=0, average_win=0.04, average_loss=0.0), **PRIOR
    )
    # W = (10 + 5) / 25 = 0.6; R = 1.5.
    assert estimate.payoff_ratio == 1.5
    assert estimate.full_kelly == pytest.approx(0.6 - 0.4 / 1.5)


def test_a_losing_record_has_negative_kelly() -> None:
    estimate = estimate_kelly(
        stats=stats(wins=30, losses=70, average_win=0.01, average_loss=0.01), **PRIOR
    )
    # W = 40 / 120; R = (30 + 100) / 120.
    assert estimate.full_kelly == pytest.approx(40 / 120 - (80 / 120) / (130 / 120))
    assert estimate.full_kelly < 0


def test_closed_trades_update_counts_sums_and_the_losing_streak() -> None:
    history = TradeStats()
    for trade_return in (0.02, -0.01, -0.03):
        history = history.with_trade(trade_return)
    assert history == TradeStats(
        trades=3, wins=1, losses=2, gross_win_return=0.02, gross_loss_return=0.04, loss_streak=2
    )
    assert history.with_trade(0.0).loss_streak == 0
    assert history.with_trade(0.01).loss_streak == 0
    assert history.with_trade(-0.01).loss_streak == 3


def test_inconsistent_trade_summaries_are_rejected() -> None:
    with pytest.raises(RiskInputError, match="inconsistent trade counts"):
        TradeStats(trades=1, wins=1, losses=1, gross_win_return=0.1, gross_loss_return=0.1)
    with pytest.raises(RiskInputError, match="disagree"):
        TradeStats(trades=1, losses=1)
    with pytest.raises(RiskInputError, match="finite"):
        TradeStats().with_trade(float("inf"))
