"""The labelled synthetic market: reproducible, well-formed, and faithful to its labels."""

from __future__ import annotations

import numpy as np
import pytest
from tradefleet_runtime.marketdata.synthetic import (
    DEFAULT_REGIMES,
    SyntheticMarketError,
    generate_book,
    generate_market,
    sticky_transitions,
)

pytestmark = pytest.mark.unit


def test_same_seed_same_market_and_different_seed_different_market() -> None:
    first = generate_market(seed=42, n_bars=5_000)
    again = generate_market(seed=42, n_bars=5_000)
    other = generate_market(seed=43, n_bars=5_000)
    for name in ("timestamp_ms", "open", "high", "low", "close", "volume", "regime"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.close, other.close)


def test_bars_are_well_formed() -> None:
    market = generate_market(seed=1, n_bars=10_000, start_price=50_000.0, bar_seconds=300)
    assert market.timestamp_ms.dtype == np.int64
    assert market.regime.dtype == np.int8
    for name in ("open", "high", "low", "close", "volume"):
        assert getattr(market, name).dtype == np.float64
    assert market.regime_names == ("bullish_calm", "bearish_volatile", "squeeze")
    assert np.all(np.diff(market.timestamp_ms) == 300_000)
    assert market.open[0] == 50_000.0
    np.testing.assert_array_equal(market.open[1:], market.close[:-1])
    assert np.all(market.high >= np.maximum(market.open, market.close))
    assert np.all(market.low <= np.minimum(market.open, market.close))
    assert np.all(market.volume > 0)
    with pytest.raises(ValueError, match="read-only"):
        market.close[0] = 1.0


def test_returns_follow_the_labelled_regimes() -> None:
    market = generate_market(seed=7, n_bars=60_000)
    log_returns = np.diff(np.log(market.close))
    regime = market.regime[1:]
    for code, spec in enumerate(DEFAULT_REGIMES):
        mine = log_returns[regime == code]
        assert mine.std() == pytest.approx(spec.volatility, rel=0.05)
        assert mine.mean() == pytest.approx(
            spec.mean_log_return, abs=4 * spec.volatility / mine.size**0.5
        )
    stays = np.mean(market.regime[1:] == market.regime[:-1])
    assert stays == pytest.approx(0.995, abs=0.002)


def test_custom_transition_matrix_is_respected() -> None:
    matrix = np.array([[0.9, 0.1, 0.0], [0.0, 0.9, 0.1], [0.1, 0.0, 0.9]])
    market = generate_market(seed=3, n_bars=20_000, transitions=matrix)
    moves = list(zip(market.regime[:-1].tolist(), market.regime[1:].tolist(), strict=True))
    assert (0, 2) not in moves and (1, 0) not in moves and (2, 1) not in moves


def test_book_is_reproducible_and_uncrossed_with_known_flow() -> None:
    book = generate_book(seed=5, n_snapshots=50_000, tick_size=0.5, snapshot_ms=250)
    again = generate_book(seed=5, n_snapshots=50_000, tick_size=0.5, snapshot_ms=250)
    np.testing.assert_array_equal(book.bid_price, again.bid_price)
    assert np.all(book.ask_price > book.bid_price)
    assert np.all(np.diff(book.timestamp_ms) == 250)
    assert set(np.unique(book.flow).tolist()) <= {-1, 0, 1}
    buying = book.flow[1:] == 1
    moves = np.diff(book.bid_price)
    assert moves[buying].mean() > 0
    assert book.bid_size[book.flow == 1].mean() > book.ask_size[book.flow == 1].mean()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1, "n_bars": 10}, "seed"),
        ({"seed": 1, "n_bars": 0}, "n_bars"),
        ({"seed": 1, "n_bars": 10, "start_price": 0.0}, "start_price"),
        ({"seed": 1, "n_bars": 10, "transitions": np.eye(2)}, "3x3"),
        ({"seed": 1, "n_bars": 10, "transitions": np.full((3, 3), 0.5)}, "sum to 1"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SyntheticMarketError, match=message):
        generate_market(**kwargs)  # type: ignore[arg-type]


def test_sticky_transitions_rows_sum_to_one() -> None:
    matrix = sticky_transitions(n_states=4, stay_probability=0.97)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    assert matrix[0, 0] == 0.97 and matrix[0, 1] == pytest.approx(0.01)
