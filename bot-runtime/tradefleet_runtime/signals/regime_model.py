"""The regime model: a Markov-switching model of each bar's log return, with a calm/burst state
inside each regime and Student-t noise, and its online filter.

:func:`fit_regime_model` is called by :meth:`RegimeDetector.refit
<tradefleet_runtime.signals.regime.RegimeDetector.refit>` (and by benchmarks and tests);
:class:`RegimeFilter` advances a fitted model one bar at a time; the detector owns one.

Why this model. Real returns have fat tails and volatility that clusters *within* a regime; a
model of volatility features (rolling windows) takes a burst inside the calm regime for the
volatile one, and a quiet spell of the calm regime for the squeeze. Here a bar's return r_t
is modelled directly: hidden state (k, b), regime k in three, sub-state b calm or burst,

    r_t = mu_k + sigma_k * f_b * e_t,   e_t ~ Student-t(nu) (scale 1),

with the transition matrix the Kronecker product of a regime chain A (3x3, sticky) and a burst
chain B (2x2, faster), so a burst switches on and off without the regime changing and the
regime's level sigma_k is read through its bursts. EM (forward-backward by hmmlearn's compiled
kernels) fits
mu, sigma, f, A and B; the Student-t's latent scales make one outlier move the fit linearly.
Regimes are named by volatility (:func:`label_states`), never by drift.

A fit is refused (:class:`~tradefleet_runtime.signals.errors.RegimeFitError`) when the returns
are too few, not finite or flat, when EM does not converge, when a regime holds almost no bars,
or when two regimes' volatilities are too close to be two regimes. The static mixture (the same
emissions weighted by the states' shares, no time order) is the model's cross-check: how often
it names the filter's regime is the fit's ``agreement`` and a bar's ``gmm_agrees``. One bar's
return is weak evidence on its own, so the mixture agrees on about 60-75 % of bars where the
filter, which accumulates evidence over bars, is right on 85-97 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import mul

import numpy as np
import numpy.typing as npt

from tradefleet_runtime.signals.errors import RegimeFitError
from tradefleet_runtime.signals.regime_config import MODELLED_LABELS, RegimeConfig, RegimeLabel

FloatArray = npt.NDArray[np.float64]

N_STATES = 3  # regimes
N_SUBSTATES = 2  # calm, burst
_N_HIDDEN = N_STATES * N_SUBSTATES
# Where EM starts the burst factors (calm below the regime's level, burst above).
_START_BURST_FACTORS = (0.7, 1.4)
# A regime's level starts at these quantiles of |r| (for a scale-1 noise, median |e| ~ 0.67).
_START_LEVEL_QUANTILES = (1 / 6, 1 / 2, 5 / 6)
_MEDIAN_ABS_NOISE = 0.67
FLAT_VOLATILITY = 1e-12


@dataclass(frozen=True, kw_only=True, slots=True)
class StateStatistics:
    """A fitted regime's mean log return per bar, its volatility (standard deviation of its
    returns, bursts included) and its share of the fit window's bars."""

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


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class RegimeModel:
    """A fitted switching model, reduced to what the online filter needs.

    Hidden states are ordered (regime 0 calm, regime 0 burst, regime 1 calm, ...); ``labels``
    names the three regimes.
    """

    labels: tuple[RegimeLabel, ...]
    statistics: tuple[StateStatistics, ...]
    means: tuple[float, ...]  # per hidden state
    scales: tuple[float, ...]  # per hidden state
    degrees_of_freedom: float
    start_probability: tuple[float, ...]
    transitions: tuple[tuple[float, ...], ...]  # hidden state to hidden state
    mixture_weights: tuple[float, ...]  # the states' shares, for the static mixture
    burst_factors: tuple[float, float]
    agreement: float
    mean_log_likelihood: float
    iterations: int
    n_bars: int

    def to_dict(self) -> dict[str, object]:
        """The model as JSON-ready values, for :meth:`from_dict` in another process."""
        return {
            "labels": [label.value for label in self.labels],
            "statistics": [stats.to_dict() for stats in self.statistics],
            "means": list(self.means),
            "scales": list(self.scales),
            "degreesOfFreedom": self.degrees_of_freedom,
            "startProbability": list(self.start_probability),
            "transitions": [list(row) for row in self.transitions],
            "mixtureWeights": list(self.mixture_weights),
            "burstFactors": list(self.burst_factors),
            "agreement": self.agreement,
            "meanLogLikelihood": self.mean_log_likelihood,
            "iterations": self.iterations,
            "nBars": self.n_bars,
        }

    @classmethod
    def from_dict(cls, raw: object) -> RegimeModel:
        """The model :meth:`to_dict` wrote; ValueError naming what does not fit a model (a
        wrong shape, a probability that is not one, a scale that is not positive)."""
        if not isinstance(raw, dict):
            raise ValueError(f"a regime model is an object, got {type(raw).__name__}")
        try:
            labels = tuple(RegimeLabel(label) for label in raw["labels"])
            hidden = len(labels) * N_SUBSTATES
            model = cls(
                labels=labels,
                statistics=tuple(
                    StateStatistics(
                        label=RegimeLabel(row["label"]),
                        mean_log_return=float(row["mean_log_return"]),
                        mean_volatility=float(row["mean_volatility"]),
                        share=float(row["share"]),
                    )
                    for row in raw["statistics"]
                ),
                means=_floats(raw["means"], length=hidden, what="means"),
                scales=_floats(raw["scales"], length=hidden, what="scales"),
                degrees_of_freedom=_finite(raw["degreesOfFreedom"], what="degreesOfFreedom"),
                start_probability=_floats(
                    raw["startProbability"], length=hidden, what="startProbability"
                ),
                transitions=tuple(
                    _floats(row, length=hidden, what="transitions") for row in raw["transitions"]
                ),
                mixture_weights=_floats(
                    raw["mixtureWeights"], length=hidden, what="mixtureWeights"
                ),
                burst_factors=_pair(raw["burstFactors"]),
                agreement=_finite(raw["agreement"], what="agreement"),
                mean_log_likelihood=_finite(raw["meanLogLikelihood"], what="meanLogLikelihood"),
                iterations=int(raw["iterations"]),
                n_bars=int(raw["nBars"]),
            )
        except KeyError as error:
            raise ValueError(f"a regime model lacks {error}") from None
        except TypeError as error:
            raise ValueError(f"malformed regime model: {error}") from None
        _check_model(model)
        return model


