"""Regime detection on markets of other constructions: fat tails, clustering, jumps (issue 18, item 6).

The detector is scored online (scheduled refits, scored after 3000 bars of history, as the
benchmark does) on the three constructions of
:mod:`tradefleet_runtime.marketdata.regime_markets`: Student-t/GARCH, semi-Markov jumps, and
bursts inside regimes. States are named by volatility first: the quietest is the squeeze
whatever its drift.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from tradefleet_runtime.marketdata.regime_markets import (
    GARCH_LEVELS,
    JUMP_LEVELS,
    RegimeLevels,
    generate_burst_market,
    generate_garch_market,
    generate_jump_market,
    generate_seasonal_market,
)
from tradefleet_runtime.marketdata.synthetic import SyntheticMarket
from tradefleet_runtime.signals.regime import RegimeDetector
from tradefleet_runtime.signals.regime_config import RegimeConfig, RegimeLabel
from tradefleet_runtime.signals.regime_evaluation import RegimeEvaluation, evaluate_regimes

pytestmark = pytest.mark.unit

SCORED_FROM = 3_000


def _online_accuracy(market: SyntheticMarket) -> RegimeEvaluation:
    detector = RegimeDetector(symbol="BTC/USDT", config=RegimeConfig())
    predicted, truth = [], []
    for i, (price, stamp) in enumerate(
        zip(market.close.tolist(), market.timestamp_ms.tolist(), strict=True)
    ):
        if detector.refit_due:
            detector.refit()
        state = detector.update(close=price, timestamp_ms=stamp)
        if i >= SCORED_FROM:
            predicted.append(state.regime.value)
            truth.append(market.regime_names[int(market.regime[i])])
    return evaluate_regimes(predicted=predicted, truth=truth, labels=market.regime_names)


def _rough_jump_market(*, seed: int, n_bars: int) -> SyntheticMarket:
    """Shorter stays, wider stochastic volatility and twice the jumps of the defaults."""
    return generate_jump_market(
        seed=seed,
        n_bars=n_bars,
        min_stay=50,
        max_stay=300,
        log_vol_spread=0.45,
        jump_probability=0.02,
    )


@pytest.mark.parametrize(
    ("generate", "seed", "minimum"),
    [
        (generate_garch_market, 3, 0.86),
        (_rough_jump_market, 23, 0.80),
        (generate_burst_market, 3, 0.80),
    ],
    ids=["student-t-garch", "semi-markov-jumps", "bursts-inside-regimes"],
)
def test_fat_tailed_clustered_markets_are_recognised(
    generate: Callable[..., SyntheticMarket], seed: int, minimum: float
) -> None:
    evaluation = _online_accuracy(generate(seed=seed, n_bars=10_000))
    print("\n" + evaluation.render())
    assert evaluation.accuracy >= minimum, evaluation.render()
    assert evaluation.coverage > 0.9


def test_the_quietest_state_is_the_squeeze_whatever_its_drift() -> None:
    # The squeeze drifts up faster than the calm trend: still the squeeze, being the quietest.
    levels = RegimeLevels(
        mean_log_return=(0.0002, -0.0006, 0.0004), volatility=(0.005, 0.014, 0.0018)
    )
    market = generate_garch_market(seed=5, n_bars=6_000, levels=levels, arch=0.04, garch=0.9)
    detector = RegimeDetector(symbol="BTC/USDT", config=RegimeConfig(min_history=5_000))
    for price, stamp in zip(market.close.tolist(), market.timestamp_ms.tolist(), strict=True):
        detector.update(close=price, timestamp_ms=stamp)
    assert detector.refit().accepted, detector.status.reason
    by_volatility = sorted(detector.status.statistics, key=lambda s: s.mean_volatility)
    assert [s.label for s in by_volatility] == [
        RegimeLabel.SQUEEZE,
        RegimeLabel.BULLISH_CALM,
        RegimeLabel.BEARISH_VOLATILE,
    ]


@pytest.mark.parametrize(
    "generate",
    [generate_garch_market, generate_jump_market, generate_burst_market, generate_seasonal_market],
)
def test_generators_are_reproducible_labelled_and_well_formed(
    generate: Callable[..., SyntheticMarket],
) -> None:
    market = generate(seed=3, n_bars=20_000)
    again = generate(seed=3, n_bars=20_000)
    np.testing.assert_array_equal(market.close, again.close)
    np.testing.assert_array_equal(market.regime, again.regime)
    assert market.regime_names == ("bullish_calm", "bearish_volatile", "squeeze")
    assert set(np.unique(market.regime).tolist()) == {0, 1, 2}
    np.testing.assert_array_equal(market.open[1:], market.close[:-1])
    assert np.all(market.high >= np.maximum(market.open, market.close))
    assert np.all(market.low <= np.minimum(market.open, market.close))
    returns = np.diff(np.log(market.close))
    regime = market.regime[1:]
    vols = [float(np.std(returns[regime == k])) for k in range(3)]
    # Volatility orders the regimes: squeeze < bullish_calm < bearish_volatile.
    assert vols[2] < vols[0] < vols[1]
    # Fat tails: excess kurtosis well above a Gaussian's 0 inside the volatile regime.
    volatile = returns[regime == 1]
    kurtosis = float(np.mean((volatile - volatile.mean()) ** 4) / volatile.var() ** 2 - 3.0)
    assert kurtosis > 1.0


@pytest.mark.parametrize("levels", [GARCH_LEVELS, JUMP_LEVELS])
def test_levels_order_the_regimes_by_volatility(levels: RegimeLevels) -> None:
    bullish, bearish, squeeze = levels.volatility
    assert squeeze < bullish < bearish
