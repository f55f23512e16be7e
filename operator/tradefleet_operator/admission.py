"""The operator's admission webhook: a new TradingBot is created with the operator's finalizer.

Called by :mod:`tradefleet_operator.handlers`: its start-up handler serves and registers the
webhook, its clean-up handler takes it out and stops serving. Kopf needs its finalizer on every
bot it runs a loop for; set by a write of its own, it costs each new bot one more write to the
TradingBot (validated whole by the apiserver, its stored spec included), one more watch event to
every watcher, and a round trip before the bot's loop starts. Set by this webhook, it is part of
the user's own create.

The webhook is an optimisation, never a gate. It is registered with ``failurePolicy: Ignore``
and a short timeout: a bot created while the operator is down or slow is created without the
finalizer, and Kopf adds it when it sees the bot, as it always did. An operator that cannot
make its certificate, serve or register the webhook logs why and runs without it.

Served here, from the operator's event loop, rather than by Kopf's admission handlers: those see
the object only, and an apiserver before 1.22 sends a new object without its namespace when
the client left it out, which the watched-namespaces rule needs. Registered by the operator
itself, in the MutatingWebhookConfiguration named after its region (the chart creates it
empty): a right to create webhook configurations would be a right to intercept every object of
the cluster. The apiserver reaches the webhook over TLS, through the chart's Service, or at
127.0.0.1 for an operator run as a local process (the demo, the tests). The operator makes its
own key and self-signed certificate at each start, in a child process, and registers the
certificate as the webhook's CA bundle: nothing to issue, rotate or mount.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tradefleet_operator.kube import KubeApiError, KubeClient
from tradefleet_operator.render import GROUP, VERSION
from tradefleet_operator.settings import OperatorSettings

log = logging.getLogger(__name__)

# The path the apiserver posts its reviews to, and the first part of the webhook's name.
WEBHOOK_NAME = "finalizer"
# How long a create waits for the webhook before the apiserver goes on without it. The webhook
# answers from the operator's event loop, within a fraction of a second even in a burst.
TIMEOUT_S = 5
# Making a key and a certificate takes a fraction of a second; a child process starting on a
# loaded node, a few.
MAKE_TIMEOUT_S = 30.0
KIND = "MutatingWebhookConfiguration"


def finalizer_patch(
    *, meta: Mapping[str, Any], finalizer: str, namespaces: Sequence[str]
) -> list[str] | None:
    """The finalizers a new bot is created with, or None to leave it as it is.

    A bot in a namespace this operator does not watch is left alone: no operator of this
    release would ever remove the finalizer, and the bot could not be deleted.
    """
    if namespaces and meta.get("namespace") not in namespaces:
        return None
    present = list(meta.get("finalizers") or [])
    if finalizer in present:
        return None
    return [*present, finalizer]


def configuration_name(*, settings: OperatorSettings) -> str:
    """The MutatingWebhookConfiguration the webhook is registered in: one per region, so the
    operators of a cluster shared by regions do not overwrite each other's."""
    return f"{settings.region.lower()}.admission.tradefleet.io"


@dataclass(frozen=True, kw_only=True, slots=True)
class Webhook:
    """The webhook's server, serving from the operator's event loop, and its registration."""

    runner: web.AppRunner
    registration: dict[str, Any]


def review_answer(
    *, review: Mapping[str, Any], finalizer: str, namespaces: Sequence[str]
) -> dict[str, Any]:
    """The AdmissionReview answering ``review``: allowed, with the finalizer added where
    :func:`finalizer_patch` says. The namespace is the request's: an apiserver before 1.22 sends
    the object without one when the client left it out."""
    request = review.get("request") or {}
    meta = dict((request.get("object") or {}).get("metadata") or {})
    meta.setdefault("namespace", request.get("namespace"))
    response: dict[str, Any] = {"uid": request.get("uid", ""), "allowed": True}
    finalizers = finalizer_patch(meta=meta, finalizer=finalizer, namespaces=namespaces)
    if finalizers is not None and request.get("operation") == "CREATE":
        # "add" replaces the member where it exists (RFC 6902).
        operations = [{"op": "add", "path": "/metadata/finalizers", "value": finalizers}]
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(operations).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


