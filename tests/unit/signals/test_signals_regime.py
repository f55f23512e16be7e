"""Regime detector: features, the online filter, accuracy on labelled data, refit safety."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import t as student_t
from tradefleet_runtime.marketdata.synthetic import generate_market
from tradefleet_runtime.signals.errors import RegimeFitError, SignalConfigError, SignalDataError
from tradefleet_runtime.signals.regime import ModelState, RegimeDetector, RegimeState
from tradefleet_runtime.signals.regime_config import RegimeConfig, RegimeLabel
from tradefleet_runtime.signals.regime_evaluation import evaluate_regimes
from tradefleet_runtime.signals.regime_features import VolatilityTrendTracker
from tradefleet_runtime.signals.regime_model import RegimeFilter, fit_regime_model

pytestmark = pytest.mark.unit


def _run(detector: RegimeDetector, close: np.ndarray, stamps: np.ndarray) -> list[RegimeState]:
    states = []
    for price, stamp in zip(close.tolist(), stamps.tolist(), strict=True):
        if detector.refit_due:
            detector.refit()
        states.append(detector.update(close=price, timestamp_ms=stamp))
    return states


def test_volatility_and_trend_match_their_definitions_on_a_small_series() -> None:
    close = [100.0, 101.0, 99.0, 102.0, 103.0, 101.0]
    tracker = VolatilityTrendTracker(volatility_window=2, momentum_window=3)
    rows = [tracker.push(price) for price in close]
    assert rows[:3] == [None] * 3  # defined from bar max(2, 3) on
    returns = np.log(np.array(close[1:]) / np.array(close[:-1]))  # returns[i] is bar i + 1's
    to_std = math.sqrt(math.pi / 2)
    t = 5
    row = rows[t]
    assert row is not None
    assert row[0] == pytest.approx(to_std * np.mean(np.abs(returns[t - 2 : t])))
    trend = math.log(101 / 99) / (math.sqrt(3) * to_std * np.mean(np.abs(returns[t - 3 : t])))
    assert row[1] == pytest.approx(trend)


def test_flat_prices_have_zero_volatility_and_trend_not_noise() -> None:
    tracker = VolatilityTrendTracker(volatility_window=10, momentum_window=20)
    rows = [tracker.push(50.0) for _ in range(40)]
    assert rows[-1] == (0.0, 0.0)


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
    # One bar's return alone (the static mixture) names the filter's regime on most bars.
    assert status.agreement is not None and status.agreement > 0.55
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


def _returns(close: np.ndarray) -> np.ndarray:
    return np.asarray(np.diff(np.log(close)), dtype=np.float64)


def test_a_fit_that_cannot_converge_is_rejected() -> None:
    market = generate_market(seed=4, n_bars=2_000)
    with pytest.raises(RegimeFitError, match="did not converge"):
        fit_regime_model(returns=_returns(market.close), config=RegimeConfig(n_iter=1))


def test_a_market_of_one_regime_is_not_split_into_three() -> None:
    # Student-t noise at one volatility, bursts and all: no three regimes to name.
    rng = np.random.default_rng(8)
    returns = 0.003 * rng.standard_t(4, size=4_000) / math.sqrt(2.0)
    with pytest.raises(RegimeFitError, match=r"collapsed|share a volatility level"):
        fit_regime_model(returns=returns, config=RegimeConfig())


def test_online_filter_matches_a_reference_forward_recursion() -> None:
    returns = _returns(generate_market(seed=12, n_bars=4_000).close)
    model = fit_regime_model(returns=returns[:3_000], config=RegimeConfig(min_history=1_000))
    # Reference: the textbook forward filter over the six hidden states, scipy's densities.
    transitions = np.array(model.transitions)
    means, scales = np.array(model.means), np.array(model.scales)
    weights = np.array(model.mixture_weights)
    posterior = np.array(model.start_probability)
    online = RegimeFilter(model=model)
    for step, log_return in enumerate(returns[3_000:3_200].tolist()):
        densities = student_t.pdf(log_return, model.degrees_of_freedom, loc=means, scale=scales)
        prior = posterior if step == 0 else posterior @ transitions
        posterior = prior * densities / np.sum(prior * densities)
        mixture = weights * densities / np.sum(weights * densities)
        filtered, static, _ = online.step(log_return)
        np.testing.assert_allclose(filtered, posterior.reshape(3, 2).sum(axis=1), rtol=1e-6)
        np.testing.assert_allclose(static, mixture.reshape(3, 2).sum(axis=1), rtol=1e-6)


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
        ({"momentum_window": 0}, "momentum_window"),
        ({"min_history": 2_000, "fit_window": 1_000}, "fit_window"),
        ({"tol": 0.0}, "tol"),
        ({"degrees_of_freedom": 2.0}, "degrees_of_freedom"),
        ({"burst_stay": 1.0}, "burst_stay"),
        ({"trading_params": {}}, "trading_params"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SignalConfigError, match=message):
        RegimeConfig(**kwargs)  # type: ignore[arg-type]


def test_fitting_a_regime_model_loads_neither_scikit_learn_nor_scipy() -> None:
    # Every bot fits its regime model: those libraries would cost each bot about 100 MB.
    script = (
        "import sys, numpy as np\n"
        "from tradefleet_runtime.marketdata.synthetic import generate_market\n"
        "from tradefleet_runtime.signals.regime_config import RegimeConfig\n"
        "from tradefleet_runtime.signals.regime_model import fit_regime_model\n"
        "close = generate_market(seed=2, n_bars=3_000).close\n"
        "fit_regime_model(returns=np.diff(np.log(close)), config=RegimeConfig())\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'pandas'}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert loaded.stdout.strip() == "[]", loaded.stderr
