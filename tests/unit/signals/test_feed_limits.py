"""A feed that answers forever or without end is cut off: a SignalSource reads at most
``MAX_DOCUMENT_BYTES`` per document, within its timeout for the whole answer, however the
server paces it (a server dripping bytes never trips a per-read timeout)."""

from __future__ import annotations

import time

import httpx
import pytest
from support.feed_server import Route, feed_server
from tradefleet_runtime.signals.feeds import (
    MAX_DOCUMENT_BYTES,
    FeedError,
    FeedProblem,
    read_document,
)

pytestmark = pytest.mark.unit


async def test_a_dripping_answer_ends_at_the_timeout_for_the_whole_answer() -> None:
    routes = {"/drip": Route(body=b"x" * 2_000, pieces=20, drip_s=0.25)}  # 5 s in all
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        began = time.monotonic()
        with pytest.raises(FeedError) as failed:
            await read_document(location=server.url("/drip"), timeout_s=1.0, client=client)
        took = time.monotonic() - began
    assert failed.value.problem is FeedProblem.TIMEOUT
    assert took < 2.0, f"the read lasted {took:.1f} s"


@pytest.mark.parametrize("announce_length", [True, False], ids=["announced", "unannounced"])
async def test_an_answer_beyond_the_size_limit_is_refused(announce_length: bool) -> None:
    body = b"[" + b"0," * (MAX_DOCUMENT_BYTES // 2) + b"0]"
    routes = {"/big": Route(body=body, content_type="application/json", pieces=64,
                            announce_length=announce_length)}  # fmt: skip
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        with pytest.raises(FeedError) as failed:
            await read_document(location=server.url("/big"), timeout_s=10.0, client=client)
    assert failed.value.problem is FeedProblem.TOO_LARGE
    assert str(MAX_DOCUMENT_BYTES) in str(failed.value)


async def test_an_answer_within_the_limits_is_read_whole() -> None:
    body = b"y" * 100_000
    routes = {"/ok": Route(body=body, pieces=10, drip_s=0.01, announce_length=False)}
    async with feed_server(routes) as server, httpx.AsyncClient() as client:
        assert await read_document(location=server.url("/ok"), timeout_s=5.0) == body
        assert await read_document(location=server.url("/ok"), timeout_s=5.0, client=client) == body
