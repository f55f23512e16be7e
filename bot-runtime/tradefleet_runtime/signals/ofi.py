"""Order-flow imbalance (Cont–Kukanov–Stoikov) from L1 book snapshots.

The live runtime feeds every book update to :class:`StreamingOfi` (scalar arithmetic,
under a microsecond per update); the backtester uses the array form in
:mod:`tradefleet_runtime.signals.ofi_batch`. Both accumulate the same per-window sums
in the same order and share :func:`summarise_windows`, so for the same snapshots they
return identical :class:`OfiSignal` values.

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
from collections.abc import Sequence
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
        return SignalReading(
            name=SIGNAL_NAME,
            value=self.imbalance,
            confidence=self.coverage,
            as_of_ms=self.as_of_ms,
            detail=f"order flow {self.recommendation.value} (strength {self.signal_strength:.0%})",
        )


def summarise_windows(
    *,
    symbol: str,
    config: OfiConfig,
    latest_window: int,
    as_of_ms: int,
    windows: Sequence[tuple[int, float, float, float, int]],
) -> OfiSignal:
    """Turn per-window sums, oldest first, into the signal (shared by both forms).

    Each row is (window index, total, positive part, negative part as a magnitude,
    snapshot count); rows older than the lookback are skipped.
    """
    n_windows = config.lookback_windows
    first_window = latest_window - n_windows + 1
    centre = (n_windows - 1) / 2.0
    aggregated = positive = negative = weighted = 0.0
    current = 0.0
    covered = snapshots = 0
    for index, total, pos, neg, count in windows:
        if index < first_window:
            continue
        aggregated += total
        positive += pos
        negative += neg
        weighted += (index - first_window - centre) * total
        covered += 1
        snapshots += count
        if index == latest_window:
            current = total
    gross = positive + negative
    imbalance = max(-1.0, min(1.0, aggregated / gross)) if gross > 0 else 0.0
    spread_of_x = n_windows * (n_windows * n_windows - 1) / 12.0
    trend = weighted / spread_of_x if spread_of_x > 0 else 0.0
    if imbalance >= config.threshold:
        recommendation = OfiRecommendation.BUY
    elif imbalance <= -config.threshold:
        recommendation = OfiRecommendation.SELL
    else:
        recommendation = OfiRecommendation.NEUTRAL
    return OfiSignal(
        symbol=symbol,
        recommendation=recommendation,
        signal_strength=abs(imbalance),
        imbalance=imbalance,
        current_ofi=current,
        aggregated_ofi=aggregated,
        ofi_trend=trend,
        buy_pressure_ratio=positive / gross if gross > 0 else 0.5,
        coverage=covered / n_windows,
        snapshot_count=snapshots,
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
        self._completed: deque[tuple[int, float, float, float, int]] = deque()

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

    def signal(self) -> OfiSignal | None:
        """The signal as of the latest snapshot; None before the first snapshot."""
        if not self._count:
            return None
        windows = [
            *self._completed,
            (self._window, self._total, self._positive, self._negative, self._count),
        ]
        return summarise_windows(
            symbol=self._symbol,
            config=self._config,
            latest_window=self._window,
            as_of_ms=self._last_ms,
            windows=windows,
        )
