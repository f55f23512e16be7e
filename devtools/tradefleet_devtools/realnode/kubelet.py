"""The kubelet of the real node: its configuration file, flags and process.

Used by the launcher (:mod:`.launcher`). The kubelet is built from the same Debian kubernetes
source as the control plane (v1.20, ``--container-runtime=remote`` on containerd's CRI socket). It
serves its API (logs, exec, port-forward for ``kubectl``) on the pod network's gateway address,
with anonymous access allowed: the only client is the local kube-apiserver, and nothing outside
this machine reaches that address. Pods get an empty resolv.conf: no DNS leaves the machine.
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tradefleet_devtools.realnode.errors import RealNodeError

KUBELET_PORT = 10250
HEALTHZ_PORT = 10248


@dataclass(frozen=True, kw_only=True, slots=True)
class KubeletSpec:
    """What one kubelet is: its Node name and labels, where it serves, where it keeps things."""

    node_name: str
    labels: dict[str, str]
    node_ip: str
    kubeconfig: Path
    containerd_socket: Path
    root_dir: Path
    workdir: Path
    cgroup_root: str
    max_pods: int = 60


def render_config(spec: KubeletSpec) -> dict[str, object]:
    """The KubeletConfiguration (kubelet.config.k8s.io/v1beta1)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": spec.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": HEALTHZ_PORT,
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{spec.cgroup_root}",
        "failSwapOn": False,
        "resolvConf": str(spec.workdir / "resolv.conf"),
        # Small test machines: evict only when really short, never garbage-collect the images
        # that were imported (they cannot be pulled again).
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "syncFrequency": "10s",
        "nodeStatusUpdateFrequency": "10s",
        "maxPods": spec.max_pods,
    }


def argv(*, kubelet: Path, spec: KubeletSpec, config: Path) -> list[str]:
    labels = ",".join(f"{k}={v}" for k, v in sorted(spec.labels.items()))
    return [
        str(kubelet),
        f"--config={config}",
        f"--kubeconfig={spec.kubeconfig}",
        "--container-runtime=remote",
        f"--container-runtime-endpoint=unix://{spec.containerd_socket}",
        f"--hostname-override={spec.node_name}",
        f"--node-ip={spec.node_ip}",
        f"--node-labels={labels}",
        f"--root-dir={spec.root_dir}",
        f"--cert-dir={spec.workdir / 'pki'}",
        "--v=1",
    ]


class Kubelet:
    """One kubelet process; its log is ``workdir/kubelet.log``."""

    def __init__(self, *, binary: Path, spec: KubeletSpec) -> None:
        self.binary = binary
        self.spec = spec
        self.log_path = spec.workdir / "kubelet.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.spec.workdir.mkdir(parents=True, exist_ok=True)
        self.spec.root_dir.mkdir(parents=True, exist_ok=True)
        (self.spec.workdir / "resolv.conf").write_text("")
        config = self.spec.workdir / "kubelet-config.yaml"
        config.write_text(yaml.safe_dump(render_config(self.spec)))
        logfile = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            argv(kubelet=self.binary, spec=self.spec, config=config),
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        logfile.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise RealNodeError(
                f"the kubelet exited with {self._proc.returncode}: {self.log_tail()}"
            )

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        fatal = [line for line in text if line.startswith("F")]
        return "\n".join(fatal[-3:] or text[-lines:])

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def stop(self, *, timeout_s: float = 20.0) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None