def _floats(raw: object, *, length: int, what: str) -> tuple[float, ...]:
    if not isinstance(raw, list) or len(raw) != length:
        raise ValueError(f"{what}: expected {length} numbers, got {raw!r:.80}")
    values = tuple(float(value) for value in raw)
    if not all(math.isfinite(value) for value in values):
        raise ValueError(f"{what}: not every number is finite")
    return values


def _finite(raw: object, *, what: str) -> float:
    (value,) = _floats([raw], length=1, what=what)
    return value


def _pair(raw: object) -> tuple[float, float]:
    first, second = _floats(raw, length=2, what="burstFactors")
    return first, second


def _check_model(model: RegimeModel) -> None:
    """A model the filter can run: probabilities that sum to one, positive scales, three
    regimes."""
    if set(model.labels) != set(MODELLED_LABELS) or len(model.labels) != N_STATES:
        raise ValueError(f"labels: expected {[m.value for m in MODELLED_LABELS]} in some order")
    if len(model.transitions) != _N_HIDDEN:
        raise ValueError(f"transitions: expected {_N_HIDDEN} rows")
    rows = (model.start_probability, model.mixture_weights, *model.transitions)
    if any(abs(sum(row) - 1.0) > 1e-6 or min(row) < 0.0 for row in rows):
        raise ValueError("a probability row does not sum to 1")
    if min(model.scales) <= 0.0 or model.degrees_of_freedom <= 0.0:
        raise ValueError("scales and degreesOfFreedom must be positive")


def _student_t_log_density(*, z: FloatArray, nu: float) -> FloatArray:
    """log of the Student-t(nu) density at z (scale 1), without the per-state scale term."""
    constant = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    return np.asarray(constant - (nu + 1) / 2 * np.log1p(z * z / nu), dtype=np.float64)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Parameters:
    """One EM iterate: regime means and levels, burst factors, start and transitions."""

    mu: FloatArray  # per regime
    sigma: FloatArray  # per regime
    factors: FloatArray  # per sub-state, geometric mean 1
    start: FloatArray  # per hidden state
    transitions: FloatArray  # hidden x hidden, kron(regime chain, burst chain)

    def scales(self) -> FloatArray:
        return np.asarray(np.outer(self.sigma, self.factors).ravel(), dtype=np.float64)

    def means(self) -> FloatArray:
        return np.repeat(self.mu, N_SUBSTATES)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Expectation:
    """The E-step at one iterate: log-likelihood, state posteriors, expected transitions."""

    log_likelihood: float
    posteriors: FloatArray  # bars x hidden states
    transition_counts: FloatArray  # hidden x hidden
    latent_precision: FloatArray  # bars x hidden: E[u | r, state] of the Student-t


