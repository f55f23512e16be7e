"""A local HTTP receiver of notifications (spec.notifications), for integration and e2e tests.

:func:`webhook_receiver` serves 127.0.0.1 on a free port and records the JSON body of every POST;
:func:`notification_secret` creates the Secret, labelled for notifications, that holds its URL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubernetes import client
from tradefleet_devtools.controlplane import free_port


@dataclass
class Receiver:
    """What the receiver answers (``status``, ``body``) and the bodies it was posted."""

    port: int
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    got: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self) -> list[str]:
        """The ``event`` of each notification received, in order."""
        return [str(m.get("event")) for m in list(self.got)]


@contextmanager
def webhook_receiver(*, status: int = 200) -> Iterator[Receiver]:
    box = Receiver(port=free_port(), status=status)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            payload = json.dumps(box.body).encode()
            self.send_response(box.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            box.got.append(json.loads(raw or b"{}"))
            self._answer()

        def log_message(self, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", box.port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def notification_secret(
    core_v1: client.CoreV1Api, *, namespace: str, name: str, url: str, key: str = "url"
) -> None:
    """A Secret holding ``url`` under ``key``, labelled ``tradefleet.io/notifications: "true"``."""
    core_v1.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, labels={"tradefleet.io/notifications": "true"}),
            string_data={key: url},
        ),
    )


def webhook_target(*, name: str, secret: str, events: list[str] | None = None) -> dict[str, Any]:
    """One ``spec.notifications`` entry of type webhook reading ``secret``'s key ``url``."""
    target: dict[str, Any] = {
        "name": name,
        "type": "webhook",
        "secretRef": {"name": secret, "key": "url"},
    }
    if events is not None:
        target["events"] = events
    return target


@contextmanager
def webhook_with_secret(
    core_v1: client.CoreV1Api, *, namespace: str, secret: str
) -> Iterator[Receiver]:
    """A receiver, and the Secret ``secret`` (labelled for notifications) holding its URL."""
    with webhook_receiver() as receiver:
        notification_secret(core_v1, namespace=namespace, name=secret, url=receiver.url)
        yield receiver
