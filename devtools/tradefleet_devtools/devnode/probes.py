"""Container probes (liveness, readiness, startup) read from the pod spec and run once each.

Used by the pod worker (:mod:`tradefleet_devtools.devnode.pods`), which owns the probe loop
(initial delay, period, thresholds) and what a result does. The three actions behave as the
kubelet's: ``httpGet`` to the pod IP (status 200–399 is success, redirects followed, HTTPS not
verified), ``tcpSocket`` connect, ``exec`` in the container's mount namespace with its environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tradefleet_devtools.devnode.errors import PodConfigError
from tradefleet_devtools.devnode.podenv import CONFIG_ERROR, expand

JsonObject = dict[str, Any]

PROBE_KINDS = ("startup", "liveness", "readiness")
_OUTPUT_LIMIT = 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpGet:
    scheme: str
    host: str | None
    port: int
    path: str
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class TcpSocket:
    host: str | None
    port: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Exec:
    command: tuple[str, ...]


ProbeAction = HttpGet | TcpSocket | Exec


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeSpec:
    kind: str
    action: ProbeAction
    initial_delay_s: float
    period_s: float
    timeout_s: float
    success_threshold: int
    failure_threshold: int

    @property
    def title(self) -> str:
        """``Liveness`` etc., as in the kubelet's event messages."""
        return self.kind.capitalize()


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeOutcome:
    success: bool
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecContext:
    """Where an exec probe runs: the container's environment and mount namespace."""

    env: Mapping[str, str]
    working_dir: Path
    namespace_pid: int | None
    nsenter: str


def _port(*, value: object, container: JsonObject) -> int:
    if isinstance(value, int):
        return value
    for port in container.get("ports") or []:
        if port.get("name") == value:
            return int(port["containerPort"])
    raise PodConfigError(
        reason=CONFIG_ERROR,
        message=f"probe port {value!r} is neither a number nor a named port of container"
        f" {container.get('name')}",
    )


def probe_spec(*, kind: str, probe: JsonObject, container: JsonObject) -> ProbeSpec:
    """Read one ``livenessProbe`` / ``readinessProbe`` / ``startupProbe`` with defaults."""
    action: ProbeAction
    if "httpGet" in probe:
        http = probe["httpGet"]
        action = HttpGet(
            scheme=str(http.get("scheme") or "HTTP").lower(),
            host=http.get("host") or None,
            port=_port(value=http.get("port"), container=container),
            path=str(http.get("path") or "/"),
            headers=tuple((str(h["name"]), str(h["value"])) for h in http.get("httpHeaders") or []),
        )
    elif "tcpSocket" in probe:
        tcp = probe["tcpSocket"]
        action = TcpSocket(
            host=tcp.get("host") or None, port=_port(value=tcp.get("port"), container=container)
        )
    elif "exec" in probe:
        action = Exec(command=tuple(str(a) for a in probe["exec"].get("command") or []))
    else:
        raise PodConfigError(
            reason=CONFIG_ERROR,
            message=f"{kind} probe of container {container.get('name')} has no httpGet, tcpSocket"
            " or exec action the dev node agent supports",
        )
    return ProbeSpec(
        kind=kind,
        action=action,
        initial_delay_s=float(probe.get("initialDelaySeconds") or 0),
        period_s=float(probe.get("periodSeconds") or 10),
        timeout_s=float(probe.get("timeoutSeconds") or 1),
        success_threshold=int(probe.get("successThreshold") or 1),
        failure_threshold=int(probe.get("failureThreshold") or 3),
    )


def container_probes(container: JsonObject) -> dict[str, ProbeSpec]:
    """The container's probes by kind (``startup``, ``liveness``, ``readiness``)."""
    found: dict[str, ProbeSpec] = {}
    for kind in PROBE_KINDS:
        probe = container.get(f"{kind}Probe")
        if probe:
            found[kind] = probe_spec(kind=kind, probe=probe, container=container)
    return found


async def _http_get(*, action: HttpGet, pod_ip: str, timeout_s: float) -> ProbeOutcome:
    url = f"{action.scheme}://{action.host or pod_ip}:{action.port}{action.path}"
    headers = {"User-Agent": "kube-probe/dev-node-agent", **dict(action.headers)}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
            session.get(url, headers=headers, ssl=False) as response,
        ):
            if 200 <= response.status < 400:
                return ProbeOutcome(success=True, message="")
            return ProbeOutcome(
                success=False, message=f"HTTP probe failed with statuscode: {response.status}"
            )
    except TimeoutError:
        return ProbeOutcome(
            success=False,
            message=f'Get "{url}": context deadline exceeded'
            " (Client.Timeout exceeded while awaiting headers)",
        )
    except (aiohttp.ClientError, OSError) as exc:
        return ProbeOutcome(success=False, message=f'Get "{url}": {exc}')


async def _tcp_socket(*, action: TcpSocket, pod_ip: str, timeout_s: float) -> ProbeOutcome:
    host = action.host or pod_ip
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, action.port), timeout=timeout_s
        )
    except TimeoutError:
        return ProbeOutcome(success=False, message=f"dial tcp {host}:{action.port}: i/o timeout")
    except OSError as exc:
        return ProbeOutcome(
            success=False, message=f"dial tcp {host}:{action.port}: connect: {exc.strerror or exc}"
        )
    writer.close()
    return ProbeOutcome(success=True, message="")


async def _exec(*, action: Exec, context: ExecContext, timeout_s: float) -> ProbeOutcome:
    argv = [expand(part, env=context.env) for part in action.command]
    if not argv:
        return ProbeOutcome(success=False, message="exec probe has an empty command")
    cwd: Path | None = context.working_dir
    if context.namespace_pid is not None:
        argv = [
            context.nsenter,
            "-t",
            str(context.namespace_pid),
            "-m",
            f"--wd={context.working_dir}",
            "--",
            *argv,
        ]
        cwd = None
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(context.env),
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return ProbeOutcome(success=False, message=f"exec {argv[0]}: {exc}")
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        return ProbeOutcome(success=False, message=f"command {action.command!r} timed out")
    if process.returncode == 0:
        return ProbeOutcome(success=True, message="")
    text = output[:_OUTPUT_LIMIT].decode(errors="replace").strip()
    return ProbeOutcome(
        success=False, message=text or f"command exited with code {process.returncode}"
    )


async def run_probe(*, spec: ProbeSpec, pod_ip: str, exec_context: ExecContext) -> ProbeOutcome:
    """Run the probe's action once, within its timeout."""
    action = spec.action
    if isinstance(action, HttpGet):
        return await _http_get(action=action, pod_ip=pod_ip, timeout_s=spec.timeout_s)
    if isinstance(action, TcpSocket):
        return await _tcp_socket(action=action, pod_ip=pod_ip, timeout_s=spec.timeout_s)
    return await _exec(action=action, context=exec_context, timeout_s=spec.timeout_s)
