"""ML ensemble: causal features, walk-forward splits without look-ahead, versioned persistence."""

from __future__ import annotations

import base64
import hashlib
import json

import numpy as np
import pytest
from tradefleet_runtime.marketdata.synthetic import generate_market
from tradefleet_runtime.signals.errors import ModelStoreError, SignalDataError
from tradefleet_runtime.signals.ml_ensemble import (
    MlConfig,
    TrainedEnsemble,
    decode_ensemble,
    encode_ensemble,
    forward_labels,
    technical_features,
    train_ensemble,
    walk_forward_splits,
)

pytestmark = pytest.mark.unit

SMALL = MlConfig(n_estimators=15, max_depth=3, min_train_rows=300, walk_forward_folds=3, horizon=3)
MARKET = generate_market(seed=21, n_bars=1_200)


def _features(config: MlConfig = SMALL, bars: int = MARKET.close.size) -> np.ndarray:
    return technical_features(
        high=MARKET.high[:bars],
        low=MARKET.low[:bars],
        close=MARKET.close[:bars],
        volume=MARKET.volume[:bars],
        config=config,
    )


@pytest.fixture(scope="module")
def trained() -> TrainedEnsemble:
    return train_ensemble(features=_features(), close=MARKET.close, config=SMALL, now_ms=1)


def test_features_use_no_future_data() -> None:
    full = _features()
    truncated = _features(bars=700)
    np.testing.assert_allclose(full[:700], truncated, rtol=1e-9, equal_nan=True)
    assert np.all(np.isnan(full[: SMALL.warmup_bars]))
    assert np.all(np.isfinite(full[SMALL.warmup_bars :]))


def test_feature_ranges() -> None:
    rows = _features()[SMALL.warmup_bars :]
    names = SMALL.feature_names
    for name, low, high in (("rsi", 0, 1), ("stochastic_k", 0, 1), ("williams_r", -1, 0)):
        column = rows[:, names.index(name)]
        assert column.min() >= low and column.max() <= high
    assert rows[:, names.index("volatility")].min() > 0


def test_forward_labels_by_hand() -> None:
    labels = forward_labels(close=[1.0, 2.0, 1.5, 1.5, 3.0], horizon=2)
    np.testing.assert_array_equal(labels[:3], [1.0, 0.0, 1.0])
    assert np.all(np.isnan(labels[3:]))


def test_walk_forward_never_trains_on_labels_from_the_future() -> None:
    usable = np.arange(40, 1_000)
    splits = walk_forward_splits(usable_rows=usable, config=SMALL)
    assert len(splits) == 3
    tested = np.concatenate([block for _, block in splits])
    np.testing.assert_array_equal(tested, usable[300:])
    for train, block in splits:
        assert train.max() + SMALL.horizon <= block.min()
        assert train.min() == 40


def test_training_reports_out_of_sample_skill(trained: TrainedEnsemble) -> None:
    assert len(trained.fold_accuracies) == 3
    assert 0.0 <= trained.walk_forward_accuracy <= 1.0
    assert trained.skill == pytest.approx(max(0.0, 2 * (trained.walk_forward_accuracy - 0.5)))
    row = _features()[-1]
    prediction = trained.predict(features=row, as_of_ms=5)
    spread = max(prediction.model_probabilities) - min(prediction.model_probabilities)
    assert prediction.probability_up == pytest.approx(sum(prediction.model_probabilities) / 3)
    assert prediction.confidence == pytest.approx((1 - spread) * trained.skill)
    reading = prediction.as_reading()
    assert reading.name == "ml"
    assert reading.value == pytest.approx(2 * prediction.probability_up - 1)


def test_predict_rejects_rows_of_the_wrong_shape(trained: TrainedEnsemble) -> None:
    with pytest.raises(SignalDataError, match="7 finite features"):
        trained.predict(features=[0.0] * 5, as_of_ms=0)


def test_an_encoded_ensemble_decodes_with_identical_predictions(trained: TrainedEnsemble) -> None:
    metadata, model = encode_ensemble(ensemble=trained, version=3, trained_by="job-1")
    stored = decode_ensemble(metadata=json.loads(json.dumps(metadata)), model=model, config=SMALL)
    assert (stored.version, stored.trained_by) == (3, "job-1")
    for row in _features()[-20:]:
        assert stored.ensemble.predict(features=row, as_of_ms=0) == trained.predict(
            features=row, as_of_ms=0
        )
    assert stored.to_dict()["walkForwardAccuracy"] == trained.walk_forward_accuracy


def test_a_model_for_another_feature_schema_is_refused(trained: TrainedEnsemble) -> None:
    metadata, model = encode_ensemble(ensemble=trained, version=1, trained_by="job")
    other = MlConfig(
        rsi_window=21, n_estimators=15, max_depth=3, min_train_rows=300, walk_forward_folds=3,
        horizon=3,
    )  # fmt: skip
    with pytest.raises(ModelStoreError, match="schema_hash"):
        decode_ensemble(metadata=metadata, model=model, config=other)
    # Model sizes are not part of the schema: a differently sized config still loads it.
    bigger = MlConfig(
        n_estimators=99, max_depth=3, min_train_rows=300, walk_forward_folds=3, horizon=3
    )
    assert decode_ensemble(metadata=metadata, model=model, config=bigger).version == 1


def test_other_library_versions_and_altered_models_are_refused(trained: TrainedEnsemble) -> None:
    metadata, model = encode_ensemble(ensemble=trained, version=1, trained_by="job")
    with pytest.raises(ModelStoreError, match=r"sklearn_version '0\.1'"):
        decode_ensemble(metadata={**metadata, "sklearn_version": "0.1"}, model=model, config=SMALL)
    altered = base64.b64encode(b"not a pickle").decode()
    with pytest.raises(ModelStoreError, match="does not match its SHA-256"):
        decode_ensemble(metadata=metadata, model=altered, config=SMALL)
    # A digest that matches what is not an ensemble: the pickle is refused, nothing runs on.
    forged = {**metadata, "sha256": hashlib.sha256(b"not a pickle").hexdigest()}
    with pytest.raises(ModelStoreError, match="cannot load the model"):
        decode_ensemble(metadata=forged, model=altered, config=SMALL)
    with pytest.raises(ModelStoreError, match="no valid version"):
        decode_ensemble(metadata={**metadata, "version": 0}, model=model, config=SMALL)


def test_book_imbalance_is_required_when_configured() -> None:
    config = MlConfig(use_book_imbalance=True)
    assert config.feature_names[-1] == "book_imbalance"
    assert config.schema_hash() != MlConfig().schema_hash()
    with pytest.raises(SignalDataError, match="book imbalance"):
        _features(config=config)