def _expectation(*, returns: FloatArray, parameters: _Parameters, nu: float) -> _Expectation:
    """Forward-backward with hmmlearn's compiled kernels.

    Called directly rather than through ``hmmlearn.base``: that module imports scikit-learn and
    SciPy, about 100 MB of memory in every bot that fits a regime model, for nothing this model
    uses. hmmlearn is pinned below 0.4, where these kernels have this signature.
    """
    from hmmlearn import _hmmc  # noqa: PLC0415 - see fit_regime_model

    scales = parameters.scales()
    z = (returns[:, None] - parameters.means()) / scales
    log_density = _student_t_log_density(z=z, nu=nu) - np.log(scales)
    # Each bar's densities scaled by its largest: the constant cancels in every posterior.
    top = log_density.max(axis=1, keepdims=True)
    frames = np.exp(log_density - top)
    log_probability, forward, scaling = _hmmc.forward_scaling(
        parameters.start, parameters.transitions, frames
    )
    backward = _hmmc.backward_scaling(parameters.start, parameters.transitions, frames, scaling)
    posteriors = forward * backward
    posteriors /= posteriors.sum(axis=1, keepdims=True)
    counts = _hmmc.compute_scaling_xi_sum(forward, parameters.transitions, backward, frames)
    return _Expectation(
        log_likelihood=float(log_probability + top.sum()),
        posteriors=np.asarray(posteriors, dtype=np.float64),
        transition_counts=np.asarray(counts, dtype=np.float64),
        latent_precision=np.asarray((nu + 1) / (nu + z * z), dtype=np.float64),
    )


def _normalised_rows(matrix: FloatArray) -> FloatArray:
    return np.asarray(matrix / matrix.sum(axis=1, keepdims=True), dtype=np.float64)


def _maximisation(
    *, returns: FloatArray, expectation: _Expectation, previous: _Parameters
) -> _Parameters:
    """The next iterate. Transitions: the expected counts projected onto the Kronecker structure
    (regime and burst chains from their marginal counts). Means, levels and burst factors: the
    Student-t's weighted moments, the levels and factors by alternating closed-form updates."""
    counts = expectation.transition_counts.reshape(N_STATES, N_SUBSTATES, N_STATES, N_SUBSTATES)
    regimes = _normalised_rows(counts.sum(axis=(1, 3)))
    bursts = _normalised_rows(counts.sum(axis=(0, 2)))
    gamma = expectation.posteriors
    weighted = gamma * expectation.latent_precision
    precision = weighted / previous.scales() ** 2
    by_regime = precision.reshape(-1, N_STATES, N_SUBSTATES).sum(axis=2)
    mu = (by_regime * returns[:, None]).sum(axis=0) / np.maximum(by_regime.sum(axis=0), 1e-300)
    centred = returns[:, None] - np.repeat(mu, N_SUBSTATES)
    deviation = (weighted * centred * centred).sum(axis=0).reshape(N_STATES, N_SUBSTATES)
    occupancy = gamma.sum(axis=0).reshape(N_STATES, N_SUBSTATES)
    sigma, factors = previous.sigma, previous.factors
    for _ in range(3):
        sigma = np.sqrt(
            (deviation / factors**2).sum(axis=1) / np.maximum(occupancy.sum(axis=1), 1e-300)
        )
        factors = np.sqrt(
            (deviation / (sigma**2)[:, None]).sum(axis=0)
            / np.maximum(occupancy.sum(axis=0), 1e-300)
        )
        factors = factors / math.exp(float(np.log(factors).mean()))
    return _Parameters(
        mu=mu,
        sigma=sigma,
        factors=factors,
        start=np.asarray(gamma[0], dtype=np.float64),
        transitions=np.asarray(np.kron(regimes, bursts), dtype=np.float64),
    )


def fit_regime_model(*, returns: npt.ArrayLike, config: RegimeConfig) -> RegimeModel:
    """Fit the switching model on log returns (oldest first); RegimeFitError if unusable.

    BLAS runs single-threaded here: the matrices are 6x6, and handing them to a thread pool
    costs more than it saves (and competes with the bot's own event loop).
    """
    # Imported here, not at module load: the bot must answer its health checks seconds after a
    # restart, and these libraries take longer than that to import; the first fit comes later.
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # noqa: PLC0415

    with threadpool_limits(limits=1):
        return _fit(returns=_checked_returns(returns=returns, config=config), config=config)


