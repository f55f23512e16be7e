"""Reading a feed document from a local file or an HTTP(S) URL.

Used by the whale, sentiment and macro sources so that every file/HTTP feed is read,
timed out and reported the same way; failures become :class:`SignalSourceError`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tradefleet_runtime.signals.errors import SignalSourceError

_FILE_SCHEME = "file://"


def is_http_location(location: str) -> bool:
    return location.startswith(("http://", "https://"))


async def read_document(
    *, location: str, timeout_s: float, client: httpx.AsyncClient | None = None
) -> bytes:
    """The bytes at ``location``: an http(s) URL, a ``file://`` URL or a plain path."""
    if is_http_location(location):
        return await _read_http(location=location, timeout_s=timeout_s, client=client)
    path = Path(location.removeprefix(_FILE_SCHEME))
    try:
        return await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        raise SignalSourceError(
            f"cannot read feed file {path}: {error.strerror or error}"
        ) from error


async def _read_http(*, location: str, timeout_s: float, client: httpx.AsyncClient | None) -> bytes:
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=timeout_s) as own_client:
                response = await own_client.get(location)
        else:
            response = await client.get(location, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise SignalSourceError(f"cannot fetch feed {location}: {error!r}") from error
    if response.status_code != httpx.codes.OK:
        raise SignalSourceError(f"feed {location} answered HTTP {response.status_code}")
    return response.content
