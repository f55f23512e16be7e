"""Order-flow imbalance (Cont–Kukanov–Stoikov) from L1 book snapshots.

The live runtime feeds every book update to :class:`StreamingOfi` (scalar arithmetic,
under a microsecond per update); the backtester uses the array form in
:mod:`tradefleet_runtime.signals.ofi_batch`. Both accumulate the same per-window sums
in the same order and share :func:`sum_earlier_windows` and :func:`summarise_windows`,
so for the same snapshots they return identical :class:`OfiSignal` values. The
streaming form sums the lookback's completed windows once per window, not per
snapshot, so :meth:`StreamingOfi.signal` and :meth:`StreamingOfi.reading` (the fusion
input alone, for the per-tick decision) cost the same whatever the lookback.

Per snapshot n (with the previous snapshot n-1; the first snapshot contributes 0):

    e_n = 1{Pb_n >= Pb_{n-1}}·qb_n − 1{Pb_n <= Pb_{n-1}}·qb_{n-1}
          − 1{Pa_n <= Pa_{n-1}}·qa_n + 1{Pa_n >= Pa_{n-1}}·qa_{n-1}

Increments are summed per window (``window_ms``, default 1 s, aligned to multiples of
``window_ms`` since the epoch); the signal looks at the last ``lookback_ms // window_ms``
windows up to the window of the latest snapshot (default 60).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tradefleet_runtime.signals.errors import SignalConfigError, SignalDataError
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.validation import require_in_range, require_int_at_least

SIGNAL_NAME = "ofi"


class OfiRecommendation(StrEnum):
    BUY = "buy"
    SELL = "sell"
    NEUTRAL = "neutral"


@dataclass(frozen=True, kw_only=True, slots=True)
class OfiConfig:
    """Aggregation window, lookback and the imbalance threshold for buy/sell."""

    window_ms: int = 1_000
    lookback_ms: int = 60_000
    threshold: float = 0.1

    def __post_init__(self) -> None:
        require_int_at_least(name="window_ms", value=self.window_ms, minimum=1)
        require_int_at_least(name="lookback_ms", value=self.lookback_ms, minimum=self.window_ms)
        if self.lookback_ms % self.window_ms:
            raise SignalConfigError(
                f"lookback_ms ({self.lookback_ms}) must be a multiple of "
                f"window_ms ({self.window_ms})"
            )
        require_in_range(name="threshold", value=self.threshold, low=1e-9, high=1.0)

    @property
    def lookback_windows(self) -> int:
        return self.lookback_ms // self.window_ms


@dataclass(frozen=True, kw_only=True, slots=True)
class OfiSignal:
    """The order-flow picture over the lookback, as of the latest snapshot.

    ``imbalance`` = aggregated OFI / gross OFI (sum of |e_n|), in [-1, 1];
    ``buy_pressure_ratio`` = positive OFI / gross OFI (0.5 when there was no flow);
    ``ofi_trend`` = least-squares slope of per-window OFI across the lookback (empty
    windows count as 0), in OFI units per window; ``coverage`` = share of lookback
    windows that had at least one snapshot.
    """

    symbol: str
    recommendation: OfiRecommendation
    signal_strength: float
    imbalance: float
    current_ofi: float
    aggregated_ofi: float
    ofi_trend: float
    buy_pressure_ratio: float
    coverage: float
    snapshot_count: int
    as_of_ms: int

    def to_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "recommendation": self.recommendation.value,
            "signal_strength": self.signal_strength,
            "aggregated_ofi": self.aggregated_ofi,
            "current_ofi": self.current_ofi,
            "imbalance": self.imbalance,
            "features": {
                "ofi_trend": self.ofi_trend,
                "buy_pressure_ratio": self.buy_pressure_ratio,
                "current_ofi": self.current_ofi,
                "aggregated_ofi": self.aggregated_ofi,
            },
            "coverage": self.coverage,
            "snapshot_count": self.snapshot_count,
            "as_of_ms": self.as_of_ms,
        }

    def as_reading(self) -> SignalReading:
        return _reading(
            recommendation=self.recommendation,
            imbalance=self.imbalance,
            coverage=self.coverage,
            as_of_ms=self.as_of_ms,
        )


def _imbalance(*, aggregated: float, gross: float) -> float:
    return max(-1.0, min(1.0, aggregated / gross)) if gross > 0 else 0.0


def _recommendation(*, imbalance: float, threshold: float) -> OfiRecommendation:
    if imbalance >= threshold:
        return OfiRecommendation.BUY
    if imbalance <= -threshold:
        return OfiRecommendation.SELL
    return OfiRecommendation.NEUTRAL


def _reading(
    *, recommendation: OfiRecommendation, imbalance: float, coverage: float, as_of_ms: int
) -> SignalReading:
    """The fusion input: imbalance as the value, coverage as the confidence."""
    return SignalReading(
        name=SIGNAL_NAME,
        value=imbalance,
        confidence=coverage,
        as_of_ms=as_of_ms,
        # A StrEnum formats as its value, without the slower .value property.
        detail=f"order flow {recommendation} (strength {abs(imbalance):.0%})",
    )


WindowRow = tuple[int, float, float, float, int]
"""One window's sums: (window index, total, positive part, negative part as a magnitude,
snapshot count)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EarlierWindows:
    """The lookback's windows before the latest one, added up oldest first.

    Both forms add in that order, so the rounding (and hence the signal) is the same.
    ``weighted`` is the sum of each window's total times its centred position in the
    lookback (for the trend).
    """

    aggregated: float
    positive: float
    negative: float
    weighted: float
    covered: int
    snapshots: int


