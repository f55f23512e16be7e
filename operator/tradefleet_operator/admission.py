"""The operator's admission webhook: a new TradingBot is created with the operator's finalizer.

Called by :mod:`tradefleet_operator.handlers` (its start-up handler and its mutating handler).
Kopf needs its finalizer on every bot it runs a loop for; set by a write of its own, it would
cost each new bot one more write to the TradingBot (validated whole by the apiserver, its stored
spec included), one more watch event to every watcher, and a wait before the bot's loop starts.
Set by this webhook, it is part of the user's own create.

The webhook is an optimisation, never a gate: registered with ``failurePolicy: Ignore``, a bot
created while the operator is down is created without the finalizer, and Kopf adds it when the
operator is back, as it always did. Kopf registers the webhook in a MutatingWebhookConfiguration
named after the operator's region, and takes it out again when the operator stops.

The apiserver reaches the webhook over TLS. The operator makes its own key and self-signed
certificate at each start (in a child process, kept in a private temporary directory) and hands
the certificate to the apiserver as the webhook's CA bundle: nothing to issue, rotate or mount.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import kopf

from tradefleet_operator.settings import OperatorSettings

# Making a key and a certificate takes a fraction of a second; a child process starting on a
# loaded node, a few.
MAKE_TIMEOUT_S = 30.0


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
    """The MutatingWebhookConfiguration Kopf keeps for this operator: one per region, so the
    operators of a cluster shared by regions do not overwrite each other's."""
    return f"{settings.region.lower()}.admission.tradefleet.io"


async def webhook_server(*, settings: OperatorSettings) -> kopf.WebhookServer:
    """Kopf's webhook server with a fresh certificate: reached through ``webhookService`` inside
    the cluster, or at 127.0.0.1 for an operator run as a local process (the demo, the tests)."""
    if settings.webhook_service:
        namespace, name = settings.webhook_service.split("/", 1)
        names = [f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]
        certfile, pkeyfile, cadata = await _self_signed(names=names)
        return _ServiceWebhookServer(
            service=kopf.WebhookClientConfigService(
                namespace=namespace, name=name, port=settings.webhook_port, path=""
            ),
            addr="0.0.0.0",  # the apiserver comes from outside the pod
            port=settings.webhook_port,
            certfile=certfile,
            pkeyfile=pkeyfile,
            cadata=cadata,
        )
    certfile, pkeyfile, cadata = await _self_signed(names=["127.0.0.1", "localhost"])
    return kopf.WebhookServer(
        addr="127.0.0.1",
        port=settings.webhook_port,
        host="127.0.0.1",
        certfile=certfile,
        pkeyfile=pkeyfile,
        cadata=cadata,
    )


class _ServiceWebhookServer(kopf.WebhookServer):
    """Kopf's server, registered as reached through a Service rather than at a URL: an apiserver
    resolves a Service itself, where it could not resolve the Service's cluster DNS name."""

    def __init__(self, *, service: kopf.WebhookClientConfigService, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service

    async def __call__(self, fn: Any) -> AsyncIterator[kopf.WebhookClientConfig]:
        async for config in super().__call__(fn):
            yield kopf.WebhookClientConfig(
                caBundle=config.get("caBundle"),
                service=kopf.WebhookClientConfigService(**self.service),
            )


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
        # Kopf runs the start-up handler again a little later.
        raise kopf.TemporaryError(
            f"making the admission webhook's certificate took over {MAKE_TIMEOUT_S:.0f}s"
        ) from exc
    if maker.returncode != 0:
        raise kopf.PermanentError(
            f"the admission webhook has no certificate: {stderr.decode().strip()}"
        )
    certfile = directory / "tls.crt"
    return certfile, directory / "tls.key", certfile.read_bytes()
