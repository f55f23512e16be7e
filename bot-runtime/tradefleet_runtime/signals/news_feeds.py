"""News feeds as articles: RSS 2.0 / 1.0 and Atom through feedparser, or the JSON article list.

:func:`parse_news_feed` turns one feed document into :class:`~.sentiment.Article` items, each
scored on its own by the sentiment analyzer. An entry's date is its ``published`` (RSS
``pubDate``, Atom ``published``), else its ``updated``; an entry without either is skipped and
counted (its age, hence its weight, is unknown). Its text is the title and the summary or
content with markup removed. Its coins are those whose ticker or name (``coins``: ticker ->
names) appears in its title, text or categories as a word; an entry naming none is market-wide.

A document that is not a feed (HTML, plain text) or is malformed XML with no entry a lenient
parse could recover raises :class:`~.feeds.FeedError`; a malformed one from which entries were
recovered returns them and the caller is told (``recovered_from``) so it can say so.
"""

from __future__ import annotations

import calendar
import html
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from feedparser.api import parse as _feedparser_parse

from tradefleet_runtime.signals.errors import SignalSourceError
from tradefleet_runtime.signals.feeds import FeedError, FeedProblem
from tradefleet_runtime.signals.sentiment import Article, parse_articles

# feedparser's own functions carry no annotations: its parse, typed as what it returns.
_parse_feed: Callable[[bytes], Mapping[str, Any]] = _feedparser_parse
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?])")


@dataclass(frozen=True, kw_only=True, slots=True)
class NewsFeed:
    """What one feed document held: its articles, undated entries skipped, and the XML error
    a lenient parse recovered from (None when the document was well formed)."""

    articles: tuple[Article, ...]
    undated: int
    recovered_from: str | None


def plain_text(markup: str) -> str:
    """Text of an HTML fragment: tags dropped, entities decoded, white space collapsed."""
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", markup))).strip()
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)


def _entry_ms(entry: Mapping[str, Any]) -> int | None:
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            # feedparser normalises every date to UTC.
            return calendar.timegm(value) * 1000
    return None


def _entry_body(entry: Mapping[str, Any]) -> str:
    contents = entry.get("content")
    if isinstance(contents, list) and contents:
        value = contents[0].get("value") if isinstance(contents[0], Mapping) else None
        if isinstance(value, str) and value.strip():
            return plain_text(value)
    summary = entry.get("summary")
    return plain_text(summary) if isinstance(summary, str) else ""


def _mentioned(
    *, text: str, tags: Sequence[str], coins: Mapping[str, Sequence[str]]
) -> tuple[str, ...]:
    words = set(re.findall(r"[a-z0-9]+", f"{text} {' '.join(tags)}".lower()))
    return tuple(
        coin
        for coin, names in coins.items()
        if coin.lower() in words or any(name.lower() in words for name in names)
    )


def _tags(entry: Mapping[str, Any]) -> list[str]:
    tags = entry.get("tags")
    if not isinstance(tags, list):
        return []
    return [str(tag.get("term")) for tag in tags if isinstance(tag, Mapping) and tag.get("term")]


def read_news_feed(*, payload: bytes, source: str, coins: Mapping[str, Sequence[str]]) -> NewsFeed:
    """The articles of an RSS/Atom document, or of a JSON article list (``[`` or ``{`` first)."""
    if payload.lstrip()[:1] in (b"[", b"{"):
        try:
            listed = tuple(parse_articles(payload))
        except SignalSourceError as invalid:
            raise FeedError(FeedProblem.MALFORMED, str(invalid)) from invalid
        return NewsFeed(articles=listed, undated=0, recovered_from=None)
    parsed = _parse_feed(payload)
    entries = parsed.get("entries") or []
    error = parsed.get("bozo_exception") if parsed.get("bozo") else None
    version = parsed.get("version") or ""
    if not version and not entries:
        detail = f" ({error})" if error is not None else ""
        raise FeedError(FeedProblem.NOT_A_FEED, f"no RSS or Atom document{detail}")
    if error is not None and not entries:
        raise FeedError(FeedProblem.MALFORMED, str(error))
    articles: list[Article] = []
    undated = 0
    for entry in entries:
        title = plain_text(str(entry.get("title") or ""))
        published_ms = _entry_ms(entry)
        if not title:
            continue
        if published_ms is None:
            undated += 1
            continue
        body = _entry_body(entry)
        articles.append(
            Article(
                title=title,
                source=source,
                published_ms=published_ms,
                body=body,
                coins=_mentioned(text=f"{title} {body}", tags=_tags(entry), coins=coins),
            )
        )
    return NewsFeed(
        articles=tuple(articles),
        undated=undated,
        recovered_from=str(error) if error is not None else None,
    )


def parse_news_feed(
    *, payload: bytes, source: str, coins: Mapping[str, Sequence[str]]
) -> tuple[list[Article], int]:
    """(articles, undated entries skipped) of one document; see :func:`read_news_feed`."""
    feed = read_news_feed(payload=payload, source=source, coins=coins)
    return list(feed.articles), feed.undated
