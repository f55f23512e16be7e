"""What only a real kubelet shows (issue 16): the bot in its image as a non-root user on a read-only
root, ``kubectl logs`` and ``exec``, liveness probes restarting a hung runtime, termination grace
and the operator's replacement never overlapping two live runtimes, bad images surfacing on the
TradingBot. Each test needs the ``real_node`` fixture and skips on the dev node agent; the
optimizer Job in its own image is checked by tests/e2e/optimizer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from kubernetes import client
from support.bots import condition_of, exchange_bot, get_bot, wait_for_phase
from support.k8s import wait_for
from tradefleet_devtools.realnode import RealNodeHandle
from tradefleet_devtools.stack import LocalStack, container_main_pid

pytestmark = pytest.mark.e2e

GROUP, VERSION = "tradefleet.io", "v1alpha1"


def _kubectl(
    stack: LocalStack, node: RealNodeHandle, *args: str
) -> subprocess.CompletedProcess[str]:
    """kubectl from the same build as the kubelet, against the stack's cluster."""
    assert stack.cluster is not None
    return subprocess.run(
        [str(node.artifacts.kubectl), f"--kubeconfig={stack.cluster.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _running_pod(api: client.ApiClient, namespace: str, bot: str) -> client.V1Pod:
    pods = (
        client.CoreV1Api(api)
        .list_namespaced_pod(namespace, label_selector=f"tradefleet.io/bot={bot}")
        .items
    )
    running = [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
    assert running, f"no running pod for {bot}"
    return running[0]


def _create(api: client.ApiClient, namespace: str, bot: dict[str, object]) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", bot
    )


def test_a_bot_runs_its_image_as_non_root_on_a_read_only_root_with_logs_and_exec(
    stack: LocalStack,
    real_node: RealNodeHandle,
    e2e_api: client.ApiClient,
    e2e_namespace: str,
    exchange_keys: str,
) -> None:
    _create(e2e_api, e2e_namespace, exchange_bot("contained"))
    wait_for_phase(e2e_api, e2e_namespace, "contained", "Running", timeout_s=180)
    pod = _running_pod(e2e_api, e2e_namespace, "contained")
    name = pod.metadata.name
    assert pod.spec.node_name == real_node.node.name
    assert pod.status.container_statuses[0].image == real_node.images.runtime.ref

    nodes = _kubectl(stack, real_node, "get", "nodes", "-o", "wide")
    (line,) = [row for row in nodes.stdout.splitlines() if row.startswith(real_node.node.name)]
    assert "containerd://" in line, nodes.stdout

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return _kubectl(
            stack, real_node, "exec", "-n", e2e_namespace, name, "-c", "runtime", "--", *command
        )

    ids = run("python", "-c", "import os, sys; print(os.getuid(), os.getgid(), sys.executable)")
    assert ids.returncode == 0, ids.stderr
    assert ids.stdout.split() == ["10001", "10001", "/opt/tradefleet/bin/python"]
    root = run("python", "-c", "open('/opt/tradefleet/written-at-run-time', 'w')")
    assert root.returncode != 0
    assert "Read-only file system" in root.stderr
    tmp = run("python", "-c", "open('/tmp/scratch', 'w').write('ok')")
    assert tmp.returncode == 0, tmp.stderr
    # No capability survives `drop: [ALL]` for the runtime's process.
    caps = run("python", "-c", "print(open('/proc/1/status').read())")
    effective = [row.split()[1] for row in caps.stdout.splitlines() if row.startswith("CapEff:")]
    assert effective == ["0000000000000000"], caps.stdout

    logs = _kubectl(stack, real_node, "logs", "-n", e2e_namespace, name, "-c", "runtime")
    assert logs.returncode == 0, logs.stderr
    assert "tradefleet_runtime" in logs.stdout


def test_the_liveness_probe_restarts_a_hung_runtime(
    stack: LocalStack,
    real_node: RealNodeHandle,
    e2e_api: client.ApiClient,
    e2e_namespace: str,
    exchange_keys: str,
) -> None:
    # The operator's own hang detection is pushed out, so what restarts it is the kubelet's probe.
    _create(
        e2e_api,
        e2e_namespace,
        exchange_bot(
            "frozen", symbol="ETH/USDT:USDT", selfHealing={"heartbeatTimeoutSeconds": 3600}
        ),
    )
    wait_for_phase(e2e_api, e2e_namespace, "frozen", "Running", timeout_s=180)
    pod = _running_pod(e2e_api, e2e_namespace, "frozen")
    pid = real_node.container_pid(
        namespace=e2e_namespace, pod=pod.metadata.name, container="runtime"
    )
    assert pid is not None
    # What the e2e suite uses on a cluster it does not run (kind): the same process, found by the
    # container's id in its cgroup rather than by asking containerd.
    container_id = real_node.client.container_id(
        namespace=e2e_namespace, pod=pod.metadata.name, container="runtime"
    )
    assert container_id is not None and container_main_pid(container_id) == pid
    os.kill(pid, signal.SIGSTOP)  # hung: alive, but it answers nothing
    stopped_at = time.monotonic()
    core = client.CoreV1Api(e2e_api)

    def restarted() -> bool:
        current = core.read_namespaced_pod(pod.metadata.name, e2e_namespace)
        statuses = current.status.container_statuses or []
        return bool(statuses) and statuses[0].restart_count >= 1

    wait_for(restarted, timeout_s=180, what="the kubelet to restart the hung container")
    print(f"hung -> restarted by the kubelet: {time.monotonic() - stopped_at:.1f}s")
    events = core.list_namespaced_event(
        e2e_namespace, field_selector=f"involvedObject.name={pod.metadata.name}"
    ).items
    assert any(e.reason == "Unhealthy" and "Liveness probe failed" in e.message for e in events)
    wait_for_phase(e2e_api, e2e_namespace, "frozen", "Running", timeout_s=180)


def test_a_replacement_never_runs_beside_the_runtime_it_replaces(
    stack: LocalStack,
    real_node: RealNodeHandle,
    e2e_api: client.ApiClient,
    e2e_namespace: str,
    exchange_keys: str,
) -> None:
    _create(e2e_api, e2e_namespace, exchange_bot("successor", symbol="SOL/USDT:USDT"))
    wait_for_phase(e2e_api, e2e_namespace, "successor", "Running", timeout_s=180)
    first = real_node.running_containers(namespace=e2e_namespace, container="runtime")
    assert len(first) == 1, first
    # A new revision: the old runtime gets SIGTERM and its grace; only then may the new one start.
    client.CustomObjectsApi(e2e_api).patch_namespaced_custom_object(
        GROUP, VERSION, e2e_namespace, "tradingbots", "successor",
        {"spec": {"symbol": "BTC/USDT:USDT"}},
    )  # fmt: skip
    seen: set[str] = set()
    most = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        live = real_node.running_containers(namespace=e2e_namespace, container="runtime")
        seen |= set(live)
        most = max(most, len(live))
        status = get_bot(e2e_api, e2e_namespace, "successor").get("status") or {}
        rolled = status.get("currentRevision") == 2 and status.get("phase") == "Running"
        if rolled and set(live) - set(first):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"revision 2 never ran; containers seen {seen}")
    assert most == 1, f"two runtimes of one bot were alive at once: {seen}"
    assert len(seen) >= 2


@pytest.mark.parametrize(
    ("bot", "image", "reasons"),
    [
        # Nothing listens on port 9 here: the pull fails at once and the kubelet backs off.
        ("unpullable", "127.0.0.1:9/tradefleet/missing:0", ("ImagePullBackOff", "ErrImagePull")),
        # Upper case is no valid repository name: the kubelet refuses before any pull.
        ("misnamed", "tradefleet/Bot-Runtime:0", ("InvalidImageName",)),
    ],
)
def test_a_bad_image_surfaces_on_the_trading_bot(
    stack: LocalStack,
    real_node: RealNodeHandle,
    e2e_api: client.ApiClient,
    e2e_namespace: str,
    exchange_keys: str,
    bot: str,
    image: str,
    reasons: tuple[str, ...],
) -> None:
    _create(e2e_api, e2e_namespace, exchange_bot(bot, image=image))

    def surfaced() -> dict[str, str] | None:
        ready = condition_of(e2e_api, e2e_namespace, bot, "Ready")
        return ready if ready and ready.get("reason") in reasons else None

    ready = wait_for(surfaced, timeout_s=120, what=f"Ready reason {'/'.join(reasons)} on {bot}")
    # The kubelet's own word, on the TradingBot: Ready=False with its reason, the image named.
    assert ready["status"] == "False", ready
    assert image in ready["message"], ready
    assert ready["reason"] in ready["message"], ready
    status = get_bot(e2e_api, e2e_namespace, bot)["status"]
    assert status.get("phase") != "Running", status
