"""A local HTTP/1.1 server that answers feed documents the way real feed servers do, or don't.

Each path is a :class:`Route`: a status, a content type and a body, optionally sent late
(``delay_s`` before the headers), dripped (``pieces`` of the body ``drip_s`` apart), without a
Content-Length, or cut short (``truncate_to`` bytes of a body whose Content-Length announces all
of it, then the connection closes). Written on asyncio streams,
not a framework, so a half-sent answer is exactly that on the wire. Requests are recorded
(path, query and headers) so a test can check what the source sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True, slots=True)
class Route:
    body: bytes
    content_type: str = "application/xml"
    status: int = 200
    delay_s: float = 0.0
    truncate_to: int | None = None
    # The body in this many pieces, ``drip_s`` apart (a server that keeps a slow answer alive).
    pieces: int = 1
    drip_s: float = 0.0
    # No Content-Length: the body's end is the connection's close.
    announce_length: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class Request:
    path: str
    query: str
    headers: Mapping[str, str]


@dataclass(kw_only=True)
class FeedServer:
    routes: dict[str, Route]
    port: int = 0
    requests: list[Request] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        target = lines[0].split(" ")[1]
        path, _, query = target.partition("?")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        }
        length = int(headers.get("content-length") or 0)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readexactly(length)  # read the body, or closing would reset the socket
        self.requests.append(Request(path=path, query=query, headers=headers))
        route = self.routes.get(path) or Route(
            body=b"not found", status=404, content_type="text/plain"
        )
        with contextlib.suppress(ConnectionError):
            if route.delay_s:
                await asyncio.sleep(route.delay_s)
            length_line = f"Content-Length: {len(route.body)}\r\n" if route.announce_length else ""
            writer.write(
                (
                    f"HTTP/1.1 {route.status} X\r\nContent-Type: {route.content_type}\r\n"
                    f"{length_line}Connection: close\r\n\r\n"
                ).encode()
            )
            body = route.body if route.truncate_to is None else route.body[: route.truncate_to]
            size = -(-len(body) // route.pieces)
            for start in range(0, len(body), size):
                if start and route.drip_s:
                    await asyncio.sleep(route.drip_s)
                writer.write(body[start : start + size])
                await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def feed_server(routes: Mapping[str, Route]) -> AsyncIterator[FeedServer]:
    """Serve ``routes`` on 127.0.0.1 at a free port for the duration of the block."""
    server = FeedServer(routes=dict(routes))
    listener = await asyncio.start_server(server._answer, host="127.0.0.1", port=0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listener.wait_closed(), timeout=2)