def sum_earlier_windows(
    *, config: OfiConfig, latest_window: int, windows: Iterable[WindowRow]
) -> EarlierWindows:
    """Add up the windows, oldest first, that lie in the lookback and precede ``latest_window``."""
    first_window = latest_window - config.lookback_windows + 1
    centre = (config.lookback_windows - 1) / 2.0
    aggregated = positive = negative = weighted = 0.0
    covered = snapshots = 0
    for index, total, pos, neg, count in windows:
        if index < first_window or index >= latest_window:
            continue
        aggregated += total
        positive += pos
        negative += neg
        weighted += (index - first_window - centre) * total
        covered += 1
        snapshots += count
    return EarlierWindows(
        aggregated=aggregated,
        positive=positive,
        negative=negative,
        weighted=weighted,
        covered=covered,
        snapshots=snapshots,
    )


def summarise_windows(
    *,
    symbol: str,
    config: OfiConfig,
    earlier: EarlierWindows,
    latest: WindowRow,
    as_of_ms: int,
) -> OfiSignal:
    """The signal from the earlier windows' sums plus the latest window (shared by both forms).

    ``latest`` is the window holding ``as_of_ms``; it is added last, as the oldest-first
    order requires.
    """
    n_windows = config.lookback_windows
    centre = (n_windows - 1) / 2.0
    _, current, pos, neg, count = latest
    aggregated = earlier.aggregated + current
    positive = earlier.positive + pos
    negative = earlier.negative + neg
    # The latest window sits last in the lookback, at position n_windows - 1.
    weighted = earlier.weighted + (n_windows - 1 - centre) * current
    gross = positive + negative
    imbalance = _imbalance(aggregated=aggregated, gross=gross)
    spread_of_x = n_windows * (n_windows * n_windows - 1) / 12.0
    trend = weighted / spread_of_x if spread_of_x > 0 else 0.0
    return OfiSignal(
        symbol=symbol,
        recommendation=_recommendation(imbalance=imbalance, threshold=config.threshold),
        signal_strength=abs(imbalance),
        imbalance=imbalance,
        current_ofi=current,
        aggregated_ofi=aggregated,
        ofi_trend=trend,
        buy_pressure_ratio=positive / gross if gross > 0 else 0.5,
        coverage=(earlier.covered + 1) / n_windows,
        snapshot_count=earlier.snapshots + count,
        as_of_ms=as_of_ms,
    )


