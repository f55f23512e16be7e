"""The dev node agent runs scheduled pods as local processes the way a kubelet would run containers.

Against the real local control plane (scheduler and controllers included) with the agent as a
subprocess serving two regions, Tokyo and Singapore.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import signal
from pathlib import Path

import pytest
from devnode_support import (
    HTTP_SERVER,
    SINGAPORE,
    TOKYO,
    condition,
    create_pod,
    events_for,
    http_server_pod,
    http_status,
    main_status,
    pod_manifest,
    process_alive,
    read_pod,
    running_and_ready,
    wait_for,
    wait_for_pod,
)
from kubernetes import client
from tradefleet_devtools.devnode import DevNodeAgentHandle

pytestmark = pytest.mark.integration


def _pid(agent: DevNodeAgentHandle, *, namespace: str, pod: str) -> int:
    return wait_for(
        lambda: agent.container_pid(namespace=namespace, pod=pod, container="main"),
        timeout_s=10,
        what=f"the pid of {pod}'s container",
    )


def test_nodes_are_registered_ready_in_their_regions(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, api_client: client.ApiClient
) -> None:
    for spec in (TOKYO, SINGAPORE):
        node = core_v1.read_node(spec.name)
        labels = node.metadata.labels
        assert labels["topology.kubernetes.io/region"] == spec.region
        assert labels["kubernetes.io/hostname"] == spec.name
        assert labels["kubernetes.io/os"] == "linux"
        assert labels["tradefleet.io/dev-node-agent"] == "true"
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert ready.status == "True"
        assert "not a kubelet" in ready.message
        address = next(a.address for a in node.status.addresses if a.type == "InternalIP")
        assert ipaddress.ip_address(address).is_loopback
        assert node.status.allocatable["pods"] == "110"
        lease = client.CoordinationV1Api(api_client).read_namespaced_lease(
            spec.name, "kube-node-lease"
        )
        assert lease.spec.holder_identity == spec.name


def test_deployment_pinned_to_tokyo_runs_and_serves_on_its_pod_ip(
    dev_node_agent: DevNodeAgentHandle,
    apps_v1: client.AppsV1Api,
    core_v1: client.CoreV1Api,
    namespace: str,
) -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "topology.kubernetes.io/region",
                                "operator": "In",
                                "values": ["ap-northeast-1"],
                            }
                        ]
                    }
                ]
            }
        }
    }
    template = http_server_pod(name="web", pod_spec={"affinity": affinity})
    apps_v1.create_namespaced_deployment(
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": template["metadata"], "spec": template["spec"]},
            },
        },
    )

    def running_pod() -> client.V1Pod | None:
        pods = core_v1.list_namespaced_pod(namespace, label_selector="app=web").items
        return next(
            (p for p in pods if p.status.phase == "Running" and condition(p, "Ready") == "True"),
            None,
        )

    pod = wait_for(running_pod, timeout_s=60, what="the deployment's pod to run on a dev node")
    assert pod.spec.node_name == TOKYO.name
    host_ip, pod_ip = pod.status.host_ip, pod.status.pod_ip
    assert pod_ip != host_ip
    assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network(f"{host_ip}/24", strict=False)
    assert [ip.ip for ip in pod.status.pod_ips] == [pod_ip]
    assert wait_for(
        lambda: http_status(f"http://{pod_ip}:8080/") == 200, timeout_s=10, what="HTTP 200"
    )
    status = main_status(pod)
    assert status.ready and status.started and status.restart_count == 0
    assert status.state.running.started_at is not None
    assert {c.type for c in pod.status.conditions} >= {
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "Ready",
    }
    reasons = {
        reason for reason, _ in events_for(core_v1, namespace=namespace, pod=pod.metadata.name)
    }
    assert {"Scheduled", "Created", "Started"} <= reasons
    deployment = wait_for(
        lambda: (
            (d := apps_v1.read_namespaced_deployment("web", namespace)).status.available_replicas
            == 1
            and d
        ),
        timeout_s=30,
        what="the deployment to count its pod available",
    )
    assert deployment.status.ready_replicas == 1


def test_a_killed_process_is_restarted_and_the_restart_counted(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str
) -> None:
    create_pod(
        core_v1, namespace=namespace, manifest=http_server_pod(name="victim", region=TOKYO.region)
    )
    pod = wait_for_pod(
        core_v1, namespace=namespace, name="victim", what="Running", check=running_and_ready
    )
    first_pid = _pid(dev_node_agent, namespace=namespace, pod="victim")

    os.kill(first_pid, signal.SIGKILL)

    pod = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="victim",
        what="restarted once and Running",
        check=lambda p: main_status(p).restart_count == 1 and running_and_ready(p),
    )
    terminated = main_status(pod).last_state.terminated
    assert (terminated.exit_code, terminated.reason, terminated.signal) == (137, "Error", 9)
    second_pid = _pid(dev_node_agent, namespace=namespace, pod="victim")
    assert second_pid != first_pid and process_alive(second_pid)
    assert wait_for(
        lambda: http_status(f"http://{pod.status.pod_ip}:8080/") == 200,
        timeout_s=10,
        what="HTTP 200",
    )
    restarted_log = dev_node_agent.container_log(
        namespace=namespace, pod="victim", container="main", restart_count=1
    )
    assert restarted_log is not None and restarted_log.exists()


def test_a_crashing_container_backs_off_with_growing_gaps(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str
) -> None:
    crash = ["python", "-c", "import time; print(time.time(), flush=True); raise SystemExit(3)"]
    create_pod(
        core_v1,
        namespace=namespace,
        manifest=pod_manifest(name="crasher", command=crash, region=TOKYO.region),
    )
    seen_backoff: list[str] = []

    def restarted_four_times() -> bool:
        status = main_status(read_pod(core_v1, namespace=namespace, name="crasher"))
        if status is None:
            return False
        if status.state.waiting is not None and status.state.waiting.reason == "CrashLoopBackOff":
            seen_backoff.append(status.state.waiting.message)
        # The state after the fourth restart is not asserted: a container that crashes at once
        # may be running for less than one status write.
        return status.restart_count >= 4

    wait_for(restarted_four_times, timeout_s=60, what="four restarts")
    starts = []
    for restart in range(5):
        log = dev_node_agent.container_log(
            namespace=namespace, pod="crasher", container="main", restart_count=restart
        )
        assert log is not None
        printed = wait_for(
            lambda log=log: log.read_text().split(), timeout_s=10, what=f"output in {log}"
        )
        starts.append(float(printed[0]))
    # Each gap is the backoff (0, 1, 2, 4 s) plus the short run before the crash.
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert gaps == sorted(gaps), f"restart gaps should grow: {gaps}"
    assert seen_backoff and "restarting failed container=main" in seen_backoff[0]
    pod = read_pod(core_v1, namespace=namespace, name="crasher")
    assert pod.status.phase == "Running"
    assert main_status(pod).last_state.terminated.exit_code == 3
    assert ("BackOff", "Back-off restarting failed container") in events_for(
        core_v1, namespace=namespace, pod="crasher"
    )


def test_a_failing_liveness_probe_restarts_the_container(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str
) -> None:
    container = {
        "ports": [{"name": "http", "containerPort": 8080}],
        # http.server answers 404 for /healthz: the probe fails from the start.
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "initialDelaySeconds": 1,
            "periodSeconds": 1,
            "failureThreshold": 2,
        },
    }
    create_pod(
        core_v1,
        namespace=namespace,
        manifest=pod_manifest(
            name="unhealthy", command=HTTP_SERVER, region=TOKYO.region, container=container
        ),
    )

    pod = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="unhealthy",
        what="restarted by its liveness probe",
        check=lambda p: (s := main_status(p)) is not None and s.restart_count >= 1,
        timeout_s=40,
    )
    terminated = main_status(pod).last_state.terminated
    assert terminated.reason == "Error"
    assert terminated.exit_code == 128 + signal.SIGTERM  # http.server dies of the SIGTERM
    events = events_for(core_v1, namespace=namespace, pod="unhealthy")
    assert ("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404") in events
    assert ("Killing", "Container main failed liveness probe, will be restarted") in events


def test_readiness_from_an_exec_probe_drives_the_ready_condition(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str, mount_root: Path
) -> None:
    work = f"{mount_root}/work"
    container = {
        "volumeMounts": [{"name": "work", "mountPath": work}],
        # Runs inside the container's mount namespace: only there is the emptyDir at `work`.
        "readinessProbe": {
            "exec": {"command": ["test", "-f", f"{work}/ready"]},
            "periodSeconds": 1,
        },
    }
    command = ["sh", "-c", f"sleep 3; touch {work}/ready; exec sleep 600"]
    create_pod(
        core_v1,
        namespace=namespace,
        manifest=pod_manifest(
            name="warming",
            command=command,
            region=TOKYO.region,
            container=container,
            pod_spec={"volumes": [{"name": "work", "emptyDir": {}}]},
        ),
    )

    warming = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="warming",
        what="Running",
        check=lambda p: p.status.phase == "Running",
    )
    assert condition(warming, "Ready") == "False"
    assert not main_status(warming).ready
    ready = wait_for_pod(
        core_v1, namespace=namespace, name="warming", what="Ready", check=running_and_ready
    )
    assert main_status(ready).ready and main_status(ready).restart_count == 0
    assert not Path(work, "ready").exists(), "the host sees the empty mount point, not the emptyDir"


def test_deleting_a_pod_stops_its_process_then_removes_the_pod(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str
) -> None:
    stubborn = ["sh", "-c", "trap '' TERM; while :; do sleep 0.2; done"]
    create_pod(
        core_v1, namespace=namespace, manifest=http_server_pod(name="polite", region=TOKYO.region)
    )
    create_pod(
        core_v1,
        namespace=namespace,
        manifest=pod_manifest(
            name="stubborn",
            command=stubborn,
            region=TOKYO.region,
            pod_spec={"terminationGracePeriodSeconds": 2},
        ),
    )
    pids = {}
    for name in ("polite", "stubborn"):
        wait_for_pod(
            core_v1, namespace=namespace, name=name, what="Running", check=running_and_ready
        )
        pids[name] = _pid(dev_node_agent, namespace=namespace, pod=name)

    for name in pids:
        core_v1.delete_namespaced_pod(name, namespace)

    for name, pid in pids.items():
        wait_for(
            lambda name=name: read_pod(core_v1, namespace=namespace, name=name) is None,
            timeout_s=30,
            what=f"pod {name} to be removed",
        )
        assert not process_alive(pid), f"{name}'s process survived its pod"
        assert ("Killing", "Stopping container main") in events_for(
            core_v1, namespace=namespace, pod=name
        )


def test_configmap_secret_and_env_reach_the_process(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str, mount_root: Path
) -> None:
    core_v1.create_namespaced_config_map(
        namespace,
        {
            "metadata": {"name": "bot-config"},
            "data": {"settings.yaml": "mode: paper\n", "unused": "x"},
        },
    )
    core_v1.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "exchange-keys"},
            "stringData": {"apiKey": "k-123", "apiSecret": "s-456"},
        },
    )
    root = str(mount_root)
    script = (
        "import json, os, stat\n"
        f"root = {root!r}\n"
        "def read(p):\n"
        "    return {'text': open(p).read(), 'mode': oct(stat.S_IMODE(os.stat(p).st_mode))}\n"
        "print(json.dumps({\n"
        "    'settings': read(root + '/config/conf/settings.yaml'),\n"
        "    'config_files': sorted(\n"
        "        f for f in os.listdir(root + '/config') if not f.startswith('..')),\n"
        "    'api_key': read(root + '/keys/apiKey'),\n"
        "    'env': {k: v for k, v in os.environ.items() if k in (\n"
        "        'MODE', 'API_SECRET', 'POD_NAME', 'APP', 'GREETING', 'CRED_apiKey', 'POD_IP',\n"
        "        'HOSTNAME', 'MISSING')},\n"
        "}))\n"
    )
    container = {
        "volumeMounts": [
            {"name": "config", "mountPath": f"{root}/config"},
            {"name": "keys", "mountPath": f"{root}/keys"},
        ],
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {
                "name": "MODE",
                "valueFrom": {"configMapKeyRef": {"name": "bot-config", "key": "settings.yaml"}},
            },
            {
                "name": "API_SECRET",
                "valueFrom": {"secretKeyRef": {"name": "exchange-keys", "key": "apiSecret"}},
            },
            {
                "name": "MISSING",
                "valueFrom": {"secretKeyRef": {"name": "nope", "key": "x", "optional": True}},
            },
            {"name": "GREETING", "value": "hello $(POD_NAME) $$(POD_NAME)"},
        ],
        "envFrom": [{"secretRef": {"name": "exchange-keys"}, "prefix": "CRED_"}],
    }
    volumes = [
        {
            "name": "config",
            "configMap": {
                "name": "bot-config",
                "items": [{"key": "settings.yaml", "path": "conf/settings.yaml"}],
                "defaultMode": 0o640,
            },
        },
        {"name": "keys", "secret": {"secretName": "exchange-keys", "defaultMode": 0o400}},
    ]
    create_pod(
        core_v1,
        namespace=namespace,
        manifest=pod_manifest(
            name="reader",
            command=["python", "-c", script],
            region=SINGAPORE.region,
            restart_policy="Never",
            container=container,
            pod_spec={"volumes": volumes},
        ),
    )

    pod = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="reader",
        what="Succeeded",
        check=lambda p: p.status.phase == "Succeeded",
    )
    assert pod.spec.node_name == SINGAPORE.name
    log = dev_node_agent.container_log(namespace=namespace, pod="reader", container="main")
    assert log is not None
    seen = json.loads(log.read_text())
    assert seen["settings"] == {"text": "mode: paper\n", "mode": "0o640"}
    assert seen["config_files"] == ["conf"], "only the listed item is projected"
    assert seen["api_key"] == {"text": "k-123", "mode": "0o400"}
    assert seen["env"] == {
        "POD_IP": pod.status.pod_ip,
        "POD_NAME": "reader",
        "APP": "reader",
        "MODE": "mode: paper\n",
        "API_SECRET": "s-456",
        "CRED_apiKey": "k-123",
        "GREETING": "hello reader $(POD_NAME)",
        "HOSTNAME": "reader",
    }
    assert not Path(root, "keys", "apiKey").exists(), "the secret is visible only inside the pod"
    terminated = main_status(pod).state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")


def test_two_pods_on_one_node_listen_on_the_same_port(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str
) -> None:
    for name in ("left", "right"):
        create_pod(
            core_v1, namespace=namespace, manifest=http_server_pod(name=name, region=TOKYO.region)
        )
    pods = [
        wait_for_pod(
            core_v1, namespace=namespace, name=name, what="Running", check=running_and_ready
        )
        for name in ("left", "right")
    ]
    assert {p.spec.node_name for p in pods} == {TOKYO.name}
    ips = [p.status.pod_ip for p in pods]
    assert len(set(ips)) == 2
    for ip in ips:
        assert wait_for(
            lambda ip=ip: http_status(f"http://{ip}:8080/") == 200,
            timeout_s=10,
            what=f"HTTP on {ip}",
        )


def test_a_container_without_command_waits_with_a_clear_reason(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str
) -> None:
    manifest = pod_manifest(name="imageonly", command=[], region=TOKYO.region)
    del manifest["spec"]["containers"][0]["command"]
    create_pod(core_v1, namespace=namespace, manifest=manifest)

    pod = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="imageonly",
        what="waiting with a reason",
        check=lambda p: (
            (s := main_status(p)) is not None
            and s.state.waiting is not None
            and s.state.waiting.reason == "NoCommand"
        ),
    )
    assert "needs an explicit command" in main_status(pod).state.waiting.message
    assert pod.status.phase == "Pending"
    assert any(
        reason == "Failed"
        for reason, _ in events_for(core_v1, namespace=namespace, pod="imageonly")
    )


def test_restart_policies_end_pods_as_succeeded_or_failed(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str
) -> None:
    create_pod(
        core_v1,
        namespace=namespace,
        manifest=pod_manifest(
            name="fails",
            command=["sh", "-c", "exit 1"],
            region=TOKYO.region,
            restart_policy="Never",
        ),
    )
    create_pod(
        core_v1,
        namespace=namespace,
        manifest=pod_manifest(
            name="flaky",
            # Fails on the first run, succeeds on the second: OnFailure restarts it once.
            command=[
                "sh",
                "-c",
                f"test -f /tmp/{namespace}-flaky && exit 0; touch /tmp/{namespace}-flaky; exit 2",
            ],
            region=TOKYO.region,
            restart_policy="OnFailure",
        ),
    )

    failed = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="fails",
        what="Failed",
        check=lambda p: p.status.phase == "Failed",
    )
    assert main_status(failed).restart_count == 0
    assert main_status(failed).state.terminated.exit_code == 1
    succeeded = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="flaky",
        what="Succeeded",
        check=lambda p: p.status.phase == "Succeeded",
    )
    status = main_status(succeeded)
    assert status.restart_count == 1
    assert status.last_state.terminated.exit_code == 2
    assert status.state.terminated.reason == "Completed"
    os.unlink(f"/tmp/{namespace}-flaky")


def test_init_containers_run_first_and_share_an_empty_dir(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str, mount_root: Path
) -> None:
    shared = f"{mount_root}/shared"
    mount = [{"name": "shared", "mountPath": shared}]
    manifest = pod_manifest(
        name="staged",
        command=["cat", f"{shared}/greeting"],
        region=TOKYO.region,
        restart_policy="Never",
        container={"volumeMounts": mount},
        pod_spec={
            "volumes": [{"name": "shared", "emptyDir": {}}],
            "initContainers": [
                {
                    "name": "prepare",
                    "image": "tradefleet/not-pulled:dev",
                    "command": ["sh", "-c", f"echo prepared > {shared}/greeting"],
                    "volumeMounts": mount,
                }
            ],
        },
    )
    create_pod(core_v1, namespace=namespace, manifest=manifest)

    pod = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="staged",
        what="Succeeded",
        check=lambda p: p.status.phase == "Succeeded",
    )
    init = pod.status.init_container_statuses[0]
    assert (init.name, init.state.terminated.reason) == ("prepare", "Completed")
    assert condition(pod, "Initialized") == "True"
    log = dev_node_agent.container_log(namespace=namespace, pod="staged", container="main")
    assert log is not None and log.read_text() == "prepared\n"
