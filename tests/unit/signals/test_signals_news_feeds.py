"""Sentiment sources read real RSS 2.0 and Atom feeds from a local HTTP server.

Each article is scored on its own and counts for the coins it names (none named: every coin);
a feed that is malformed, late, cut short, or answers an error is classified in the engine's
problems while the good feeds are still scored.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from support.feed_server import Route, feed_server
from tradefleet_runtime.signals.news_feeds import parse_news_feed
from tradefleet_runtime.sources.engines import SentimentEngine

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"
RSS = (FIXTURES / "news_rss2.xml").read_bytes()
ATOM = (FIXTURES / "news_atom.xml").read_bytes()
NOW_MS = int(datetime(2026, 12, 5, 2, 0, tzinfo=UTC).timestamp() * 1000)
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_rss_items_become_articles_with_their_dates_coins_and_text() -> None:
    articles, skipped = parse_news_feed(
        payload=RSS, source="wire", coins={"BTC": ("bitcoin",), "ETH": ("ethereum", "ether")}
    )
    assert [(a.title, a.published_ms, a.coins) for a in articles] == [
        ("Bitcoin ETF approval sparks rally to record", _ms("2026-12-05T01:30:00+00:00"), ("BTC",)),
        (
            "Ethereum bridge hacked, ETH plunges in selloff",
            _ms("2026-12-05T00:45:00+00:00"),
            ("ETH",),
        ),
        ("Markets quiet ahead of Friday's data", _ms("2026-12-05T01:00:00+00:00"), ()),
    ]
    assert articles[0].body == "Institutional inflows continue as spot funds gain."
    assert all(a.source == "wire" for a in articles)
    assert skipped == 1  # the undated item


def test_atom_entries_use_published_else_updated_and_strip_markup() -> None:
    articles, skipped = parse_news_feed(
        payload=ATOM, source="desk", coins={"BTC": ("bitcoin",), "SOL": ("solana",)}
    )
    assert [(a.title, a.published_ms, a.coins) for a in articles] == [
        (
            "Solana network outage: SOL dumps after crash",
            _ms("2026-12-05T01:20:00+00:00"),
            ("SOL",),
        ),
        (
            "Bitcoin miners report record hash rate, bullish outlook",
            _ms("2026-12-05T00:50:00+00:00"),
            ("BTC",),
        ),
    ]
    assert articles[1].body == "Hash rate at an ATH; analysts see a breakout."
    assert skipped == 0


async def test_each_coin_is_scored_from_its_own_articles_across_rss_and_atom() -> None:
    routes = {"/rss": Route(body=RSS, content_type="application/rss+xml"),
              "/atom": Route(body=ATOM, content_type="application/atom+xml")}  # fmt: skip
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        engine = SentimentEngine(
            spec={"feeds": [{"url": server.url("/rss")}, {"url": server.url("/atom")}]},
            client=client,
        )
        readings = {r.symbol: r for r in await engine.readings(symbols=SYMBOLS, now_ms=NOW_MS)}
    # BTC: two bullish articles and the market-wide neutral one; ETH and SOL: one bearish
    # article each, and the neutral one.
    assert readings["BTC/USDT"].value > 0.5
    assert readings["ETH/USDT"].value < -0.3
    assert readings["SOL/USDT"].value < -0.3
    assert all(r.confidence > 0 for r in readings.values())
    assert engine.problems() == [f"{server.url('/rss')}: 1 entries without a date were skipped"]


async def test_bad_feeds_are_classified_and_the_good_one_still_scores() -> None:
    routes = {
        "/good": Route(body=RSS, content_type="application/rss+xml"),
        "/broken": Route(body=RSS.replace(b"</item>", b"</itm>", 1)),
        "/html": Route(body=b"<html><body><h1>Login</h1></body></html>", content_type="text/html"),
        "/slow": Route(body=ATOM, delay_s=2.0),
        "/cut": Route(body=ATOM, truncate_to=300),
        "/down": Route(body=b"upstream error", status=502, content_type="text/plain"),
        "/json": Route(
            body=b'[{"title": "Bitcoin rally", "source": "x"', content_type="application/json"
        ),
    }
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        engine = SentimentEngine(
            spec={"feeds": [{"url": server.url(path)} for path in routes]},
            client=client,
            feed_timeout_s=0.5,
        )
        readings = {r.symbol: r for r in await engine.readings(symbols=SYMBOLS, now_ms=NOW_MS)}
        problems = engine.problems()
    assert readings["BTC/USDT"].value > 0.5 and readings["BTC/USDT"].confidence > 0

    def of(path: str) -> list[str]:
        prefix = f"{server.url(path)}: "
        return [p.removeprefix(prefix) for p in problems if p.startswith(prefix)]

    assert of("/good") == ["1 entries without a date were skipped"]
    assert [p.split(": ")[0] for p in of("/broken")] == [
        "malformed",
        "1 entries without a date were skipped",
    ]
    assert [p.split(": ")[0] for p in of("/html")] == ["not a feed"]
    assert [p.split(": ")[0] for p in of("/slow")] == ["timeout"]
    assert [p.split(": ")[0] for p in of("/cut")] == ["truncated"]
    assert of("/down") == ["http status: answered HTTP 502"]
    assert [p.split(": ")[0] for p in of("/json")] == ["malformed"]


async def test_slow_feeds_are_waited_for_together_not_one_after_another() -> None:
    # Six feeds that each answer after the timeout: a round costs one timeout, not six (a round
    # longer than the liveness window would get the pod restarted).
    routes = {f"/slow{i}": Route(body=RSS, delay_s=1.5) for i in range(6)}
    routes["/good"] = Route(body=RSS, content_type="application/rss+xml")
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        engine = SentimentEngine(
            spec={"feeds": [{"url": server.url(path)} for path in routes]},
            client=client,
            feed_timeout_s=0.4,
        )
        started = time.monotonic()
        readings = await engine.readings(symbols=SYMBOLS, now_ms=NOW_MS)
        elapsed = time.monotonic() - started
    assert elapsed < 1.2, elapsed
    assert readings[0].value > 0.5
    assert sum(p.split(": ")[1] == "timeout" for p in engine.problems()) == 6