class StreamingOfi:
    """OFI for one symbol, updated per book snapshot on the live path."""

    __slots__ = (
        "_ask_price",
        "_ask_size",
        "_bid_price",
        "_bid_size",
        "_completed",
        "_config",
        "_count",
        "_earlier",
        "_last_ms",
        "_negative",
        "_positive",
        "_symbol",
        "_total",
        "_window",
        "_window_end_ms",
    )

    def __init__(self, *, symbol: str, config: OfiConfig) -> None:
        self._symbol = symbol
        self._config = config
        # NaN "previous" quotes make every indicator false, so the first e_n is 0.
        self._bid_price = self._bid_size = self._ask_price = self._ask_size = math.nan
        self._last_ms = -(2**62)
        self._window = -(2**62)
        self._window_end_ms = -(2**62)
        self._total = self._positive = self._negative = 0.0
        self._count = 0
        self._completed: deque[WindowRow] = deque()
        # Sums of the completed windows in the current lookback; None until the first
        # signal() after the window changed (a backtest may roll many windows per read).
        self._earlier: EarlierWindows | None = None

    def update(
        self,
        *,
        bid_price: float,
        bid_size: float,
        ask_price: float,
        ask_size: float,
        timestamp_ms: int,
    ) -> float:
        """Fold in one snapshot and return its increment e_n."""
        # x * 0.0 == 0.0 fails for NaN and infinities: one test for all four inputs.
        if not (
            (bid_price + ask_price + bid_size + ask_size) * 0.0 == 0.0
            and bid_price > 0.0
            and ask_price > 0.0
            and bid_size >= 0.0
            and ask_size >= 0.0
        ):
            raise SignalDataError(
                f"{self._symbol}: book snapshot needs finite prices > 0 and sizes >= 0, got "
                f"bid {bid_price!r} x {bid_size!r}, ask {ask_price!r} x {ask_size!r}"
            )
        if timestamp_ms >= self._window_end_ms:
            self._roll(timestamp_ms)
        elif timestamp_ms < self._last_ms:
            raise SignalDataError(
                f"{self._symbol}: snapshot at {timestamp_ms} ms is older than the previous one "
                f"at {self._last_ms} ms"
            )
        self._last_ms = timestamp_ms
        previous_bid = self._bid_price
        previous_ask = self._ask_price
        increment = (
            (
                (bid_size if bid_price >= previous_bid else 0.0)
                - (self._bid_size if bid_price <= previous_bid else 0.0)
            )
            - (ask_size if ask_price <= previous_ask else 0.0)
        ) + (self._ask_size if ask_price >= previous_ask else 0.0)
        self._bid_price = bid_price
        self._bid_size = bid_size
        self._ask_price = ask_price
        self._ask_size = ask_size
        self._total += increment
        if increment > 0.0:
            self._positive += increment
        elif increment < 0.0:
            self._negative -= increment
        self._count += 1
        return increment

    def _roll(self, timestamp_ms: int) -> None:
        """Close the current window and open the one holding ``timestamp_ms``."""
        if self._count:
            self._completed.append(
                (self._window, self._total, self._positive, self._negative, self._count)
            )
        window_ms = self._config.window_ms
        window = timestamp_ms // window_ms
        self._window = window
        self._window_end_ms = (window + 1) * window_ms
        self._total = self._positive = self._negative = 0.0
        self._count = 0
        oldest_kept = window - self._config.lookback_windows
        completed = self._completed
        while completed and completed[0][0] <= oldest_kept:
            completed.popleft()
        self._earlier = None

    def _earlier_windows(self) -> EarlierWindows:
        earlier = self._earlier
        if earlier is None:
            earlier = self._earlier = sum_earlier_windows(
                config=self._config, latest_window=self._window, windows=self._completed
            )
        return earlier

    def signal(self) -> OfiSignal | None:
        """The signal as of the latest snapshot; None before the first snapshot."""
        if not self._count:
            return None
        return summarise_windows(
            symbol=self._symbol,
            config=self._config,
            earlier=self._earlier_windows(),
            latest=(self._window, self._total, self._positive, self._negative, self._count),
            as_of_ms=self._last_ms,
        )

    def reading(self) -> SignalReading | None:
        """``signal().as_reading()``, without the parts of the signal fusion does not read.

        The decision loop needs only this per tick; the same sums in the same order as
        :func:`summarise_windows`, so the reading is identical.
        """
        if not self._count:
            return None
        config = self._config
        earlier = self._earlier_windows()
        positive = earlier.positive + self._positive
        imbalance = _imbalance(
            aggregated=earlier.aggregated + self._total,
            gross=positive + (earlier.negative + self._negative),
        )
        return _reading(
            recommendation=_recommendation(imbalance=imbalance, threshold=config.threshold),
            imbalance=imbalance,
            coverage=(earlier.covered + 1) / config.lookback_windows,
            as_of_ms=self._last_ms,
        )
