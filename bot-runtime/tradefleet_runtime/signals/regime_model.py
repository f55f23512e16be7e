"""The regime model: a 3-state Gaussian HMM fitted on standardised features, validated by a
Gaussian mixture, and its online filter.

:func:`fit_regime_model` is called by :meth:`RegimeDetector.refit
<tradefleet_runtime.signals.regime.RegimeDetector.refit>` (and by benchmarks and tests); it
rejects a fit that does not converge, yields a non-positive-definite covariance or collapses a
state. :class:`RegimeFilter` advances a fitted model's forward filter one bar at a time; the
detector owns one, and backtests may replay features through one directly.
"""

from __future__ import annotations

import itertools
import math
import struct
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tradefleet_runtime.signals.errors import RegimeFitError
from tradefleet_runtime.signals.regime_config import RegimeConfig, RegimeLabel
from tradefleet_runtime.signals.regime_features import FEATURE_NAMES, VOLATILITY_COLUMNS

FloatArray = npt.NDArray[np.float64]

N_STATES = 3
_N_FEATURES = len(FEATURE_NAMES)
_LOG_2PI = math.log(2.0 * math.pi)
# Volatilities enter the models as their logarithm: regimes differ by factors of
# volatility, and the log makes those gaps even and the within-regime spread symmetric.
# The floor keeps flat stretches finite.
VOLATILITY_FLOOR = 1e-12
# phi(x) of the density coefficients (see _quadratic_coefficients) as native doubles:
# 10 products x_i x_j (i <= j), the 4 features and a 1.
_PHI = struct.Struct("15d")


@dataclass(frozen=True, kw_only=True, slots=True)
class StateStatistics:
    """A fitted state's mean per-bar (clipped) log return and (geometric) mean long volatility."""

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


# Where EM starts: the bars split into three volatility bands at these quantiles. Thirds first;
# when that fit is refused (a rare regime's bars are too few to hold a third, so EM splits a
# common one instead), a narrow top band for a rare volatile regime, then a narrow bottom one.
VOLATILITY_BANDS: tuple[tuple[float, float], ...] = ((1 / 3, 2 / 3), (0.5, 0.9), (0.1, 0.5))


def _fit(*, features: npt.ArrayLike, config: RegimeConfig) -> RegimeModel:
    data, mean, scale = _checked_features(features=features, config=config)
    standardised = (data - mean) / scale
    refusals: list[RegimeFitError] = []
    for bands in VOLATILITY_BANDS:
        try:
            return _fit_from(
                data=data, mean=mean, scale=scale, standardised=standardised, bands=bands,
                config=config,
            )  # fmt: skip
        except RegimeFitError as refused:
            refusals.append(refused)
    raise refusals[0]


def _fit_from(
    *,
    data: FloatArray,
    mean: FloatArray,
    scale: FloatArray,
    standardised: FloatArray,
    bands: tuple[float, float],
    config: RegimeConfig,
) -> RegimeModel:
    n_bars = data.shape[0]
    mixture = _fit_mixture(standardised=standardised, bands=bands, config=config)
    hmm, history = _fit_hmm(standardised=standardised, mixture=mixture, config=config)
    covariances = np.asarray(hmm.covars_, dtype=np.float64)
    check_covariances(covariances=covariances, min_eigenvalue=config.min_eigenvalue)
    transitions = np.asarray(hmm.transmat_, dtype=np.float64)
    start = np.asarray(hmm.startprob_, dtype=np.float64)
    if not (np.all(np.isfinite(transitions)) and np.all(np.isfinite(start))):
        raise RegimeFitError("HMM transition or start probabilities are not finite")

    posteriors = hmm.predict_proba(standardised)
    shares = posteriors.mean(axis=0)
    state_means = np.asarray(hmm.means_, dtype=np.float64)
    raw_means = state_means * scale + mean
    labels = _distinct_states(
        shares=shares, log_volatility=_log_volatility(raw_means), config=config
    )
    gmm_means = np.asarray(mixture.means_, dtype=np.float64)
    gmm_of_state = _mixture_component_of_state(gmm_means=gmm_means, state_means=state_means)
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
            mean_volatility=math.exp(float(raw_means[k, VOLATILITY_COLUMNS[-1]])),
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


