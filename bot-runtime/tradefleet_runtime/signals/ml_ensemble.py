"""Optional ML signal: an ensemble of three scikit-learn classifiers on technical features.

The optimizer Job (:mod:`tradefleet_runtime.jobs.optimize`) trains an ensemble with
:func:`train_ensemble` (walk-forward, no look-ahead) and stores it through
:func:`encode_ensemble` (:mod:`tradefleet_runtime.persistence.ml_models` keeps it in Redis);
the bot's runtime (:mod:`tradefleet_runtime.service.ml_signal`) loads it through
:func:`decode_ensemble`, which refuses one built for a different feature schema or
scikit-learn version, or altered since. The prediction joins fusion as the ``ml`` component
(value 2p − 1, confidence scaled by the ensemble's out-of-sample skill).

Features per bar (each from data up to that bar only): RSI, MACD histogram / close,
Bollinger position (close − SMA) / (2σ), slow stochastic %K, Williams %R, volatility
of log returns, volume spike (volume / its SMA − 1), and optionally L1 order-book
imbalance (bid − ask size) / (bid + ask size). The label of bar t is whether the close
rises over the next ``horizon`` bars.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version as package_version
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from tradefleet_runtime.signals.errors import ModelStoreError, SignalDataError
from tradefleet_runtime.signals.reading import SignalReading

# scikit-learn, SciPy and joblib are imported where they are used: they weigh about 150 MB and
# 1.7 s at import, and a bot runtime loads this module whether or not its ML input is on.
if TYPE_CHECKING:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import Pipeline
from tradefleet_runtime.signals.validation import require_int_at_least

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SIGNAL_NAME = "ml"
STORE_FORMAT_VERSION = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class MlConfig:
    """Indicator windows, label horizon, walk-forward folds and model sizes."""

    rsi_window: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    bollinger_window: int = 20
    stochastic_window: int = 14
    stochastic_smoothing: int = 3
    williams_window: int = 14
    volatility_window: int = 20
    volume_window: int = 20
    use_book_imbalance: bool = False
    horizon: int = 5
    walk_forward_folds: int = 4
    min_train_rows: int = 500
    n_estimators: int = 100
    max_depth: int = 4
    random_state: int = 0

    def __post_init__(self) -> None:
        for name in (
            "rsi_window", "macd_fast", "macd_slow", "macd_signal", "bollinger_window",
            "stochastic_window", "stochastic_smoothing", "williams_window",
            "volatility_window", "volume_window", "horizon",
        ):  # fmt: skip
            require_int_at_least(name=name, value=getattr(self, name), minimum=1)
        require_int_at_least(name="macd_slow", value=self.macd_slow, minimum=self.macd_fast + 1)
        require_int_at_least(name="walk_forward_folds", value=self.walk_forward_folds, minimum=1)
        require_int_at_least(name="min_train_rows", value=self.min_train_rows, minimum=50)
        require_int_at_least(name="n_estimators", value=self.n_estimators, minimum=1)
        require_int_at_least(name="max_depth", value=self.max_depth, minimum=1)
        require_int_at_least(name="random_state", value=self.random_state, minimum=0)

    @property
    def feature_names(self) -> tuple[str, ...]:
        names = (
            "rsi", "macd_histogram", "bollinger_position", "stochastic_k", "williams_r",
            "volatility", "volume_spike",
        )  # fmt: skip
        return (*names, "book_imbalance") if self.use_book_imbalance else names

    @property
    def warmup_bars(self) -> int:
        """Rows before this index lack at least one feature."""
        return max(
            self.rsi_window,
            self.macd_slow + self.macd_signal,
            self.bollinger_window,
            self.stochastic_window + self.stochastic_smoothing,
            self.williams_window,
            self.volatility_window,
            self.volume_window,
        )

    def schema_hash(self) -> str:
        """Identifies what the features mean: names, windows and horizon (not model sizes)."""
        schema = {
            "names": list(self.feature_names),
            "windows": [
                self.rsi_window, self.macd_fast, self.macd_slow, self.macd_signal,
                self.bollinger_window, self.stochastic_window, self.stochastic_smoothing,
                self.williams_window, self.volatility_window, self.volume_window,
            ],
            "horizon": self.horizon,
        }  # fmt: skip
        return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]


def _ema(*, values: FloatArray, span: int) -> FloatArray:
    alpha = 2.0 / (span + 1.0)
    return _smooth(values=values, alpha=alpha)


def _smooth(*, values: FloatArray, alpha: float) -> FloatArray:
    """y_t = alpha x_t + (1 - alpha) y_{t-1}, starting at y_0 = x_0 (a causal filter)."""
    from scipy.signal import lfilter  # noqa: PLC0415 - heavy, see the imports

    result: FloatArray = lfilter(
        [alpha], [1.0, alpha - 1.0], values, zi=[values[0] * (1.0 - alpha)]
    )[0]
    return result


def _rolling(*, values: FloatArray, window: int) -> npt.NDArray[np.float64]:
    """Windows ending at each bar from window-1 on (a view, no copy)."""
    return sliding_window_view(values, window)


def _pad_front(*, values: FloatArray, n: int) -> FloatArray:
    return np.concatenate((np.full(n - values.size, np.nan), values))


def technical_features(
    *,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    config: MlConfig,
    book_imbalance: npt.ArrayLike | None = None,
) -> FloatArray:
    """Feature matrix (n, len(config.feature_names)); warm-up rows are NaN."""
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    v = np.asarray(volume, dtype=np.float64)
    n = c.size
    if not (h.shape == lo.shape == c.shape == v.shape and c.ndim == 1):
        raise SignalDataError("high, low, close and volume must be 1-d arrays of one length")
    if n <= config.warmup_bars:
        raise SignalDataError(f"need more than {config.warmup_bars} bars, got {n}")
    if not (np.all(np.isfinite(h + lo + c + v)) and c.min() > 0 and v.min() >= 0):
        raise SignalDataError("prices must be finite and > 0, volumes finite and >= 0")
    if config.use_book_imbalance and book_imbalance is None:
        raise SignalDataError("the config uses book imbalance but none was given")

    change = np.diff(c, prepend=c[0])
    alpha = 1.0 / config.rsi_window
    average_gain = _smooth(values=np.maximum(change, 0.0), alpha=alpha)
    average_loss = _smooth(values=np.maximum(-change, 0.0), alpha=alpha)
    total = average_gain + average_loss
    rsi = np.divide(average_gain, total, out=np.full(n, 0.5), where=total > 0)

    macd = _ema(values=c, span=config.macd_fast) - _ema(values=c, span=config.macd_slow)
    histogram = (macd - _ema(values=macd, span=config.macd_signal)) / c

    band = _rolling(values=c, window=config.bollinger_window)
    spread = 2.0 * band.std(axis=1)
    deviation = c[config.bollinger_window - 1 :] - band.mean(axis=1)
    bollinger = np.divide(deviation, spread, out=np.zeros_like(spread), where=spread > 0)

    def stochastic(window: int) -> FloatArray:
        highest = _rolling(values=h, window=window).max(axis=1)
        lowest = _rolling(values=lo, window=window).min(axis=1)
        span = highest - lowest
        position = np.divide(
            c[window - 1 :] - lowest, span, out=np.full(span.size, 0.5), where=span > 0
        )
        return _pad_front(values=position, n=n)

    raw_k = stochastic(config.stochastic_window)
    slow_k = _pad_front(
        values=_rolling(values=raw_k, window=config.stochastic_smoothing).mean(axis=1), n=n
    )
    williams = stochastic(config.williams_window) - 1.0

    log_returns = np.diff(np.log(c), prepend=np.log(c[0]))
    volatility = _pad_front(
        values=_rolling(values=log_returns, window=config.volatility_window).std(axis=1, ddof=1),
        n=n,
    )
    volume_mean = _rolling(values=v, window=config.volume_window).mean(axis=1)
    spike = np.divide(
        v[config.volume_window - 1 :], volume_mean, out=np.ones_like(volume_mean),
        where=volume_mean > 0,
    ) - 1.0  # fmt: skip

    columns = [
        rsi,
        histogram,
        _pad_front(values=bollinger, n=n),
        slow_k,
        williams,
        volatility,
        _pad_front(values=spike, n=n),
    ]
    if config.use_book_imbalance:
        imbalance = np.asarray(book_imbalance, dtype=np.float64)
        if imbalance.shape != c.shape or not np.all(np.abs(imbalance) <= 1.0):
            raise SignalDataError("book_imbalance must match the bars and lie in [-1, 1]")
        columns.append(imbalance)
    features = np.column_stack(columns)
    features[: config.warmup_bars] = np.nan
    return features


def forward_labels(*, close: npt.ArrayLike, horizon: int) -> FloatArray:
    """1.0 if close[t + horizon] > close[t], 0.0 if not, NaN for the last ``horizon`` bars."""
    c = np.asarray(close, dtype=np.float64)
    labels = np.full(c.size, np.nan)
    labels[:-horizon] = (c[horizon:] > c[:-horizon]).astype(np.float64)
    return labels


@dataclass(frozen=True, kw_only=True, slots=True)
class MlPrediction:
    probability_up: float
    confidence: float
    model_probabilities: tuple[float, float, float]
    as_of_ms: int

    def to_dict(self) -> dict[str, object]:
        return {
            "probability_up": self.probability_up,
            "confidence": self.confidence,
            "model_probabilities": {
                "logistic_regression": self.model_probabilities[0],
                "random_forest": self.model_probabilities[1],
                "gradient_boosting": self.model_probabilities[2],
            },
            "as_of_ms": self.as_of_ms,
        }

    def as_reading(self) -> SignalReading:
        return SignalReading(
            name=SIGNAL_NAME,
            value=2.0 * self.probability_up - 1.0,
            confidence=self.confidence,
            as_of_ms=self.as_of_ms,
            detail=f"ML ensemble P(up) {self.probability_up:.0%}",
        )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class TrainedEnsemble:
    """Three fitted classifiers and how well the ensemble did out of sample.

    ``skill`` = clamp(2 · (walk-forward accuracy − 0.5), 0, 1): an ensemble that does
    not beat a coin flip out of sample gets no confidence.
    """

    logistic: Pipeline
    forest: RandomForestClassifier
    boosting: GradientBoostingClassifier
    feature_names: tuple[str, ...]
    schema_hash: str
    fold_accuracies: tuple[float, ...]
    walk_forward_accuracy: float
    trained_rows: int
    trained_at_ms: int

    @property
    def skill(self) -> float:
        return min(1.0, max(0.0, 2.0 * (self.walk_forward_accuracy - 0.5)))

    def predict(self, *, features: npt.ArrayLike, as_of_ms: int) -> MlPrediction:
        """Prediction for one feature row; confidence = (1 − model spread) · skill."""
        row = np.asarray(features, dtype=np.float64).reshape(1, -1)
        if row.shape[1] != len(self.feature_names) or not np.all(np.isfinite(row)):
            raise SignalDataError(
                f"need {len(self.feature_names)} finite features ({', '.join(self.feature_names)})"
            )
        probabilities = (
            float(self.logistic.predict_proba(row)[0, 1]),
            float(self.forest.predict_proba(row)[0, 1]),
            float(self.boosting.predict_proba(row)[0, 1]),
        )
        spread = max(probabilities) - min(probabilities)
        return MlPrediction(
            probability_up=sum(probabilities) / 3.0,
            confidence=(1.0 - spread) * self.skill,
            model_probabilities=probabilities,
            as_of_ms=as_of_ms,
        )


def _new_models(
    config: MlConfig,
) -> tuple[Pipeline, RandomForestClassifier, GradientBoostingClassifier]:
    # Heavy, see the imports.
    from sklearn.ensemble import (  # noqa: PLC0415
        GradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    return (
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1_000)),
        RandomForestClassifier(
            n_estimators=config.n_estimators,
            max_depth=config.max_depth,
            random_state=config.random_state,
            n_jobs=1,
        ),
        GradientBoostingClassifier(
            n_estimators=config.n_estimators,
            max_depth=config.max_depth,
            random_state=config.random_state,
        ),
    )


def _fit_all(
    *, config: MlConfig, features: FloatArray, labels: FloatArray
) -> tuple[Pipeline, RandomForestClassifier, GradientBoostingClassifier]:
    if np.unique(labels).size < 2:
        raise SignalDataError("training labels are all one class; need rises and falls")
    models = _new_models(config)
    for model in models:
        model.fit(features, labels)
    return models


def walk_forward_splits(
    *, usable_rows: IntArray, config: MlConfig
) -> list[tuple[IntArray, IntArray]]:
    """(train rows, test rows) per fold, in time order.

    The rows after the first ``min_train_rows`` are cut into consecutive test blocks; a
    block starting at row s trains only on rows i with i + horizon <= s, whose labels
    were already known at s.
    """
    test_rows = usable_rows[config.min_train_rows :]
    splits = []
    for block in np.array_split(test_rows, config.walk_forward_folds):
        start = int(block[0])
        splits.append((usable_rows[usable_rows + config.horizon <= start], block))
    return splits


def train_ensemble(
    *,
    features: npt.ArrayLike,
    close: npt.ArrayLike,
    config: MlConfig,
    now_ms: int | None = None,
) -> TrainedEnsemble:
    """Walk-forward evaluation (:func:`walk_forward_splits`), then a final fit on every
    row whose label is known. Rows are bars in time order."""
    x = np.asarray(features, dtype=np.float64)
    labels = forward_labels(close=close, horizon=config.horizon)
    if x.shape != (labels.size, len(config.feature_names)):
        raise SignalDataError(
            f"features must have shape ({labels.size}, {len(config.feature_names)}), got {x.shape}"
        )
    usable = np.flatnonzero(np.all(np.isfinite(x), axis=1) & np.isfinite(labels))
    if usable.size < config.min_train_rows + config.walk_forward_folds * 10:
        raise SignalDataError(
            f"only {usable.size} usable rows; need {config.min_train_rows} to train "
            "plus the walk-forward test blocks"
        )
    accuracies: list[float] = []
    hits = tested = 0
    for train, block in walk_forward_splits(usable_rows=usable, config=config):
        models = _fit_all(config=config, features=x[train], labels=labels[train])
        probability = np.mean([m.predict_proba(x[block])[:, 1] for m in models], axis=0)
        correct = (probability >= 0.5) == (labels[block] == 1.0)
        accuracies.append(float(correct.mean()))
        hits += int(correct.sum())
        tested += block.size
    logistic, forest, boosting = _fit_all(config=config, features=x[usable], labels=labels[usable])
    return TrainedEnsemble(
        logistic=logistic,
        forest=forest,
        boosting=boosting,
        feature_names=config.feature_names,
        schema_hash=config.schema_hash(),
        fold_accuracies=tuple(accuracies),
        walk_forward_accuracy=hits / tested,
        trained_rows=int(usable.size),
        trained_at_ms=int(time.time() * 1000) if now_ms is None else now_ms,
    )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class StoredEnsemble:
    """An ensemble as stored: its version and the Job that trained it."""

    version: int
    trained_by: str
    ensemble: TrainedEnsemble

    def to_dict(self) -> dict[str, object]:
        """What a status shows of it: which model, and how well it did out of sample."""
        ensemble = self.ensemble
        return {
            "version": self.version,
            "trainedBy": self.trained_by,
            "trainedAtMs": ensemble.trained_at_ms,
            "trainedRows": ensemble.trained_rows,
            "walkForwardAccuracy": ensemble.walk_forward_accuracy,
            "foldAccuracies": list(ensemble.fold_accuracies),
            "schemaHash": ensemble.schema_hash,
        }


def encode_ensemble(
    *, ensemble: TrainedEnsemble, version: int, trained_by: str
) -> tuple[dict[str, object], str]:
    """The metadata and the model (joblib pickle, gzip, base64) to store as ``version``.

    The metadata carries the model's SHA-256: a reader checks it, and what the model was built
    for, before it unpickles anything.
    """
    import joblib  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy, see the imports

    buffer = io.BytesIO()
    joblib.dump(ensemble, buffer, compress=("gzip", 6))
    blob = buffer.getvalue()
    metadata: dict[str, object] = {
        "format_version": STORE_FORMAT_VERSION,
        "version": version,
        "trained_by": trained_by,
        "schema_hash": ensemble.schema_hash,
        "feature_names": list(ensemble.feature_names),
        "sklearn_version": package_version("scikit-learn"),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "walk_forward_accuracy": ensemble.walk_forward_accuracy,
        "trained_rows": ensemble.trained_rows,
        "trained_at_ms": ensemble.trained_at_ms,
    }
    return metadata, base64.b64encode(blob).decode("ascii")


def decode_ensemble(
    *, metadata: Mapping[str, object], model: str, config: MlConfig
) -> StoredEnsemble:
    """The stored ensemble, if it was built for ``config`` by this scikit-learn and is intact;
    ModelStoreError naming what differs otherwise."""
    version = metadata.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelStoreError(f"ensemble metadata has no valid version: {version!r}")
    expected = {
        "format_version": STORE_FORMAT_VERSION,
        "schema_hash": config.schema_hash(),
        "sklearn_version": package_version("scikit-learn"),
    }
    for key, wanted in expected.items():
        if metadata.get(key) != wanted:
            raise ModelStoreError(
                f"ensemble v{version} was built with {key} {metadata.get(key)!r}, "
                f"this runtime needs {wanted!r}"
            )
    try:
        blob = base64.b64decode(model, validate=True)
    except (ValueError, TypeError) as error:
        raise ModelStoreError(f"ensemble v{version}: the model is not base64: {error}") from None
    if hashlib.sha256(blob).hexdigest() != metadata.get("sha256"):
        raise ModelStoreError(f"ensemble v{version}: the model does not match its SHA-256")
    import joblib  # noqa: PLC0415 - heavy, see the imports

    try:
        ensemble = joblib.load(io.BytesIO(blob))
    except Exception as error:  # a damaged pickle can fail with almost any exception
        raise ModelStoreError(f"ensemble v{version}: cannot load the model: {error}") from error
    if not isinstance(ensemble, TrainedEnsemble) or ensemble.schema_hash != config.schema_hash():
        raise ModelStoreError(f"ensemble v{version}: the model does not match its metadata")
    return StoredEnsemble(
        version=version, trained_by=str(metadata.get("trained_by", "")), ensemble=ensemble
    )
