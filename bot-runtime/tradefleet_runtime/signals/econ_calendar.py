"""Economic calendars (ICS and JSON) as macro events: the surprise of a release and time to event.

A calendar lists scheduled releases — event, time, impact, and the actual, forecast and
previous figures (an actual appears once released). :func:`parse_calendar` reads

* ICS (RFC 5545, parsed with ``icalendar``): one VEVENT per release; SUMMARY is the event,
  DTSTART its time (a TZID, UTC or floating-as-UTC time; a DATE is midnight UTC); the figures
  and impact come from ``X-ACTUAL`` / ``X-FORECAST`` / ``X-PREVIOUS`` / ``X-IMPACT``, else from
  ``Actual: 3.4%`` style lines of DESCRIPTION, else the impact from PRIORITY (1-4 high,
  5 medium, 6-9 low);
* JSON: a list, or ``{"events": [...]}``, of ``{"event", "time", "impact", "actual",
  "forecast", "previous"}`` where time is ISO 8601 or epoch milliseconds and figures are
  numbers or text such as ``"3.4%"``, ``"254K"``, ``"-1.2B"`` (blank or null: not known).

:func:`calendar_macro_events` turns the releases of known indicators into
:class:`~.macro.MacroEvent` items for the macro formula (seeds 000 and 002):

* released (actual and forecast known, within ``max_age_ms``): surprise
  s = (actual − forecast) / max(|forecast|, |previous|, ``min_scale``); strength
  k = tanh(|s| / ``surprise_scale``); bias for every asset = indicator sign · sign(s) · k (a
  hot CPI, higher claims or unemployment, a rate or yield above forecast: risk-off; stronger
  payrolls, GDP, sales, PMI: risk-on); the event's weight fades by 0.5^(age / ``half_life_ms``);
  its seed event type (cpi_above_expected, fed_rate_hike, ...) counts once k >= ``typed_at``;
* ahead (no actual, within ``pre_event_window_ms``, impact high or critical): bias
  −``pre_event_caution`` at weight (1 − time to event / window): risk-off that grows as the
  release nears (positions are sized down before a known volatility event).

Unknown indicators (holidays, speeches) and releases still awaiting their actual are left out.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from icalendar import Calendar

from tradefleet_runtime.signals.feeds import FeedError, FeedProblem
from tradefleet_runtime.signals.macro import WILDCARD_ASSET, MacroEvent, MacroEventType

HOUR_MS = 3_600_000
_NUMBER = re.compile(r"^([-+]?\d+(?:\.\d+)?)\s*([KMBT%]?)$", re.IGNORECASE)
_MULTIPLIER = {"": 1.0, "%": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_DESCRIPTION_FIELD = re.compile(r"^\s*(impact|actual|forecast|previous)\s*:\s*(.*?)\s*$", re.I)
IMPACTS = ("low", "medium", "high", "critical")


@dataclass(frozen=True, kw_only=True, slots=True)
class CalendarEvent:
    event: str
    time_ms: int
    impact: str
    actual: float | None
    forecast: float | None
    previous: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Indicator:
    """Words naming an indicator, +1 when a higher figure is risk-on (−1 risk-off), and the
    seed event types of a figure above and below its reference."""

    words: tuple[str, ...]
    sign: int
    above: str | None
    below: str | None
    against_previous: bool = False


# Checked in order: "unemployment" before "employment change".
INDICATORS = (
    Indicator(words=("cpi", "consumer price", "inflation", "pce", "ppi", "producer price"),
              sign=-1, above=MacroEventType.CPI_ABOVE_EXPECTED,
              below=MacroEventType.CPI_BELOW_EXPECTED),
    Indicator(words=("unemployment", "jobless claims", "initial claims"), sign=-1,
              above=MacroEventType.UNEMPLOYMENT_HIGH, below=MacroEventType.UNEMPLOYMENT_LOW),
    # A rate decision is a hike or a cut against the previous rate, whatever was forecast.
    Indicator(words=("rate decision", "interest rate", "fed funds", "policy rate", "fomc"),
              sign=-1, above=MacroEventType.FED_RATE_HIKE, below=MacroEventType.FED_RATE_CUT,
              against_previous=True),
    Indicator(words=("treasury", "bond yield", "note auction", "bond auction"), sign=-1,
              above=MacroEventType.RISING_YIELDS, below=None, against_previous=True),
    Indicator(words=("non-farm", "nonfarm", "payrolls", "employment change", "gdp",
                     "retail sales", "pmi", "ism", "industrial production"),
              sign=1, above=None, below=None),
)  # fmt: skip


@dataclass(frozen=True, kw_only=True, slots=True)
class CalendarConfig:
    surprise_scale: float = 0.05
    min_scale: float = 1e-6
    half_life_ms: int = 12 * HOUR_MS
    max_age_ms: int = 7 * 24 * HOUR_MS
    typed_at: float = 0.25
    pre_event_window_ms: int = 24 * HOUR_MS
    pre_event_caution: float = 0.3


def indicator_of(event: str) -> Indicator | None:
    lowered = event.lower()
    for indicator in INDICATORS:
        if any(re.search(rf"\b{re.escape(word)}\b", lowered) for word in indicator.words):
            return indicator
    return None


def figure(raw: object) -> float | None:
    """A calendar figure: a number, or text like ``3.4%``, ``254K``, ``1,200``; blank is None."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw) if math.isfinite(raw) else None
    text = str(raw).strip().replace(",", "")
    if not text:
        return None
    match = _NUMBER.match(text)
    if match is None:
        raise ValueError(f"{raw!r} is not a figure")
    return float(match.group(1)) * _MULTIPLIER[match.group(2).upper()]


