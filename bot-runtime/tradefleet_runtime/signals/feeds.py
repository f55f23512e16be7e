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


class FeedProblem(StrEnum):
    """What went wrong with a feed, as its problem line starts."""

    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    TRUNCATED = "truncated"
    HTTP_STATUS = "http status"
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
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=timeout_s) as own_client:
                response = await own_client.get(location, headers=headers)
        else:
            response = await client.get(location, timeout=timeout_s, headers=headers)
    except httpx.TimeoutException as error:
        raise FeedError(
            FeedProblem.TIMEOUT, f"no complete answer within {timeout_s:g} s ({error!r})"
        ) from error
    except httpx.RemoteProtocolError as error:
        # The server closed the connection mid-answer (a body shorter than its Content-Length).
        raise FeedError(FeedProblem.TRUNCATED, str(error) or repr(error)) from error
    except httpx.HTTPError as error:
        raise FeedError(FeedProblem.UNREACHABLE, repr(error)) from error
    if response.status_code != httpx.codes.OK:
        raise FeedError(FeedProblem.HTTP_STATUS, f"answered HTTP {response.status_code}")
    return response.content