def _checked_features(
    *, features: npt.ArrayLike, config: RegimeConfig
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The feature rows with volatilities as their log, and each column's mean and scale;
    refused when too few, not finite, or a column is flat."""
    data = np.asarray(features, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != _N_FEATURES:
        raise RegimeFitError(f"features must have shape (n, {_N_FEATURES}), got {data.shape}")
    n_bars = data.shape[0]
    if n_bars < config.min_history:
        raise RegimeFitError(f"only {n_bars} bars of features, need {config.min_history}")
    if not np.all(np.isfinite(data)):
        raise RegimeFitError("features contain NaN or infinite values")
    data = data.copy()
    for column in VOLATILITY_COLUMNS:
        data[:, column] = np.log(np.maximum(data[:, column], VOLATILITY_FLOOR))
    mean = data.mean(axis=0)
    scale = data.std(axis=0)
    for name, column_mean, column_scale in zip(FEATURE_NAMES, mean, scale, strict=True):
        if column_scale <= 1e-12 * max(1.0, abs(float(column_mean))):
            raise RegimeFitError(f"feature {name} has no variance in the fit window (flat prices?)")
    return data, mean, scale


def _fit_mixture(
    *, standardised: FloatArray, bands: tuple[float, float], config: RegimeConfig
) -> Any:
    """The Gaussian mixture that validates and seeds the HMM, started from volatility bands."""
    from sklearn.exceptions import ConvergenceWarning  # noqa: PLC0415 - see fit_regime_model
    from sklearn.mixture import GaussianMixture  # noqa: PLC0415

    # The mixture only validates and seeds the HMM: an evenly strided sample is enough.
    sample = standardised[:: math.ceil(standardised.shape[0] / config.gmm_max_rows)]
    weights, means, precisions = _volatility_bands(
        data=sample, bands=bands, min_covar=config.min_covar
    )
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
    return mixture


def _fit_hmm(
    *, standardised: FloatArray, mixture: Any, config: RegimeConfig
) -> tuple[Any, list[float]]:
    """The HMM fitted from the mixture's states, and its log-likelihood per EM iteration;
    refused unless EM really converged."""
    from hmmlearn.hmm import GaussianHMM  # noqa: PLC0415 - see fit_regime_model

    n_bars = standardised.shape[0]
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
    return hmm, history


def _log_volatility(rows: FloatArray) -> FloatArray:
    """Each row's volatility level: the mean of its (log) volatility columns."""
    return np.asarray(rows[:, list(VOLATILITY_COLUMNS)].mean(axis=1), dtype=np.float64)


def _distinct_states(
    *, shares: FloatArray, log_volatility: FloatArray, config: RegimeConfig
) -> tuple[RegimeLabel, ...]:
    """The states' labels; refused when a state collapsed or two share a volatility level."""
    if shares.min() < config.min_state_share:
        raise RegimeFitError(
            f"a state collapsed: it explains {shares.min():.2%} of bars "
            f"(minimum {config.min_state_share:.2%})"
        )
    levels = np.sort(np.exp(log_volatility))
    closest = float(np.min(levels[1:] / levels[:-1]))
    if closest < config.min_volatility_ratio:
        # Two states at one volatility level means one regime was split (typically by
        # trend direction) and two others merged; labelling that would be a guess.
        raise RegimeFitError(
            f"two states share a volatility level (ratio {closest:.2f} < "
            f"{config.min_volatility_ratio:.2f}); the fit window may lack a regime"
        )
    return label_states(log_volatility)


def _mixture_component_of_state(
    *, gmm_means: FloatArray, state_means: FloatArray
) -> tuple[int, ...]:
    """The mixture component matching each HMM state: the permutation of nearest means."""
    return min(
        itertools.permutations(range(N_STATES)),
        key=lambda perm: float(
            sum(np.sum((gmm_means[perm[k]] - state_means[k]) ** 2) for k in range(N_STATES))
        ),
    )


def _volatility_bands(
    *, data: FloatArray, bands: tuple[float, float], min_covar: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Starting weights, means and precisions: the bars in low / middle / high volatility bands,
    split at the ``bands`` quantiles.

    Regimes differ first of all by volatility, so starting EM from volatility bands
    steers it away from optima that split one regime by trend direction.
    """
    order = np.argsort(_log_volatility(data), kind="stable")
    low, high = (round(q * order.size) for q in bands)
    parts = np.split(order, [low, high])
    identity = np.eye(data.shape[1])
    weights = np.array([part.size / data.shape[0] for part in parts])
    means = np.array([data[part].mean(axis=0) for part in parts])
    precisions = np.array(
        [np.linalg.inv(np.cov(data[part].T) + min_covar * identity) for part in parts]
    )
    return weights, means, precisions


def label_states(log_volatility: FloatArray) -> tuple[RegimeLabel, ...]:
    """Volatility first: the quietest state is the squeeze, the middle one bullish_calm, the
    most volatile bearish_volatile.

    Drift never decides: with fat tails a state's mean return is the noisiest figure it has,
    and a squeeze drifting up must not be taken for the calm trend (nor a volatile regime's
    two halves for two regimes).
    """
    order = np.argsort(log_volatility, kind="stable")
    labels = [RegimeLabel.SQUEEZE] * N_STATES
    labels[int(order[1])] = RegimeLabel.BULLISH_CALM
    labels[int(order[2])] = RegimeLabel.BEARISH_VOLATILE
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
        clipped, short, long, trend = features
        m0, m1, m2, m3 = self._mean
        s0, s1, s2, s3 = self._scale
        a = (clipped - m0) / s0
        b = (math.log(short if short > VOLATILITY_FLOOR else VOLATILITY_FLOOR) - m1) / s1
        c = (math.log(long if long > VOLATILITY_FLOOR else VOLATILITY_FLOOR) - m2) / s2
        d = (trend - m3) / s3
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
