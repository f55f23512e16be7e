"""A stand-in for a kubelet's log endpoint, for tests of ``pods/log`` through the real apiserver.

The apiserver serves ``kubectl logs`` by asking the kubelet of the pod's node over HTTPS at the
node's InternalIP and ``daemonEndpoints.kubeletEndpoint.Port`` (the local control plane sets no
kubelet CA, so any certificate is accepted). This server answers
``GET /containerLogs/<namespace>/<pod>/<container>`` with the lines a test gave for that container
(``tailLines`` honoured; ``follow=true`` sends them one at a time, then ends as a container that
exits would).
"""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FakeKubelet:
    """Serves container logs over HTTPS on 127.0.0.1."""

    def __init__(self, *, workdir: Path) -> None:
        self.workdir = workdir
        self.logs: dict[tuple[str, str, str], list[str]] = {}
        self.requests: list[str] = []
        self.node = ""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def start(self) -> None:
        cert, key = self.workdir / "kubelet.crt", self.workdir / "kubelet.key"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
            ],
            check=True,
            capture_output=True,
        )
        kubelet = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                kubelet.requests.append(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) != 4 or parts[0] != "containerLogs":
                    self.send_error(404)
                    return
                lines = kubelet.logs.get((parts[1], parts[2], parts[3]))
                if lines is None:
                    self.send_error(404, "container not found")
                    return
                query = urllib.parse.parse_qs(url.query)
                tail = query.get("tailLines")
                if tail:
                    lines = lines[-int(tail[0]) :]
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                follow = query.get("follow") == ["true"]
                for line in lines:
                    self.wfile.write(f"{line}\n".encode())
                    self.wfile.flush()
                    if follow:
                        time.sleep(0.2)

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
