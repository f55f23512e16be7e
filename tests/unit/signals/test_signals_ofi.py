"""Order-flow imbalance: the CKS formula on a hand-computed sequence, and streaming == batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradefleet_runtime.marketdata.synthetic import generate_book
from tradefleet_runtime.signals.errors import SignalConfigError, SignalDataError
from tradefleet_runtime.signals.ofi import OfiConfig, OfiRecommendation, StreamingOfi
from tradefleet_runtime.signals.ofi_batch import ofi_series, ofi_signal_batch

pytestmark = pytest.mark.unit

BASE_MS = 1_700_000_000_000
# (bid price, bid size, ask price, ask size, ms after BASE_MS) and the e_n worked out by hand:
# n1 bid unchanged: +7 - 5; ask unchanged: -4 + 4            -> +2
# n2 bid up: +3; ask unchanged: -2 + 4                        -> +5
# n3 bid unchanged: +1 - 3; ask up: +2 (previous ask size)    ->  0
# n4 bid down: -1 (previous bid size); ask down: -3           -> -4
SNAPSHOTS = [
    (100.0, 5.0, 101.0, 4.0, 0),
    (100.0, 7.0, 101.0, 4.0, 400),
    (100.5, 3.0, 101.0, 2.0, 900),
    (100.5, 1.0, 101.5, 6.0, 1_200),
    (100.0, 4.0, 101.0, 3.0, 2_500),
]
EXPECTED_INCREMENTS = [0.0, 2.0, 5.0, 0.0, -4.0]


def _stream(config: OfiConfig) -> tuple[StreamingOfi, list[float]]:
    stream = StreamingOfi(symbol="BTC/USDT", config=config)
    increments = [
        stream.update(
            bid_price=bp, bid_size=bq, ask_price=ap, ask_size=aq, timestamp_ms=BASE_MS + offset
        )
        for bp, bq, ap, aq, offset in SNAPSHOTS
    ]
    return stream, increments


def _batch_columns() -> dict[str, list[float] | list[int]]:
    return {
        "bid_price": [s[0] for s in SNAPSHOTS],
        "bid_size": [s[1] for s in SNAPSHOTS],
        "ask_price": [s[2] for s in SNAPSHOTS],
        "ask_size": [s[3] for s in SNAPSHOTS],
        "timestamp_ms": [BASE_MS + s[4] for s in SNAPSHOTS],
    }


def test_streaming_increments_match_hand_computed_values() -> None:
    _, increments = _stream(OfiConfig(window_ms=1_000, lookback_ms=3_000))
    assert increments == EXPECTED_INCREMENTS


def test_batch_increments_and_window_sums_match_hand_computed_values() -> None:
    series = ofi_series(**_batch_columns(), window_ms=1_000)
    assert series.increments.tolist() == EXPECTED_INCREMENTS
    # Windows: {n0, n1, n2} = +7, {n3} = 0, {n4} = -4.
    assert series.window_total.tolist() == [7.0, 0.0, -4.0]
    assert series.window_positive.tolist() == [7.0, 0.0, 0.0]
    assert series.window_negative.tolist() == [0.0, 0.0, 4.0]
    assert series.window_snapshot_count.tolist() == [3, 1, 1]


def test_signal_over_three_windows_is_a_buy_with_the_hand_computed_features() -> None:
    stream, _ = _stream(OfiConfig(window_ms=1_000, lookback_ms=3_000, threshold=0.1))
    signal = stream.signal()
    assert signal is not None
    assert signal.aggregated_ofi == 3.0
    assert signal.current_ofi == -4.0
    assert signal.imbalance == pytest.approx(3 / 11)  # aggregated / gross (7 + 4)
    assert signal.signal_strength == pytest.approx(3 / 11)
    assert signal.buy_pressure_ratio == pytest.approx(7 / 11)
    # Slope of [7, 0, -4] against [0, 1, 2]: sum((x - 1) * y) / 2 = -11 / 2.
    assert signal.ofi_trend == pytest.approx(-5.5)
    assert signal.coverage == 1.0
    assert signal.recommendation is OfiRecommendation.BUY
    assert signal.as_of_ms == BASE_MS + 2_500
    reading = signal.as_reading()
    assert (reading.name, reading.value, reading.confidence) == ("ofi", signal.imbalance, 1.0)


def test_shorter_lookback_sees_only_selling() -> None:
    stream, _ = _stream(OfiConfig(window_ms=1_000, lookback_ms=2_000, threshold=0.1))
    signal = stream.signal()
    assert signal is not None
    assert signal.aggregated_ofi == -4.0
    assert signal.imbalance == -1.0
    assert signal.buy_pressure_ratio == 0.0
    assert signal.ofi_trend == pytest.approx(-4.0)  # [0, -4] against [0, 1]
    assert signal.snapshot_count == 2
    assert signal.recommendation is OfiRecommendation.SELL


def test_empty_windows_lower_coverage() -> None:
    stream = StreamingOfi(symbol="X", config=OfiConfig(window_ms=1_000, lookback_ms=10_000))
    stream.update(bid_price=10.0, bid_size=1.0, ask_price=11.0, ask_size=1.0, timestamp_ms=0)
    stream.update(bid_price=10.0, bid_size=2.0, ask_price=11.0, ask_size=1.0, timestamp_ms=9_000)
    signal = stream.signal()
    assert signal is not None
    assert signal.coverage == pytest.approx(0.2)


def test_to_dict_has_the_api_fields() -> None:
    stream, _ = _stream(OfiConfig(window_ms=1_000, lookback_ms=3_000))
    signal = stream.signal()
    assert signal is not None
    payload = signal.to_dict()
    assert payload["recommendation"] == "buy"
    assert payload["features"] == {
        "ofi_trend": signal.ofi_trend,
        "buy_pressure_ratio": signal.buy_pressure_ratio,
        "current_ofi": -4.0,
        "aggregated_ofi": 3.0,
    }


def test_no_snapshots_means_no_signal() -> None:
    assert StreamingOfi(symbol="X", config=OfiConfig()).signal() is None
    empty = ofi_signal_batch(
        symbol="X",
        timestamp_ms=[],
        bid_price=[],
        bid_size=[],
        ask_price=[],
        ask_size=[],
        config=OfiConfig(),
    )
    assert empty is None


@pytest.mark.parametrize(
    ("bid_price", "bid_size"),
    [(math.nan, 1.0), (math.inf, 1.0), (-1.0, 1.0), (10.0, -1.0), (10.0, math.nan)],
)
def test_bad_quotes_are_rejected_by_both_forms(bid_price: float, bid_size: float) -> None:
    stream = StreamingOfi(symbol="X", config=OfiConfig())
    with pytest.raises(SignalDataError, match="finite"):
        stream.update(
            bid_price=bid_price, bid_size=bid_size, ask_price=11.0, ask_size=1.0, timestamp_ms=0
        )
    with pytest.raises(SignalDataError, match="snapshot 1"):
        ofi_series(
            timestamp_ms=[0, 1],
            bid_price=[10.0, bid_price],
            bid_size=[1.0, bid_size],
            ask_price=[11.0, 11.0],
            ask_size=[1.0, 1.0],
            window_ms=1_000,
        )


def test_time_going_backwards_is_rejected_by_both_forms() -> None:
    stream = StreamingOfi(symbol="X", config=OfiConfig())
    stream.update(bid_price=10.0, bid_size=1.0, ask_price=11.0, ask_size=1.0, timestamp_ms=5_000)
    with pytest.raises(SignalDataError, match="older"):
        stream.update(
            bid_price=10.0, bid_size=1.0, ask_price=11.0, ask_size=1.0, timestamp_ms=4_999
        )
    with pytest.raises(SignalDataError, match="older"):
        ofi_series(
            timestamp_ms=[5_000, 4_999],
            bid_price=[10.0, 10.0],
            bid_size=[1.0, 1.0],
            ask_price=[11.0, 11.0],
            ask_size=[1.0, 1.0],
            window_ms=1_000,
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_ms": 0}, "window_ms"),
        ({"window_ms": 1_000, "lookback_ms": 2_500}, "multiple"),
        ({"lookback_ms": 500}, "lookback_ms"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(SignalConfigError, match=message):
        OfiConfig(**kwargs)  # type: ignore[arg-type]


def test_synthetic_buy_pressure_shows_as_positive_ofi() -> None:
    book = generate_book(seed=11, n_snapshots=200_000)
    series = ofi_series(
        timestamp_ms=book.timestamp_ms,
        bid_price=book.bid_price,
        bid_size=book.bid_size,
        ask_price=book.ask_price,
        ask_size=book.ask_size,
        window_ms=1_000,
    )
    flow = book.flow.astype(np.int64)
    assert series.increments[flow == 1].mean() > 0.5
    assert series.increments[flow == -1].mean() < -0.5


snapshot = st.tuples(
    st.integers(min_value=1, max_value=6),  # bid price in ticks: few values, so ties happen
    st.floats(min_value=0.0, max_value=50.0, allow_nan=False),
    st.integers(min_value=1, max_value=3),  # ask price = bid + this many ticks
    st.floats(min_value=0.0, max_value=50.0, allow_nan=False),
    st.integers(min_value=0, max_value=1_500),  # ms since the previous snapshot
)
Snapshot = tuple[int, float, int, float, int]


def _rows(snapshots: list[Snapshot]) -> list[dict[str, float]]:
    """The drawn snapshots as update() keyword arguments: prices on a 0.5 tick, time advancing."""
    rows = []
    now = BASE_MS
    for bid_ticks, bid_size, spread_ticks, ask_size, gap in snapshots:
        now += gap
        rows.append(
            {
                "timestamp_ms": now,
                "bid_price": bid_ticks * 0.5,
                "bid_size": bid_size,
                "ask_price": (bid_ticks + spread_ticks) * 0.5,
                "ask_size": ask_size,
            }
        )
    return rows


@settings(max_examples=150, deadline=None)
@given(
    snapshots=st.lists(snapshot, min_size=1, max_size=60),
    window_ms=st.sampled_from([100, 250, 1_000]),
    lookback_windows=st.integers(min_value=1, max_value=8),
    threshold=st.floats(min_value=0.01, max_value=1.0),
)
def test_streaming_and_batch_forms_give_identical_results(
    snapshots: list[Snapshot],
    window_ms: int,
    lookback_windows: int,
    threshold: float,
) -> None:
    config = OfiConfig(
        window_ms=window_ms, lookback_ms=window_ms * lookback_windows, threshold=threshold
    )
    stream = StreamingOfi(symbol="X", config=config)
    rows = _rows(snapshots)
    streamed = [stream.update(**row) for row in rows]  # type: ignore[arg-type]
    arrays = {key: [row[key] for row in rows] for key in rows[0]}
    series = ofi_series(**arrays, window_ms=window_ms)
    assert series.increments.tolist() == streamed
    assert ofi_signal_batch(symbol="X", config=config, **arrays) == stream.signal()


@settings(max_examples=60, deadline=None)
@given(
    snapshots=st.lists(snapshot, min_size=1, max_size=40),
    window_ms=st.sampled_from([100, 250, 1_000]),
    lookback_windows=st.integers(min_value=1, max_value=8),
)
def test_streaming_signal_after_every_snapshot_equals_batch_on_the_prefix(
    snapshots: list[Snapshot],
    window_ms: int,
    lookback_windows: int,
) -> None:
    """The streaming form keeps the completed windows' sums between reads; none may go stale."""
    config = OfiConfig(window_ms=window_ms, lookback_ms=window_ms * lookback_windows)
    stream = StreamingOfi(symbol="X", config=config)
    columns: dict[str, list[float]] = {}
    for row in _rows(snapshots):
        stream.update(**row)  # type: ignore[arg-type]
        for key, value in row.items():
            columns.setdefault(key, []).append(value)
        assert ofi_signal_batch(symbol="X", config=config, **columns) == stream.signal()


@settings(max_examples=60, deadline=None)
@given(
    snapshots=st.lists(snapshot, min_size=1, max_size=40),
    window_ms=st.sampled_from([100, 250, 1_000]),
    lookback_windows=st.integers(min_value=1, max_value=8),
    threshold=st.floats(min_value=0.01, max_value=1.0),
)
def test_streaming_reading_equals_the_signals_reading(
    snapshots: list[Snapshot],
    window_ms: int,
    lookback_windows: int,
    threshold: float,
) -> None:
    config = OfiConfig(
        window_ms=window_ms, lookback_ms=window_ms * lookback_windows, threshold=threshold
    )
    stream = StreamingOfi(symbol="X", config=config)
    assert stream.reading() is None
    for row in _rows(snapshots):
        stream.update(**row)  # type: ignore[arg-type]
        signal = stream.signal()
        assert signal is not None
        assert stream.reading() == signal.as_reading()
