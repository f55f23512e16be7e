"""``WS /ws/stream`` of a running runtime, as a dashboard sees it over a real socket.

One runtime subprocess in paper mode (no keys needed) reads the local exchange's book through
real ccxt; the test moves the price through the exchange's admin endpoint to make the bot
trade. Documented behaviour (docs/runtime-api.md): a ``hello`` event with the status, then
``decision``, ``fill``, ``order``, ``breaker`` and ``metrics`` events as they happen, and a
``heartbeat`` after 5 s without one; each ``{"type","at","data"}``. Clients that stop reading
or vanish must not slow the bot, the other clients, or its shutdown; a client that closes is
let go at once, and a stopping runtime closes every stream with 1012 (service restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import FreezableWalk
from runtime_support import BTC, CONTROL_TOKEN, RuntimeProcess
from tradefleet_devtools.exchange import ExchangeAdminClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

pytestmark = pytest.mark.integration

MAX_CLIENTS = 32  # docs/runtime-api.md

EVENT_FIELDS = {"type", "at", "data"}
STATUS_FIELDS = {
    "bot",
    "namespace",
    "phase",
    "mode",
    "symbol",
    "equity",
    "pnl",
    "position",
    "lastSignal",
    "circuitBreaker",
    "paused",
    "halted",
    "heartbeat",
    "configHash",
    "reconciled",
    "openOrders",
}
DECISION_FIELDS = {
    "decisionId",
    "at_ms",
    "action",
    "score",
    "signal",
    "reason",
    "risk",
    "clientOrderId",
    "componentScores",
}
ORDER_FIELDS = {"clientOrderId", "leg", "side", "status", "filled", "averagePrice"}
HANDSHAKE = (
    b"GET /ws/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " + CONTROL_TOKEN.encode() + b"\r\n\r\n"
)


@pytest.fixture
async def trading(
    paper_runtime: RuntimeProcess, admin: ExchangeAdminClient, walk: FreezableWalk
) -> RuntimeProcess:
    walk.frozen = True
    await admin.set_price(symbol=BTC, price=30_000.0)
    paper_runtime.start()
    await paper_runtime.wait_for("/readyz", timeout_s=60)
    return paper_runtime


@contextlib.asynccontextmanager
async def stream(runtime: RuntimeProcess) -> AsyncIterator[ClientConnection]:
    async with connect(
        f"ws://127.0.0.1:{runtime.port}/ws/stream",
        open_timeout=5,
        additional_headers={"Authorization": f"Bearer {CONTROL_TOKEN}"},
    ) as client:
        yield client


@pytest.mark.parametrize("token", [None, "not-the-bots-token"], ids=["no-token", "wrong-token"])
async def test_the_stream_and_the_read_endpoints_refuse_a_client_without_the_bots_token(
    trading: RuntimeProcess, token: str | None
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"ws://127.0.0.1:{trading.port}/ws/stream", open_timeout=5, additional_headers=headers
        ):
            pass
    assert refused.value.response.status_code == 403
    for path in ("/status", "/signals", "/equity", "/strategy", "/api/advanced/regime/summary"):
        answer = await trading.get(path, token=token)
        assert answer.status_code in (401, 403), (path, answer.status_code, answer.text[:200])
        assert "position" not in answer.text
    # Probes and metrics stay open: the kubelet and Prometheus carry no token.
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await trading.get(path, token=token)).status_code == 200, path


async def next_event(client: ClientConnection, *, timeout_s: float = 10.0) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(client.recv(), timeout=timeout_s))
    assert set(event) == EVENT_FIELDS, event
    return event


async def event_of(
    client: ClientConnection, kind: str, *, timeout_s: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        event = await next_event(client, timeout_s=max(0.1, deadline - time.monotonic()))
        if event["type"] == kind:
            return event
    raise AssertionError(f"no {kind} event in {timeout_s}s")


@contextlib.asynccontextmanager
async def rising_price(admin: ExchangeAdminClient) -> AsyncIterator[None]:
    """The price climbs 0.2 % every 0.3 s (buying pressure the bot follows) while inside."""

    async def climb() -> None:
        price = 30_000.0
        while True:
            price *= 1.002
            await admin.set_price(symbol=BTC, price=price)
            await asyncio.sleep(0.3)

    task = asyncio.create_task(climb())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_stream_shows_what_the_bot_does_as_it_happens(
    trading: RuntimeProcess, admin: ExchangeAdminClient
) -> None:
    async with stream(trading) as client:
        hello = await next_event(client)
        assert hello["type"] == "hello"
        assert set(hello["data"]) >= STATUS_FIELDS
        assert (hello["data"]["bot"], hello["data"]["phase"]) == (
            trading.config["bot"]["name"],
            "trading",
        )
        assert abs(hello["at"] - time.time()) < 5

        decision = await event_of(client, "decision")
        assert set(decision["data"]) == DECISION_FIELDS
        assert decision["data"]["at_ms"] / 1000 == pytest.approx(time.time(), abs=5)

        # The bot buys into the rise: its decision names the order, the stop that protects
        # the position is announced as an open order (it rests before the entry is sent),
        # and the fill follows.
        seen: dict[str, list[dict[str, Any]]] = {"decision": [], "fill": [], "order": []}
        async with rising_price(admin):
            deadline = time.monotonic() + 60
            while not (seen["fill"] and any(e["data"]["leg"] == "sl" for e in seen["order"])):
                assert time.monotonic() < deadline, f"no trade streamed: {seen['fill']}"
                event = await next_event(client)
                seen.setdefault(event["type"], []).append(event)
        (fill, *_) = seen["fill"]
        assert set(fill["data"]) == ORDER_FIELDS
        assert (fill["data"]["leg"], fill["data"]["side"]) == ("entry", "buy")
        assert fill["data"]["filled"] > 0 and fill["data"]["averagePrice"] > 30_000.0
        ordered = [d["data"]["clientOrderId"] for d in seen["decision"]]
        assert fill["data"]["clientOrderId"] in ordered
        stop = next(e["data"] for e in seen["order"] if e["data"]["leg"] == "sl")
        assert set(stop) == ORDER_FIELDS
        assert (stop["side"], stop["status"], stop["filled"]) == ("sell", "open", 0.0)
        status = (await trading.get("/status")).json()
        assert stop["clientOrderId"] in status["openOrders"]

        metrics = await event_of(client, "metrics", timeout_s=15)
        assert set(metrics["data"]) == {"equity", "phase"}
        assert metrics["data"]["equity"] == pytest.approx(status["equity"], rel=0.01)

        # Halted, the bot stops deciding: the stream says it is alive with heartbeats.
        assert (await trading.post("/control/halt")).status_code == 200
        heartbeat = await event_of(client, "heartbeat", timeout_s=15)
        assert set(heartbeat["data"]) == {"heartbeat", "phase"}
        assert heartbeat["data"]["phase"] == "halted"
    assert await trading.stop() == 0


def stuck_client(port: int) -> socket.socket:
    """A client that opens the stream and never reads from it again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", port))
    sock.sendall(HANDSHAKE)
    return sock


