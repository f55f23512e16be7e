"""The operator's host allow-list for signal sources (issue 20, item 4): a source that would fetch
from a host outside it is refused, field by field, with reason HostNotAllowed; subdomains of an
allowed host are allowed, look-alikes are not; an empty list allows any. A feed that is no
http(s) URL (a file) never gets that far: the schema refuses it."""

from __future__ import annotations

import pytest
from tradefleet_operator.spec import (
    ProblemReason,
    SpecError,
    parse_signal_source_spec,
    validate_source_hosts,
)

pytestmark = pytest.mark.unit

ALLOWED = ("example.com", "feeds.partner.io")
SENTIMENT = {
    "kind": "sentiment",
    "symbols": ["BTC/USDT"],
    "sentiment": {
        "feeds": [
            {"url": "https://news.example.com/rss"},
            {"url": "https://badexample.com/rss"},
            {"url": "http://169.254.169.254/latest/meta-data/"},
        ],
        "llm": {"enabled": True, "endpoint": "https://llm.elsewhere.net/v1", "model": "m"},
    },
}


def test_each_fetch_outside_the_allowed_hosts_is_refused_by_its_field() -> None:
    problems = validate_source_hosts(
        spec=parse_signal_source_spec(SENTIMENT), allowed_hosts=ALLOWED
    )
    assert [(p.field, p.reason) for p in problems] == [
        ("spec.sentiment.feeds[1].url", ProblemReason.HOST_NOT_ALLOWED),
        ("spec.sentiment.feeds[2].url", ProblemReason.HOST_NOT_ALLOWED),
        ("spec.sentiment.llm.endpoint", ProblemReason.HOST_NOT_ALLOWED),
    ]
    assert "'169.254.169.254'" in problems[1].message
    assert "runtime.sourceAllowedHosts" in problems[0].message


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ({"kind": "http", "symbols": ["BTC/USDT"],
          "http": {"url": "https://FEEDS.partner.io./score", "jsonPath": "$.s"}}, True),
        ({"kind": "macro", "symbols": ["BTC/USDT"],
          "macro": {"feeds": ["https://partner.io/calendar.ics"]}}, False),
        ({"kind": "whale", "symbols": ["BTC/USDT"],
          "whale": {"feedUrl": "https://api.example.com/transfers"}}, True),
    ],
)  # fmt: skip
def test_every_kind_of_source_is_checked(spec: dict[str, object], allowed: bool) -> None:
    problems = validate_source_hosts(spec=parse_signal_source_spec(spec), allowed_hosts=ALLOWED)
    assert (problems == []) is allowed, problems


def test_without_an_allow_list_any_host_is_allowed() -> None:
    assert validate_source_hosts(spec=parse_signal_source_spec(SENTIMENT), allowed_hosts=()) == []


def test_a_feed_that_is_no_http_url_is_refused_by_the_schema() -> None:
    feeds = [{"url": "https://news.example.com/rss"}, {"url": "file:///etc/passwd"}]
    spec = {**SENTIMENT, "sentiment": {"feeds": feeds}}
    with pytest.raises(SpecError) as raised:
        parse_signal_source_spec(spec)
    assert raised.value.field == "spec.sentiment.feeds[1].url"
    assert "'file:///etc/passwd'" in raised.value.message