def _impact(raw: object) -> str:
    text = str(raw or "medium").strip().lower()
    return text if text in IMPACTS else "medium"


def _time_ms(value: object) -> int:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 10**11 else value * 1000  # epoch seconds or milliseconds
    if isinstance(value, str):
        return _time_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))
    raise ValueError(f"{value!r} is not a time")


def parse_calendar(payload: bytes) -> list[CalendarEvent] | None:
    """The releases of an ICS or JSON calendar; None when the document is neither (a JSON
    document of other records, RSS); FeedError (malformed) when it is one but broken."""
    head = payload.lstrip()[:15].upper()
    if head.startswith(b"BEGIN:VCALENDAR"):
        return _parse_ics(payload)
    if head[:1] in (b"[", b"{"):
        try:
            document = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise FeedError(FeedProblem.MALFORMED, f"not valid JSON: {error}") from error
        records = document.get("events") if isinstance(document, dict) else document
        if not isinstance(records, list) or not all(
            isinstance(r, Mapping) and "event" in r and "time" in r for r in records
        ):
            return None
        return [_json_event(record) for record in records]
    return None


def _json_event(record: Mapping[str, Any]) -> CalendarEvent:
    try:
        return CalendarEvent(
            event=str(record["event"]),
            time_ms=_time_ms(record["time"]),
            impact=_impact(record.get("impact")),
            actual=figure(record.get("actual")),
            forecast=figure(record.get("forecast")),
            previous=figure(record.get("previous")),
        )
    except ValueError as error:
        raise FeedError(FeedProblem.MALFORMED, f"event {record.get('event')!r}: {error}") from None


def _parse_ics(payload: bytes) -> list[CalendarEvent]:
    try:
        calendar = Calendar.from_ical(payload)
    except ValueError as error:
        raise FeedError(FeedProblem.MALFORMED, f"not valid iCalendar: {error}") from error
    events = []
    for component in calendar.walk("VEVENT"):
        summary, start = component.get("SUMMARY"), component.get("DTSTART")
        if summary is None or start is None:
            raise FeedError(FeedProblem.MALFORMED, "a VEVENT needs SUMMARY and DTSTART")
        fields = {
            match.group(1).lower(): match.group(2)
            for line in str(component.get("DESCRIPTION") or "").splitlines()
            if (match := _DESCRIPTION_FIELD.match(line))
        }
        for name in ("impact", "actual", "forecast", "previous"):
            if component.get(f"X-{name.upper()}") is not None:
                fields[name] = str(component.get(f"X-{name.upper()}"))
        if "impact" not in fields and component.get("PRIORITY") is not None:
            priority = int(component.get("PRIORITY"))
            fields["impact"] = (
                "high" if 1 <= priority <= 4 else "medium" if priority == 5 else "low"
            )
        try:
            events.append(
                CalendarEvent(
                    event=str(summary),
                    time_ms=_time_ms(start.dt),
                    impact=_impact(fields.get("impact")),
                    actual=figure(fields.get("actual")),
                    forecast=figure(fields.get("forecast")),
                    previous=figure(fields.get("previous")),
                )
            )
        except ValueError as error:
            raise FeedError(FeedProblem.MALFORMED, f"event {str(summary)!r}: {error}") from None
    return events


def _released(
    event: CalendarEvent, indicator: Indicator, *, now_ms: int, config: CalendarConfig
) -> MacroEvent | None:
    actual, forecast = event.actual, event.forecast
    age = now_ms - event.time_ms
    if actual is None or forecast is None or not 0 <= age <= config.max_age_ms:
        return None
    scale = max(abs(forecast), abs(event.previous or 0.0), config.min_scale)
    surprise = (actual - forecast) / scale
    strength = math.tanh(abs(surprise) / config.surprise_scale)
    reference = event.previous if indicator.against_previous else forecast
    event_type = None
    if reference is not None and strength >= config.typed_at:
        event_type = indicator.above if actual > reference else indicator.below
        if actual == reference:
            event_type = None
    return MacroEvent(
        title=f"{event.event}: actual {actual:g} against forecast {forecast:g}",
        event_type=event_type,
        category="calendar",
        sentiment="neutral",
        impact=event.impact,
        asset_bias={WILDCARD_ASSET: indicator.sign * math.copysign(strength, surprise)},
        published_ms=event.time_ms,
        summary=f"surprise {surprise:+.3f} of the forecast's scale",
        weight_scale=0.5 ** (age / config.half_life_ms),
    )


def calendar_macro_events(
    events: Sequence[CalendarEvent], *, now_ms: int, config: CalendarConfig
) -> list[MacroEvent]:
    """The macro events of a calendar at ``now_ms`` (see the module docstring)."""
    result = []
    for event in events:
        indicator = indicator_of(event.event)
        if indicator is None:
            continue
        ahead = event.time_ms - now_ms
        if event.actual is None and 0 < ahead <= config.pre_event_window_ms:
            if event.impact in ("high", "critical"):
                result.append(
                    MacroEvent(
                        title=f"{event.event} in {ahead / HOUR_MS:.1f} h",
                        event_type=None,
                        category="calendar",
                        sentiment="neutral",
                        impact=event.impact,
                        asset_bias={WILDCARD_ASSET: -config.pre_event_caution},
                        published_ms=None,
                        summary="risk-off ahead of a high-impact release",
                        weight_scale=1.0 - ahead / config.pre_event_window_ms,
                    )
                )
            continue
        released = _released(event, indicator, now_ms=now_ms, config=config)
        if released is not None:
            result.append(released)
    return result
