"""Market-regime detection: a 3-state Gaussian HMM validated by a Gaussian mixture.

The live runtime and the backtester create one :class:`RegimeDetector` per symbol and
call :meth:`RegimeDetector.update` once per closed bar. ``update`` never fits: it
advances the HMM forward filter by one bar with the fitted parameters (a handful of
small operations, see :class:`RegimeModel`). The caller refits when
:attr:`RegimeDetector.refit_due` says so — on schedule, on likelihood drift, or when
no model exists yet — with :meth:`RegimeDetector.refit`. A refit that does not
converge, yields a non-positive-definite covariance or collapses a state is rejected:
the previous model stays in use and :attr:`RegimeDetector.status` says why.

States are named by their statistics: the state with the highest mean volatility is
``bearish_volatile``; of the other two, the one with the higher mean return is
``bullish_calm`` and the remaining one ``squeeze``. Each regime maps to trading
parameters (size multiplier, stop, target) from :class:`RegimeConfig`.
"""

from __future__ import annotations

import itertools
import math
import struct
import warnings
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tradefleet_runtime.signals.errors import RegimeFitError, SignalConfigError, SignalDataError
from tradefleet_runtime.signals.reading import SignalReading, clamp_unit
from tradefleet_runtime.signals.regime_features import (
    FEATURE_NAMES,
    FeatureHistory,
    RegimeFeatureTracker,
    warmup_bars,
)
from tradefleet_runtime.signals.validation import (
    require_in_range,
    require_int_at_least,
    require_non_negative,
    require_positive,
)

FloatArray = npt.NDArray[np.float64]

SIGNAL_NAME = "regime"
N_STATES = 3
_N_FEATURES = len(FEATURE_NAMES)
_LOG_2PI = math.log(2.0 * math.pi)
# Volatility enters the models as its logarithm: regimes differ by factors of
# volatility, and the log makes those gaps even and the within-regime spread symmetric.
# The floor keeps flat stretches finite.
VOLATILITY_FLOOR = 1e-12
# Bars replayed through a new model's filter so its posterior starts from recent data.
_FILTER_WARMUP_BARS = 100
# phi(x) of the density coefficients (see _quadratic_coefficients) as native doubles:
# 10 products x_i x_j (i <= j), the 4 features and a 1.
_PHI = struct.Struct("15d")


class RegimeLabel(StrEnum):
    BULLISH_CALM = "bullish_calm"
    BEARISH_VOLATILE = "bearish_volatile"
    SQUEEZE = "squeeze"
    UNKNOWN = "unknown"


