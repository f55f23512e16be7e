"""Macro monitor: the weighting pinned to a hand computation, JSON and RSS feeds, refresh."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tradefleet_runtime.signals.errors import SignalConfigError, SignalSourceError
from tradefleet_runtime.signals.macro import (
    MacroConfig,
    MacroEventType,
    MacroFeed,
    MacroFeedFormat,
    MacroMonitor,
    MacroSignalKind,
    assess_events,
    parse_events_json,
    parse_rss_items,
)

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"
NOW_MS = 1_700_000_000_000


def _events() -> list:  # type: ignore[type-arg]
    return parse_events_json(
        payload=(FIXTURES / "macro_events.json").read_bytes(), config=MacroConfig()
    )


def test_assessment_matches_the_hand_computation_for_btc() -> None:
    assessment = assess_events(
        symbol="BTC/USDT", events=_events(), config=MacroConfig(), now_ms=NOW_MS
    )
    # Fed cut:   w 1.5 * ( 0.2 + 0.5 + 0)     =  1.05
    # CPI above: w 1.0 * (-0.2 + 0   - 0.05)  = -0.25
    # Conflict:  w 1.5 * (-0.3 - 0.6 - 0.1)   = -1.5
    # ETF flows: w 0.8 * ( 0   + 0.6 + 0)     =  0.48  (no timestamp: standing event)
    # The 40-day-old hike is outside the 30-day lookback.
    total_weight = 1.5 + 1.0 + 1.5 + 0.8
    assert assessment.bias == pytest.approx((1.05 - 0.25 - 1.5 + 0.48) / total_weight)
    # risk: 1 + 1.5 * 0.2 + 1.0 * -0.2 + 1.5 * -0.3 = 0.65
    assert assessment.risk_multiplier == pytest.approx(0.65)
    assert assessment.signal is MacroSignalKind.REDUCE_RISK
    assert assessment.reason == "Risk-off macro environment (2 negative events)"
    assert assessment.confidence == pytest.approx(total_weight / (total_weight + 2.0))
    assert [driver.title for driver in assessment.drivers] == [
        "Border conflict escalates",
        "Fed cuts rates by 25bp",
        "ETF flows steady",
        "CPI above expectations",
    ]
    assert assessment.drivers[0].contribution == pytest.approx(-1.5)
    assert len(assessment.recent_events) == 4
    reading = assessment.as_reading()
    assert (reading.name, reading.value) == ("macro", assessment.bias)


def test_other_symbols_use_the_wildcard_bias() -> None:
    assessment = assess_events(
        symbol="ETH/USDT", events=_events(), config=MacroConfig(), now_ms=NOW_MS
    )
    # Conflict now takes the "*" bias -0.2: 1.5 * (-0.3 - 0.6 - 0.2) = -1.65
    assert assessment.bias == pytest.approx((1.05 - 0.25 - 1.65 + 0.48) / 4.8)


def test_impact_weights_scale_contributions() -> None:
    config = MacroConfig()
    for impact, weight in (("low", 0.8), ("medium", 1.0), ("high", 1.5), ("critical", 2.0)):
        payload = (
            f'[{{"title": "t", "event_type": "rising_yields", "impact": "{impact}"}}]'
        ).encode()
        assessment = assess_events(
            symbol="BTC/USDT",
            events=parse_events_json(payload=payload, config=config),
            config=config,
            now_ms=NOW_MS,
        )
        assert assessment.drivers[0].contribution == pytest.approx(weight * -0.25)
        assert assessment.risk_multiplier == pytest.approx(1 - weight * 0.25)
        assert assessment.bias == pytest.approx(-0.25)


def test_risk_multiplier_is_bounded() -> None:
    config = MacroConfig()
    payload = (
        b"["
        + b",".join(
            b'{"title": "cut %d", "event_type": "fed_rate_cut", "impact": "critical"}' % i
            for i in range(5)
        )
        + b"]"
    )
    assessment = assess_events(
        symbol="BTC/USDT",
        events=parse_events_json(payload=payload, config=config),
        config=config,
        now_ms=NOW_MS,
    )
    assert assessment.risk_multiplier == 1.5  # 1 + 5 * 2.0 * 0.2 = 3.0, capped
    assert assessment.signal is MacroSignalKind.INCREASE_RISK
    assert assessment.reason == "Favorable macro environment (5 positive events)"


def test_no_events_is_neutral() -> None:
    assessment = assess_events(symbol="BTC/USDT", events=[], config=MacroConfig(), now_ms=NOW_MS)
    assert (assessment.bias, assessment.risk_multiplier, assessment.confidence) == (0.0, 1.0, 0.0)
    assert assessment.signal is MacroSignalKind.NEUTRAL


def test_rss_items_become_typed_events() -> None:
    events = parse_rss_items(
        payload=(FIXTURES / "macro_feed.rss").read_bytes(), config=MacroConfig()
    )
    assert [(e.event_type, e.published_ms) for e in events] == [
        (MacroEventType.FED_RATE_CUT, 1_699_988_400_000),
        (MacroEventType.RISING_YIELDS, 1_699_974_000_000),
    ]
    assert events[0].impact == "medium"
    assert events[0].summary == "The committee lowered its target range."


async def test_monitor_refreshes_on_its_interval_and_survives_a_broken_feed(
    tmp_path: Path,
) -> None:
    events_file = tmp_path / "events.json"
    shutil.copy(FIXTURES / "macro_events.json", events_file)
    rss_file = tmp_path / "feed.rss"
    shutil.copy(FIXTURES / "macro_feed.rss", rss_file)
    monitor = MacroMonitor(
        config=MacroConfig(refresh_interval_ms=60_000),
        feeds=[
            MacroFeed(location=str(events_file), format=MacroFeedFormat.JSON),
            MacroFeed(location=str(rss_file), format=MacroFeedFormat.RSS),
        ],
    )
    assert await monitor.refresh_if_due(now_ms=NOW_MS)
    assert len(monitor.events) == 7
    events_file.write_text("[]")
    assert not await monitor.refresh_if_due(now_ms=NOW_MS + 59_999)
    assert len(monitor.events) == 7
    rss_file.write_text("<rss><channel><item>")  # broken XML: keep the previous items
    assert await monitor.refresh_if_due(now_ms=NOW_MS + 60_000)
    assert len(monitor.events) == 2
    assessment = monitor.assess(symbol="BTC/USDT", now_ms=NOW_MS + 60_000)
    assert assessment.feed_errors and "not valid XML" in assessment.feed_errors[0]
    assert assessment.to_dict()["feed_errors"] == list(assessment.feed_errors)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'[{"title": "x", "event_type": "alien_invasion"}]', "unknown event_type"),
        (b'[{"title": "x", "impact": "apocalyptic"}]', "unknown impact"),
        (b'[{"title": "x", "sentiment": "meh"}]', "unknown sentiment"),
        (b'[{"title": "x", "assets": {"BTC": "lots"}}]', "assets"),
        (b'{"events": "none"}', "list"),
        (b"nope", "not valid JSON"),
    ],
)
def test_bad_events_are_rejected_with_a_reason(payload: bytes, message: str) -> None:
    with pytest.raises(SignalSourceError, match=message):
        parse_events_json(payload=payload, config=MacroConfig())


def test_config_is_validated() -> None:
    with pytest.raises(SignalConfigError, match="impact_weights"):
        MacroConfig(impact_weights={"low": 0.0, "medium": 1.0})
    with pytest.raises(SignalConfigError, match="risk multiplier bounds"):
        MacroConfig(min_risk_multiplier=1.2)
