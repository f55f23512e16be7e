"""JSON access to the Kubernetes API for the dev node agent, over the ``kubernetes`` client.

Used by every module of :mod:`tradefleet_devtools.devnode` that talks to the apiserver. Objects are
plain API JSON (camelCase, as in the API reference) rather than the client's models: the agent
reads fields of several API versions' worth of pods and writes status as merge patches, which is
simpler and exact with dicts. The client still does the kubeconfig, TLS and authentication.
Every failure is translated here, once, into
:class:`~tradefleet_devtools.devnode.errors.KubeApiError`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import urllib3
from kubernetes import config
from kubernetes.client.exceptions import ApiException, OpenApiException

from tradefleet_devtools.devnode.errors import KubeApiError

JsonObject = dict[str, Any]
QueryValue = str | int | bool

MERGE_PATCH = "application/merge-patch+json"


def _error_from_body(*, status: int, reason: str, body: bytes) -> KubeApiError:
    """Read the apiserver's ``Status`` object when there is one, for a message users recognise."""
    message = body.decode("utf-8", errors="replace")[:500]
    try:
        decoded = json.loads(body)
    except ValueError:
        return KubeApiError(status=status, reason=reason, message=message)
    if isinstance(decoded, dict):
        reason = str(decoded.get("reason") or reason)
        message = str(decoded.get("message") or message)
    return KubeApiError(status=status, reason=reason, message=message)


class KubeApi:
    """Thread-safe JSON requests against one cluster; one instance per agent."""

    def __init__(self, *, kubeconfig: Path) -> None:
        try:
            self._client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig)
            )
        except (OSError, config.ConfigException) as exc:
            raise KubeApiError(
                status=0, reason="BadKubeconfig", message=f"cannot load {kubeconfig}: {exc}"
            ) from exc
        self._closed = threading.Event()

    @property
    def server(self) -> str:
        """The apiserver's URL, as the kubeconfig names it."""
        return str(self._client.configuration.host)

    def close(self) -> None:
        self._closed.set()
        self._client.close()

    def _send(
        self,
        *,
        method: str,
        path: str,
        query: Mapping[str, QueryValue] | None,
        body: object,
        content_type: str,
        timeout_s: float,
    ) -> Any:
        _, url, headers, body, _ = self._client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._client.rest_client.request(
                method, url, headers=headers, body=body, _request_timeout=timeout_s
            )
        except ApiException as exc:
            raise KubeApiError(
                status=int(exc.status or 0),
                reason=str(exc.reason or "Error"),
                message=str(exc.body),
            ) from exc
        except (urllib3.exceptions.HTTPError, OpenApiException, OSError) as exc:
            raise KubeApiError(status=0, reason="Unreachable", message=str(exc)) from exc
        if not 200 <= response.status < 300:
            raise _error_from_body(
                status=response.status, reason=str(response.reason), body=response.read() or b""
            )
        return response

    def request(
        self,
        *,
        method: str,
        path: str,
        query: Mapping[str, QueryValue] | None = None,
        body: object = None,
        content_type: str = "application/json",
        timeout_s: float = 30.0,
    ) -> JsonObject:
        """One request; the decoded JSON answer (an empty dict when the body is empty)."""
        response = self._send(
            method=method,
            path=path,
            query=query,
            body=body,
            content_type=content_type,
            timeout_s=timeout_s,
        )
        try:
            raw = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeApiError(status=0, reason="Unreachable", message=str(exc)) from exc
        if not raw:
            return {}
        try:
            return cast(JsonObject, json.loads(raw))
        except ValueError as exc:
            raise KubeApiError(status=0, reason="BadResponse", message=f"not JSON: {exc}") from exc

    def get(self, *, path: str, query: Mapping[str, QueryValue] | None = None) -> JsonObject:
        return self.request(method="GET", path=path, query=query)

    def get_or_none(self, *, path: str) -> JsonObject | None:
        """The object, or None when it does not exist."""
        try:
            return self.get(path=path)
        except KubeApiError as exc:
            if exc.not_found:
                return None
            raise

    def create(self, *, path: str, body: JsonObject) -> JsonObject:
        return self.request(method="POST", path=path, body=body)

    def merge_patch(self, *, path: str, body: JsonObject) -> JsonObject:
        """A JSON merge patch: lists in ``body`` replace the stored lists wholesale."""
        return self.request(method="PATCH", path=path, body=body, content_type=MERGE_PATCH)

    def delete(self, *, path: str, body: JsonObject | None = None) -> None:
        """Delete; an object that is already gone is not an error."""
        try:
            self.request(method="DELETE", path=path, body=body)
        except KubeApiError as exc:
            if not exc.not_found:
                raise

    def watch(
        self, *, path: str, query: Mapping[str, QueryValue], timeout_s: int
    ) -> Iterator[JsonObject]:
        """Watch events (``{"type", "object"}``) until the server ends the watch (``timeout_s``).

        Raises KubeApiError when the connection breaks, so the caller re-lists.
        """
        watch_query = {**query, "watch": "true", "timeoutSeconds": timeout_s}
        response = self._send(
            method="GET",
            path=path,
            query=watch_query,
            body=None,
            content_type="application/json",
            timeout_s=timeout_s + 15,
        )
        buffer = bytearray()
        try:
            for chunk in response.response.stream(amt=None, decode_content=False):
                buffer.extend(chunk)
                while (newline := buffer.find(b"\n")) != -1:
                    line = bytes(buffer[:newline])
                    del buffer[: newline + 1]
                    if line.strip():
                        yield cast(JsonObject, json.loads(line))
                if self._closed.is_set():
                    return
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise KubeApiError(status=0, reason="WatchBroken", message=str(exc)) from exc
        finally:
            response.response.release_conn()
