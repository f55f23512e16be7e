"""The operator's access to the apiserver: where it is and how to authenticate.

Read at start-up by :mod:`tradefleet_operator.cli` (a process without access says why and
exits), then used by :mod:`tradefleet_operator.handlers` for the operator's own client
(:class:`~tradefleet_operator.kube.KubeClient`) and for Kopf's logins; read anew, without
blocking the event loop, whenever Kopf logs in again (:func:`read_access_again`).

The official ``kubernetes`` package reads the kubeconfig (or the pod's service account), in a
child process (:mod:`tradefleet_operator.access_reader`): importing that package costs a process
about 11 MB of memory, mostly generated models the operator never uses, and Kopf imports them
whenever the package can be imported (the operator's entry point stops that, see
:mod:`tradefleet_operator.__main__`). The child's answer holds certificates and keys as PEM
text; a client certificate is loaded into the TLS context through a private temporary file that
is removed at once. In a pod, the service account's token is read again on every request and
every login, since the kubelet rotates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("tradefleet.operator")

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
# Importing the official package and reading a kubeconfig takes a fraction of a second; an
# exec plugin (a cloud's CLI fetching a token) may take several.
READ_TIMEOUT_S = 60.0


class AccessError(Exception):
    """No usable access to the apiserver; the message says why."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Access:
    server: str
    verify: bool
    ca_pem: str | None
    cert_pem: str | None
    key_pem: str | None = field(repr=False)
    # The Authorization header: "Bearer <token>", or "Basic <credentials>"; None: none sent.
    authorization: str | None = field(repr=False)
    namespace: str | None
    # Read again on every request and login (in a pod: the rotated service-account token).
    token_file: Path | None

    def current_authorization(self) -> str | None:
        if self.token_file is not None:
            return f"Bearer {self.token_file.read_text().strip()}"
        return self.authorization

    def ssl_context(self) -> ssl.SSLContext | bool:
        """TLS for the apiserver: its CA (else the system's), our client certificate if any;
        False when the kubeconfig says ``insecure-skip-tls-verify``."""
        if not self.verify:
            return False
        context = ssl.create_default_context(cadata=self.ca_pem)
        if self.cert_pem and self.key_pem:
            # The ssl module loads a certificate chain from files only.
            with tempfile.TemporaryDirectory(prefix="tradefleet-access-") as private:
                cert, key = Path(private) / "cert.pem", Path(private) / "key.pem"
                for path, text in ((cert, self.cert_pem), (key, self.key_pem)):
                    path.touch(mode=0o600)
                    path.write_text(text)
                context.load_cert_chain(cert, key)
        return context


def _reader_argv(kubeconfig: Path | None) -> list[str]:
    argv = [sys.executable, "-m", "tradefleet_operator.access_reader"]
    return argv if kubeconfig is None else [*argv, "--kubeconfig", str(kubeconfig)]


def _parsed(*, returncode: int, stdout: str, stderr: str, kubeconfig: Path | None) -> Access:
    said = [line for line in stderr.strip().splitlines() if line.strip()]
    if returncode != 0:
        reasons = [line for line in said if line.startswith("no access to the apiserver")]
        raise AccessError((reasons or said or [f"the access reader exited with {returncode}"])[-1])
    for line in said:
        log.warning("reading the apiserver access: %s", line)
    try:
        answer = json.loads(stdout)
        return Access(
            server=answer["server"],
            verify=answer["verify"],
            ca_pem=answer["caPem"],
            cert_pem=answer["certPem"],
            key_pem=answer["keyPem"],
            authorization=answer["authorization"],
            namespace=answer["namespace"],
            token_file=SERVICE_ACCOUNT_TOKEN if kubeconfig is None else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise AccessError(f"the access reader's answer is unreadable: {exc!r}") from exc


def _kill_group(pid: int) -> None:
    """Kill the reader and what it started (an ``exec`` plugin that hangs, say)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def read_access(*, kubeconfig: Path | None) -> Access:
    """The access a kubeconfig gives, or the pod's service account when none is given."""
    with subprocess.Popen(
        _reader_argv(kubeconfig),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, to kill with its plugins
    ) as reader:
        try:
            stdout, stderr = reader.communicate(timeout=READ_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            _kill_group(reader.pid)
            reader.communicate()
            raise AccessError(
                f"reading the apiserver access took over {READ_TIMEOUT_S:.0f}s"
            ) from exc
    return _parsed(
        returncode=reader.returncode, stdout=stdout, stderr=stderr, kubeconfig=kubeconfig
    )


async def read_access_again(*, kubeconfig: Path | None) -> Access:
    """:func:`read_access` without blocking the event loop: Kopf logs in again when the
    apiserver refuses a token, and an ``exec`` plugin's token expires (it is fetched anew)."""
    reader = await asyncio.create_subprocess_exec(
        *_reader_argv(kubeconfig),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(reader.communicate(), timeout=READ_TIMEOUT_S)
    except TimeoutError as exc:
        raise AccessError(f"reading the apiserver access took over {READ_TIMEOUT_S:.0f}s") from exc
    finally:
        if reader.returncode is None:  # timed out, or the login was cancelled
            _kill_group(reader.pid)
            await reader.wait()
    return _parsed(
        returncode=reader.returncode or 0,
        stdout=stdout.decode(),
        stderr=stderr.decode(),
        kubeconfig=kubeconfig,
    )