async def serve(*, settings: OperatorSettings, finalizer: str) -> Webhook | None:
    """Serve the webhook with a fresh certificate, reached through ``webhookService`` inside
    the cluster, or at 127.0.0.1 for a local process; None (logged) when it cannot be served."""
    client: dict[str, Any]
    if settings.webhook_service:
        namespace, name = settings.webhook_service.split("/", 1)
        names = [f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]
        addr = "0.0.0.0"  # the apiserver comes from outside the pod
        client = {
            "service": {
                "namespace": namespace,
                "name": name,
                "port": settings.webhook_port,
                "path": f"/{WEBHOOK_NAME}",
            }
        }
    else:
        names = ["127.0.0.1", "localhost"]
        addr = "127.0.0.1"
        client = {"url": f"https://127.0.0.1:{settings.webhook_port}/{WEBHOOK_NAME}"}

    async def answer(request: web.Request) -> web.Response:
        review = await request.json()
        return web.json_response(
            review_answer(review=review, finalizer=finalizer, namespaces=settings.namespaces)
        )

    try:
        certfile, pkeyfile, cadata = await _self_signed(names=names)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile, pkeyfile)
        app = web.Application()
        app.add_routes([web.post(f"/{WEBHOOK_NAME}", answer)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, addr, settings.webhook_port, ssl_context=context).start()
    except (OSError, RuntimeError, TimeoutError) as exc:  # ssl.SSLError is an OSError
        log.warning("admission webhook off, every new bot costs one more write: %s", exc)
        return None
    client["caBundle"] = base64.b64encode(cadata).decode()
    return Webhook(
        runner=runner,
        registration={
            "name": f"{WEBHOOK_NAME}.{configuration_name(settings=settings)}",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Ignore",
            "matchPolicy": "Equivalent",
            "timeoutSeconds": TIMEOUT_S,
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "apiVersions": [VERSION],
                    "resources": ["tradingbots"],
                    "operations": ["CREATE"],
                    "scope": "Namespaced",
                }
            ],
            "clientConfig": client,
        },
    )


async def register(
    *, kube: KubeClient, settings: OperatorSettings, registration: dict[str, Any] | None
) -> None:
    """Put ``registration`` in the region's configuration, or take the webhook out with None.

    The configuration is created only where the operator may (a local process with an admin's
    access); the chart creates it and grants only changes to it by name. A refusal is logged,
    and the operator goes on without the webhook.
    """
    name = configuration_name(settings=settings)
    webhooks = [registration] if registration is not None else []
    try:
        await kube.patch_merge(kind=KIND, namespace=None, name=name, patch={"webhooks": webhooks})
    except KubeApiError as exc:
        if not exc.not_found or registration is None:
            log.warning("admission webhook not changed in %s: %s", name, exc)
            return
        await _create(kube=kube, name=name, webhooks=webhooks)


async def _create(*, kube: KubeClient, name: str, webhooks: list[dict[str, Any]]) -> None:
    body = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": KIND,
        "metadata": {"name": name},
        "webhooks": webhooks,
    }
    try:
        await kube.create(body=body)
    except KubeApiError as exc:
        log.warning("admission webhook off, %s cannot be created: %s", name, exc)


async def _self_signed(*, names: Sequence[str]) -> tuple[Path, Path, bytes]:
    """A new key and a certificate for ``names``, its own CA, made by a child process
    (:mod:`tradefleet_operator.webhook_certificate`): the key and certificate files, in a
    directory only this process's user can read, and the certificate for the CA bundle."""
    directory = Path(tempfile.mkdtemp(prefix="tradefleet-webhook-"))  # mode 0700
    maker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tradefleet_operator.webhook_certificate",
        str(directory),
        *names,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(maker.communicate(), timeout=MAKE_TIMEOUT_S)
    except TimeoutError as exc:
        maker.kill()
        await maker.wait()
        raise TimeoutError(f"making its certificate took over {MAKE_TIMEOUT_S:.0f}s") from exc
    if maker.returncode != 0:
        raise RuntimeError(f"no certificate: {stderr.decode().strip()}")
    certfile = directory / "tls.crt"
    return certfile, directory / "tls.key", certfile.read_bytes()
