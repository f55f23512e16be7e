"""The fusion-weight learner (signals/learning.py): it rewards a signal that predicts the next
bar's return, starves noise down to its floor, never faster than its step, keeps the weight
total, and a live run bar by bar (through restarts) equals a backtest's replay."""

from __future__ import annotations

import json
import random

import pytest
from tradefleet_runtime.signals.errors import SignalConfigError, SignalDataError
from tradefleet_runtime.signals.learning import (
    LearnerState,
    LearningConfig,
    replay,
    step,
)

pytestmark = pytest.mark.unit

BAR_MS = 60_000
BASE = {"regime": 0.25, "ofi": 0.20, "whale": 0.20, "sentiment": 0.20, "macro": 0.15}


def _config(**overrides: object) -> LearningConfig:
    settings: dict[str, object] = {
        "base_weights": BASE,
        "bar_ms": BAR_MS,
        "half_life_bars": 20,
        "max_step": 0.01,
        "floor": 0.03,
        "horizon_bars": 1,
        **overrides,
    }
    return LearningConfig(**settings)  # type: ignore[arg-type]


def _market(*, bars: int, seed: int = 7) -> list[tuple[int, float, dict[str, float]]]:
    """``ofi`` foretells the next bar's return; ``regime`` is noise; the rest are absent."""
    rng = random.Random(seed)
    price = 100.0
    signal = rng.uniform(-1.0, 1.0)
    out = []
    for index in range(bars):
        out.append(
            (
                (index + 1) * BAR_MS,
                price,
                {"ofi": signal, "regime": rng.uniform(-1.0, 1.0)},
            )
        )
        price *= 1.0 + 0.002 * signal + rng.gauss(0.0, 0.0005)
        signal = rng.uniform(-1.0, 1.0)
    return out


def test_a_predictive_signal_gains_and_noise_sinks_to_its_floor_never_faster_than_the_step() -> (
    None
):
    config = _config()
    state = LearnerState.initial(config)
    previous = dict(state.weights)
    for close_ms, price, signals in _market(bars=400):
        state = step(config=config, state=state, close_ms=close_ms, price=price, signals=signals)
        for name, weight in state.weights.items():
            assert abs(weight - previous[name]) <= config.max_step + 1e-12
            assert weight >= config.floor - 1e-12
        assert sum(state.weights.values()) == pytest.approx(1.0, abs=1e-12)
        previous = dict(state.weights)
    assert state.updates == 399
    ic = state.ic()
    assert ic["ofi"] > 0.9
    assert abs(ic["regime"]) < 0.3
    assert state.weights["ofi"] == pytest.approx(0.42, abs=1e-9)  # 0.20 + regime's 0.22
    assert state.weights["regime"] == pytest.approx(config.floor, abs=1e-9)
    # Absent signals had nothing to learn from and keep their base weights.
    for name in ("whale", "sentiment", "macro"):
        assert state.weights[name] == BASE[name]


def test_the_first_updates_move_by_at_most_the_step() -> None:
    config = _config(max_step=0.005, half_life_bars=1)
    state = replay(config=config, bars=_market(bars=3))
    assert state.updates == 2
    assert state.weights["ofi"] <= 0.20 + 2 * 0.005 + 1e-12
    assert state.weights["regime"] >= 0.25 - 2 * 0.005 - 1e-12


def test_no_positive_ic_keeps_the_base_weights() -> None:
    config = _config()
    flat = [((i + 1) * BAR_MS, 100.0, {"ofi": (-1.0) ** i, "regime": 0.5}) for i in range(50)]
    state = replay(config=config, bars=flat)
    assert dict(state.weights) == {name: BASE[name] for name in BASE}


def test_a_gap_drops_the_bar_whose_horizon_was_not_seen() -> None:
    config = _config()
    bars = _market(bars=4)
    gapped = [*bars[:2], (bars[3][0] + 5 * BAR_MS, bars[3][1], bars[3][2])]
    state = replay(config=config, bars=gapped)
    assert state.updates == 1
    assert [bar.close_ms for bar in state.pending] == [gapped[-1][0]]


def test_a_longer_horizon_scores_the_return_over_it() -> None:
    config = _config(horizon_bars=3)
    state = replay(config=config, bars=_market(bars=10))
    assert state.updates == 7
    assert len(state.pending) == 3


def test_live_bar_by_bar_through_restarts_equals_a_backtest_replay() -> None:
    config = _config()
    bars = _market(bars=300, seed=11)
    batch = replay(config=config, bars=bars)
    live = LearnerState.initial(config)
    for index, (close_ms, price, signals) in enumerate(bars):
        live = step(config=config, state=live, close_ms=close_ms, price=price, signals=signals)
        if index % 37 == 0:  # a restart: saved to Redis as JSON, loaded back
            live = LearnerState.from_dict(json.loads(json.dumps(live.to_dict())), config=config)
    assert live == batch
    assert dict(live.weights) == dict(batch.weights)
    assert replay(config=config, bars=bars) == batch


def test_state_round_trips_and_refuses_another_configuration() -> None:
    config = _config()
    state = replay(config=config, bars=_market(bars=30))
    again = LearnerState.from_dict(json.loads(json.dumps(state.to_dict())), config=config)
    assert again == state
    other = _config(base_weights={"regime": 0.5, "ofi": 0.5})
    with pytest.raises(SignalDataError):
        LearnerState.from_dict(state.to_dict(), config=other)
    with pytest.raises(SignalDataError):
        LearnerState.from_dict({"version": 1, "weights": {}}, config=config)


def test_configuration_bounds() -> None:
    with pytest.raises(SignalConfigError):
        _config(floor=0.25)  # five signals at 0.25 exceed the total of 1
    with pytest.raises(SignalConfigError):
        _config(half_life_bars=0)
    with pytest.raises(SignalConfigError):
        _config(max_step=0.0)
    with pytest.raises(SignalDataError):
        step(
            config=_config(),
            state=LearnerState.initial(_config()),
            close_ms=1,
            price=0.0,
            signals={},
        )