MODELLED_LABELS: tuple[RegimeLabel, ...] = (
    RegimeLabel.BULLISH_CALM,
    RegimeLabel.BEARISH_VOLATILE,
    RegimeLabel.SQUEEZE,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeTradingParams:
    """How a regime shapes trading: size multiplier, stop-loss and take-profit in percent."""

    position_size_multiplier: float
    stop_loss_pct: float
    take_profit_pct: float

    def __post_init__(self) -> None:
        require_non_negative(name="position_size_multiplier", value=self.position_size_multiplier)
        require_positive(name="stop_loss_pct", value=self.stop_loss_pct)
        require_positive(name="take_profit_pct", value=self.take_profit_pct)

    def to_dict(self) -> dict[str, float]:
        return {
            "position_size_multiplier": self.position_size_multiplier,
            "stop_loss_pct": self.stop_loss_pct,
            "take_profit_pct": self.take_profit_pct,
        }


def default_trading_params() -> dict[RegimeLabel, RegimeTradingParams]:
    """Bullish/calm sizes up, bearish/volatile halves, squeeze trims; unknown stays cautious."""
    return {
        RegimeLabel.BULLISH_CALM: RegimeTradingParams(
            position_size_multiplier=1.2, stop_loss_pct=2.0, take_profit_pct=5.0
        ),
        RegimeLabel.BEARISH_VOLATILE: RegimeTradingParams(
            position_size_multiplier=0.5, stop_loss_pct=3.0, take_profit_pct=3.0
        ),
        RegimeLabel.SQUEEZE: RegimeTradingParams(
            position_size_multiplier=0.7, stop_loss_pct=1.5, take_profit_pct=2.5
        ),
        RegimeLabel.UNKNOWN: RegimeTradingParams(
            position_size_multiplier=0.5, stop_loss_pct=2.0, take_profit_pct=3.0
        ),
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeConfig:
    """Feature windows, fit schedule and limits, and the trading parameters per regime.

    ``tol`` is the EM stopping threshold in log-likelihood per bar (hmmlearn's own
    ``tol`` is per fit, so it is scaled by the number of bars). A fit is rejected when a
    state explains less than ``min_state_share`` of the bars or when two states' mean
    volatilities are closer than a factor ``min_volatility_ratio``. ``drift_threshold`` is
    how far (nats per bar) the recent mean predictive log-likelihood may fall below the
    fit's before a refit is due.
    """

    volatility_window: int = 20
    momentum_window: int = 20
    zscore_window: int = 20
    min_history: int = 1_000
    fit_window: int = 5_000
    refit_interval: int = 1_440
    refit_retry_bars: int = 100
    drift_window: int = 500
    drift_threshold: float = 2.0
    n_iter: int = 50
    tol: float = 1e-4
    min_covar: float = 1e-3
    min_eigenvalue: float = 1e-9
    min_state_share: float = 0.01
    min_volatility_ratio: float = 1.5
    gmm_max_rows: int = 20_000
    random_state: int = 0
    trading_params: Mapping[RegimeLabel, RegimeTradingParams] = field(
        default_factory=default_trading_params
    )

    def __post_init__(self) -> None:
        require_int_at_least(name="volatility_window", value=self.volatility_window, minimum=2)
        require_int_at_least(name="momentum_window", value=self.momentum_window, minimum=1)
        require_int_at_least(name="zscore_window", value=self.zscore_window, minimum=2)
        require_int_at_least(name="min_history", value=self.min_history, minimum=30)
        require_int_at_least(name="fit_window", value=self.fit_window, minimum=self.min_history)
        require_int_at_least(name="refit_interval", value=self.refit_interval, minimum=1)
        require_int_at_least(name="refit_retry_bars", value=self.refit_retry_bars, minimum=1)
        require_int_at_least(name="drift_window", value=self.drift_window, minimum=10)
        require_positive(name="drift_threshold", value=self.drift_threshold)
        require_int_at_least(name="n_iter", value=self.n_iter, minimum=1)
        require_positive(name="tol", value=self.tol)
        require_positive(name="min_covar", value=self.min_covar)
        require_positive(name="min_eigenvalue", value=self.min_eigenvalue)
        require_in_range(name="min_state_share", value=self.min_state_share, low=0.0, high=0.3)
        require_in_range(
            name="min_volatility_ratio", value=self.min_volatility_ratio, low=1.0, high=10.0
        )
        require_int_at_least(name="random_state", value=self.random_state, minimum=0)
        require_int_at_least(name="gmm_max_rows", value=self.gmm_max_rows, minimum=100)
        missing = [label.value for label in RegimeLabel if label not in self.trading_params]
        if missing:
            raise SignalConfigError(f"trading_params has no entry for {', '.join(missing)}")

    @property
    def warmup_bars(self) -> int:
        return warmup_bars(
            volatility_window=self.volatility_window,
            momentum_window=self.momentum_window,
            zscore_window=self.zscore_window,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class StateStatistics:
    """A fitted state's mean per-bar log return and (geometric) mean rolling volatility."""

    label: RegimeLabel
    mean_log_return: float
    mean_volatility: float
    share: float

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label.value,
            "mean_log_return": self.mean_log_return,
            "mean_volatility": self.mean_volatility,
            "share": self.share,
        }


def _quadratic_coefficients(
    *, means: FloatArray, covariances: FloatArray, log_weights: FloatArray
) -> FloatArray:
    """Rows c_k with log(w_k N(x; mu_k, S_k)) = c_k · phi(x), phi = [x_i x_j (i<=j), x, 1].

    Precomputing the precision matrices and log-determinants here turns each online
    density evaluation into one small matrix-vector product.
    """
    n_components, dim = means.shape
    pairs = [(i, j) for i in range(dim) for j in range(i, dim)]
    coefficients = np.zeros((n_components, len(pairs) + dim + 1))
    for k in range(n_components):
        precision = np.linalg.inv(covariances[k])
        _, log_det = np.linalg.slogdet(covariances[k])
        for column, (i, j) in enumerate(pairs):
            coefficients[k, column] = -0.5 * precision[i, i] if i == j else -precision[i, j]
        linear = precision @ means[k]
        coefficients[k, len(pairs) : len(pairs) + dim] = linear
        coefficients[k, -1] = (
            log_weights[k] - 0.5 * float(means[k] @ linear) - 0.5 * log_det - 0.5 * dim * _LOG_2PI
        )
    return coefficients


def check_covariances(*, covariances: FloatArray, min_eigenvalue: float) -> None:
    """Raise RegimeFitError unless every covariance is finite, symmetric and positive definite."""
    for k, covariance in enumerate(covariances):
        if not np.all(np.isfinite(covariance)):
            raise RegimeFitError(f"state {k} covariance has non-finite entries")
        if not np.allclose(covariance, covariance.T, rtol=1e-8, atol=1e-12):
            raise RegimeFitError(f"state {k} covariance is not symmetric")
        smallest = float(np.linalg.eigvalsh(covariance).min())
        if smallest <= min_eigenvalue:
            raise RegimeFitError(
                f"state {k} covariance is not positive definite "
                f"(smallest eigenvalue {smallest:.3g} <= {min_eigenvalue:.3g})"
            )


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class RegimeModel:
    """A fitted HMM + GMM pair, reduced to what the online filter needs."""

    labels: tuple[RegimeLabel, ...]
    statistics: tuple[StateStatistics, ...]
    feature_mean: tuple[float, ...]
    feature_scale: tuple[float, ...]
    start_probability: tuple[float, ...]
    transitions: tuple[tuple[float, ...], ...]
    # 2 * N_STATES rows: the HMM emission densities, then the GMM components
    # (log weights folded in), as coefficients of phi(x).
    coefficients: FloatArray
    gmm_component_of_state: tuple[int, ...]
    agreement: float
    mean_log_likelihood: float
    iterations: int
    n_bars: int


def fit_regime_model(*, features: npt.ArrayLike, config: RegimeConfig) -> RegimeModel:
    """Fit the HMM (initialised from a GMM fit) on feature rows; RegimeFitError if unusable.

    BLAS runs single-threaded here: the matrices are 4x4, and handing them to a thread
    pool costs more than it saves (and competes with the bot's own event loop).
    """
    # Imported here, not at module load: the bot must answer its health checks seconds after a
    # restart, and these libraries take longer than that to import; the first fit comes later.
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # noqa: PLC0415

    with threadpool_limits(limits=1):
        return _fit(features=features, config=config)


def _fit(*, features: npt.ArrayLike, config: RegimeConfig) -> RegimeModel:
    from hmmlearn.hmm import GaussianHMM  # noqa: PLC0415 - see fit_regime_model
    from sklearn.exceptions import ConvergenceWarning  # noqa: PLC0415
    from sklearn.mixture import GaussianMixture  # noqa: PLC0415

    data = np.asarray(features, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != _N_FEATURES:
        raise RegimeFitError(f"features must have shape (n, {_N_FEATURES}), got {data.shape}")
    n_bars = data.shape[0]
    if n_bars < config.min_history:
        raise RegimeFitError(f"only {n_bars} bars of features, need {config.min_history}")
    if not np.all(np.isfinite(data)):
        raise RegimeFitError("features contain NaN or infinite values")
    data = data.copy()
    data[:, 1] = np.log(np.maximum(data[:, 1], VOLATILITY_FLOOR))
    mean = data.mean(axis=0)
    scale = data.std(axis=0)
    for name, column_mean, column_scale in zip(FEATURE_NAMES, mean, scale, strict=True):
        if column_scale <= 1e-12 * max(1.0, abs(float(column_mean))):
            raise RegimeFitError(f"feature {name} has no variance in the fit window (flat prices?)")
    standardised = (data - mean) / scale

    # The mixture only validates and seeds the HMM: an evenly strided sample is enough.
    sample = standardised[:: math.ceil(n_bars / config.gmm_max_rows)]
    weights, means, precisions = _volatility_terciles(data=sample, min_covar=config.min_covar)
    mixture = GaussianMixture(
        n_components=N_STATES,
        covariance_type="full",
        reg_covar=config.min_covar,
        max_iter=200,
        random_state=config.random_state,
        # Cheap placeholder init; all three *_init arguments override it.
        init_params="random_from_data",
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            mixture.fit(sample)
        except (ValueError, np.linalg.LinAlgError) as error:
            raise RegimeFitError(f"Gaussian mixture fit failed: {error}") from error
    if not mixture.converged_:
        raise RegimeFitError("Gaussian mixture (validation model) did not converge")

    stay = 0.95
    hmm = GaussianHMM(
        n_components=N_STATES,
        covariance_type="full",
        min_covar=config.min_covar,
        n_iter=config.n_iter,
        tol=config.tol * n_bars,
        init_params="",
        params="stmc",
        random_state=config.random_state,
    )
    hmm.startprob_ = np.asarray(mixture.weights_, dtype=np.float64)
    hmm.transmat_ = np.full((N_STATES, N_STATES), (1.0 - stay) / (N_STATES - 1))
    np.fill_diagonal(hmm.transmat_, stay)
    hmm.means_ = np.asarray(mixture.means_, dtype=np.float64)
    hmm.covars_ = np.asarray(mixture.covariances_, dtype=np.float64)
    try:
        hmm.fit(standardised)
    except (ValueError, np.linalg.LinAlgError) as error:
        raise RegimeFitError(f"HMM fit failed: {error}") from error
    history = list(hmm.monitor_.history)
    # hmmlearn also reports "converged" when it merely ran out of iterations.
    if len(history) < 2 or not abs(history[-1] - history[-2]) < config.tol * n_bars:
        last = abs(history[-1] - history[-2]) / n_bars if len(history) >= 2 else math.nan
        raise RegimeFitError(
            f"HMM did not converge in {config.n_iter} iterations "
            f"(last improvement {last:.2e} nats/bar, tol {config.tol:.1e})"
        )
    covariances = np.asarray(hmm.covars_, dtype=np.float64)
    check_covariances(covariances=covariances, min_eigenvalue=config.min_eigenvalue)
    transitions = np.asarray(hmm.transmat_, dtype=np.float64)
    start = np.asarray(hmm.startprob_, dtype=np.float64)
    if not (np.all(np.isfinite(transitions)) and np.all(np.isfinite(start))):
        raise RegimeFitError("HMM transition or start probabilities are not finite")

    posteriors = hmm.predict_proba(standardised)
    shares = posteriors.mean(axis=0)
    if shares.min() < config.min_state_share:
        raise RegimeFitError(
            f"a state collapsed: it explains {shares.min():.2%} of bars "
            f"(minimum {config.min_state_share:.2%})"
        )
    state_means = np.asarray(hmm.means_, dtype=np.float64)
    raw_means = state_means * scale + mean
    levels = np.sort(np.exp(raw_means[:, 1]))
    closest = float(np.min(levels[1:] / levels[:-1]))
    if closest < config.min_volatility_ratio:
        # Two states at one volatility level means one regime was split (typically by
        # trend direction) and two others merged; labelling that would be a guess.
        raise RegimeFitError(
            f"two states share a volatility level (ratio {closest:.2f} < "
            f"{config.min_volatility_ratio:.2f}); the fit window may lack a regime"
        )
    labels = _label_states(mean_return=raw_means[:, 0], mean_volatility=raw_means[:, 1])

    gmm_means = np.asarray(mixture.means_, dtype=np.float64)
    gmm_of_state = min(
        itertools.permutations(range(N_STATES)),
        key=lambda perm: float(
            sum(np.sum((gmm_means[perm[k]] - state_means[k]) ** 2) for k in range(N_STATES))
        ),
    )
    state_of_gmm = np.empty(N_STATES, dtype=np.int64)
    state_of_gmm[list(gmm_of_state)] = np.arange(N_STATES)
    agreement = float(
        np.mean(state_of_gmm[mixture.predict(standardised)] == posteriors.argmax(axis=1))
    )
    coefficients = np.vstack(
        [
            _quadratic_coefficients(
                means=state_means, covariances=covariances, log_weights=np.zeros(N_STATES)
            ),
            _quadratic_coefficients(
                means=gmm_means,
                covariances=np.asarray(mixture.covariances_, dtype=np.float64),
                log_weights=np.log(np.asarray(mixture.weights_, dtype=np.float64)),
            ),
        ]
    )
    statistics = tuple(
        StateStatistics(
            label=labels[k],
            mean_log_return=float(raw_means[k, 0]),
            mean_volatility=math.exp(float(raw_means[k, 1])),
            share=float(shares[k]),
        )
        for k in range(N_STATES)
    )
    return RegimeModel(
        labels=labels,
        statistics=statistics,
        feature_mean=tuple(float(v) for v in mean),
        feature_scale=tuple(float(v) for v in scale),
        start_probability=tuple(float(v) for v in start),
        transitions=tuple(tuple(float(v) for v in row) for row in transitions),
        coefficients=coefficients,
        gmm_component_of_state=tuple(int(v) for v in gmm_of_state),
        agreement=agreement,
        mean_log_likelihood=float(history[-1]) / n_bars,
        iterations=int(hmm.monitor_.iter),
        n_bars=n_bars,
    )


def _volatility_terciles(
    *, data: FloatArray, min_covar: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Starting weights, means and precisions: the bars in low / middle / high volatility thirds.

    Regimes differ first of all by volatility, so starting EM from volatility terciles
    steers it away from optima that split one regime by trend direction.
    """
    parts = np.array_split(np.argsort(data[:, 1], kind="stable"), N_STATES)
    identity = np.eye(data.shape[1])
    weights = np.array([part.size / data.shape[0] for part in parts])
    means = np.array([data[part].mean(axis=0) for part in parts])
    precisions = np.array(
        [np.linalg.inv(np.cov(data[part].T) + min_covar * identity) for part in parts]
    )
    return weights, means, precisions


def _label_states(
    *, mean_return: FloatArray, mean_volatility: FloatArray
) -> tuple[RegimeLabel, ...]:
    """Highest volatility → bearish_volatile; higher mean return of the rest → bullish_calm."""
    labels = [RegimeLabel.SQUEEZE] * N_STATES
    volatile = int(np.argmax(mean_volatility))
    labels[volatile] = RegimeLabel.BEARISH_VOLATILE
    calm = [k for k in range(N_STATES) if k != volatile]
    bullish = max(calm, key=lambda k: float(mean_return[k]))
    labels[bullish] = RegimeLabel.BULLISH_CALM
    return tuple(labels)


Posterior = tuple[float, float, float]


class RegimeFilter:
    """The online filter of a fitted model: one forward-recursion step per bar.

    Each step also gives the GMM posterior (for the confidence) and the predictive
    log-likelihood (for drift detection). The detector owns one; backtests may replay
    features through one directly.

    Three states make unrolled float arithmetic cheaper than numpy calls; numpy does
    only the one matrix-vector product of the six log densities. Its input phi(x) is
    packed straight into a buffer the filter keeps: a new array built from 15 Python
    floats would cost more than the product itself.
    """

    __slots__ = (
        "_coefficients",
        "_mean",
        "_phi",
        "_phi_bytes",
        "_posterior",
        "_scale",
        "_start",
        "_transitions",
    )

    def __init__(self, *, model: RegimeModel) -> None:
        self._coefficients = np.ascontiguousarray(model.coefficients, dtype=np.float64)
        self._phi_bytes = bytearray(_PHI.size)
        self._phi = np.frombuffer(self._phi_bytes, dtype=np.float64)  # a view of the bytes
        self._transitions = tuple(p for row in model.transitions for p in row)
        self._mean = model.feature_mean
        self._scale = model.feature_scale
        start = model.start_probability
        self._start: Posterior = (start[0], start[1], start[2])
        self._posterior: Posterior | None = None

    def step(
        self, features: tuple[float, float, float, float]
    ) -> tuple[Posterior, Posterior, float]:
        """Advance one bar: (HMM filtered posterior, GMM posterior, predictive log-likelihood)."""
        log_return, volatility, momentum, zscore = features
        m0, m1, m2, m3 = self._mean
        s0, s1, s2, s3 = self._scale
        a = (log_return - m0) / s0
        b = (math.log(volatility if volatility > VOLATILITY_FLOOR else VOLATILITY_FLOOR) - m1) / s1
        c = (momentum - m2) / s2
        d = (zscore - m3) / s3
        _PHI.pack_into(
            self._phi_bytes,
            0,
            a * a,
            a * b,
            a * c,
            a * d,
            b * b,
            b * c,
            b * d,
            c * c,
            c * d,
            d * d,
            a,
            b,
            c,
            d,
            1.0,
        )
        h0, h1, h2, g0, g1, g2 = self._coefficients.dot(self._phi).tolist()
        posterior = self._posterior
        if posterior is None:
            q0, q1, q2 = self._start
        else:
            t00, t01, t02, t10, t11, t12, t20, t21, t22 = self._transitions
            p0, p1, p2 = posterior
            q0 = p0 * t00 + p1 * t10 + p2 * t20
            q1 = p0 * t01 + p1 * t11 + p2 * t21
            q2 = p0 * t02 + p1 * t12 + p2 * t22
        top = h0 if h0 > h1 else h1
        top = h2 if h2 > top else top
        u0 = q0 * math.exp(h0 - top)
        u1 = q1 * math.exp(h1 - top)
        u2 = q2 * math.exp(h2 - top)
        total = u0 + u1 + u2
        new_posterior = (u0 / total, u1 / total, u2 / total)
        self._posterior = new_posterior
        gtop = g0 if g0 > g1 else g1
        gtop = g2 if g2 > gtop else gtop
        w0 = math.exp(g0 - gtop)
        w1 = math.exp(g1 - gtop)
        w2 = math.exp(g2 - gtop)
        wsum = w0 + w1 + w2
        return new_posterior, (w0 / wsum, w1 / wsum, w2 / wsum), top + math.log(total)


class ModelState(StrEnum):
    UNFITTED = "unfitted"
    READY = "ready"
    KEPT_PREVIOUS = "kept_previous"


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeModelStatus:
    """What the API shows about the model: in use or not, and the last refit's outcome."""

    state: ModelState
    reason: str
    fitted_at_ms: int | None
    fitted_bars: int
    iterations: int
    agreement: float | None
    mean_log_likelihood: float | None
    recent_log_likelihood: float | None
    drift_detected: bool
    statistics: tuple[StateStatistics, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "reason": self.reason,
            "fitted_at_ms": self.fitted_at_ms,
            "fitted_bars": self.fitted_bars,
            "iterations": self.iterations,
            "hmm_gmm_agreement": self.agreement,
            "mean_log_likelihood": self.mean_log_likelihood,
            "recent_log_likelihood": self.recent_log_likelihood,
            "drift_detected": self.drift_detected,
            "states": [stats.to_dict() for stats in self.statistics],
        }


class RegimeState(NamedTuple):
    """The regime of one symbol as of one bar.

    ``probabilities`` are the filtered state probabilities in ``MODELLED_LABELS`` order
    (bullish_calm, bearish_volatile, squeeze); empty while the regime is unknown.

    A named tuple, not a frozen dataclass: the detector builds one per bar for every
    symbol, and a tuple is as immutable and several times cheaper to build.
    """

    symbol: str
    regime: RegimeLabel
    confidence: float
    probabilities: tuple[float, ...]
    volatility: float
    trend_strength: float
    gmm_agrees: bool | None
    trading_params: RegimeTradingParams
    as_of_ms: int

    def to_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "regime": self.regime.value,
            "confidence": self.confidence,
            "volatility": self.volatility,
            "trend_strength": self.trend_strength,
            # Empty while the regime is unknown.
            "probabilities": dict(
                zip((label.value for label in MODELLED_LABELS), self.probabilities, strict=False)
            ),
            "gmm_agrees": self.gmm_agrees,
            "trading_params": self.trading_params.to_dict(),
            "as_of_ms": self.as_of_ms,
        }

    def as_reading(self) -> SignalReading | None:
        """P(bullish) − P(bearish) with the regime confidence; None while unknown."""
        if self.regime is RegimeLabel.UNKNOWN:
            return None
        bullish, bearish, _ = self.probabilities
        return SignalReading(
            name=SIGNAL_NAME,
            value=clamp_unit(bullish - bearish),
            confidence=self.confidence,
            as_of_ms=self.as_of_ms,
            detail=f"market regime {self.regime.value} (confidence {self.confidence:.0%})",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class RefitOutcome:
    """Whether a refit replaced the model, and why (or why not)."""

    accepted: bool
    reason: str


class RegimeDetector:
    """Regime of one symbol, updated per bar; refits only when asked.

    ``refit`` is synchronous and takes from tens of milliseconds to a few seconds; an
    async caller runs it with ``await asyncio.to_thread(detector.refit)`` between two
    bars, never concurrently with ``update``.
    """

    __slots__ = (
        "_bars_since_attempt",
        "_config",
        "_drift_window",
        "_filter",
        "_fitted_at_ms",
        "_history",
        "_last_ms",
        "_last_state",
        "_log_likelihood_sum",
        "_log_likelihoods",
        "_model",
        "_momentum_scale",
        "_state_of_label",
        "_state_params",
        "_status_reason",
        "_status_state",
        "_symbol",
        "_tracker",
        "_unknown_params",
    )

    def __init__(self, *, symbol: str, config: RegimeConfig) -> None:
        self._symbol = symbol
        self._config = config
        self._tracker = RegimeFeatureTracker(
            volatility_window=config.volatility_window,
            momentum_window=config.momentum_window,
            zscore_window=config.zscore_window,
        )
        self._history = FeatureHistory(capacity=config.fit_window)
        self._model: RegimeModel | None = None
        self._filter: RegimeFilter | None = None
        self._log_likelihoods: deque[float] = deque(maxlen=config.drift_window)
        self._log_likelihood_sum = 0.0
        self._bars_since_attempt = config.refit_retry_bars
        self._last_ms = -(2**62)
        self._fitted_at_ms: int | None = None
        self._status_state = ModelState.UNFITTED
        self._status_reason = f"waiting for {config.min_history} bars of features"
        self._unknown_params = config.trading_params[RegimeLabel.UNKNOWN]
        self._momentum_scale = math.sqrt(config.momentum_window)
        self._drift_window = config.drift_window
        self._state_params: tuple[RegimeTradingParams, ...] = ()
        self._state_of_label: tuple[int, ...] = ()
        self._last_state: RegimeState | None = None

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def model(self) -> RegimeModel | None:
        return self._model

    @property
    def state(self) -> RegimeState | None:
        """The state returned by the latest update."""
        return self._last_state

    @property
    def history_bars(self) -> int:
        """Bars of features held for the next fit (at most ``fit_window``)."""
        return len(self._history)

    @property
    def drift_detected(self) -> bool:
        model = self._model
        window = self._log_likelihoods
        if model is None or len(window) < self._config.drift_window:
            return False
        recent = self._log_likelihood_sum / len(window)
        return recent < model.mean_log_likelihood - self._config.drift_threshold

    @property
    def refit_due(self) -> bool:
        """True when a refit should run now (first fit, schedule, or drift)."""
        config = self._config
        if len(self._history) < config.min_history:
            return False
        if self._model is None or self.drift_detected:
            return self._bars_since_attempt >= config.refit_retry_bars
        return self._bars_since_attempt >= config.refit_interval

    @property
    def status(self) -> RegimeModelStatus:
        model = self._model
        window = self._log_likelihoods
        return RegimeModelStatus(
            state=self._status_state,
            reason=self._status_reason,
            fitted_at_ms=self._fitted_at_ms,
            fitted_bars=model.n_bars if model else 0,
            iterations=model.iterations if model else 0,
            agreement=model.agreement if model else None,
            mean_log_likelihood=model.mean_log_likelihood if model else None,
            recent_log_likelihood=self._log_likelihood_sum / len(window) if window else None,
            drift_detected=self.drift_detected,
            statistics=model.statistics if model else (),
        )

    def refit(self) -> RefitOutcome:
        """Fit on the held history; on failure keep the previous model and record why."""
        self._bars_since_attempt = 0
        features = self._history.to_array()
        try:
            model = fit_regime_model(features=features, config=self._config)
        except RegimeFitError as error:
            if self._model is None:
                self._status_state = ModelState.UNFITTED
                self._status_reason = f"fit rejected: {error.reason}"
            else:
                self._status_state = ModelState.KEPT_PREVIOUS
                self._status_reason = f"refit rejected, previous model kept: {error.reason}"
            return RefitOutcome(accepted=False, reason=error.reason)
        self._install(model=model, features=features)
        reason = (
            f"fitted on {model.n_bars} bars in {model.iterations} iterations, "
            f"HMM/GMM agreement {model.agreement:.0%}"
        )
        self._status_state = ModelState.READY
        self._status_reason = reason
        return RefitOutcome(accepted=True, reason=reason)

    def _install(self, *, model: RegimeModel, features: FloatArray) -> None:
        self._model = model
        self._state_params = tuple(self._config.trading_params[label] for label in model.labels)
        self._state_of_label = tuple(model.labels.index(label) for label in MODELLED_LABELS)
        self._fitted_at_ms = self._last_ms
        forward = RegimeFilter(model=model)
        for row in features[-_FILTER_WARMUP_BARS:].tolist():
            forward.step((row[0], row[1], row[2], row[3]))
        self._filter = forward
        self._log_likelihoods.clear()
        self._log_likelihood_sum = 0.0

    def update(self, *, close: float, timestamp_ms: int) -> RegimeState:
        """Fold in one closed bar and return the regime as of that bar."""
        if not (close * 0.0 == 0.0 and close > 0.0):
            raise SignalDataError(f"{self._symbol}: close must be finite and > 0, got {close!r}")
        if timestamp_ms < self._last_ms:
            raise SignalDataError(
                f"{self._symbol}: bar at {timestamp_ms} ms is older than the previous one "
                f"at {self._last_ms} ms"
            )
        self._last_ms = timestamp_ms
        self._bars_since_attempt += 1
        features = self._tracker.push(close)
        if features is None:
            return self._remember_unknown(timestamp_ms=timestamp_ms, volatility=0.0)
        self._history.append(features)
        forward = self._filter
        model = self._model
        if forward is None or model is None:
            return self._remember_unknown(timestamp_ms=timestamp_ms, volatility=features[1])
        posterior, gmm_posterior, log_likelihood = forward.step(features)
        window = self._log_likelihoods
        if len(window) == self._drift_window:
            self._log_likelihood_sum -= window[0]
        window.append(log_likelihood)
        self._log_likelihood_sum += log_likelihood

        # The most probable state and GMM component (first of equals), written out: this
        # runs once per bar for every symbol.
        p0, p1, p2 = posterior
        best = (0 if p0 >= p2 else 2) if p0 >= p1 else (1 if p1 >= p2 else 2)
        w0, w1, w2 = gmm_posterior
        gmm_best = (0 if w0 >= w2 else 2) if w0 >= w1 else (1 if w1 >= w2 else 2)
        matched = model.gmm_component_of_state[best]
        _, volatility, momentum, _ = features
        scale = volatility * self._momentum_scale
        bullish, bearish, squeeze = self._state_of_label
        # The values in field order, as RegimeState._make takes them, minus its length check;
        # keyword arguments would cost a dict.
        state: RegimeState = tuple.__new__(
            RegimeState,
            (
                self._symbol,
                model.labels[best],
                math.sqrt(posterior[best] * gmm_posterior[matched]),  # confidence
                (posterior[bullish], posterior[bearish], posterior[squeeze]),
                volatility,
                math.tanh(abs(math.log1p(momentum)) / scale) if scale > 0 else 0.0,
                gmm_best == matched,  # gmm_agrees
                self._state_params[best],
                timestamp_ms,
            ),
        )
        self._last_state = state
        return state

    def _remember_unknown(self, *, timestamp_ms: int, volatility: float) -> RegimeState:
        state = RegimeState(
            symbol=self._symbol,
            regime=RegimeLabel.UNKNOWN,
            confidence=0.0,
            probabilities=(),
            volatility=volatility,
            trend_strength=0.0,
            gmm_agrees=None,
            trading_params=self._unknown_params,
            as_of_ms=timestamp_ms,
        )
        self._last_state = state
        return state
