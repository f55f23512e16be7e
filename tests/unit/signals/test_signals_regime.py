"""Regime detector: features, the online filter, accuracy on labelled data, refit safety."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from tradefleet_runtime.marketdata.synthetic import generate_market
from tradefleet_runtime.signals.errors import RegimeFitError, SignalConfigError, SignalDataError
from tradefleet_runtime.signals.regime import ModelState, RegimeDetector, RegimeState
from tradefleet_runtime.signals.regime_config import RegimeConfig, RegimeLabel
from tradefleet_runtime.signals.regime_evaluation import evaluate_regimes
from tradefleet_runtime.signals.regime_features import (
    FeatureHistory,
    RegimeFeatureTracker,
    regime_features,
)
from tradefleet_runtime.signals.regime_model import (
    RegimeFilter,
    RegimeModel,
    check_covariances,
    fit_regime_model,
)

pytestmark = pytest.mark.unit

WINDOWS = {"volatility_window": 10, "long_volatility_window": 30, "momentum_window": 20}
FIRST_FEATURE_BAR = 31  # max(10, 30 + 1, 20)


def _run(detector: RegimeDetector, close: np.ndarray, stamps: np.ndarray) -> list[RegimeState]:
    states = []
    for price, stamp in zip(close.tolist(), stamps.tolist(), strict=True):
        if detector.refit_due:
            detector.refit()
        states.append(detector.update(close=price, timestamp_ms=stamp))
    return states


def test_features_match_their_definitions_on_a_small_series() -> None:
    close = np.array([100.0, 101.0, 99.0, 102.0, 103.0, 101.0, 140.0])
    features = regime_features(
        close=close, volatility_window=2, long_volatility_window=3, momentum_window=2
    )
    assert np.all(np.isnan(features[:4]))  # warm-up: max(2, 3 + 1, 2) bars
    returns = np.log(close[1:] / close[:-1])  # returns[i] is bar i + 1's
    to_std = math.sqrt(math.pi / 2)
    t = 5
    assert features[t, 0] == pytest.approx(math.log(101 / 103))  # inside the clip
    assert features[t, 1] == pytest.approx(to_std * np.mean(np.abs(returns[t - 2 : t])))
    assert features[t, 2] == pytest.approx(to_std * np.mean(np.abs(returns[t - 3 : t])))
    trend = math.log(101 / 102) / (math.sqrt(2) * to_std * np.mean(np.abs(returns[t - 2 : t])))
    assert features[t, 3] == pytest.approx(trend)
    # A jump of +33 % is clipped to three of the previous bar's long volatility.
    assert features[6, 0] == pytest.approx(3 * features[5, 2])
    assert features[6, 0] < math.log(140 / 101)


def test_online_features_equal_batch_features() -> None:
    market = generate_market(seed=5, n_bars=3_000)
    batch = regime_features(close=market.close, **WINDOWS)
    tracker = RegimeFeatureTracker(**WINDOWS)
    online = [tracker.push(price) for price in market.close.tolist()]
    first = next(i for i, row in enumerate(online) if row is not None)
    assert first == FIRST_FEATURE_BAR
    assert np.all(np.isnan(batch[:first]))
    np.testing.assert_allclose(np.array(online[first:]), batch[first:], rtol=1e-7, atol=1e-12)


def test_feature_history_keeps_the_latest_rows_in_time_order() -> None:
    history = FeatureHistory(capacity=3)
    assert history.to_array().shape == (0, 4)
    for i in range(5):
        history.append((float(i), i + 0.1, i + 0.2, i + 0.3))
        assert len(history) == min(i + 1, 3)
    np.testing.assert_array_equal(history.to_array()[:, 0], [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(history.to_array()[0], [2.0, 2.1, 2.2, 2.3])


def test_flat_prices_have_zero_trend_not_noise() -> None:
    tracker = RegimeFeatureTracker(**WINDOWS)
    rows = [tracker.push(50.0) for _ in range(40)]
    assert rows[-1] == (0.0, 0.0, 0.0, 0.0)


def test_detector_says_unknown_until_it_has_enough_history() -> None:
    market = generate_market(seed=1, n_bars=900)
    detector = RegimeDetector(symbol="BTC/USDT", config=RegimeConfig(min_history=1_000))
    states = _run(detector, market.close, market.timestamp_ms)
    assert {state.regime for state in states} == {RegimeLabel.UNKNOWN}
    assert detector.model is None
    assert not detector.refit_due
    assert states[-1].as_reading() is None
    assert states[-1].trading_params.position_size_multiplier == 0.5
    assert detector.status.state is ModelState.UNFITTED
    assert "1000 bars" in detector.status.reason
    # The API shows an unknown regime too, with no probabilities yet.
    payload = states[-1].to_dict()
    assert payload["regime"] == "unknown" and payload["probabilities"] == {}


@pytest.mark.parametrize("seed", [2024, 105])
def test_detector_recovers_the_labelled_regimes(seed: int) -> None:
    market = generate_market(seed=seed, n_bars=8_000)
    detector = RegimeDetector(symbol="BTC/USDT", config=RegimeConfig())
    states = _run(detector, market.close, market.timestamp_ms)
    evaluation = evaluate_regimes(
        predicted=[state.regime.value for state in states],
        truth=[market.regime_names[code] for code in market.regime.tolist()],
        labels=market.regime_names,
    )
    print("\n" + evaluation.render())
    assert evaluation.accuracy >= 0.90, evaluation.render()
    assert evaluation.coverage > 0.85
    status = detector.status
    assert status.state is ModelState.READY
    assert status.agreement is not None and status.agreement > 0.8
    assert {stats.label for stats in status.statistics} == {
        RegimeLabel.BULLISH_CALM,
        RegimeLabel.BEARISH_VOLATILE,
        RegimeLabel.SQUEEZE,
    }


def test_each_regime_carries_its_trading_parameters() -> None:
    market = generate_market(seed=3, n_bars=4_000)
    detector = RegimeDetector(symbol="BTC/USDT", config=RegimeConfig())
    states = _run(detector, market.close, market.timestamp_ms)
    expected = {
        RegimeLabel.BULLISH_CALM: (1.2, 2.0, 5.0),
        RegimeLabel.BEARISH_VOLATILE: (0.5, 3.0, 3.0),
        RegimeLabel.SQUEEZE: (0.7, 1.5, 2.5),
    }
    seen = set()
    for state in states:
        if state.regime is RegimeLabel.UNKNOWN:
            continue
        params = state.trading_params
        triple = (params.position_size_multiplier, params.stop_loss_pct, params.take_profit_pct)
        assert triple == expected[state.regime]
        seen.add(state.regime)
    assert seen == set(expected)
    last = states[-1]
    payload = last.to_dict()
    assert payload["regime"] == last.regime.value
    probabilities_payload = payload["probabilities"]
    assert isinstance(probabilities_payload, dict)
    assert set(probabilities_payload) == {label.value for label in expected}
    reading = last.as_reading()
    assert reading is not None
    bullish, bearish, squeeze = last.probabilities
    assert bullish + bearish + squeeze == pytest.approx(1.0)
    assert reading.value == pytest.approx(bullish - bearish)
    assert probabilities_payload[last.regime.value] == max(last.probabilities)


def test_refit_on_flat_prices_is_rejected_and_the_old_model_kept() -> None:
    config = RegimeConfig(min_history=500, fit_window=800, refit_interval=100_000)
    market = generate_market(seed=9, n_bars=1_000)
    detector = RegimeDetector(symbol="BTC/USDT", config=config)
    _run(detector, market.close, market.timestamp_ms)
    model = detector.model
    assert model is not None
    last_close = float(market.close[-1])
    stamp = int(market.timestamp_ms[-1])
    for i in range(1, 900):  # the whole fit window becomes a flat line
        state = detector.update(close=last_close, timestamp_ms=stamp + i * 60_000)
    outcome = detector.refit()
    assert not outcome.accepted
    assert "no variance" in outcome.reason
    assert detector.model is model
    status = detector.status
    assert status.state is ModelState.KEPT_PREVIOUS
    assert "previous model kept" in status.reason
    assert state.regime is not RegimeLabel.UNKNOWN  # still classifying with the old model


def test_first_fit_failure_leaves_the_detector_unknown_with_a_reason() -> None:
    config = RegimeConfig(min_history=200, fit_window=300)
    detector = RegimeDetector(symbol="FLAT", config=config)
    for i in range(300):
        detector.update(close=10.0, timestamp_ms=i)
    assert detector.refit_due
    assert not detector.refit().accepted
    assert detector.model is None
    assert not detector.refit_due  # waits refit_retry_bars before trying again
    assert detector.status.state is ModelState.UNFITTED
    assert "fit rejected" in detector.status.reason
    assert detector.update(close=10.0, timestamp_ms=400).regime is RegimeLabel.UNKNOWN


def test_a_fit_that_cannot_converge_is_rejected() -> None:
    market = generate_market(seed=4, n_bars=2_000)
    features = regime_features(close=market.close, **WINDOWS)[FIRST_FEATURE_BAR:]
    with pytest.raises(RegimeFitError, match="did not converge"):
        fit_regime_model(features=features, config=RegimeConfig(n_iter=1))


def test_non_positive_definite_covariances_are_refused() -> None:
    good = np.eye(2)
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    check_covariances(covariances=np.stack([good, good]), min_eigenvalue=1e-9)
    with pytest.raises(RegimeFitError, match="not positive definite"):
        check_covariances(covariances=np.stack([good, singular]), min_eigenvalue=1e-9)
    with pytest.raises(RegimeFitError, match="non-finite"):
        check_covariances(covariances=np.stack([good, good * np.nan]), min_eigenvalue=1e-9)


def test_online_filter_matches_a_reference_forward_recursion() -> None:
    market = generate_market(seed=12, n_bars=4_000)
    features = regime_features(close=market.close, **WINDOWS)[FIRST_FEATURE_BAR:]
    config = RegimeConfig(min_history=1_000)
    model = fit_regime_model(features=features[:3_000], config=config)
    # Reference: textbook forward filter with scipy densities on the model's own inputs.
    inputs = features[3_000:].copy()
    inputs[:, 1:3] = np.log(inputs[:, 1:3])
    standardised = (inputs - np.array(model.feature_mean)) / np.array(model.feature_scale)
    online = RegimeFilter(model=model)
    transitions = np.array(model.transitions)
    posterior = np.array(model.start_probability)
    covariances, means = _hmm_parameters(model)
    for step, row in enumerate(features[3_000:3_200].tolist()):
        densities = np.array(
            [
                multivariate_normal(means[k], covariances[k]).pdf(standardised[step])
                for k in range(3)
            ]
        )
        prior = posterior if step == 0 else posterior @ transitions
        posterior = prior * densities / np.sum(prior * densities)
        filtered, _, _ = online.step((row[0], row[1], row[2], row[3]))
        np.testing.assert_allclose(filtered, posterior, rtol=1e-6, atol=1e-9)


def _hmm_parameters(model: RegimeModel) -> tuple[np.ndarray, np.ndarray]:
    """Recover the HMM means and covariances from the model's quadratic-form rows."""
    coefficients = model.coefficients
    pairs = [(i, j) for i in range(4) for j in range(i, 4)]
    covariances, means = [], []
    for k in range(3):
        precision = np.zeros((4, 4))
        for column, (i, j) in enumerate(pairs):
            if i == j:
                precision[i, i] = -2.0 * coefficients[k, column]
            else:
                precision[i, j] = precision[j, i] = -coefficients[k, column]
        covariance = np.linalg.inv(precision)
        covariances.append(covariance)
        means.append(covariance @ coefficients[k, 10:14])
    return np.array(covariances), np.array(means)


def test_bad_bars_are_rejected() -> None:
    detector = RegimeDetector(symbol="X", config=RegimeConfig())
    detector.update(close=10.0, timestamp_ms=1_000)
    with pytest.raises(SignalDataError, match="finite"):
        detector.update(close=math.nan, timestamp_ms=2_000)
    with pytest.raises(SignalDataError, match="older"):
        detector.update(close=10.0, timestamp_ms=999)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"volatility_window": 1}, "volatility_window"),
        ({"volatility_window": 30, "long_volatility_window": 10}, "long_volatility_window"),
        ({"min_history": 2_000, "fit_window": 1_000}, "fit_window"),
        ({"tol": 0.0}, "tol"),
        ({"trading_params": {}}, "trading_params"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SignalConfigError, match=message):
        RegimeConfig(**kwargs)  # type: ignore[arg-type]