def vanish(port: int) -> None:
    """A client that opens the stream and disappears without a close (TCP reset)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(HANDSHAKE)
        sock.recv(1024)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def test_slow_and_vanished_clients_leave_the_bot_and_other_clients_alone(
    trading: RuntimeProcess,
) -> None:
    received: list[tuple[float, dict[str, Any]]] = []

    async def watch(client: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                event = await next_event(client)
                received.append((time.time(), event))

    stuck = [stuck_client(trading.port) for _ in range(3)]
    try:
        async with stream(trading) as watcher:
            watching = asyncio.create_task(watch(watcher))
            began = time.monotonic()
            for _ in range(20):
                await asyncio.to_thread(vanish, trading.port)
                async with stream(trading) as leaving:
                    await next_event(leaving)
                    await leaving.send("clients may talk; the stream ignores them")
                    closing = time.monotonic()
                # A tab closed politely is let go at once.
                assert time.monotonic() - closing < 1.0
            await asyncio.sleep(max(0.0, 8.0 - (time.monotonic() - began)))

            # Meanwhile the watcher got every decision promptly and the bot kept its pace.
            decisions = [(at, e) for at, e in received if e["type"] == "decision"]
            assert len(decisions) >= 40  # a poll every 100 ms
            assert max(at - e["at"] for at, e in decisions) < 1.0, "events reached it late"
            decided = [e["data"]["at_ms"] for _, e in decisions]
            assert decided == sorted(decided)
            assert max(b - a for a, b in itertools.pairwise(decided)) < 1_000
            health = (await trading.get("/healthz")).json()
            assert health["heartbeatAgeSeconds"] < 1.0

            # Stopping with clients still connected: prompt, clean, and the watcher is told.
            stopping = time.monotonic()
            assert await trading.stop() == 0
            assert time.monotonic() - stopping < 4.0
            await asyncio.wait_for(watching, timeout=5)
            assert watcher.close_code == 1012  # service restart
    finally:
        for sock in stuck:
            sock.close()
    log = trading.log()
    assert "Traceback" not in log and "Exception in ASGI application" not in log


async def test_stream_clients_beyond_the_cap_are_turned_away_until_a_slot_frees(
    trading: RuntimeProcess,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(stream(trading)) for _ in range(MAX_CLIENTS)]
        for client in clients:
            assert (await next_event(client))["type"] == "hello"

        async with stream(trading) as refused:
            with pytest.raises(ConnectionClosed):
                await next_event(refused)
            assert refused.close_code == 1013  # try again later
            assert "at most 32 stream clients" in (refused.close_reason or "")

        await clients[0].close()
        await asyncio.sleep(0.2)
        async with stream(trading) as admitted:
            assert (await next_event(admitted))["type"] == "hello"
        assert (await next_event(clients[1]))["type"] in ("decision", "heartbeat", "metrics")
    assert (await trading.get("/healthz")).json()["heartbeatAgeSeconds"] < 1.0
