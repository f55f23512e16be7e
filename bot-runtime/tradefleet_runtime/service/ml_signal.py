"""The ``ml`` fusion input of a bot: the ensemble its optimizer Job trained, applied to each bar.

Built by :class:`~tradefleet_runtime.service.market_view.MarketView` when
``spec.strategy.fusionWeights.ml`` is above 0, over the market view's window of latest closed
bars. After closed bars come in (the warm-up history, then each bar as it closes) the market view
calls :meth:`MlSignal.refresh` (one GET of the stored model's metadata, and a load only when its
version changed, so a model the Job trained reaches the running bot at its next bar, without a
restart), then :meth:`MlSignal.predict`. The decision
loop reads :meth:`MlSignal.reading`; the status API shows :meth:`MlSignal.status`.

A model is refused (and the one in use kept) when it was built for other features or another
scikit-learn, or altered since it was stored; until one is accepted there is no ``ml`` reading, and
fusion leaves the input out (its reasoning says so).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum

import numpy as np

from tradefleet_runtime.execution.model import Candle
from tradefleet_runtime.persistence.ml_models import MlModelStore
from tradefleet_runtime.persistence.store import StateStoreError
from tradefleet_runtime.signals.errors import ModelStoreError, SignalError
from tradefleet_runtime.signals.ml_ensemble import (
    MlConfig,
    MlPrediction,
    StoredEnsemble,
    technical_features,
)
from tradefleet_runtime.signals.reading import SignalReading

LOG = logging.getLogger("tradefleet_runtime.bot")
# Bars the features are computed over: well past the slowest indicator's warm-up, so the
# exponential averages have forgotten where the window starts (as in training, on long history).
FEATURE_WINDOW_BARS = 300
WAITING_REASON = (
    "no model stored yet: the optimizer Job trains one when spec.optimizer is enabled "
    "(or at once: annotate the bot tradefleet.io/optimize-now)"
)


class MlState(StrEnum):
    """Where the bot's ML input stands."""

    WAITING = "WaitingForModel"
    READY = "Ready"
    REFUSED = "ModelRefused"


class MlSignal:
    """The stored ensemble, the recent bars, and the latest prediction."""

    def __init__(
        self, *, store: MlModelStore, bar_seconds: int, config: MlConfig, bars: Sequence[Candle]
    ) -> None:
        """``bars``: the market view's latest closed bars (at most ``FEATURE_WINDOW_BARS``,
        oldest first), read, never written, here."""
        self._store = store
        self._bar_ms = 1000 * bar_seconds
        self._config = config
        self._bars = bars
        self._model: StoredEnsemble | None = None
        self._refused_version: object = None
        self._prediction: MlPrediction | None = None
        self._state = MlState.WAITING
        self._reason = WAITING_REASON

    def reading(self) -> SignalReading | None:
        """The latest prediction as the ``ml`` fusion input (None without a model)."""
        return self._prediction.as_reading() if self._prediction is not None else None

    async def refresh(self) -> None:
        """Load the stored model if its version is new; a refused one is not retried."""
        try:
            metadata = await self._store.metadata()
        except StateStoreError as error:
            # Redis is the state store: its outage is reported where the store's is.
            LOG.warning("ML model not refreshed: %s", error)
            return
        except ModelStoreError as error:
            self._refuse(version=None, reason=str(error))
            return
        if metadata is None:
            if self._model is None:
                self._state, self._reason = MlState.WAITING, WAITING_REASON
            return
        version = metadata.get("version")
        current = self._model.version if self._model is not None else None
        if version in (current, self._refused_version):
            return
        try:
            stored = await self._store.load(config=self._config)
        except StateStoreError as error:
            LOG.warning("ML model not loaded: %s", error)
            return
        except ModelStoreError as error:
            self._refuse(version=version, reason=str(error))
            return
        self._model, self._refused_version = stored, None
        self._state = MlState.READY
        accuracy = stored.ensemble.walk_forward_accuracy
        self._reason = (
            f"ensemble v{stored.version} (trained by {stored.trained_by or 'unknown'}), "
            f"walk-forward accuracy {accuracy:.1%}"
        )
        LOG.info("ML model loaded: %s", self._reason)

    def _refuse(self, *, version: object, reason: str) -> None:
        self._refused_version = version
        kept = f"; keeping v{self._model.version}" if self._model is not None else ""
        self._state, self._reason = MlState.REFUSED, f"{reason}{kept}"
        LOG.warning("ML model refused: %s", self._reason)

    def predict(self) -> None:
        """With a model, the prediction as of the latest bar's close."""
        model = self._model
        if model is None or len(self._bars) <= self._config.warmup_bars:
            return
        bars = list(self._bars)
        try:
            features = technical_features(
                high=np.array([bar.high for bar in bars]),
                low=np.array([bar.low for bar in bars]),
                close=np.array([bar.close for bar in bars]),
                volume=np.array([bar.volume for bar in bars]),
                config=self._config,
            )
            self._prediction = model.ensemble.predict(
                features=features[-1], as_of_ms=bars[-1].timestamp_ms + self._bar_ms
            )
        except SignalError as error:
            self._prediction = None
            self._reason = f"no prediction for the bar at {bars[-1].timestamp_ms}: {error}"

    def status(self) -> dict[str, object]:
        """The model in use, how well it did out of sample, and the latest prediction."""
        prediction = self._prediction
        return {
            "state": self._state.value,
            "reason": self._reason,
            "model": self._model.to_dict() if self._model is not None else None,
            "prediction": prediction.to_dict() if prediction is not None else None,
        }
