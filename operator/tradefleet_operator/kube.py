"""A small async Kubernetes REST client: get, list, create, server-side apply, replace, merge and
JSON patches, delete.

Used by the reconciler (:mod:`tradefleet_operator.reconcile`) for the bot's children and status.
Kopf watches and dispatches; this client writes, with the access read at start-up
(:mod:`tradefleet_operator.access`) and read anew whenever Kopf logs in again (:meth:`KubeClient.use`),
through aiohttp, so a thousand bots reconcile concurrently on one event loop. API errors are translated here, once, into :class:`KubeApiError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import marshal
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from tradefleet_operator.access import Access

FIELD_MANAGER = "tradefleet-operator"

# Where each kind the operator writes lives in the REST API.
KIND_PATHS: dict[str, tuple[str, str]] = {
    "ConfigMap": ("/api/v1", "configmaps"),
    "Secret": ("/api/v1", "secrets"),
    "Service": ("/api/v1", "services"),
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "Pod": ("/api/v1", "pods"),
    "Node": ("/api/v1", "nodes"),
    "Event": ("/api/v1", "events"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "ControllerRevision": ("/apis/apps/v1", "controllerrevisions"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
    "Job": ("/apis/batch/v1", "jobs"),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    "TradingBot": ("/apis/tradefleet.io/v1alpha1", "tradingbots"),
    "SignalSource": ("/apis/tradefleet.io/v1alpha1", "signalsources"),
    "ExchangeAccount": ("/apis/tradefleet.io/v1alpha1", "exchangeaccounts"),
    "MutatingWebhookConfiguration": (
        "/apis/admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
    ),
}


def pack_object(body: Mapping[str, Any]) -> bytes:
    """``body`` compressed, without managedFields, for objects kept in memory to be read back now
    and then (indexes of children, our own recent writes): as nested dicts they take many times
    the memory.

    In marshal's format, not JSON: the bytes never leave this process, and a reconcile pass reads
    its bot's children back every time, which marshal does in about half JSON's time.
    """
    copy = dict(body)
    metadata = dict(copy.get("metadata") or {})
    metadata.pop("managedFields", None)
    copy["metadata"] = metadata
    return zlib.compress(marshal.dumps(copy), 1)


def resource_version(obj: Mapping[str, Any]) -> int:
    """An object's resourceVersion, to tell which of two copies is newer.

    Kubernetes calls it opaque, but it is etcd's revision, an integer that only grows; anything
    else compares as oldest.
    """
    try:
        return int(obj.get("metadata", {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def unpack_object(packed: bytes) -> dict[str, Any]:
    body: dict[str, Any] = marshal.loads(zlib.decompress(packed))
    return body


class KubeApiError(RuntimeError):
    """A non-success answer from the apiserver, with its HTTP status, Status reason and the
    reasons of the Status's causes (``details.causes``)."""

    def __init__(
        self, *, status: int, reason: str, message: str, causes: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = causes

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def namespace_terminating(self) -> bool:
        """Refused because the namespace is being deleted: nothing new may be created in it."""
        return "NamespaceTerminating" in self.causes


def object_path(
    *, kind: str, namespace: str | None, name: str | None = None, subresource: str = ""
) -> str:
    prefix, plural = KIND_PATHS[kind]
    path = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path


@dataclass(kw_only=True, slots=True)
class _Pool:
    """A session (its connections) and how many requests use it, so that a pool replaced by
    :meth:`KubeClient.use` is closed only once nothing uses it any more."""

    session: aiohttp.ClientSession
    users: int = 0
    retired: bool = False

    @contextlib.asynccontextmanager
    async def using(self) -> AsyncIterator[aiohttp.ClientSession]:
        self.users += 1
        try:
            yield self.session
        finally:
            self.users -= 1
            if self.retired and not self.users:
                await self.session.close()

    async def retire(self) -> None:
        self.retired = True
        if not self.users:
            await self.session.close()


class KubeClient:
    """Async access to the apiserver for the operator's own writes."""

    # At most this many requests in flight. Enough to keep the apiserver busy, and no more: the
    # apiserver serves its clients' requests side by side, so an operator with more in flight
    # takes a bigger share of it from the controllers that turn its Deployments into pods (in a
    # burst of 1,000 new bots on a 2-core control plane, pods were scheduled p50 33.7-36.5 s
    # after their bots with 32, 26.5-32.5 s with 24, every bot reconciled about as soon). Each
    # TLS connection also holds a 256 KiB read buffer.
    def __init__(self, *, access: Access, max_connections: int = 24) -> None:
        self._access = access
        self._max_connections = max_connections
        self._pool: _Pool | None = None

    async def use(self, *, access: Access) -> None:
        """Authenticate with ``access`` from the next request on (a token read anew).

        A new server, CA or client certificate needs new connections: later requests get a new
        pool, and the old one is closed once the requests using it (those waiting for one of its
        connections included) have ended; closing it under them would cancel them.
        """
        old, self._access = self._access, access
        if self._pool is not None and (
            old.server,
            old.verify,
            old.ca_pem,
            old.cert_pem,
            old.key_pem,
        ) != (access.server, access.verify, access.ca_pem, access.cert_pem, access.key_pem):
            retired, self._pool = self._pool, None
            await retired.retire()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.session.close()

    def _headers(self) -> dict[str, str]:
        # In a pod, read again each time: bound service-account tokens rotate.
        authorization = self._access.current_authorization()
        return {"Authorization": authorization} if authorization else {}

    def _pool_now(self) -> _Pool:
        if self._pool is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ssl=self._access.ssl_context()
            )
            self._pool = _Pool(
                session=aiohttp.ClientSession(
                    base_url=self._access.server,
                    connector=connector,
                    # No total timeout: waiting for a pooled connection under load is no failure.
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30),
                )
            )
        return self._pool

    async def request(
        self,
        *,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = self._headers()
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        for attempt in range(4):
            try:
                async with (
                    self._pool_now().using() as session,
                    session.request(
                        method, path, data=data, headers=headers, params=params
                    ) as response,
                ):
                    text = await response.text()
                    if response.status >= 400:
                        raise _api_error(status=response.status, text=text)
                    return json.loads(text) if text else {}
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                if attempt == 3:
                    raise KubeApiError(
                        status=503, reason="Unreachable", message=f"{type(exc).__name__}: {exc}"
                    ) from exc
                await asyncio.sleep(0.2 * 2**attempt)
            except KubeApiError as exc:
                if exc.status not in (429, 500, 503, 504) or attempt == 3:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable: the loop returns or raises")

    async def get(self, *, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            return await self.request(
                method="GET", path=object_path(kind=kind, namespace=namespace, name=name)
            )
        except KubeApiError as exc:
            if exc.not_found:
                return None
            raise

    async def list(
        self, *, kind: str, namespace: str | None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        answer = await self.request(
            method="GET", path=object_path(kind=kind, namespace=namespace), params=params
        )
        items: list[dict[str, Any]] = answer.get("items", [])
        return items

    async def apply(self, *, body: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply: create or converge an object to ``body``; idempotent, so safe to repeat."""
        meta = body["metadata"]
        path = object_path(kind=body["kind"], namespace=meta.get("namespace"), name=meta["name"])
        return await self.request(
            method="PATCH",
            path=path,
            body=body,
            content_type="application/apply-patch+yaml",
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
        )

    async def replace(self, *, body: dict[str, Any]) -> dict[str, Any]:
        """PUT: the object becomes exactly ``body`` (``metadata.resourceVersion`` guards the write)."""
        meta = body["metadata"]
        path = object_path(kind=body["kind"], namespace=meta.get("namespace"), name=meta["name"])
        return await self.request(
            method="PUT", path=path, body=body, params={"fieldManager": FIELD_MANAGER}
        )

    async def patch_merge(
        self,
        *,
        kind: str,
        namespace: str | None,
        name: str,
        patch: dict[str, Any],
        subresource: str = "",
    ) -> dict[str, Any]:
        return await self.request(
            method="PATCH",
            path=object_path(kind=kind, namespace=namespace, name=name, subresource=subresource),
            body=patch,
            content_type="application/merge-patch+json",
        )

    async def delete(
        self,
        *,
        kind: str,
        namespace: str | None,
        name: str,
        grace_period_seconds: int | None = None,
    ) -> bool:
        """Delete an object with background propagation; False when it was already gone.

        ``grace_period_seconds=0`` force-deletes a pod: removed at once, without waiting for its
        kubelet to confirm that its containers stopped.
        """
        options: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": "Background",
        }
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        try:
            await self.request(
                method="DELETE",
                path=object_path(kind=kind, namespace=namespace, name=name),
                body=options,
            )
        except KubeApiError as exc:
            if exc.not_found:
                return False
            raise
        return True

    async def create(self, *, body: dict[str, Any]) -> dict[str, Any]:
        """POST: create ``body``; a 409 (``conflict``) when it exists."""
        meta = body["metadata"]
        return await self.request(
            method="POST",
            path=object_path(kind=body["kind"], namespace=meta.get("namespace")),
            body=body,
            params={"fieldManager": FIELD_MANAGER},
        )

    async def patch_json(
        self,
        *,
        kind: str,
        namespace: str | None,
        name: str,
        operations: Sequence[Mapping[str, Any]],
    ) -> dict[str, Any]:
        """A JSON patch (RFC 6902): ``operations`` applied in order, all or none."""
        return await self.request(
            method="PATCH",
            path=object_path(kind=kind, namespace=namespace, name=name),
            body=[dict(operation) for operation in operations],
            content_type="application/json-patch+json",
            params={"fieldManager": FIELD_MANAGER},
        )


def _api_error(*, status: int, text: str) -> KubeApiError:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        return KubeApiError(status=status, reason="", message=text[:500])
    details = payload.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    return KubeApiError(
        status=status,
        reason=str(payload.get("reason", "")),
        message=str(payload.get("message", text)),
        causes=tuple(
            str(cause.get("reason", "")) for cause in causes or [] if isinstance(cause, dict)
        ),
    )
