"""Price paths that drive the local exchange's simulated markets (dev/test tooling only).

The local exchange (``tradefleet_devtools.exchange``) asks one ``PriceSource`` per symbol for
the next point of its path every simulated step. The exchange applies each point as a
*relative* move from the current mid price, so an admin override (``POST /_admin/price``)
shifts the level and the path carries on from there.

Three sources: ``RandomWalkPriceSource`` (seeded geometric random walk),
``SyntheticReplayPriceSource`` (replays the closes and volumes of
``tradefleet_runtime.marketdata.synthetic.generate_market``) and ``CyclePriceSource`` (a
sine cycle with noise: the same market in every window, so what a strategy or an
optimisation decides on it does not depend on when a test runs).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

from tradefleet_runtime.marketdata.synthetic import generate_market


class PriceSourceError(ValueError):
    """A price source was configured with out-of-range arguments."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PricePoint:
    """One step of a price path: the level and the volume traded during the step."""

    price: float
    volume: float


class PriceSource(Protocol):
    """Produces successive points of one symbol's price path."""

    @property
    def start_price(self) -> float:
        """The level of the path before its first step."""
        ...

    def next_point(self) -> PricePoint:
        """The next point of the path, one step after the previous one."""
        ...


def _check_level_and_volume(*, start_price: float, mean_volume: float) -> None:
    if not (start_price > 0 and math.isfinite(start_price)):
        raise PriceSourceError(f"start_price must be positive, got {start_price!r}")
    if not (mean_volume > 0 and math.isfinite(mean_volume)):
        raise PriceSourceError(f"mean_volume must be positive, got {mean_volume!r}")


class RandomWalkPriceSource:
    """A seeded geometric random walk: log returns are normal(0, volatility) per step."""

    def __init__(
        self,
        *,
        seed: int,
        start_price: float,
        volatility: float = 0.0001,
        mean_volume: float = 5.0,
    ) -> None:
        _check_level_and_volume(start_price=start_price, mean_volume=mean_volume)
        if not (volatility >= 0 and math.isfinite(volatility)):
            raise PriceSourceError(f"volatility must be >= 0, got {volatility!r}")
        self._rng = random.Random(seed)
        self._start_price = start_price
        self._price = start_price
        self._volatility = volatility
        self._mean_volume = mean_volume

    @property
    def start_price(self) -> float:
        return self._start_price

    def next_point(self) -> PricePoint:
        self._price *= math.exp(self._rng.gauss(0.0, self._volatility))
        volume = self._mean_volume * self._rng.expovariate(1.0)
        return PricePoint(price=self._price, volume=volume)


class SyntheticReplayPriceSource:
    """Replays the closes of a regime-switching synthetic market, one bar per step.

    After the last bar the replay starts the same bars again, rescaled to continue from
    the last close, so the path never jumps.
    """

    def __init__(self, *, seed: int, n_bars: int = 20_000, start_price: float = 30_000.0) -> None:
        market = generate_market(seed=seed, n_bars=n_bars, start_price=start_price)
        self._closes = market.close.tolist()
        self._volumes = market.volume.tolist()
        self._start_price = float(market.open[0])
        self._index = 0
        self._scale = 1.0

    @property
    def start_price(self) -> float:
        return self._start_price

    def next_point(self) -> PricePoint:
        position = self._index % len(self._closes)
        if position == 0 and self._index > 0:
            self._scale *= self._closes[-1] / self._start_price
        self._index += 1
        return PricePoint(
            price=self._closes[position] * self._scale, volume=self._volumes[position]
        )


# The cycle the local exchange's ``--cycle-symbols`` follow.
CYCLE_PERIOD_SECONDS = 900


class CyclePriceSource:
    """A stationary market: log price = amplitude · sin(2π · step / period) + noise.

    The noise is independent per step (normal, ``noise`` standard deviation), so the
    path never drifts away from its cycle: every stretch of it looks like every other,
    up to its phase.
    """

    def __init__(
        self,
        *,
        seed: int,
        start_price: float,
        period_steps: int = CYCLE_PERIOD_SECONDS,
        amplitude: float = 0.02,
        noise: float = 0.001,
        mean_volume: float = 5.0,
    ) -> None:
        _check_level_and_volume(start_price=start_price, mean_volume=mean_volume)
        if period_steps < 2:
            raise PriceSourceError(f"period_steps must be at least 2, got {period_steps!r}")
        if not (0 <= amplitude < 1 and 0 <= noise < 1):
            raise PriceSourceError(
                f"amplitude and noise must be within [0, 1), got {amplitude!r} and {noise!r}"
            )
        self._rng = random.Random(seed)
        self._start_price = start_price
        self._period_steps = period_steps
        self._amplitude = amplitude
        self._noise = noise
        self._mean_volume = mean_volume
        self._step = 0

    @property
    def start_price(self) -> float:
        return self._start_price

    def next_point(self) -> PricePoint:
        self._step += 1
        phase = 2 * math.pi * self._step / self._period_steps
        log_move = self._amplitude * math.sin(phase) + self._rng.gauss(0.0, self._noise)
        volume = self._mean_volume * self._rng.expovariate(1.0)
        return PricePoint(price=self._start_price * math.exp(log_move), volume=volume)
