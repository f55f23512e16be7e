"""Macro sources read economic calendars (ICS and JSON) from a local HTTP server.

A released figure's surprise (actual against forecast) sets the sign for its indicator (a hot
CPI or higher jobless claims are risk-off, stronger payrolls risk-on) and fades with time since
release; a high-impact release still to come tilts risk-off as it nears. A calendar that is
malformed or late is classified in the problems, and the other feeds still count.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from support.feed_server import Route, feed_server
from tradefleet_runtime.signals.econ_calendar import (
    CalendarConfig,
    CalendarEvent,
    calendar_macro_events,
    parse_calendar,
)
from tradefleet_runtime.sources.macro_source import MacroEngine

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"
ICS = (FIXTURES / "econ_calendar.ics").read_bytes()
JSON_CALENDAR = (FIXTURES / "econ_calendar.json").read_bytes()
NOW_MS = int(datetime(2026, 12, 5, 2, 0, tzinfo=UTC).timestamp() * 1000)
HOUR_MS = 3_600_000


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_ics_events_carry_time_impact_and_figures() -> None:
    events = parse_calendar(ICS)
    assert events is not None
    assert [
        (e.event, e.time_ms, e.impact, e.actual, e.forecast, e.previous) for e in events
    ] == [
        ("US CPI (YoY)", _ms("2026-12-05T01:30:00+00:00"), "high", 3.6, 3.2, 3.1),
        # 08:30 in New York is 13:30 UTC; PRIORITY 5 is medium (RFC 5545).
        ("Initial Jobless Claims", _ms("2026-12-04T13:30:00+00:00"), "medium",
         221_000.0, 220_000.0, 219_000.0),
        ("FOMC Interest Rate Decision", _ms("2026-12-05T04:00:00+00:00"), "high", None, 4.25, 4.5),
        ("Thanksgiving Day - US markets closed", _ms("2026-11-26T00:00:00+00:00"), "low",
         None, None, None),
    ]  # fmt: skip


def test_json_calendar_events_read_iso_and_epoch_times_and_blank_figures() -> None:
    events = parse_calendar(JSON_CALENDAR)
    assert events is not None
    assert [(e.event, e.time_ms, e.impact, e.actual, e.forecast) for e in events] == [
        ("Non-Farm Employment Change", _ms("2026-12-05T00:30:00+00:00"), "high", 254_000.0,
         180_000.0),
        ("Unemployment Rate", _ms("2026-12-05T00:30:00+00:00"), "high", 3.9, 4.1),
        ("German Factory Orders m/m", 1_796_432_400_000, "low", None, 0.4),
        ("Retail Sales m/m", _ms("2026-12-06T13:30:00+00:00"), "medium", None, 0.3),
    ]  # fmt: skip
    assert parse_calendar(b'[{"title": "FOMC statement", "sentiment": "dovish"}]') is None


def test_surprise_sign_follows_the_indicator_and_fades_with_time() -> None:
    config = CalendarConfig()
    hot_cpi = CalendarEvent(
        event="US CPI (YoY)", time_ms=NOW_MS, impact="high", actual=3.6, forecast=3.2, previous=3.1
    )
    (fresh,) = calendar_macro_events([hot_cpi], now_ms=NOW_MS, config=config)
    assert fresh.event_type == "cpi_above_expected"
    assert fresh.bias_for("BTC/USDT") < -0.5
    (later,) = calendar_macro_events([hot_cpi], now_ms=NOW_MS + 12 * HOUR_MS, config=config)
    assert later.weight_scale == pytest.approx(fresh.weight_scale / 2)
    assert calendar_macro_events([hot_cpi], now_ms=NOW_MS + 8 * 24 * HOUR_MS, config=config) == []
    cool_cpi = CalendarEvent(
        event="US CPI (YoY)", time_ms=NOW_MS, impact="high", actual=3.0, forecast=3.2, previous=3.1
    )
    (cool,) = calendar_macro_events([cool_cpi], now_ms=NOW_MS, config=config)
    assert cool.event_type == "cpi_below_expected" and cool.bias_for("BTC/USDT") > 0.5


def test_a_high_impact_release_ahead_tilts_risk_off_more_as_it_nears() -> None:
    fomc = CalendarEvent(
        event="FOMC Interest Rate Decision", time_ms=NOW_MS + 2 * HOUR_MS, impact="high",
        actual=None, forecast=4.25, previous=4.5,
    )  # fmt: skip
    config = CalendarConfig()
    (near,) = calendar_macro_events([fomc], now_ms=NOW_MS, config=config)
    (far,) = calendar_macro_events([fomc], now_ms=NOW_MS - 18 * HOUR_MS, config=config)
    assert near.bias_for("BTC/USDT") < 0 and far.bias_for("BTC/USDT") < 0
    assert near.weight_scale > far.weight_scale
    assert calendar_macro_events([fomc], now_ms=NOW_MS - 30 * HOUR_MS, config=config) == []


async def test_macro_engine_turns_served_calendars_into_a_bias() -> None:
    routes = {
        "/calendar.ics": Route(body=ICS, content_type="text/calendar"),
        "/calendar/this-week": Route(body=JSON_CALENDAR, content_type="application/json"),
    }
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        ics_only = MacroEngine(
            spec={"feeds": [server.url("/calendar.ics")]}, symbols=["BTC/USDT"], interval_s=60,
            client=client,
        )  # fmt: skip
        json_only = MacroEngine(
            spec={"feeds": [server.url("/calendar/this-week")]}, symbols=["BTC/USDT"],
            interval_s=60, client=client,
        )  # fmt: skip
        (risk_off,) = await ics_only.readings(symbols=["BTC/USDT"], now_ms=NOW_MS)
        (risk_on,) = await json_only.readings(symbols=["BTC/USDT"], now_ms=NOW_MS)
    assert risk_off.value < -0.3 and risk_off.confidence > 0.5
    assert risk_on.value > 0.3 and risk_on.confidence > 0.5
    assert ics_only.problems() == [] and json_only.problems() == []


async def test_malformed_and_late_calendars_are_problems_and_the_good_one_counts() -> None:
    routes = {
        "/good.ics": Route(body=ICS, content_type="text/calendar"),
        "/cut.ics": Route(body=ICS[: ICS.index(b"END:VEVENT")], content_type="text/calendar"),
        "/broken.json": Route(body=JSON_CALENDAR[:-40], content_type="application/json"),
        "/slow.ics": Route(body=ICS, delay_s=2.0, content_type="text/calendar"),
    }
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        engine = MacroEngine(
            spec={"feeds": [server.url(path) for path in routes]}, symbols=["BTC/USDT"],
            interval_s=60, client=client, feed_timeout_s=0.5,
        )  # fmt: skip
        (reading,) = await engine.readings(symbols=["BTC/USDT"], now_ms=NOW_MS)
        problems = engine.problems()
    assert reading.value < -0.3
    kinds = {p.split(": ")[0]: p.split(": ")[1] for p in problems}
    assert kinds == {
        server.url("/cut.ics"): "malformed",
        server.url("/broken.json"): "malformed",
        server.url("/slow.ics"): "timeout",
    }


MACRO_ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Central bank wire</title>
  <id>urn:uuid:3f1b0c1e-0000-4000-8000-000000000001</id>
  <updated>2026-12-05T01:40:00Z</updated>
  <entry>
    <title>Fed raises rates by 50 basis points in surprise move</title>
    <id>urn:uuid:3f1b0c1e-0000-4000-8000-000000000002</id>
    <updated>2026-12-05T01:30:00Z</updated>
    <summary>The committee voted 9-3.</summary>
  </entry>
  <entry>
    <title>Weather: a mild week ahead</title>
    <id>urn:uuid:3f1b0c1e-0000-4000-8000-000000000003</id>
    <updated>2026-12-05T01:10:00Z</updated>
  </entry>
</feed>
"""


async def test_atom_headlines_are_classified_like_rss_ones() -> None:
    routes = {"/cb.atom": Route(body=MACRO_ATOM, content_type="application/atom+xml")}
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        engine = MacroEngine(
            spec={"feeds": [server.url("/cb.atom")]}, symbols=["BTC/USDT"], interval_s=60,
            client=client,
        )  # fmt: skip
        (reading,) = await engine.readings(symbols=["BTC/USDT"], now_ms=NOW_MS)
    assert reading.value < -0.2 and reading.confidence > 0  # fed_rate_hike, one typed event
    assert engine.problems() == []
