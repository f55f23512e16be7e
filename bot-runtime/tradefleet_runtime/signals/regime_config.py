"""The regime signal's vocabulary and settings: the regime labels, the trading parameters of
each regime, and the detector's configuration.

Read by the regime model's fit (:mod:`tradefleet_runtime.signals.regime_model`), the detector
(:mod:`tradefleet_runtime.signals.regime`), fusion, the runtime's config parsing and the
backtester.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from tradefleet_runtime.signals.errors import SignalConfigError
from tradefleet_runtime.signals.validation import (
    require_in_range,
    require_int_at_least,
    require_non_negative,
    require_positive,
)


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
    """Feature windows, fit schedule and limits, the model's settings, and the trading
    parameters per regime.

    ``volatility_window`` and ``momentum_window`` are the windows of the volatility and trend a
    regime state reports (:mod:`~tradefleet_runtime.signals.regime_features`). The model
    (:mod:`~tradefleet_runtime.signals.regime_model`) reads returns with Student-t noise of
    ``degrees_of_freedom``; EM starts from regimes that stay with probability ``regime_stay``
    and bursts that stay with ``burst_stay``. ``tol`` is the EM stopping threshold in
    log-likelihood per bar (hmmlearn's own ``tol`` is per fit, so it is scaled by the number of
    bars). A fit is rejected when a regime explains less than ``min_state_share`` of the bars
    or when two regimes' volatilities are closer than a factor ``min_volatility_ratio``.
    ``drift_threshold`` is how far (nats per bar) the recent mean predictive log-likelihood may
    fall below the fit's before a refit is due.
    """

    volatility_window: int = 10
    momentum_window: int = 20
    min_history: int = 1_000
    fit_window: int = 5_000
    refit_interval: int = 1_440
    refit_retry_bars: int = 100
    drift_window: int = 500
    drift_threshold: float = 2.0
    n_iter: int = 100
    tol: float = 1e-4
    degrees_of_freedom: float = 4.0
    regime_stay: float = 0.995
    burst_stay: float = 0.9
    min_state_share: float = 0.01
    min_volatility_ratio: float = 1.5
    trading_params: Mapping[RegimeLabel, RegimeTradingParams] = field(
        default_factory=default_trading_params
    )

    def __post_init__(self) -> None:
        require_int_at_least(name="volatility_window", value=self.volatility_window, minimum=2)
        require_int_at_least(name="momentum_window", value=self.momentum_window, minimum=1)
        require_int_at_least(name="min_history", value=self.min_history, minimum=30)
        require_int_at_least(name="fit_window", value=self.fit_window, minimum=self.min_history)
        require_int_at_least(name="refit_interval", value=self.refit_interval, minimum=1)
        require_int_at_least(name="refit_retry_bars", value=self.refit_retry_bars, minimum=1)
        require_int_at_least(name="drift_window", value=self.drift_window, minimum=10)
        require_positive(name="drift_threshold", value=self.drift_threshold)
        require_int_at_least(name="n_iter", value=self.n_iter, minimum=1)
        require_positive(name="tol", value=self.tol)
        require_in_range(
            name="degrees_of_freedom", value=self.degrees_of_freedom, low=2.1, high=1_000.0
        )
        require_in_range(name="regime_stay", value=self.regime_stay, low=0.5, high=0.9999)
        require_in_range(name="burst_stay", value=self.burst_stay, low=0.5, high=0.9999)
        require_in_range(name="min_state_share", value=self.min_state_share, low=0.0, high=0.3)
        require_in_range(
            name="min_volatility_ratio", value=self.min_volatility_ratio, low=1.0, high=10.0
        )
        missing = [label.value for label in RegimeLabel if label not in self.trading_params]
        if missing:
            raise SignalConfigError(f"trading_params has no entry for {', '.join(missing)}")
