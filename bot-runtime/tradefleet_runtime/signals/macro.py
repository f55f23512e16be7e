"""Macro-economic events (central banks, inflation, jobs, yields, geopolitics) as a bias.

A :class:`MacroMonitor` per runtime (or a macro ``SignalSource`` workload) reloads
events from JSON files or RSS feeds every ``refresh_interval_ms`` and assesses them
for a symbol. For each event e within the lookback (events without a timestamp are
standing context and never expire):

* w_e = impact weight (low 0.8, medium 1.0, high 1.5, critical 2.0) × the event's
  ``weight_scale`` (1 unless set: an economic-calendar release fades with its age, a release
  ahead weighs more as it nears, see :mod:`.econ_calendar`)
* a_e = the event type's risk adjustment (fed_rate_cut +0.2, fed_rate_hike −0.3,
  cpi_below_expected +0.15, cpi_above_expected −0.2, unemployment_low +0.1,
  unemployment_high −0.15, rising_yields −0.25, geopolitical_tension −0.3; 0 untyped)
* s_e = sentiment value (bullish +0.6, bearish −0.6, dovish +0.5, hawkish −0.5, neutral 0)
* b_e = the event's bias for the symbol, else its ``"*"`` bias, else 0
* driver contribution d_e = w_e · (a_e + s_e + b_e)

bias = clamp(Σ d_e / Σ w_e, −1, 1) and risk multiplier =
clamp(1 + Σ w_e · a_e, min, max): the event types move risk appetite, everything moves
the directional bias.

Event JSON (a list, or ``{"events": [...]}``)::

    {"title": "FOMC cuts rates", "event_type": "fed_rate_cut", "category": "central_bank",
     "sentiment": "dovish", "impact": "high", "assets": {"BTC/USDT": 0.1, "*": 0.05},
     "published_ms": 1700000000000, "summary": "…"}
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from xml.etree import ElementTree

import httpx

from tradefleet_runtime.signals.errors import SignalConfigError, SignalSourceError
from tradefleet_runtime.signals.feeds import read_document
from tradefleet_runtime.signals.reading import SignalReading, clamp_unit
from tradefleet_runtime.signals.validation import (
    require_finite_mapping,
    require_int_at_least,
    require_positive,
)

SIGNAL_NAME = "macro"
DAY_MS = 86_400_000
WILDCARD_ASSET = "*"


class MacroEventType(StrEnum):
    FED_RATE_CUT = "fed_rate_cut"
    FED_RATE_HIKE = "fed_rate_hike"
    CPI_BELOW_EXPECTED = "cpi_below_expected"
    CPI_ABOVE_EXPECTED = "cpi_above_expected"
    UNEMPLOYMENT_LOW = "unemployment_low"
    UNEMPLOYMENT_HIGH = "unemployment_high"
    RISING_YIELDS = "rising_yields"
    GEOPOLITICAL_TENSION = "geopolitical_tension"


def default_event_adjustments() -> dict[str, float]:
    return {
        MacroEventType.FED_RATE_CUT: 0.2,
        MacroEventType.FED_RATE_HIKE: -0.3,
        MacroEventType.CPI_BELOW_EXPECTED: 0.15,
        MacroEventType.CPI_ABOVE_EXPECTED: -0.2,
        MacroEventType.UNEMPLOYMENT_LOW: 0.1,
        MacroEventType.UNEMPLOYMENT_HIGH: -0.15,
        MacroEventType.RISING_YIELDS: -0.25,
        MacroEventType.GEOPOLITICAL_TENSION: -0.3,
    }


def default_impact_weights() -> dict[str, float]:
    return {"low": 0.8, "medium": 1.0, "high": 1.5, "critical": 2.0}


def default_sentiment_values() -> dict[str, float]:
    return {"bullish": 0.6, "bearish": -0.6, "dovish": 0.5, "hawkish": -0.5, "neutral": 0.0}


def default_rss_rules() -> tuple[tuple[str, str], ...]:
    """(phrase in the lower-cased title, event type); the first matching rule wins."""
    return (
        ("rate cut", MacroEventType.FED_RATE_CUT),
        ("cuts rates", MacroEventType.FED_RATE_CUT),
        ("rate hike", MacroEventType.FED_RATE_HIKE),
        ("raises rates", MacroEventType.FED_RATE_HIKE),
        ("inflation cools", MacroEventType.CPI_BELOW_EXPECTED),
        ("cpi below", MacroEventType.CPI_BELOW_EXPECTED),
        ("inflation hotter", MacroEventType.CPI_ABOVE_EXPECTED),
        ("cpi above", MacroEventType.CPI_ABOVE_EXPECTED),
        ("unemployment falls", MacroEventType.UNEMPLOYMENT_LOW),
        ("unemployment rises", MacroEventType.UNEMPLOYMENT_HIGH),
        ("yields rise", MacroEventType.RISING_YIELDS),
        ("yields climb", MacroEventType.RISING_YIELDS),
        ("sanctions", MacroEventType.GEOPOLITICAL_TENSION),
        ("military", MacroEventType.GEOPOLITICAL_TENSION),
        ("tariff", MacroEventType.GEOPOLITICAL_TENSION),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class MacroConfig:
    """Event tables, refresh cadence, lookback and the risk-multiplier bounds.

    ``evidence_half_weight``: total impact weight at which the confidence reaches 0.5.
    """

    event_adjustments: Mapping[str, float] = field(default_factory=default_event_adjustments)
    impact_weights: Mapping[str, float] = field(default_factory=default_impact_weights)
    sentiment_values: Mapping[str, float] = field(default_factory=default_sentiment_values)
    rss_rules: tuple[tuple[str, str], ...] = field(default_factory=default_rss_rules)
    rss_impact: str = "medium"
    refresh_interval_ms: int = 300_000
    lookback_ms: int = 30 * DAY_MS
    min_risk_multiplier: float = 0.5
    max_risk_multiplier: float = 1.5
    evidence_half_weight: float = 2.0
    feed_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        require_finite_mapping(name="event_adjustments", values=self.event_adjustments)
        require_finite_mapping(name="impact_weights", values=self.impact_weights)
        require_finite_mapping(name="sentiment_values", values=self.sentiment_values)
        for impact, weight in self.impact_weights.items():
            require_positive(name=f"impact_weights[{impact!r}]", value=weight)
        if "neutral" not in self.sentiment_values:
            raise SignalConfigError("sentiment_values needs a 'neutral' entry")
        if self.rss_impact not in self.impact_weights:
            raise SignalConfigError(f"rss_impact {self.rss_impact!r} is not an impact level")
        for phrase, event_type in self.rss_rules:
            if not phrase or event_type not in self.event_adjustments:
                raise SignalConfigError(f"rss rule ({phrase!r}, {event_type!r}) is not usable")
        require_int_at_least(name="refresh_interval_ms", value=self.refresh_interval_ms, minimum=1)
        require_int_at_least(name="lookback_ms", value=self.lookback_ms, minimum=1)
        require_positive(name="min_risk_multiplier", value=self.min_risk_multiplier)
        if not 0 < self.min_risk_multiplier <= 1.0 <= self.max_risk_multiplier:
            raise SignalConfigError("risk multiplier bounds must satisfy 0 < min <= 1 <= max")
        require_positive(name="evidence_half_weight", value=self.evidence_half_weight)
        require_positive(name="feed_timeout_s", value=self.feed_timeout_s)


@dataclass(frozen=True, kw_only=True, slots=True)
class MacroEvent:
    title: str
    event_type: str | None
    category: str
    sentiment: str
    impact: str
    asset_bias: Mapping[str, float]
    published_ms: int | None
    summary: str = ""
    weight_scale: float = 1.0

    def bias_for(self, symbol: str) -> float:
        return self.asset_bias.get(symbol, self.asset_bias.get(WILDCARD_ASSET, 0.0))

    def to_dict(self) -> dict[str, object]:
        return {
            "title": self.title,
            "event_type": self.event_type,
            "category": self.category,
            "sentiment": self.sentiment,
            "impact": self.impact,
            "assets": dict(self.asset_bias),
            "published_ms": self.published_ms,
            "summary": self.summary,
        }


def parse_event(*, record: object, config: MacroConfig) -> MacroEvent:
    """One event from its JSON object, checked against the config's tables."""
    if not isinstance(record, Mapping):
        raise SignalSourceError(f"a macro event must be a JSON object, got {type(record).__name__}")
    title = record.get("title")
    if not isinstance(title, str) or not title:
        raise SignalSourceError("macro event needs a non-empty 'title'")
    event_type = record.get("event_type")
    if event_type is not None and event_type not in config.event_adjustments:
        raise SignalSourceError(f"event {title!r}: unknown event_type {event_type!r}")
    sentiment = record.get("sentiment", "neutral")
    if sentiment not in config.sentiment_values:
        raise SignalSourceError(f"event {title!r}: unknown sentiment {sentiment!r}")
    impact = record.get("impact", "medium")
    if impact not in config.impact_weights:
        raise SignalSourceError(f"event {title!r}: unknown impact {impact!r}")
    assets = record.get("assets", {})
    if not isinstance(assets, Mapping) or not all(
        isinstance(k, str)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
        for k, v in assets.items()
    ):
        raise SignalSourceError(f"event {title!r}: 'assets' must map symbols to numbers")
    published = record.get("published_ms")
    if published is not None and (isinstance(published, bool) or not isinstance(published, int)):
        raise SignalSourceError(f"event {title!r}: 'published_ms' must be an integer")
    category = record.get("category", "general")
    summary = record.get("summary", "")
    return MacroEvent(
        title=title,
        event_type=event_type,
        category=category if isinstance(category, str) else "general",
        sentiment=sentiment,
        impact=impact,
        asset_bias={k: float(v) for k, v in assets.items()},
        published_ms=published,
        summary=summary if isinstance(summary, str) else "",
    )


