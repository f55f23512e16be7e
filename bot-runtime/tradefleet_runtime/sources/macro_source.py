"""The macro SignalSource engine: economic calendars, macro event lists and headline feeds.

Every feed is read each round and recognised by its content: an economic calendar (ICS, or
JSON releases with event/time/impact/actual/forecast/previous; :mod:`~.signals.econ_calendar`),
a JSON list of macro events, or RSS / Atom headlines (feedparser) matched against the event rules
(:mod:`~.signals.macro`). Calendar releases are re-assessed at every reading, since their weight
depends on the time since (or until) the release. The files of the ``eventsConfigMap``
(mounted by the operator; ``events_dir``) are read like feeds every round, so an edited ConfigMap
counts once the kubelet has updated the files. The configured ``assetBiases`` are standing
events. A feed that fails keeps what it last gave and is listed in the problems as
``<url>: <kind>: <detail>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.signals.econ_calendar import (
    CalendarConfig,
    CalendarEvent,
    calendar_macro_events,
    parse_calendar,
)
from tradefleet_runtime.signals.errors import SignalSourceError
from tradefleet_runtime.signals.feeds import FeedError, FeedProblem
from tradefleet_runtime.signals.macro import (
    MacroConfig,
    MacroEvent,
    assess_events,
    parse_events_json,
)
from tradefleet_runtime.signals.news_feeds import read_news_feed
from tradefleet_runtime.signals.sentiment import Article
from tradefleet_runtime.sources.engine_base import (
    FEED_TIMEOUT_S,
    SourceEngine,
    coin_of,
    read_all,
    source_reading,
)
from tradefleet_runtime.sources.stream import SourceReading


def parse_macro_document(
    *, payload: bytes, config: MacroConfig
) -> tuple[list[CalendarEvent], list[MacroEvent]]:
    """(calendar releases, macro events) of one feed document, recognised by its content."""
    calendar = parse_calendar(payload)
    if calendar is not None:
        return calendar, []
    if payload.lstrip()[:1] in (b"[", b"{"):
        try:
            return [], parse_events_json(payload=payload, config=config)
        except SignalSourceError as error:
            raise FeedError(FeedProblem.MALFORMED, str(error)) from error
    # RSS or Atom headlines (feedparser); FeedError when the document is neither.
    feed = read_news_feed(payload=payload, source="", coins={})
    return [], headline_events(articles=feed.articles, config=config)


def headline_events(*, articles: Sequence[Article], config: MacroConfig) -> list[MacroEvent]:
    """Headlines whose title matches an event rule become typed events; others are skipped."""
    events = []
    for article in articles:
        lowered = article.title.lower()
        event_type = next((kind for phrase, kind in config.rss_rules if phrase in lowered), None)
        if event_type is None:
            continue
        events.append(
            MacroEvent(
                title=article.title,
                event_type=event_type,
                category="news",
                sentiment="neutral",
                impact=config.rss_impact,
                asset_bias={},
                published_ms=article.published_ms,
                summary=article.body,
            )
        )
    return events


class MacroEngine(SourceEngine):
    def __init__(
        self, *, spec: Mapping[str, object], symbols: Sequence[str], interval_s: int,
        client: httpx.AsyncClient, feed_timeout_s: float = FEED_TIMEOUT_S,
        events_dir: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        feeds = spec.get("feeds") or []
        if not isinstance(feeds, list) or not all(isinstance(url, str) for url in feeds):
            raise ConfigError("spec.macro.feeds must be a list of URLs")
        self._feeds: tuple[str, ...] = tuple(feeds)
        self._config = MacroConfig(
            refresh_interval_ms=interval_s * 1000, feed_timeout_s=feed_timeout_s
        )
        self._calendar_config = CalendarConfig()
        self._client = client
        self._calendars: dict[str, list[CalendarEvent]] = {}
        self._events: dict[str, list[MacroEvent]] = {}
        self._standing = _bias_events(spec.get("assetBiases"), symbols=symbols)
        self._notes: list[str] = []
        self._events_dir = Path(events_dir) if events_dir else None
        if spec.get("eventsConfigMap") and self._events_dir is None:
            self._notes.append("eventsConfigMap is set but no events directory was mounted")

    def _locations(self) -> tuple[list[str], list[str]]:
        """(feed URLs and the files of the events ConfigMap, errors listing that directory)."""
        if self._events_dir is None:
            return list(self._feeds), []
        try:
            # A mounted ConfigMap also holds its own ..data links; a key has no leading dot.
            files = sorted(f for f in self._events_dir.iterdir() if not f.name.startswith("."))
        except OSError as error:
            return list(self._feeds), [f"{self._events_dir}: unreadable: {error}"]
        return [*self._feeds, *(str(f) for f in files)], []

    async def _refresh(self) -> list[str]:
        locations, errors = self._locations()
        for gone in set(self._calendars) - set(locations):  # a key removed from the ConfigMap
            del self._calendars[gone], self._events[gone]
        documents = await read_all(
            locations=locations, timeout_s=self._config.feed_timeout_s, client=self._client
        )
        for location, payload in zip(locations, documents, strict=True):
            try:
                if isinstance(payload, SignalSourceError):
                    raise payload
                calendar, events = parse_macro_document(payload=payload, config=self._config)
            except SignalSourceError as error:
                errors.append(f"{location}: {error}")
                continue
            self._calendars[location], self._events[location] = calendar, events
        return errors

    async def readings(self, *, symbols: Sequence[str], now_ms: int) -> list[SourceReading]:
        errors = await self._refresh()
        calendar = [event for events in self._calendars.values() for event in events]
        events = [
            *(event for listed in self._events.values() for event in listed),
            *calendar_macro_events(calendar, now_ms=now_ms, config=self._calendar_config),
            *self._standing,
        ]
        results = []
        for symbol in symbols:
            assessment = assess_events(
                symbol=symbol, events=events, config=self._config, now_ms=now_ms,
                feed_errors=errors,
            )  # fmt: skip
            results.append(
                source_reading(symbol=symbol, reading=assessment.as_reading(), kind="macro")
            )
        self._problems = [*self._notes, *errors]
        return results


def _bias_events(raw: object, *, symbols: Sequence[str]) -> list[MacroEvent]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError("spec.macro.assetBiases must be a list")
    events = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("asset"), str):
            raise ConfigError(f"spec.macro.assetBiases[{index}] needs an asset and a bias")
        bias = item.get("bias")
        if isinstance(bias, bool) or not isinstance(bias, int | float) or not -1 <= bias <= 1:
            raise ConfigError(f"spec.macro.assetBiases[{index}].bias must be in [-1, 1]")
        events.append(
            MacroEvent(
                title=f"configured bias for {item['asset']}",
                event_type=None,
                category="configured",
                sentiment="neutral",
                impact="medium",
                asset_bias={s: float(bias) for s in symbols if coin_of(s) == item["asset"]},
                published_ms=None,
            )
        )
    return events