def _checked_returns(*, returns: npt.ArrayLike, config: RegimeConfig) -> FloatArray:
    data = np.asarray(returns, dtype=np.float64)
    if data.ndim != 1:
        raise RegimeFitError(f"returns must be one-dimensional, got shape {data.shape}")
    if data.size < config.min_history:
        raise RegimeFitError(f"only {data.size} bars of returns, need {config.min_history}")
    if not np.all(np.isfinite(data)):
        raise RegimeFitError("returns contain NaN or infinite values")
    if float(np.quantile(np.abs(data), _START_LEVEL_QUANTILES[0])) <= FLAT_VOLATILITY:
        raise RegimeFitError("returns have no variance in the fit window (flat prices?)")
    return data


def _sticky(*, size: int, stay: float) -> FloatArray:
    matrix = np.full((size, size), (1.0 - stay) / (size - 1))
    np.fill_diagonal(matrix, stay)
    return matrix


def _fit(*, returns: FloatArray, config: RegimeConfig) -> RegimeModel:
    """EM from regimes at three quantiles of |r| and bursts around them, until the
    log-likelihood improves by less than ``tol`` per bar; refused when it does not get there."""
    n_bars = returns.size
    nu = config.degrees_of_freedom
    parameters = _Parameters(
        mu=np.zeros(N_STATES),
        sigma=np.quantile(np.abs(returns), _START_LEVEL_QUANTILES) / _MEDIAN_ABS_NOISE,
        factors=np.asarray(_START_BURST_FACTORS),
        start=np.full(_N_HIDDEN, 1.0 / _N_HIDDEN),
        transitions=np.asarray(
            np.kron(
                _sticky(size=N_STATES, stay=config.regime_stay),
                _sticky(size=N_SUBSTATES, stay=config.burst_stay),
            ),
            dtype=np.float64,
        ),
    )
    previous_log_likelihood = -math.inf
    improvement = math.nan
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        for iteration in range(1, config.n_iter + 1):
            expectation = _expectation(returns=returns, parameters=parameters, nu=nu)
            if not math.isfinite(expectation.log_likelihood):
                raise RegimeFitError("the switching model's likelihood is not finite")
            improvement = (expectation.log_likelihood - previous_log_likelihood) / n_bars
            if abs(improvement) < config.tol:
                return _model(
                    parameters=parameters,
                    expectation=expectation,
                    returns=returns,
                    iterations=iteration,
                    config=config,
                )
            previous_log_likelihood = expectation.log_likelihood
            parameters = _maximisation(
                returns=returns, expectation=expectation, previous=parameters
            )
    raise RegimeFitError(
        f"the switching model did not converge in {config.n_iter} iterations "
        f"(last improvement {abs(improvement):.2e} nats/bar, tol {config.tol:.1e})"
    )


def _model(
    *,
    parameters: _Parameters,
    expectation: _Expectation,
    returns: FloatArray,
    iterations: int,
    config: RegimeConfig,
) -> RegimeModel:
    """The fitted parameters checked, labelled and frozen."""
    sigma, factors, mu = parameters.sigma, parameters.factors, parameters.mu
    transitions, start = parameters.transitions, parameters.start
    finite = all(np.all(np.isfinite(v)) for v in (sigma, factors, mu, transitions, start))
    if not finite or sigma.min() <= FLAT_VOLATILITY:
        raise RegimeFitError("the switching model's parameters are not finite and positive")
    posteriors = expectation.posteriors
    hidden_shares = posteriors.mean(axis=0)
    shares = hidden_shares.reshape(N_STATES, N_SUBSTATES).sum(axis=1)
    # A regime's return standard deviation, its bursts weighted by their share within it.
    sub_shares = hidden_shares.reshape(N_STATES, N_SUBSTATES) / np.maximum(shares[:, None], 1e-300)
    noise_std = math.sqrt(config.degrees_of_freedom / (config.degrees_of_freedom - 2.0))
    volatility = sigma * np.sqrt((sub_shares * factors**2).sum(axis=1)) * noise_std
    labels = _distinct_states(shares=shares, volatility=volatility, config=config)
    scales, means = parameters.scales(), parameters.means()
    regime_of = posteriors.reshape(-1, N_STATES, N_SUBSTATES).sum(axis=2).argmax(axis=1)
    log_density = _student_t_log_density(
        z=(returns[:, None] - means) / scales, nu=config.degrees_of_freedom
    ) - np.log(scales)
    mixture = np.log(np.maximum(hidden_shares, 1e-300)) + log_density
    mixture_regime = np.exp(mixture - mixture.max(axis=1, keepdims=True))
    mixture_of = mixture_regime.reshape(-1, N_STATES, N_SUBSTATES).sum(axis=2).argmax(axis=1)
    return RegimeModel(
        labels=labels,
        statistics=tuple(
            StateStatistics(
                label=labels[k],
                mean_log_return=float(mu[k]),
                mean_volatility=float(volatility[k]),
                share=float(shares[k]),
            )
            for k in range(N_STATES)
        ),
        means=tuple(float(v) for v in means),
        scales=tuple(float(v) for v in scales),
        degrees_of_freedom=config.degrees_of_freedom,
        start_probability=tuple(float(v) for v in start),
        transitions=tuple(tuple(float(v) for v in row) for row in transitions),
        mixture_weights=tuple(float(v) for v in hidden_shares),
        burst_factors=(float(factors[0]), float(factors[1])),
        agreement=float(np.mean(regime_of == mixture_of)),
        mean_log_likelihood=expectation.log_likelihood / returns.size,
        iterations=iterations,
        n_bars=returns.size,
    )


