"""Run the Tradefleet operator as a local subprocess against a cluster, as tests and the demo do.

Dev/test tooling. In a real cluster the Helm chart runs the operator as a Deployment; here it is a
process with a settings file, so tests can kill and restart it like a crashed pod.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tradefleet_devtools.controlplane import die_with_parent, free_port


class OperatorProcess:
    """One ``python -m tradefleet_operator`` process; its log goes to ``workdir/operator.log``."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        workdir: Path,
        region: str,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.region = region
        self.metrics_port = free_port()
        # Its admission webhook, reached by the apiserver at 127.0.0.1.
        self.webhook_port = free_port()
        self.settings = {
            "region": region,
            "metricsPort": self.metrics_port,
            "webhookPort": self.webhook_port,
            **(settings or {}),
        }
        self.log_path = workdir / "operator.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "operator.yaml"
        config.write_text(yaml.safe_dump(self.settings))
        port = free_port()
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tradefleet_operator",
                "--config",
                str(config),
                "--kubeconfig",
                str(self.kubeconfig),
                "--standalone",
                "--liveness",
                f"http://127.0.0.1:{port}/healthz",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"operator exited with {self._proc.returncode}:\n{self.log_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=1
                ) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"operator not healthy after {timeout_s}s:\n{self.log_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crashed or evicted operator pod."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=10)
        self._proc = None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._proc = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
