"""HTTP client for a bot runtime's API over its pod IP, as the operator uses it.

Called by the reconciler's health polling and by deletion (flatten before the bot goes). Reads
``GET /status`` and sends commands as ``POST /control/<command>``, both with the bot's bearer
token (a signal source's ``/status`` needs none). Every
failure is a :class:`RuntimeUnreachableError` with the reason, never an exception from aiohttp.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from tradefleet_operator.kube import KubeClient
from tradefleet_operator.render import CONTROL_TOKEN_KEY, child_name

COMMANDS = frozenset(
    {"pause", "resume", "halt", "unhalt", "acknowledge", "flatten", "reset-breaker"}
)


class RuntimeUnreachableError(RuntimeError):
    """The runtime did not answer, or answered with an error; the message says which."""


async def control_token(*, kube: KubeClient, namespace: str, bot: str) -> str | None:
    secret = await kube.get(
        kind="Secret", namespace=namespace, name=child_name(owner=bot, suffix="control")
    )
    encoded = ((secret or {}).get("data") or {}).get(CONTROL_TOKEN_KEY)
    return base64.b64decode(encoded).decode() if encoded else None


class RuntimeClient:
    """One aiohttp session for all runtimes the operator talks to."""

    def __init__(self, *, timeout_s: float = 3.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def status(self, *, host: str, port: int, token: str | None) -> dict[str, Any]:
        return await self._call(method="GET", url=f"http://{host}:{port}/status", token=token)

    async def command(self, *, host: str, port: int, command: str, token: str) -> dict[str, Any]:
        if command not in COMMANDS:
            raise ValueError(f"unknown runtime command {command!r}")
        return await self._call(
            method="POST", url=f"http://{host}:{port}/control/{command}", token=token
        )

    async def _call(self, *, method: str, url: str, token: str | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with self._session_now().request(method, url, headers=headers) as response:
                if response.status >= 400:
                    raise RuntimeUnreachableError(
                        f"{method} {url} answered {response.status}: {(await response.text())[:200]}"
                    )
                payload = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise RuntimeUnreachableError(
                f"{method} {url} failed: {exc.__class__.__name__} {exc}"
            ) from exc
        if not isinstance(payload, dict):
            raise RuntimeUnreachableError(
                f"{method} {url} answered a {type(payload).__name__}, not an object"
            )
        return payload