def parse_events_json(*, payload: bytes, config: MacroConfig) -> list[MacroEvent]:
    try:
        document = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SignalSourceError(f"macro events are not valid JSON: {error}") from error
    records = document.get("events") if isinstance(document, dict) else document
    if not isinstance(records, list):
        raise SignalSourceError("macro events must be a list or {'events': [...]}")
    return [parse_event(record=record, config=config) for record in records]


def parse_rss_items(*, payload: bytes, config: MacroConfig) -> list[MacroEvent]:
    """RSS 2.0 items whose title matches an rss rule become typed events; others are skipped."""
    try:
        root = ElementTree.fromstring(payload)
    except ElementTree.ParseError as error:
        raise SignalSourceError(f"RSS feed is not valid XML: {error}") from error
    events: list[MacroEvent] = []
    for item in root.iter("item"):
        title = (item.findtext("title") or "").strip()
        lowered = title.lower()
        event_type = next((kind for phrase, kind in config.rss_rules if phrase in lowered), None)
        if not title or event_type is None:
            continue
        published_text = item.findtext("pubDate")
        published_ms: int | None = None
        if published_text:
            try:
                published_ms = int(
                    email.utils.parsedate_to_datetime(published_text).timestamp() * 1000
                )
            except (TypeError, ValueError) as error:
                raise SignalSourceError(
                    f"RSS item {title!r}: unreadable pubDate {published_text!r}"
                ) from error
        events.append(
            MacroEvent(
                title=title,
                event_type=event_type,
                category="news",
                sentiment="neutral",
                impact=config.rss_impact,
                asset_bias={},
                published_ms=published_ms,
                summary=(item.findtext("description") or "").strip(),
            )
        )
    return events


