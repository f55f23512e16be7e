"""Price paths that drive the local exchange's simulated markets (dev/test tooling only).

The local exchange (``tradefleet_devtools.exchange``) asks one ``PriceSource`` per symbol for
the next point of its path every simulated step. The exchange applies each point as a
*relative* move from the current mid price, so an admin override (``POST /_admin/price``)
shifts the level and the path carries on from there.

Three sources: ``RandomWalkPriceSource`` (seeded geometric random walk),
``SyntheticReplayPriceSource`` (replays the closes and volumes of
``tradefleet_runtime.marketdata.synthetic.generate_market``, one bar over one or more steps)
and ``CyclePriceSource`` (a sine cycle with noise: the same market in every window, so what a
strategy or an optimization decides on it does not depend on when a test runs).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from tradefleet_runtime.marketdata.synthetic import DEFAULT_REGIMES, generate_market


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


def regimes_in_turn(*, mean_bars: int) -> npt.NDArray[np.float64]:
    """A Markov matrix over the generator's regimes that stays put ``mean_bars`` bars on average
    and then moves on to the next regime in order, never back to the one it came from."""
    if isinstance(mean_bars, bool) or not isinstance(mean_bars, int) or mean_bars < 2:
        raise PriceSourceError(f"regime_bars must be an integer >= 2, got {mean_bars!r}")
    count = len(DEFAULT_REGIMES)
    stay = 1.0 - 1.0 / mean_bars
    matrix = np.zeros((count, count))
    for state in range(count):
        matrix[state, state] = stay
        matrix[state, (state + 1) % count] = 1.0 - stay
    return matrix


class SyntheticReplayPriceSource:
    """Replays the closes of a regime-switching synthetic market, one bar per ``steps_per_bar`` steps.

    With one step per bar the path is the bars' closes. With more, each bar's close-to-close
    move is spread over its steps as a Brownian bridge at the bar's regime volatility, so
    candles spanning one bar's worth of steps show the generated bars, and their regimes,
    again: a regime lasts as many candles as the generator made it last in bars, whatever the
    step. With ``regime_bars`` the regimes follow each other in turn (calm rally, sell-off,
    squeeze, calm rally, ...), each lasting that many bars on average, so every window of a
    few cycles holds them all; without it they switch at random (the generator's own sticky
    chain, 200 bars on average), and a window may lack one. After the last bar the replay
    starts the same bars again, rescaled to continue from the last close, so the path never
    jumps.
    """

    def __init__(
        self,
        *,
        seed: int,
        n_bars: int = 20_000,
        start_price: float = 30_000.0,
        steps_per_bar: int = 1,
        regime_bars: int | None = None,
    ) -> None:
        if isinstance(steps_per_bar, bool) or not isinstance(steps_per_bar, int):
            raise PriceSourceError(f"steps_per_bar must be an integer, got {steps_per_bar!r}")
        if steps_per_bar < 1:
            raise PriceSourceError(f"steps_per_bar must be at least 1, got {steps_per_bar!r}")
        transitions = None if regime_bars is None else regimes_in_turn(mean_bars=regime_bars)
        market = generate_market(
            seed=seed, n_bars=n_bars, start_price=start_price, transitions=transitions
        )
        self._closes = market.close.tolist()
        self._volumes = market.volume.tolist()
        self._volatilities = [DEFAULT_REGIMES[code].volatility for code in market.regime.tolist()]
        self._start_price = float(market.open[0])
        self._steps_per_bar = steps_per_bar
        self._rng = random.Random(seed)
        self._bar = 0
        self._scale = 1.0
        self._pending: list[PricePoint] = []

    @property
    def start_price(self) -> float:
        return self._start_price

    def next_point(self) -> PricePoint:
        if not self._pending:
            self._pending = self._next_bar_steps()
        return self._pending.pop()

    def _next_bar_steps(self) -> list[PricePoint]:
        """The next bar's steps, last step first (``next_point`` pops from the end)."""
        position = self._bar % len(self._closes)
        if position == 0 and self._bar > 0:
            self._scale *= self._closes[-1] / self._start_price
        self._bar += 1
        close = self._closes[position] * self._scale
        steps = self._steps_per_bar
        volume = self._volumes[position] / steps
        if steps == 1:
            return [PricePoint(price=close, volume=volume)]
        previous = (
            self._start_price if position == 0 else self._closes[position - 1]
        ) * self._scale
        move = math.log(close / previous)
        step_volatility = self._volatilities[position] / math.sqrt(steps)
        walk = list(
            itertools.accumulate(self._rng.gauss(0.0, step_volatility) for _ in range(steps))
        )
        points = []
        for index, level in enumerate(walk, start=1):
            fraction = index / steps
            # The bridge: the walk less its end point's share, so the bar ends on its close.
            log_price = math.log(previous) + fraction * move + level - fraction * walk[-1]
            price = close if index == steps else math.exp(log_price)
            points.append(PricePoint(price=price, volume=volume))
        return points[::-1]


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
