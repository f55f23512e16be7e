"""What the operator delivers to a source pod is used by its engine (issue 18, item 3).

The LLM key from ``TRADEFLEET_LLM_API_KEY`` is the bearer token of the chat-completions call;
an http source's URL is fetched once per symbol with ``{symbol}`` and ``{base}`` filled in, with
the header Secret's entries (files in ``TRADEFLEET_HTTP_HEADERS_DIR``) as headers; a macro
source reads the events ConfigMap's files (``TRADEFLEET_MACRO_EVENTS_DIR``) every round.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from support.feed_server import Route, feed_server
from tradefleet_runtime.config import parse_source_config
from tradefleet_runtime.sources.engines import build_engine

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures"
NOW_MS = int(datetime(2026, 12, 5, 2, 0, tzinfo=UTC).timestamp() * 1000)


def _config(kind: str, block: dict[str, object], symbols: list[str]) -> object:
    return parse_source_config(
        {
            "apiVersion": "tradefleet.io/v1alpha1",
            "kind": "SignalSourceConfig",
            "source": {"name": "s", "namespace": "ns"},
            "spec": {"kind": kind, "symbols": symbols, kind: block},
            "redis": {"url": "redis://127.0.0.1:1/0", "stream": "tradefleet:signals:ns:s"},
            "api": {"port": 0},
        }
    )


def _chat(scores: list[float]) -> bytes:
    content = json.dumps({"scores": scores})
    return json.dumps(
        {"choices": [{"message": {"role": "assistant", "content": content}}]}
    ).encode()


async def test_the_llm_is_called_with_the_key_from_the_secret() -> None:
    rss = (FIXTURES / "news_rss2.xml").read_bytes()
    routes = {
        "/rss": Route(body=rss, content_type="application/rss+xml"),
        "/v1/chat/completions": Route(body=_chat([0.9, 0.4]), content_type="application/json"),
    }
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        config = _config(
            "sentiment",
            {
                "feeds": [{"url": server.url("/rss")}],
                "llm": {
                    "enabled": True,
                    "endpoint": server.url(""),
                    "model": "news-7b",
                    "apiKeySecretRef": {"name": "llm", "key": "apiKey"},
                },
            },
            ["BTC/USDT"],
        )
        engine = build_engine(
            config=config,  # type: ignore[arg-type]
            redis=None,  # type: ignore[arg-type]
            client=client,
            env={"TRADEFLEET_LLM_API_KEY": "sk-test-123"},
        )
        (reading,) = await engine.readings(symbols=["BTC/USDT"], now_ms=NOW_MS)
    (call,) = [r for r in server.requests if r.path == "/v1/chat/completions"]
    assert call.headers["authorization"] == "Bearer sk-test-123"
    assert not any("LLM" in p for p in engine.problems()), engine.problems()
    assert reading.value > 0.5


async def test_http_url_is_templated_per_symbol_with_the_secrets_headers(tmp_path: Path) -> None:
    (tmp_path / "Authorization").write_text("Bearer score-token\n")
    (tmp_path / "X-Client").write_text("tradefleet")
    (tmp_path / "..data").mkdir()  # a Secret volume's own bookkeeping, not a header
    routes = {
        "/score/BTC%2FUSDT": Route(body=b'{"data": {"score": 0.4}}', content_type="application/json"),
        "/score/ETH%2FUSDT": Route(body=b'{"data": {"score": -0.7}}', content_type="application/json"),
    }  # fmt: skip
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        config = _config(
            "http",
            {"url": server.url("/score/{symbol}?asset={base}"), "jsonPath": "$.data.score"},
            ["BTC/USDT", "ETH/USDT"],
        )
        engine = build_engine(
            config=config,  # type: ignore[arg-type]
            redis=None,  # type: ignore[arg-type]
            client=client,
            env={"TRADEFLEET_HTTP_HEADERS_DIR": str(tmp_path)},
        )
        readings = await engine.readings(symbols=["BTC/USDT", "ETH/USDT"], now_ms=NOW_MS)
    assert [(r.symbol, r.value) for r in readings] == [("BTC/USDT", 0.4), ("ETH/USDT", -0.7)]
    assert [(r.path, r.query) for r in server.requests] == [
        ("/score/BTC%2FUSDT", "asset=BTC"),
        ("/score/ETH%2FUSDT", "asset=ETH"),
    ]
    assert all(r.headers["authorization"] == "Bearer score-token" for r in server.requests)
    assert all(r.headers["x-client"] == "tradefleet" for r in server.requests)


async def test_macro_reads_the_events_config_map_every_round(tmp_path: Path) -> None:
    (tmp_path / "calendar.ics").write_bytes((FIXTURES / "econ_calendar.ics").read_bytes())
    async with httpx.AsyncClient() as client:
        config = _config("macro", {"eventsConfigMap": "fomc-calendar"}, ["BTC/USDT"])
        engine = build_engine(
            config=config,  # type: ignore[arg-type]
            redis=None,  # type: ignore[arg-type]
            client=client,
            env={"TRADEFLEET_MACRO_EVENTS_DIR": str(tmp_path)},
        )
        (risk_off,) = await engine.readings(symbols=["BTC/USDT"], now_ms=NOW_MS)
        # The ConfigMap is edited: the kubelet swaps the mounted files, the next round reads them.
        (tmp_path / "calendar.ics").unlink()
        (tmp_path / "calendar.json").write_bytes((FIXTURES / "econ_calendar.json").read_bytes())
        (risk_on,) = await engine.readings(symbols=["BTC/USDT"], now_ms=NOW_MS)
    assert risk_off.value < -0.3 and risk_on.value > 0.3
    assert engine.problems() == []


async def test_a_late_or_cut_symbol_answer_costs_that_symbol_only() -> None:
    routes = {
        "/score/BTC": Route(body=b'{"score": 0.2}', content_type="application/json", delay_s=2.0),
        "/score/ETH": Route(body=b'{"score": -0.3}', content_type="application/json", truncate_to=5),
        "/score/SOL": Route(body=b'{"score": 0.5}', content_type="application/json"),
    }  # fmt: skip
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        config = _config(
            "http",
            {"url": server.url("/score/{base}"), "jsonPath": "$.score", "timeoutSeconds": 1},
            ["BTC/USDT", "ETH/USDT", "SOL/USDT"],
        )
        engine = build_engine(
            config=config,  # type: ignore[arg-type]
            redis=None,  # type: ignore[arg-type]
            client=client,
            env={},
        )
        readings = await engine.readings(
            symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"], now_ms=NOW_MS
        )
    assert [(r.symbol, r.value) for r in readings] == [("SOL/USDT", 0.5)]
    assert [p.split(": ")[1] for p in engine.problems()] == ["timeout", "truncated"]
