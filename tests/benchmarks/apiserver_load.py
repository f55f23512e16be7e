"""What the local kube-apiserver spent and served, read by the operator-scale benchmark.

``bench_operator_scale.py`` (its only caller) reads a process's CPU seconds from /proc, the
apiserver's own counts from its /metrics (:func:`api_load`), and the apiserver's CPU per write of
a given kind (:func:`ms_per_write`), the idle CPU taken out.
"""

from __future__ import annotations

import os
import re
import ssl
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from tradefleet_devtools.controlplane import ClusterAccess

# How long the apiserver's idle CPU is measured before a timed series of writes.
IDLE_SAMPLE_S = 5.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ApiLoad(NamedTuple):
    """What the apiserver served: requests and the seconds spent on them by verb and resource,
    and the events its watches sent and their bytes by kind (each watcher counts: a change two
    clients watch is sent twice)."""

    requests: Counter[str]
    seconds: Counter[str]
    watch_events: Counter[str]
    watch_bytes: Counter[str]

    def __sub__(self, before: ApiLoad) -> ApiLoad:
        return ApiLoad(
            requests=self.requests - before.requests,
            seconds=self.seconds - before.seconds,
            watch_events=self.watch_events - before.watch_events,
            watch_bytes=self.watch_bytes - before.watch_bytes,
        )


def _labels(line: str) -> dict[str, str]:
    """The labels of one series line of a /metrics text."""
    return dict(re.findall(r'(\w+)="([^"]*)"', line.partition("}")[0]))


def api_load(access: ClusterAccess) -> ApiLoad:
    """The apiserver's own count of requests and of their handling time (its /metrics).

    The time tells which requests cost the apiserver most: a LIST of a thousand bots or a
    server-side apply costs many times a POST, so counts alone do not say where its CPU went.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(
        f"{access.server}/metrics", headers={"Authorization": f"Bearer {access.token}"}
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        text = answer.read().decode()
    load = ApiLoad(
        requests=Counter(), seconds=Counter(), watch_events=Counter(), watch_bytes=Counter()
    )
    for line in text.splitlines():
        if line.startswith(("apiserver_watch_events_total{", "apiserver_watch_events_sizes_sum{")):
            watched = load.watch_events if "_total{" in line else load.watch_bytes
            watched[_labels(line).get("kind", "")] += float(line.rsplit(" ", 1)[1])
            continue
        if line.startswith("apiserver_request_total{"):
            into: Counter[str] = load.requests
        elif line.startswith("apiserver_request_duration_seconds_sum{"):
            into = load.seconds
        else:
            continue
        labels = _labels(line)
        if into is load.seconds and labels.get("verb") in ("WATCH", "CONNECT"):
            continue  # how long a watch stayed open, not work
        resource = labels.get("resource", "") + (
            f"/{labels['subresource']}" if labels.get("subresource") else ""
        )
        into[f"{labels.get('verb')} {resource}"] += float(line.rsplit(" ", 1)[1])
    return load


def idle_cpu_per_s(pid: int) -> float:
    """The CPU seconds per second ``pid`` spends with nothing asked of it (for the apiserver:
    node heartbeats, leases, controllers' resyncs), over :data:`IDLE_SAMPLE_S`."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(IDLE_SAMPLE_S)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


def ms_per_write(
    *, pid: int, write: Callable[[int], Any], count: int, threads: int, idle_per_s: float
) -> float:
    """The apiserver's (``pid``) CPU milliseconds per call of ``write(0 .. count - 1)``, made
    from ``threads`` threads, its idle CPU over the same time taken out."""
    before, started = cpu_seconds(pid), time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, range(count)))
    busy = cpu_seconds(pid) - before - idle_per_s * (time.monotonic() - started)
    return 1000 * busy / count
