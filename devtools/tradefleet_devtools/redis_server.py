"""A real redis-server (Debian package ``redis-server``) on a private port, with AOF on.

Dev/test tooling. Used by the pytest fixtures, the local demo and the chaos soak harness
(``tradefleet_devtools.soak``), which runs it with ``appendfsync everysec`` and kills it with
SIGKILL; production uses the Redis the Helm chart deploys per region (or an existing one).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tradefleet_devtools.controlplane import BOOTSTRAP_HINT, free_port


class RedisServerError(RuntimeError):
    """redis-server is missing or did not start; the message says why."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RedisAccess:
    host: str
    port: int
    # The default user's password when the server requires one (``requirepass``).
    password: str | None = None

    @property
    def url(self) -> str:
        """The server's URL, without credentials (clients are given them apart)."""
        return f"redis://{self.host}:{self.port}/0"


APPENDFSYNC_POLICIES = ("always", "everysec", "no")


class LocalRedis:
    """One redis-server process with append-only persistence in ``workdir``.

    ``appendfsync`` is Redis's AOF fsync policy: ``always`` (the default here, as the chart
    deploys it) or ``everysec``/``no`` for tests of what a crash under them loses. ``bind`` is
    an address it listens on besides 127.0.0.1: where the pods of an external cluster reach this
    machine (protected mode off there: a test server without a password). ``password`` makes it
    require one for its default user (``requirepass``), as the chart's Redis does.
    """

    def __init__(
        self,
        *,
        workdir: Path,
        port: int | None = None,
        appendfsync: str = "always",
        bind: str = "127.0.0.1",
        password: str | None = None,
    ) -> None:
        if appendfsync not in APPENDFSYNC_POLICIES:
            raise ValueError(
                f"appendfsync must be one of {APPENDFSYNC_POLICIES}, got {appendfsync!r}"
            )
        self.workdir = workdir
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.bind = bind
        self.password = password
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 15.0) -> RedisAccess:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RedisServerError(
                f"redis-server is not installed (Debian package redis-server) — {BOOTSTRAP_HINT}"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        logfile = (self.workdir / "redis.log").open("ab")
        self._proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                *dict.fromkeys(["127.0.0.1", self.bind]),
                "--protected-mode",
                "yes" if self.bind == "127.0.0.1" else "no",
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
                "--save",
                "",
                "--daemonize",
                "no",
                *(["--requirepass", self.password] if self.password else []),
            ],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logfile.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RedisServerError(
                    f"redis-server exited with {self._proc.returncode}; see {self.workdir / 'redis.log'}"
                )
            if _answers_ping(port=self.port):
                return RedisAccess(host="127.0.0.1", port=self.port, password=self.password)
            time.sleep(0.05)
        self.stop()
        raise RedisServerError(
            f"redis-server did not answer PING on port {self.port} in {timeout_s}s"
        )

    @contextlib.contextmanager
    def running(self) -> Iterator[RedisAccess]:
        """Started for the block, stopped after it (a fixture's whole life)."""
        try:
            yield self.start()
        finally:
            self.stop()

    @property
    def aof_dir(self) -> Path:
        """Where Redis 7 keeps its multi-part append-only file (base, incr files, manifest)."""
        return self.workdir / "appendonlydir"

    def kill(self) -> None:
        """SIGKILL, as a crashed node or an OOM kill ends it; ``start`` brings it back with
        whatever the append-only file holds."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=10)
        self._proc = None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None


def _answers_ping(*, port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            # A server with a password answers an unauthenticated PING with NOAUTH: it is up.
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False
