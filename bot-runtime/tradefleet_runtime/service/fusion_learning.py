"""The live side of fusion weights that learn (``spec.strategy.fusionLearning``).

The bot service owns one :class:`LiveFusionWeights`: it asks it for the :class:`AlphaFusion`
to decide with, hands it every newly closed bar together with the last fused signal
(:meth:`LiveFusionWeights.on_bar_close`), saves its state to Redis when it changed, and shows
it in ``/status`` and the ``tradefleet_bot_fusion_weight`` gauge. The learning itself is
``signals/learning.py``, the same pure fold a backtest replays.

Disabled (the default), the fusion is the configured one and nothing else happens.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tradefleet_api.models import FusionLearning

from tradefleet_runtime.config import RuntimeConfig
from tradefleet_runtime.service.build import fusion_config_of
from tradefleet_runtime.signals.errors import SignalDataError
from tradefleet_runtime.signals.fusion import AlphaFusion, FusedSignal, FusionConfig
from tradefleet_runtime.signals.learning import LearnerState, LearningConfig, step

LOG = logging.getLogger(__name__)


def learning_config(
    *, base: FusionConfig, settings: FusionLearning, bar_seconds: int
) -> LearningConfig:
    return LearningConfig(
        base_weights=base.weights,
        bar_ms=1000 * bar_seconds,
        half_life_bars=settings.half_life_bars,
        max_step=settings.max_step_per_update,
        floor=settings.floor,
        horizon_bars=settings.horizon_bars,
    )


def fused_values(*, fused: FusedSignal | None, close_ms: int, bar_ms: int) -> dict[str, float]:
    """What each signal said at the decision nearest a bar's close, as fusion weighed it:
    value × confidence of the readings it used (missing, stale and zero-confidence ones are
    absent). Nothing when that decision is not within a bar of the close (the loop was halted
    or starting): an old decision would be scored against a return it did not face."""
    if fused is None or abs(fused.as_of_ms - close_ms) > bar_ms:
        return {}
    return {reading.name: reading.value * reading.confidence for reading in fused.used}


class LiveFusionWeights:
    """The configured fusion, or — when learning is enabled — the learned weights over it."""

    __slots__ = ("_base", "_config", "_fusion", "_settings", "state")

    def __init__(self, *, base: FusionConfig, settings: FusionLearning, bar_seconds: int) -> None:
        self._base = base
        self._settings = settings
        self._config = (
            learning_config(base=base, settings=settings, bar_seconds=bar_seconds)
            if settings.enabled
            else None
        )
        self.state = LearnerState.initial(self._config) if self._config else None
        self._fusion = AlphaFusion(config=base)
        self._rebuild()

    @property
    def enabled(self) -> bool:
        return self._config is not None

    @property
    def fusion(self) -> AlphaFusion:
        return self._fusion

    def carry_over(self, previous: LiveFusionWeights) -> None:
        """A reloaded config: keep what ``previous`` learned if it learned the same signals
        from the same base weights with the same settings; otherwise start afresh."""
        if self._config is not None and self._config == previous._config:
            self.state = previous.state
            self._rebuild()

    def restore(self, raw: Mapping[str, Any] | None) -> None:
        """Take up a saved state; one for other weights or settings is dropped (logged)."""
        if raw is None or self._config is None:
            return
        try:
            self.state = LearnerState.from_dict(raw, config=self._config)
        except SignalDataError as error:
            LOG.warning("saved fusion learning state not used, starting afresh: %s", error)
            return
        self._rebuild()

    def on_bar_close(self, *, close_ms: int, price: float, fused: FusedSignal | None) -> bool:
        """Learn from one closed bar; True when the state changed (and should be saved)."""
        if self._config is None or self.state is None:
            return False
        try:
            state = step(
                config=self._config,
                state=self.state,
                close_ms=close_ms,
                price=price,
                signals=fused_values(fused=fused, close_ms=close_ms, bar_ms=self._config.bar_ms),
            )
        except SignalDataError as error:
            LOG.warning("fusion learning skipped a bar: %s", error)
            return False
        if state is self.state:
            return False
        changed_weights = state.weights != self.state.weights
        self.state = state
        if changed_weights:
            self._rebuild()
        return True

    def _rebuild(self) -> None:
        if self.state is None:
            return
        weights = {**self._base.weights, **self.state.weights}
        self._fusion = AlphaFusion(config=replace(self._base, weights=weights))

    def weights(self) -> dict[str, float]:
        return dict(self._fusion.config.weights)

    def status(self) -> dict[str, object]:
        """``/status``'s ``fusionLearning``: settings, updates so far and each signal's IC."""
        state = self.state
        return {
            "enabled": self.enabled,
            "updates": state.updates if state else 0,
            "ic": state.ic() if state else {},
            "halfLifeBars": self._settings.half_life_bars,
            "maxStepPerUpdate": self._settings.max_step_per_update,
            "floor": self._settings.floor,
            "horizonBars": self._settings.horizon_bars,
        }


def live_fusion_weights(config: RuntimeConfig) -> LiveFusionWeights:
    """The configured fusion, with learned weights over it when fusionLearning is enabled."""
    return LiveFusionWeights(
        base=fusion_config_of(config),
        settings=config.strategy.fusion_learning,
        bar_seconds=config.strategy.bar_seconds,
    )
