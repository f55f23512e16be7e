"""The local exchange's synthetic replay spread over steps: the bars, their volume and regimes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tradefleet_devtools.exchange.prices import (
    PriceSourceError,
    SyntheticReplayPriceSource,
    regimes_in_turn,
)
from tradefleet_runtime.marketdata.synthetic import DEFAULT_REGIMES, generate_market

pytestmark = pytest.mark.unit


def test_every_bars_last_step_is_its_close_and_its_steps_carry_its_volume() -> None:
    market = generate_market(seed=5, n_bars=200)
    source = SyntheticReplayPriceSource(seed=5, n_bars=200, steps_per_bar=60)
    points = [source.next_point() for _ in range(60 * 200)]
    closes = [point.price for point in points[59::60]]
    assert closes == pytest.approx(market.close.tolist(), rel=1e-12)
    volumes = np.add.reduceat([point.volume for point in points], range(0, 60 * 200, 60))
    assert volumes == pytest.approx(market.volume.tolist(), rel=1e-9)


def test_steps_within_a_bar_move_at_the_bars_regime_volatility() -> None:
    market = generate_market(seed=6, n_bars=3_000)
    source = SyntheticReplayPriceSource(seed=6, n_bars=3_000, steps_per_bar=30)
    prices = np.log([source.next_point().price for _ in range(30 * 3_000)])
    moves = np.diff(np.concatenate([[math.log(source.start_price)], prices])).reshape(3_000, 30)
    for code, regime in enumerate(DEFAULT_REGIMES):
        in_regime = moves[market.regime == code]
        # A bar's steps have the bar's volatility between them (the bridge takes out a little).
        per_bar = in_regime.std(axis=1).mean() * math.sqrt(30)
        assert per_bar == pytest.approx(regime.volatility, rel=0.15), regime.name


def test_the_replay_continues_from_the_last_close_when_it_starts_again() -> None:
    source = SyntheticReplayPriceSource(seed=7, n_bars=50, steps_per_bar=10)
    first = [source.next_point().price for _ in range(500)]
    again = [source.next_point().price for _ in range(10)]
    assert abs(math.log(again[0] / first[-1])) < 0.05


def test_regimes_in_turn_never_go_back_and_last_their_mean() -> None:
    market = generate_market(seed=8, n_bars=20_000, transitions=regimes_in_turn(mean_bars=90))
    changes = np.flatnonzero(np.diff(market.regime)) + 1
    following = market.regime[changes]
    leaving = market.regime[changes - 1]
    assert ((leaving + 1) % len(DEFAULT_REGIMES) == following).all()
    assert np.diff(changes).mean() == pytest.approx(90, rel=0.2)


@pytest.mark.parametrize("arguments", [{"steps_per_bar": 0}, {"steps_per_bar": 1.5}])
def test_steps_per_bar_is_a_positive_integer(arguments: dict[str, object]) -> None:
    with pytest.raises(PriceSourceError, match="steps_per_bar"):
        SyntheticReplayPriceSource(seed=1, n_bars=10, **arguments)  # type: ignore[arg-type]


def test_regime_bars_is_at_least_two() -> None:
    with pytest.raises(PriceSourceError, match="regime_bars"):
        regimes_in_turn(mean_bars=1)
