"""Order-flow imbalance over whole arrays of L1 snapshots, for backtests and research.

Called by the backtester and benchmarks; the live path uses
:class:`tradefleet_runtime.signals.ofi.StreamingOfi`. One compiled pass (numba, no
fastmath, so no reordering of additions) computes every increment e_n and the
per-window sums in the same order as the streaming form, which is why the two give
bit-identical results. Needs numba (research extra).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from tradefleet_runtime.signals.errors import SignalDataError
from tradefleet_runtime.signals.ofi import (
    OfiConfig,
    OfiSignal,
    sum_earlier_windows,
    summarise_windows,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_BAD_QUOTE = 1
_TIME_BACKWARDS = 2


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class OfiSeries:
    """Every increment e_n, and the sums of the windows that had at least one snapshot."""

    increments: FloatArray
    window_index: IntArray
    window_total: FloatArray
    window_positive: FloatArray
    window_negative: FloatArray
    window_snapshot_count: IntArray


# Compiled by numba, which calls with positional arguments only.
def _ofi_pass(  # noqa: PLR0917
    bid_price: FloatArray,
    bid_size: FloatArray,
    ask_price: FloatArray,
    ask_size: FloatArray,
    timestamp_ms: IntArray,
    window_ms: int,
    increments: FloatArray,
    window_index: IntArray,
    window_sums: FloatArray,
    window_count: IntArray,
) -> tuple[int, int, int]:
    """Fill the output arrays; return (windows used, error code, index of the bad row).

    Adding max(e, 0) and max(-e, 0) to the positive and negative sums instead of
    branching on the sign adds exact zeros, so the sums equal the streaming form's.
    """
    n = bid_price.shape[0]
    if n == 0:
        return 0, 0, -1
    previous_bid = previous_bid_size = previous_ask = previous_ask_size = np.nan
    previous_ms = timestamp_ms[0]
    window = previous_ms // window_ms
    used = 0
    total = positive = negative = 0.0
    count = 0
    for i in range(n):
        bp = bid_price[i]
        bq = bid_size[i]
        ap = ask_price[i]
        aq = ask_size[i]
        if not (
            (bp + ap + bq + aq) * 0.0 == 0.0 and bp > 0.0 and ap > 0.0 and bq >= 0.0 and aq >= 0.0
        ):
            return used, _BAD_QUOTE, i
        stamp = timestamp_ms[i]
        if stamp < previous_ms:
            return used, _TIME_BACKWARDS, i
        previous_ms = stamp
        if stamp // window_ms != window:
            window_index[used] = window
            window_sums[used, 0] = total
            window_sums[used, 1] = positive
            window_sums[used, 2] = negative
            window_count[used] = count
            used += 1
            window = stamp // window_ms
            total = positive = negative = 0.0
            count = 0
        increment = (
            (
                (bq if bp >= previous_bid else 0.0)
                - (previous_bid_size if bp <= previous_bid else 0.0)
            )
            - (aq if ap <= previous_ask else 0.0)
        ) + (previous_ask_size if ap >= previous_ask else 0.0)
        increments[i] = increment
        total += increment
        positive += max(increment, 0.0)
        negative += max(-increment, 0.0)
        count += 1
        previous_bid = bp
        previous_bid_size = bq
        previous_ask = ap
        previous_ask_size = aq
    window_index[used] = window
    window_sums[used, 0] = total
    window_sums[used, 1] = positive
    window_sums[used, 2] = negative
    window_count[used] = count
    return used + 1, 0, -1


_compiled_ofi_pass: Callable[..., tuple[int, int, int]] = numba.njit(cache=True, nogil=True)(
    _ofi_pass
)


def _column(
    *, name: str, values: npt.ArrayLike, dtype: type[np.generic]
) -> npt.NDArray[np.generic]:
    array = np.ascontiguousarray(values, dtype=dtype)
    if array.ndim != 1:
        raise SignalDataError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def ofi_series(
    *,
    timestamp_ms: npt.ArrayLike,
    bid_price: npt.ArrayLike,
    bid_size: npt.ArrayLike,
    ask_price: npt.ArrayLike,
    ask_size: npt.ArrayLike,
    window_ms: int,
) -> OfiSeries:
    """Increments and per-window sums for a whole snapshot history (e_0 = 0)."""
    stamps = _column(name="timestamp_ms", values=timestamp_ms, dtype=np.int64)
    bp = _column(name="bid_price", values=bid_price, dtype=np.float64)
    bq = _column(name="bid_size", values=bid_size, dtype=np.float64)
    ap = _column(name="ask_price", values=ask_price, dtype=np.float64)
    aq = _column(name="ask_size", values=ask_size, dtype=np.float64)
    n = stamps.shape[0]
    if not bp.shape[0] == bq.shape[0] == ap.shape[0] == aq.shape[0] == n:
        raise SignalDataError("timestamp, bid/ask price and size arrays must have the same length")
    if window_ms < 1:
        raise SignalDataError(f"window_ms must be >= 1, got {window_ms}")
    increments = np.empty(n)
    window_index = np.empty(n, dtype=np.int64)
    window_sums = np.empty((n, 3))
    window_count = np.empty(n, dtype=np.int64)
    used, error, row = _compiled_ofi_pass(
        bp, bq, ap, aq, stamps, window_ms, increments, window_index, window_sums, window_count
    )
    if error == _BAD_QUOTE:
        raise SignalDataError(
            f"snapshot {row}: needs finite prices > 0 and sizes >= 0, got bid {bp[row]!r} x "
            f"{bq[row]!r}, ask {ap[row]!r} x {aq[row]!r}"
        )
    if error == _TIME_BACKWARDS:
        raise SignalDataError(
            f"snapshot {row}: timestamp {stamps[row]} ms is older than the previous one"
        )
    return OfiSeries(
        increments=increments,
        window_index=window_index[:used],
        window_total=window_sums[:used, 0],
        window_positive=window_sums[:used, 1],
        window_negative=window_sums[:used, 2],
        window_snapshot_count=window_count[:used],
    )


def ofi_signal_batch(
    *,
    symbol: str,
    timestamp_ms: npt.ArrayLike,
    bid_price: npt.ArrayLike,
    bid_size: npt.ArrayLike,
    ask_price: npt.ArrayLike,
    ask_size: npt.ArrayLike,
    config: OfiConfig,
) -> OfiSignal | None:
    """The signal as of the last snapshot of the arrays; None when there are none."""
    series = ofi_series(
        timestamp_ms=timestamp_ms,
        bid_price=bid_price,
        bid_size=bid_size,
        ask_price=ask_price,
        ask_size=ask_size,
        window_ms=config.window_ms,
    )
    if series.window_index.size == 0:
        return None
    latest = int(series.window_index[-1])
    keep = series.window_index > latest - config.lookback_windows
    rows = list(
        zip(
            series.window_index[keep].tolist(),
            series.window_total[keep].tolist(),
            series.window_positive[keep].tolist(),
            series.window_negative[keep].tolist(),
            series.window_snapshot_count[keep].tolist(),
            strict=True,
        )
    )
    return summarise_windows(
        symbol=symbol,
        config=config,
        earlier=sum_earlier_windows(config=config, latest_window=latest, windows=rows[:-1]),
        latest=rows[-1],
        as_of_ms=int(np.asarray(timestamp_ms, dtype=np.int64)[-1]),
    )
