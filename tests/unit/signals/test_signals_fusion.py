"""Alpha fusion: thresholds at their boundaries, renormalisation, staleness, invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradefleet_runtime.signals.errors import SignalConfigError, SignalDataError
from tradefleet_runtime.signals.fusion import (
    AlphaFusion,
    FusedAction,
    FusionConfig,
    classify,
    default_weights,
)
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime_config import RegimeLabel, default_trading_params

pytestmark = pytest.mark.unit

NOW_MS = 1_700_000_000_000
BULLISH = default_trading_params()[RegimeLabel.BULLISH_CALM]


def _reading(name: str, value: float, confidence: float = 1.0, age_ms: int = 0) -> SignalReading:
    return SignalReading(name=name, value=value, confidence=confidence, as_of_ms=NOW_MS - age_ms)


def _fuse(fusion: AlphaFusion, *readings: SignalReading):  # type: ignore[no-untyped-def]
    return fusion.fuse(symbol="BTC/USDT", readings=readings, regime_params=BULLISH, now_ms=NOW_MS)


@pytest.mark.parametrize(
    ("score", "action"),
    [
        (1.0, FusedAction.STRONG_BUY),
        (0.5, FusedAction.STRONG_BUY),
        (0.4999, FusedAction.BUY),
        (0.2, FusedAction.BUY),
        (0.1999, FusedAction.NEUTRAL),
        (0.0, FusedAction.NEUTRAL),
        (-0.1999, FusedAction.NEUTRAL),
        (-0.2, FusedAction.SELL),
        (-0.4999, FusedAction.SELL),
        (-0.5, FusedAction.STRONG_SELL),
        (-1.0, FusedAction.STRONG_SELL),
    ],
)
def test_threshold_boundaries_belong_to_the_stronger_side(
    score: float, action: FusedAction
) -> None:
    assert classify(score=score, buy_threshold=0.2, strong_threshold=0.5) is action
    single = AlphaFusion(config=FusionConfig(weights={"regime": 1.0}))
    assert _fuse(single, _reading("regime", score)).signal is action


def test_five_equal_signals_at_the_boundary_classify_as_written() -> None:
    fusion = AlphaFusion(config=FusionConfig())
    readings = [_reading(name, 0.5) for name in default_weights()]
    fused = _fuse(fusion, *readings)
    assert fused.score == 0.5  # 0.25 + 0.2 + 0.2 + 0.2 + 0.15 is not exactly 1 in binary
    assert fused.signal is FusedAction.STRONG_BUY
    fused = _fuse(fusion, *[_reading(name, -0.2) for name in default_weights()])
    assert fused.signal is FusedAction.SELL


def test_weighted_score_and_confidence_by_hand() -> None:
    fusion = AlphaFusion(config=FusionConfig())
    fused = _fuse(
        fusion,
        _reading("regime", 0.8, 0.9),
        _reading("ofi", -0.5, 0.6),
        _reading("whale", 1.0, 0.4),
        _reading("sentiment", 0.3, 0.5),
        _reading("macro", -0.2, 1.0),
    )
    # 0.18 - 0.06 + 0.08 + 0.03 - 0.03 = 0.2 in decimal: exactly on the BUY boundary
    assert fused.score == 0.2
    assert fused.signal is FusedAction.BUY
    assert fused.confidence == pytest.approx(0.25 * 0.9 + 0.2 * 0.6 + 0.2 * 0.4 + 0.2 * 0.5 + 0.15)
    assert fused.component_scores == {
        "regime": 0.8,
        "ofi": -0.5,
        "whale": 1.0,
        "sentiment": 0.3,
        "macro": -0.2,
    }
    assert fused.dropped == ()
    assert (fused.position_size_multiplier, fused.stop_loss_pct, fused.take_profit_pct) == (
        1.2,
        2.0,
        5.0,
    )


def test_missing_and_stale_signals_are_dropped_and_weights_renormalised() -> None:
    fusion = AlphaFusion(config=FusionConfig())
    fused = _fuse(
        fusion,
        _reading("regime", 0.8, 1.0),
        _reading("ofi", -0.4, 0.5),
        _reading("whale", -1.0, 1.0, age_ms=3 * 3_600_000),  # limit 2 h
    )
    # (0.8 * 1 * 0.25 - 0.4 * 0.5 * 0.2) / (0.25 + 0.2)
    assert fused.score == pytest.approx(0.16 / 0.45)
    assert fused.signal is FusedAction.BUY
    assert fused.confidence == pytest.approx(0.25 + 0.2 * 0.5)
    assert fused.weights_used == pytest.approx({"regime": 0.25 / 0.45, "ofi": 0.2 / 0.45})
    assert fused.dropped == (
        "whale: stale (10800 s old, limit 7200 s)",
        "sentiment: missing",
        "macro: missing",
    )
    assert any("renormalised over 2 signals" in line for line in fused.reasoning)


def test_zero_confidence_inputs_are_left_out_of_the_denominator() -> None:
    # The shipped examples: sentiment and whale publish 0 at confidence 0, macro a tilt at 0.
    fusion = AlphaFusion(config=FusionConfig())
    fused = _fuse(
        fusion,
        _reading("regime", 0.5, 0.8),
        _reading("ofi", 0.3, 0.8),
        _reading("whale", 0.0, 0.0),
        _reading("sentiment", 0.0, 0.0),
        _reading("macro", 0.5, 0.0),
    )
    # (0.5 * 0.8 * 0.25 + 0.3 * 0.8 * 0.2) / (0.25 + 0.2), not / 1.0 (0.148, NEUTRAL)
    assert fused.score == pytest.approx(0.148 / 0.45)
    assert fused.signal is FusedAction.BUY
    assert fused.weights_used == pytest.approx({"regime": 0.25 / 0.45, "ofi": 0.2 / 0.45})
    assert set(fused.component_scores) == {"regime", "ofi"}
    assert [reading.name for reading in fused.used] == ["regime", "ofi"]
    assert fused.dropped == (
        "whale: zero confidence",
        "sentiment: zero confidence",
        "macro: zero confidence",
    )
    assert fused.reasoning[-1] == (
        "dropped whale: zero confidence, sentiment: zero confidence, macro: zero confidence; "
        "weights renormalised over 2 signals"
    )
    # Confidence keeps the original weights: the silent inputs still lower it.
    assert fused.confidence == pytest.approx(0.25 * 0.8 + 0.2 * 0.8)


def test_only_zero_confidence_inputs_give_a_neutral_decision_that_says_why() -> None:
    fused = _fuse(
        AlphaFusion(config=FusionConfig()), _reading("macro", 0.5, 0.0), _reading("ofi", 0.9, 0.0)
    )
    assert (fused.signal, fused.score, fused.confidence) == (FusedAction.NEUTRAL, 0.0, 0.0)
    assert fused.used == ()
    assert "ofi: zero confidence" in fused.dropped and "macro: zero confidence" in fused.dropped


def test_reasoning_explains_every_used_dropped_and_ignored_reading() -> None:
    fused = _fuse(
        AlphaFusion(config=FusionConfig()),
        SignalReading(
            name="regime",
            value=0.4,
            confidence=0.8,
            as_of_ms=NOW_MS,
            detail="market regime bullish_calm (confidence 80%)",
        ),
        _reading("ofi", -0.25, 0.5),
        _reading("whale", 1.0, 1.0, age_ms=3 * 3_600_000),  # limit 2 h
        _reading("rsi-plugin", 1.0),
        _reading("ml", 1.0),
    )
    assert fused.reasoning == (
        "market regime bullish_calm (confidence 80%): +0.40 at 80% confidence, weight 0.56",
        "ofi: -0.25 at 50% confidence, weight 0.44",
        "dropped whale: stale (10800 s old, limit 7200 s), sentiment: missing, macro: missing; "
        "weights renormalised over 2 signals",
        "ignored readings without a weight: ml, rsi-plugin",
    )
    assert fused.to_dict()["reasoning"] == list(fused.reasoning)
    assert [reading.name for reading in fused.used] == ["regime", "ofi"]
    assert fused.ignored == ("ml", "rsi-plugin")


def test_no_fresh_signal_is_neutral_with_no_confidence() -> None:
    fused = _fuse(AlphaFusion(config=FusionConfig()))
    assert (fused.signal, fused.score, fused.confidence) == (FusedAction.NEUTRAL, 0.0, 0.0)


def test_extra_named_components_take_part_with_their_weights() -> None:
    weights = {"regime": 0.2, "ofi": 0.2, "whale": 0.1, "sentiment": 0.1, "macro": 0.1, "ml": 0.3}
    fusion = AlphaFusion(config=FusionConfig(weights=weights, max_age_ms={"ml": 60_000}))
    fused = _fuse(fusion, _reading("ml", 1.0), _reading("regime", 0.0), _reading("rsi-plugin", 1.0))
    assert fused.score == pytest.approx(0.3 / 0.5)
    assert fused.component_scores == {"regime": 0.0, "ml": 1.0}
    assert "ignored readings without a weight: rsi-plugin" in fused.reasoning
    stale = _fuse(fusion, _reading("ml", 1.0, age_ms=60_001))
    assert "ml: stale" in stale.dropped[-1]


def test_to_dict_has_the_api_fields() -> None:
    payload = _fuse(AlphaFusion(config=FusionConfig()), _reading("regime", 0.6)).to_dict()
    assert payload["signal"] == "strong_buy"
    assert set(payload) >= {
        "symbol",
        "signal",
        "confidence",
        "score",
        "position_size_multiplier",
        "stop_loss_pct",
        "take_profit_pct",
        "reasoning",
        "component_scores",
    }


def test_duplicate_readings_are_an_error() -> None:
    with pytest.raises(SignalDataError, match="two readings named 'ofi'"):
        _fuse(AlphaFusion(config=FusionConfig()), _reading("ofi", 0.1), _reading("ofi", 0.2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": {"regime": 0.5, "ofi": 0.4}}, "sum to 1"),
        ({"weights": {"regime": 1.1, "ofi": -0.1}}, "weights"),
        ({"weights": {}}, "at least one"),
        ({"buy_threshold": 0.6, "strong_threshold": 0.5}, "strong_threshold"),
        ({"buy_threshold": 0.5, "strong_threshold": 0.5}, "greater"),
        ({"max_age_ms": {"ofi": 0}}, "max_age_ms"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SignalConfigError, match=message):
        FusionConfig(**kwargs)  # type: ignore[arg-type]


def test_weights_within_tolerance_are_accepted() -> None:
    FusionConfig(weights={"regime": 0.5, "ofi": 0.5 + 9e-7})


def test_readings_validate_their_range() -> None:
    with pytest.raises(SignalDataError, match="value"):
        SignalReading(name="x", value=1.01, confidence=0.5, as_of_ms=0)
    with pytest.raises(SignalDataError, match="confidence"):
        SignalReading(name="x", value=0.0, confidence=float("nan"), as_of_ms=0)


unit = st.floats(min_value=-1.0, max_value=1.0)
probability = st.floats(min_value=0.0, max_value=1.0)


@settings(max_examples=300, deadline=None)
@given(
    raw_weights=st.lists(st.floats(min_value=0.0, max_value=10.0), min_size=1, max_size=8),
    values=st.lists(st.tuples(unit, probability, st.booleans()), min_size=8, max_size=8),
)
def test_fused_score_and_confidence_stay_in_range(
    raw_weights: list[float], values: list[tuple[float, float, bool]]
) -> None:
    total = sum(raw_weights)
    if total == 0:
        raw_weights = [1.0] * len(raw_weights)
        total = float(len(raw_weights))
    weights = {f"s{i}": w / total for i, w in enumerate(raw_weights)}
    fusion = AlphaFusion(config=FusionConfig(weights=weights))
    readings = [
        _reading(f"s{i}", value, confidence)
        for i, (value, confidence, present) in enumerate(values[: len(weights)])
        if present
    ]
    fused = _fuse(fusion, *readings)
    assert -1.0 <= fused.score <= 1.0
    assert 0.0 <= fused.confidence <= 1.0
    assert fused.signal is classify(score=fused.score, buy_threshold=0.2, strong_threshold=0.5)
