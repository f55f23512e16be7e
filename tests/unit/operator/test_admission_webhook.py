"""The admission webhook: which new bots are created with the operator's finalizer, and a
certificate the apiserver can verify."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import threading
from pathlib import Path

import pytest
from tradefleet_operator import admission
from tradefleet_operator.admission import finalizer_patch, make_webhook
from tradefleet_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

FINALIZER = "tradefleet.io/finalizer"


def test_a_new_bot_gets_the_finalizer_beside_its_own() -> None:
    meta = {"name": "b", "namespace": "trading", "finalizers": ["example.com/keep"]}
    assert finalizer_patch(meta=meta, finalizer=FINALIZER, namespaces=()) == [
        "example.com/keep",
        FINALIZER,
    ]


def test_a_bot_that_already_has_it_is_left_as_it_is() -> None:
    meta = {"name": "b", "namespace": "trading", "finalizers": [FINALIZER]}
    assert finalizer_patch(meta=meta, finalizer=FINALIZER, namespaces=()) is None


def test_a_bot_outside_the_watched_namespaces_is_left_alone() -> None:
    # No operator of this release would ever remove it: the bot could not be deleted.
    meta = {"name": "b", "namespace": "elsewhere"}
    assert finalizer_patch(meta=meta, finalizer=FINALIZER, namespaces=("trading",)) is None
    assert finalizer_patch(
        meta={**meta, "namespace": "trading"}, finalizer=FINALIZER, namespaces=("trading",)
    ) == [FINALIZER]


@pytest.mark.parametrize(
    ("service", "hostname"),
    [
        ("trading-operators/tradefleet-tokyo-operator-webhook", None),
        ("", "127.0.0.1"),
    ],
)
def test_the_apiserver_can_verify_the_webhooks_certificate(
    service: str, hostname: str | None
) -> None:
    """A client trusting only the CA bundle the operator registers accepts the webhook's
    certificate for the name it is reached at: the Service's DNS name, or 127.0.0.1."""
    settings = OperatorSettings(region="ap-northeast-1", webhook_service=service)
    webhook = asyncio.run(make_webhook(settings=settings))
    assert webhook.registration is not None
    client = webhook.registration["clientConfig"]
    if hostname is None:
        namespace, name = service.split("/")
        hostname = f"{name}.{namespace}.svc"
        # Kopf serves its handler at /<handler id>.
        assert client["service"] == {
            "namespace": namespace,
            "name": name,
            "port": 9443,
            "path": "/finalizer",
        }
    else:
        assert client["url"] == "https://127.0.0.1:9443/finalizer"
    assert webhook.registration["failurePolicy"] == "Ignore"
    server = webhook.server
    assert server.certfile is not None and server.pkeyfile is not None
    assert Path(server.pkeyfile).stat().st_mode & 0o077 == 0, "the key is readable by others"
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(server.certfile, server.pkeyfile)
    trusting = ssl.create_default_context(cadata=base64.b64decode(client["caBundle"]).decode())
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        accepted: list[str] = []

        def accept() -> None:
            conn, _ = listener.accept()
            with serving.wrap_socket(conn, server_side=True) as tls:
                accepted.append(tls.version() or "")

        thread = threading.Thread(target=accept)
        thread.start()
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            trusting.wrap_socket(raw, server_hostname=hostname) as tls,
        ):
            assert tls.getpeercert() is not None
        thread.join(timeout=5)
    assert accepted


def test_without_a_certificate_the_operator_runs_without_the_webhook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The certificate maker cannot run (a broken image): the webhook is an optimisation, so the
    # operator starts all the same, with nothing registered and Kopf's own finalizer write.
    monkeypatch.setattr(admission.sys, "executable", "/bin/false")
    webhook = asyncio.run(make_webhook(settings=OperatorSettings(region="ap-northeast-1")))
    assert webhook.registration is None
    assert webhook.server.insecure and webhook.server.addr == "127.0.0.1"