def _distinct_states(
    *, shares: FloatArray, volatility: FloatArray, config: RegimeConfig
) -> tuple[RegimeLabel, ...]:
    """The regimes' labels; refused when one holds almost no bars or two share a level."""
    if shares.min() < config.min_state_share:
        raise RegimeFitError(
            f"a state collapsed: it explains {shares.min():.2%} of bars "
            f"(minimum {config.min_state_share:.2%})"
        )
    levels = np.sort(volatility)
    closest = float(np.min(levels[1:] / levels[:-1]))
    if closest < config.min_volatility_ratio:
        # Two regimes at one volatility level: one was split (by trend direction, or a burst
        # taken for a regime) and two others merged; labelling that would be a guess.
        raise RegimeFitError(
            f"two states share a volatility level (ratio {closest:.2f} < "
            f"{config.min_volatility_ratio:.2f}); the fit window may lack a regime"
        )
    return label_states(np.log(volatility))


def label_states(log_volatility: FloatArray) -> tuple[RegimeLabel, ...]:
    """Volatility first: the quietest regime is the squeeze, the middle one bullish_calm, the
    most volatile bearish_volatile.

    Drift never decides: with fat tails a regime's mean return is the noisiest figure it has,
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
    """The online filter of a fitted model: one forward-recursion step per bar's return.

    Each step gives the regimes' filtered probabilities, the static mixture's (for the
    confidence) and the predictive log-likelihood (for drift detection). Six hidden states
    make plain float arithmetic cheaper than numpy calls on arrays this small.
    """

    __slots__ = ("_constant", "_half_nu1", "_inverse_scales", "_means", "_mixture", "_nu",
                 "_posterior", "_start", "_transitions")  # fmt: skip

    def __init__(self, *, model: RegimeModel) -> None:
        nu = model.degrees_of_freedom
        self._nu = nu
        self._half_nu1 = (nu + 1) / 2
        self._constant = (
            math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
        )
        self._means = model.means
        self._inverse_scales = tuple(1.0 / s for s in model.scales)
        self._mixture = model.mixture_weights
        # Column j of the transitions: the probabilities of entering state j.
        self._transitions = tuple(
            tuple(row[j] for row in model.transitions) for j in range(_N_HIDDEN)
        )
        self._start = model.start_probability
        self._posterior: list[float] | None = None

    def step(self, log_return: float) -> tuple[Posterior, Posterior, float]:
        """Advance one bar: (regime posterior, static-mixture regime posterior, predictive
        log-likelihood), regimes in the model's order."""
        nu, power = self._nu, -self._half_nu1
        # Each state's density relative to its scale: (1 + z^2 / nu)^-(nu+1)/2 / s.
        density = [
            (1.0 + ((log_return - m) * inverse) ** 2 / nu) ** power * inverse
            for m, inverse in zip(self._means, self._inverse_scales, strict=True)
        ]
        posterior = self._posterior
        prior = (
            self._start
            if posterior is None
            else [sum(map(mul, posterior, column)) for column in self._transitions]
        )
        joint = list(map(mul, prior, density))
        total = sum(joint)
        self._posterior = new = [v / total for v in joint]
        weighted = list(map(mul, self._mixture, density))
        mixture_total = sum(weighted)
        return (
            (new[0] + new[1], new[2] + new[3], new[4] + new[5]),
            (
                (weighted[0] + weighted[1]) / mixture_total,
                (weighted[2] + weighted[3]) / mixture_total,
                (weighted[4] + weighted[5]) / mixture_total,
            ),
            self._constant + math.log(total),
        )
