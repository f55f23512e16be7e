"""A real Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler) as local processes.

Dev/test tooling. Used by the pytest fixtures in ``tests/conftest.py`` and by the local demo
(``python -m tradefleet_devtools.cli up``). The binaries come from Debian: ``etcd`` from the
``etcd-server`` package, the Kubernetes ones built from Debian's ``kubernetes`` source package by
``scripts/build-control-plane.sh`` into ``~/.cache/tradefleet/control-plane/bin``.

Nodes are not started here: the dev node agent (:mod:`tradefleet_devtools.devnode`) plays Nodes
whose pods are local processes, and :mod:`tradefleet_devtools.realnode` runs a real kubelet.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path(os.environ.get("TRADEFLEET_CACHE", Path.home() / ".cache" / "tradefleet"))
BOOTSTRAP_HINT = "run `bash scripts/bootstrap.sh` (it installs and builds everything, once)"


class ControlPlaneError(RuntimeError):
    """The local control plane could not be found or started; the message says what is missing."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ControlPlaneBinaries:
    """Paths of the four control-plane programs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path

    @classmethod
    def locate(cls) -> ControlPlaneBinaries:
        """Find the binaries, or raise ControlPlaneError naming every missing one and how to get it."""
        k8s_dir = Path(
            os.environ.get("TRADEFLEET_CONTROL_PLANE_BIN", DEFAULT_CACHE / "control-plane" / "bin")
        )
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        found = {
            "etcd": Path(etcd),
            "kube_apiserver": k8s_dir / "kube-apiserver",
            "kube_controller_manager": k8s_dir / "kube-controller-manager",
            "kube_scheduler": k8s_dir / "kube-scheduler",
        }
        missing = []
        for field, path in found.items():
            if not (path.is_file() and os.access(path, os.X_OK)):
                source = (
                    "Debian package etcd-server"
                    if field == "etcd"
                    else "built from Debian's kubernetes source package"
                )
                missing.append(f"{field.replace('_', '-')} at {path} ({source})")
        if missing:
            raise ControlPlaneError(
                "local control plane binaries missing: "
                + "; ".join(missing)
                + f" — {BOOTSTRAP_HINT}"
            )
        return cls(**found)


# Ports handed out for servers are drawn below the kernel's ephemeral range: a port from
# bind(0) is an ephemeral one, and on a loaded machine an outgoing connection was given it as
# its source port before the server meant for it had started ("address already in use").
_LOWEST_SERVER_PORT = 10_000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600, also when it existed): the
    cluster-admin token and the kubeconfig that carries it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


PR_SET_PDEATHSIG = 1  # <sys/prctl.h>


def die_with_parent() -> None:
    """In a child before exec (``preexec_fn``): be SIGKILLed when the thread that started it
    ends (Linux ``prctl(PR_SET_PDEATHSIG)``). Processes started in their own session otherwise
    outlive a killed test run or soak: a soak's orphaned runtime once traded on a later trial's
    exchange (15 violations in one trial), and an operator outlived a killed test run."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and that no outgoing connection will take
    before its server binds it (drawn below the ephemeral range)."""
    high = _ephemeral_low()
    draw = secrets.SystemRandom()
    for _ in range(200):
        port = draw.randrange(_LOWEST_SERVER_PORT, high) if high > _LOWEST_SERVER_PORT else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            bound: int = sock.getsockname()[1]
            return bound
    raise RuntimeError(f"no free TCP port on 127.0.0.1 between {_LOWEST_SERVER_PORT} and {high}")


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterAccess:
    """How clients reach a running control plane."""

    server: str
    token: str
    kubeconfig: Path


class LocalControlPlane:
    """Starts and stops etcd + kube-apiserver + kube-controller-manager + kube-scheduler in ``workdir``.

    Every process writes its log to ``workdir/logs/<name>.log``; a startup failure quotes the tail of
    the failing process's log.
    """

    def __init__(self, *, workdir: Path, binaries: ControlPlaneBinaries | None = None) -> None:
        self.workdir = workdir
        self.binaries = binaries or ControlPlaneBinaries.locate()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._access: ClusterAccess | None = None

    @property
    def access(self) -> ClusterAccess:
        if self._access is None:
            raise ControlPlaneError("the control plane is not running")
        return self._access

    def start(self, *, timeout_s: float = 90.0) -> ClusterAccess:
        for tool in ("openssl",):
            if shutil.which(tool) is None:
                raise ControlPlaneError(f"{tool} is not installed — {BOOTSTRAP_HINT}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        certs = self.workdir / "certs"
        certs.mkdir(exist_ok=True)
        deadline = time.monotonic() + timeout_s
        try:
            etcd_url = self._start_etcd(deadline=deadline)
            self._access = self._start_apiserver(etcd_url=etcd_url, certs=certs, deadline=deadline)
            self._start_controllers(certs=certs, deadline=deadline)
        except BaseException:
            self.stop()
            raise
        log.info("local control plane ready at %s", self._access.server)
        return self._access

    def stop(self) -> None:
        """Stop every process, newest first; waits for each so ports and files are released."""
        for name, proc in reversed(list(self._procs.items())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop on SIGTERM; killing it", name)
                    proc.kill()
                    proc.wait(timeout=5)
        self._procs.clear()
        self._access = None

    def __enter__(self) -> LocalControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- processes --------------------------------------------------------------------------

    def _spawn(self, *, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        logfile = (self.workdir / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        logfile.close()
        self._procs[name] = proc
        return proc

    def _fail(self, *, name: str, what: str) -> ControlPlaneError:
        tail = ""
        logpath = self.workdir / "logs" / f"{name}.log"
        if logpath.exists():
            tail = "\n".join(logpath.read_text(errors="replace").splitlines()[-25:])
        return ControlPlaneError(f"{name} {what}; last lines of {logpath}:\n{tail}")

    def _wait_http(
        self, *, name: str, url: str, deadline: float, headers: dict[str, str] | None = None
    ) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        proc = self._procs[name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise self._fail(
                    name=name, what=f"exited with code {proc.returncode} during start-up"
                )
            try:
                request = urllib.request.Request(url, headers=headers or {})
                with urllib.request.urlopen(request, timeout=2, context=context) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
                pass
            time.sleep(0.2)
        raise self._fail(name=name, what=f"did not become healthy at {url} in time")

    def _start_etcd(self, *, deadline: float) -> str:
        client_port, peer_port = free_port(), free_port()
        client_url = f"http://127.0.0.1:{client_port}"
        self._spawn(
            name="etcd",
            argv=[
                str(self.binaries.etcd),
                "--data-dir",
                str(self.workdir / "etcd"),
                "--listen-client-urls",
                client_url,
                "--advertise-client-urls",
                client_url,
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
        )
        self._wait_http(name="etcd", url=f"{client_url}/health", deadline=deadline)
        return client_url

    def _start_apiserver(self, *, etcd_url: str, certs: Path, deadline: float) -> ClusterAccess:
        sa_key, sa_pub = certs / "sa.key", certs / "sa.pub"
        if not sa_key.exists():
            subprocess.run(
                ["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True
            )
            subprocess.run(
                ["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)],
                check=True,
                capture_output=True,
            )
        sa_key.chmod(0o600)
        token = secrets.token_hex(16)
        tokens = certs / "tokens.csv"
        write_private(tokens, f'{token},admin,admin,"system:masters"\n')
        port = free_port()
        self._spawn(
            name="kube-apiserver",
            argv=[
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                f"--cert-dir={certs}",
                f"--secure-port={port}",
                "--bind-address=127.0.0.1",
                # A loopback advertise address would make the `kubernetes` Endpoints invalid.
                "--advertise-address=10.0.0.1",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                "--service-cluster-ip-range=10.0.0.0/16",
                "--allow-privileged=true",
                # Logs and exec reach a real kubelet at its Node's InternalIP, not by a host name
                # that no DNS here resolves.
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                # A Service that a webhook names is reached at its endpoints' pod IPs: no
                # kube-proxy runs here to route its cluster IP.
                "--enable-aggregator-routing=true",
                "--v=1",
            ],
        )
        server = f"https://127.0.0.1:{port}"
        self._wait_http(
            name="kube-apiserver",
            url=f"{server}/readyz",
            deadline=deadline,
            headers={"Authorization": f"Bearer {token}"},
        )
        kubeconfig = self.workdir / "kubeconfig"
        write_private(
            kubeconfig,
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "tradefleet-local",
                            "cluster": {
                                "server": server,
                                # Self-signed by the apiserver for 127.0.0.1 (among others).
                                "certificate-authority": str(certs / "apiserver.crt"),
                            },
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": token}}],
                    "contexts": [
                        {
                            "name": "tradefleet-local",
                            "context": {
                                "cluster": "tradefleet-local",
                                "user": "admin",
                                "namespace": "default",
                            },
                        }
                    ],
                    "current-context": "tradefleet-local",
                }
            ),
        )
        return ClusterAccess(server=server, token=token, kubeconfig=kubeconfig)

    def _start_controllers(self, *, certs: Path, deadline: float) -> None:
        kubeconfig = str(self.access.kubeconfig)
        cm_port, sched_port = free_port(), free_port()
        self._spawn(
            name="kube-controller-manager",
            argv=[
                str(self.binaries.kube_controller_manager),
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                # Without the token controller, ReplicaSets fail with "No API token found".
                f"--service-account-private-key-file={certs / 'sa.key'}",
                f"--root-ca-file={certs / 'apiserver.crt'}",
                "--port=0",
                f"--secure-port={cm_port}",
                "--bind-address=127.0.0.1",
                f"--cert-dir={certs / 'controller-manager'}",
                # The default 20 requests/s per controller caps the deployment controller at
                # ~6 new Deployments/s; a fleet of bots applied at once would queue for minutes.
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--v=1",
            ],
        )
        self._spawn(
            name="kube-scheduler",
            argv=[
                str(self.binaries.kube_scheduler),
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--port=0",
                f"--secure-port={sched_port}",
                "--bind-address=127.0.0.1",
                f"--cert-dir={certs / 'scheduler'}",
                "--v=1",
            ],
        )
        self._wait_http(
            name="kube-controller-manager",
            url=f"https://127.0.0.1:{cm_port}/healthz",
            deadline=deadline,
        )
        self._wait_http(
            name="kube-scheduler", url=f"https://127.0.0.1:{sched_port}/healthz", deadline=deadline
        )

    def processes(self) -> dict[str, int]:
        """Name → PID of each running control-plane process."""
        return {name: proc.pid for name, proc in self._procs.items() if proc.poll() is None}