class MacroFeedFormat(StrEnum):
    JSON = "json"
    RSS = "rss"


@dataclass(frozen=True, kw_only=True, slots=True)
class MacroFeed:
    """A file path or http(s) URL holding events as JSON or RSS."""

    location: str
    format: MacroFeedFormat


@dataclass(frozen=True, kw_only=True, slots=True)
class MacroDriver:
    title: str
    event_type: str | None
    impact: str
    contribution: float

    def to_dict(self) -> dict[str, object]:
        return {
            "title": self.title,
            "event_type": self.event_type,
            "impact": self.impact,
            "contribution": self.contribution,
        }


class MacroSignalKind(StrEnum):
    INCREASE_RISK = "increase_risk"
    REDUCE_RISK = "reduce_risk"
    NEUTRAL = "neutral"


@dataclass(frozen=True, kw_only=True, slots=True)
class MacroAssessment:
    symbol: str
    signal: MacroSignalKind
    risk_multiplier: float
    bias: float
    confidence: float
    reason: str
    drivers: tuple[MacroDriver, ...]
    recent_events: tuple[MacroEvent, ...]
    feed_errors: tuple[str, ...]
    as_of_ms: int

    def to_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "signal": self.signal.value,
            "risk_multiplier": self.risk_multiplier,
            "bias": self.bias,
            "confidence": self.confidence,
            "reason": self.reason,
            "drivers": [driver.to_dict() for driver in self.drivers],
            "recent_events": [event.to_dict() for event in self.recent_events],
            "feed_errors": list(self.feed_errors),
            "as_of_ms": self.as_of_ms,
        }

    def as_reading(self) -> SignalReading:
        return SignalReading(
            name=SIGNAL_NAME,
            value=self.bias,
            confidence=self.confidence,
            as_of_ms=self.as_of_ms,
            detail=f"macro {self.signal.value}: {self.reason}",
        )


