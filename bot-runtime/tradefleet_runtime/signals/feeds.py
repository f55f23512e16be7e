"""Reading a feed document from a local file or an HTTP(S) URL.

Used by the whale, sentiment and macro sources so that every file/HTTP feed is read,
timed out and reported the same way; failures become :class:`FeedError`, a
:class:`SignalSourceError` whose message starts with its :class:`FeedProblem` (``timeout: ...``,
``truncated: ...``), so a source's problems say what kind of failure each feed had.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

import httpx

from tradefleet_runtime.signals.errors import SignalSourceError

_FILE_SCHEME = "file://"
# A feed document larger than this is refused: a source pod reads the whole answer into
# memory, and a feed (or something posing as one) could otherwise grow it without end.
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024


class FeedProblem(StrEnum):
    """What went wrong with a feed, as its problem line starts."""

    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    TRUNCATED = "truncated"
    HTTP_STATUS = "http status"
    TOO_LARGE = "too large"
    ERROR_ANSWER = "error answer"
    MALFORMED = "malformed"
    NOT_A_FEED = "not a feed"


class FeedError(SignalSourceError):
    """A feed that could not be read or parsed, with the kind of failure first."""

    def __init__(self, problem: FeedProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem


def is_http_location(location: str) -> bool:
    return location.startswith(("http://", "https://"))


async def read_document(
    *,
    location: str,
    timeout_s: float,
    client: httpx.AsyncClient | None = None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The bytes at ``location``: an http(s) URL (sent ``headers``), a ``file://`` URL or a plain
    path."""
    if is_http_location(location):
        return await _read_http(
            location=location, timeout_s=timeout_s, client=client, headers=headers or {}
        )
    path = Path(location.removeprefix(_FILE_SCHEME))
    try:
        return await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        raise SignalSourceError(
            f"cannot read feed file {path}: {error.strerror or error}"
        ) from error


async def _read_http(
    *,
    location: str,
    timeout_s: float,
    client: httpx.AsyncClient | None,
    headers: Mapping[str, str],
) -> bytes:
    """The answer's body, read within ``timeout_s`` for the whole answer (httpx's own timeout
    is per read: a server dripping a byte a second would never trip it) and at most
    :data:`MAX_DOCUMENT_BYTES` long."""
    try:
        async with asyncio.timeout(timeout_s):
            if client is None:
                async with httpx.AsyncClient(timeout=timeout_s) as own_client:
                    return await _body(client=own_client, location=location, headers=headers)
            return await _body(client=client, location=location, headers=headers)
    except (TimeoutError, httpx.TimeoutException) as error:
        raise FeedError(
            FeedProblem.TIMEOUT, f"no complete answer within {timeout_s:g} s ({error!r})"
        ) from error
    except httpx.RemoteProtocolError as error:
        # The server closed the connection mid-answer (a body shorter than its Content-Length).
        raise FeedError(FeedProblem.TRUNCATED, str(error) or repr(error)) from error
    except httpx.HTTPError as error:
        raise FeedError(FeedProblem.UNREACHABLE, repr(error)) from error


async def _body(*, client: httpx.AsyncClient, location: str, headers: Mapping[str, str]) -> bytes:
    too_large = f"the answer is longer than {MAX_DOCUMENT_BYTES} bytes"
    async with client.stream("GET", location, headers=headers) as response:
        if response.status_code != httpx.codes.OK:
            raise FeedError(FeedProblem.HTTP_STATUS, f"answered HTTP {response.status_code}")
        announced = response.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > MAX_DOCUMENT_BYTES:
            raise FeedError(FeedProblem.TOO_LARGE, f"{too_large} ({announced} announced)")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise FeedError(FeedProblem.TOO_LARGE, too_large)
        return bytes(body)
