"""Market-regime detection: a Markov-switching model of returns, three regimes with a calm and a
burst state inside each, cross-checked by its static mixture.

The live runtime and the backtester create one :class:`RegimeDetector` per symbol and
call :meth:`RegimeDetector.update` once per closed bar. ``update`` never fits: it
advances the model's forward filter by one bar's return with the fitted parameters (a handful of
small operations, see :class:`~tradefleet_runtime.signals.regime_model.RegimeFilter`). The
caller refits when :attr:`RegimeDetector.refit_due` says so — on schedule, on likelihood
drift, or when no model exists yet — with :meth:`RegimeDetector.refit`. A refit that does not
converge, collapses a regime or cannot tell two regimes apart is rejected:
the previous model stays in use and :attr:`RegimeDetector.status` says why.

States are named by volatility first (drift estimates are the first casualty of fat tails):
the quietest state is the ``squeeze``, the middle one ``bullish_calm``, the most volatile
``bearish_volatile``. Each regime maps to trading
parameters (size multiplier, stop, target) from
:class:`~tradefleet_runtime.signals.regime_config.RegimeConfig`.

The regime signal in four modules, each importing only the ones before it: the volatility and
trend a state reports (:mod:`~tradefleet_runtime.signals.regime_features`), the labels and settings
(:mod:`~tradefleet_runtime.signals.regime_config`), the model's fit and online filter
(:mod:`~tradefleet_runtime.signals.regime_model`), and here the detector and the state it
reports.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from tradefleet_runtime.signals.errors import RegimeFitError, SignalDataError
from tradefleet_runtime.signals.reading import SignalReading, clamp_unit
from tradefleet_runtime.signals.regime_config import (
    MODELLED_LABELS,
    RegimeConfig,
    RegimeLabel,
    RegimeTradingParams,
)
from tradefleet_runtime.signals.regime_features import VolatilityTrendTracker
from tradefleet_runtime.signals.regime_model import (
    RegimeFilter,
    RegimeModel,
    StateStatistics,
    fit_regime_model,
)

SIGNAL_NAME = "regime"
# Bars replayed through a new model's filter so its posterior starts from recent data.
_FILTER_WARMUP_BARS = 100


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
        self._tracker = VolatilityTrendTracker(
            volatility_window=config.volatility_window, momentum_window=config.momentum_window
        )
        # The latest log returns, the next fit's data.
        self._history: deque[float] = deque(maxlen=config.fit_window)
        self._model: RegimeModel | None = None
        self._filter: RegimeFilter | None = None
        self._log_likelihoods: deque[float] = deque(maxlen=config.drift_window)
        self._log_likelihood_sum = 0.0
        self._bars_since_attempt = config.refit_retry_bars
        self._last_ms = -(2**62)
        self._fitted_at_ms: int | None = None
        self._status_state = ModelState.UNFITTED
        self._status_reason = f"waiting for {config.min_history} bars of returns"
        self._unknown_params = config.trading_params[RegimeLabel.UNKNOWN]
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
        """Bars of returns held for the next fit (at most ``fit_window``)."""
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
        returns = list(self._history)
        try:
            model = fit_regime_model(returns=returns, config=self._config)
        except RegimeFitError as error:
            if self._model is None:
                self._status_state = ModelState.UNFITTED
                self._status_reason = f"fit rejected: {error.reason}"
            else:
                self._status_state = ModelState.KEPT_PREVIOUS
                self._status_reason = f"refit rejected, previous model kept: {error.reason}"
            return RefitOutcome(accepted=False, reason=error.reason)
        self._install(model=model, returns=returns)
        calm, burst = model.burst_factors
        reason = (
            f"fitted on {model.n_bars} bars in {model.iterations} iterations, "
            f"filter/mixture agreement {model.agreement:.0%}, bursts x{burst / calm:.1f}"
        )
        self._status_state = ModelState.READY
        self._status_reason = reason
        return RefitOutcome(accepted=True, reason=reason)

    def adopt(self, *, model: RegimeModel, fitted_at_ms: int, fitted_by: str) -> None:
        """Run ``model``, fitted elsewhere (by ``fitted_by``, on the same symbol's bars), instead
        of a fit of its own: the filter is warmed up on this detector's own returns."""
        self._bars_since_attempt = 0
        self._install(model=model, returns=list(self._history))
        self._fitted_at_ms = fitted_at_ms
        self._status_state = ModelState.READY
        self._status_reason = (
            f"fitted by {fitted_by} on {model.n_bars} bars, filter/mixture agreement "
            f"{model.agreement:.0%}"
        )

    def wait_for_model(self, reason: str) -> None:
        """Say why there is no model yet while one is fitted elsewhere."""
        if self._model is None:
            self._status_reason = reason

    def _install(self, *, model: RegimeModel, returns: list[float]) -> None:
        self._model = model
        self._state_params = tuple(self._config.trading_params[label] for label in model.labels)
        self._state_of_label = tuple(model.labels.index(label) for label in MODELLED_LABELS)
        self._fitted_at_ms = self._last_ms
        forward = RegimeFilter(model=model)
        for log_return in returns[-_FILTER_WARMUP_BARS:]:
            forward.step(log_return)
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
        tracker = self._tracker
        features = tracker.push(close)
        volatility = features[0] if features is not None else 0.0
        log_return = tracker.log_return
        if math.isnan(log_return):  # the first bar: no return yet
            return self._remember_unknown(timestamp_ms=timestamp_ms, volatility=volatility)
        self._history.append(log_return)
        forward = self._filter
        model = self._model
        if forward is None or model is None:
            return self._remember_unknown(timestamp_ms=timestamp_ms, volatility=volatility)
        posterior, gmm_posterior, log_likelihood = forward.step(log_return)
        window = self._log_likelihoods
        if len(window) == self._drift_window:
            self._log_likelihood_sum -= window[0]
        window.append(log_likelihood)
        self._log_likelihood_sum += log_likelihood

        # The most probable regime by the filter and by the static mixture (first of equals),
        # written out: this runs once per bar for every symbol.
        p0, p1, p2 = posterior
        best = (0 if p0 >= p2 else 2) if p0 >= p1 else (1 if p1 >= p2 else 2)
        w0, w1, w2 = gmm_posterior
        gmm_best = (0 if w0 >= w2 else 2) if w0 >= w1 else (1 if w1 >= w2 else 2)
        trend = features[1] if features is not None else 0.0
        bullish, bearish, squeeze = self._state_of_label
        # The values in field order, as RegimeState._make takes them, minus its length check;
        # keyword arguments would cost a dict.
        state: RegimeState = tuple.__new__(
            RegimeState,
            (
                self._symbol,
                model.labels[best],
                posterior[best],  # confidence
                (posterior[bullish], posterior[bearish], posterior[squeeze]),
                volatility,
                math.tanh(abs(trend)),  # trend_strength
                gmm_best == best,  # gmm_agrees
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