def assess_events(
    *,
    symbol: str,
    events: Sequence[MacroEvent],
    config: MacroConfig,
    now_ms: int,
    feed_errors: Sequence[str] = (),
) -> MacroAssessment:
    """The formula in the module docstring, for the events within the lookback."""
    relevant = [
        event
        for event in events
        if event.published_ms is None or 0 <= now_ms - event.published_ms <= config.lookback_ms
    ]
    total_weight = risk_adjustment = weighted_direction = 0.0
    drivers: list[MacroDriver] = []
    for event in relevant:
        weight = config.impact_weights[event.impact] * event.weight_scale
        adjustment = (
            config.event_adjustments.get(event.event_type, 0.0) if event.event_type else 0.0
        )
        contribution = weight * (
            adjustment + config.sentiment_values[event.sentiment] + event.bias_for(symbol)
        )
        total_weight += weight
        risk_adjustment += weight * adjustment
        weighted_direction += contribution
        drivers.append(
            MacroDriver(
                title=event.title,
                event_type=event.event_type,
                impact=event.impact,
                contribution=contribution,
            )
        )
    bias = clamp_unit(weighted_direction / total_weight) if total_weight > 0 else 0.0
    multiplier = min(
        config.max_risk_multiplier, max(config.min_risk_multiplier, 1.0 + risk_adjustment)
    )
    positive = sum(1 for driver in drivers if driver.contribution > 0)
    negative = sum(1 for driver in drivers if driver.contribution < 0)
    if multiplier > 1.0:
        kind = MacroSignalKind.INCREASE_RISK
        reason = f"Favorable macro environment ({positive} positive events)"
    elif multiplier < 1.0:
        kind = MacroSignalKind.REDUCE_RISK
        reason = f"Risk-off macro environment ({negative} negative events)"
    else:
        kind = MacroSignalKind.NEUTRAL
        reason = (
            f"No macro events in the last {config.lookback_ms / DAY_MS:g} days"
            if not relevant
            else f"Balanced macro environment ({positive} positive, {negative} negative events)"
        )
    drivers.sort(key=lambda driver: -abs(driver.contribution))
    return MacroAssessment(
        symbol=symbol,
        signal=kind,
        risk_multiplier=multiplier,
        bias=bias,
        confidence=total_weight / (total_weight + config.evidence_half_weight),
        reason=reason,
        drivers=tuple(drivers),
        recent_events=tuple(relevant),
        feed_errors=tuple(feed_errors),
        as_of_ms=now_ms,
    )


class MacroMonitor:
    """Holds the events of its feeds, reloading them when the refresh interval has passed.

    A feed that fails keeps its previous events; the failure is listed in
    ``feed_errors`` of every assessment until that feed loads again.
    """

    def __init__(
        self,
        *,
        config: MacroConfig,
        feeds: Sequence[MacroFeed],
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._config = config
        self._feeds = tuple(feeds)
        self._client = client
        self._events: dict[MacroFeed, list[MacroEvent]] = {feed: [] for feed in self._feeds}
        self._errors: dict[MacroFeed, str] = {}
        self._loaded_at_ms: int | None = None

    @property
    def events(self) -> list[MacroEvent]:
        return [event for feed in self._feeds for event in self._events[feed]]

    @property
    def feed_errors(self) -> list[str]:
        return [f"{feed.location}: {message}" for feed, message in self._errors.items()]

    async def refresh_if_due(self, *, now_ms: int) -> bool:
        """Reload every feed if the interval has passed (or nothing was loaded yet)."""
        if (
            self._loaded_at_ms is not None
            and now_ms - self._loaded_at_ms < self._config.refresh_interval_ms
        ):
            return False
        self._loaded_at_ms = now_ms
        for feed in self._feeds:
            try:
                payload = await read_document(
                    location=feed.location,
                    timeout_s=self._config.feed_timeout_s,
                    client=self._client,
                )
                parse = parse_rss_items if feed.format is MacroFeedFormat.RSS else parse_events_json
                self._events[feed] = parse(payload=payload, config=self._config)
                self._errors.pop(feed, None)
            except SignalSourceError as error:
                self._errors[feed] = str(error)
        return True

    def assess(self, *, symbol: str, now_ms: int) -> MacroAssessment:
        return assess_events(
            symbol=symbol,
            events=self.events,
            config=self._config,
            now_ms=now_ms,
            feed_errors=self.feed_errors,
        )
