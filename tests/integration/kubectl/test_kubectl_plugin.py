"""`kubectl tradefleet` against the real apiserver: bots put into states the way the operator
writes them (status subresource, annotations, events, ControllerRevisions), then every command
run as a user would, and what the user sees asserted."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from support.fake_kubelet import FakeKubelet
from support.k8s import kubectl
from support.plugin_bots import (
    Plugin,
    bot_event,
    cond,
    controller_revision,
    create_bot,
    get_bot,
    moment,
    runtime_pod,
    set_status,
)
from tradefleet_devtools.controlplane import ClusterAccess

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
HEALTHY = [
    cond("Ready", "True", "RuntimeAvailable"),
    cond("Trading", "True", "Trading"),
    cond("CircuitBreakerOpen", "False", "Closed"),
]


@pytest.fixture
def other_namespace(core_v1: client.CoreV1Api) -> Iterator[str]:
    name = f"kubectl-other-{uuid.uuid4().hex[:6]}"
    core_v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core_v1.delete_namespace(name, propagation_policy="Background")


def _breaker_status(*, pnl: float = -420.5) -> dict[str, object]:
    return {
        "phase": "Halted",
        "region": "ap-southeast-1",
        "pnl": pnl,
        "pnlPct": -4.2,
        "drawdownPct": 12.5,
        "currentRevision": 2,
        "lastGoodRevision": 2,
        "circuitBreaker": {
            "state": "Open",
            "reason": "Drawdown",
            "message": "drawdown 12.5% reached maxDrawdownPct 10%",
            "since": moment(ago_s=600),
        },
        "conditions": [
            cond("Ready", "True", "RuntimeAvailable"),
            cond("Trading", "False", "CircuitBreakerOpen", "a circuit breaker is open"),
            cond(
                "CircuitBreakerOpen",
                "True",
                "Drawdown",
                "drawdown 12.5% reached maxDrawdownPct 10%",
                ago_s=600,
            ),
        ],
    }


def test_status_shows_the_fleet_across_namespaces_and_one_bot_in_detail(
    plugin: Plugin,
    namespace: str,
    other_namespace: str,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
    apps_v1: client.AppsV1Api,
) -> None:
    create_bot(
        custom,
        namespace,
        "btc-tokyo",
        status={
            "phase": "Running",
            "region": "ap-northeast-1",
            "pnl": 125.25,
            "pnlPct": 1.25,
            "drawdownPct": 0.5,
            "currentRevision": 3,
            "lastGoodRevision": 3,
            "circuitBreaker": {"state": "Closed"},
            "conditions": HEALTHY,
        },
    )
    halted = create_bot(
        custom, other_namespace, "eth-singapore", exchange="okx", status=_breaker_status()
    )
    controller_revision(
        apps_v1, bot=halted, number=2, config_hash="b" * 64, spec={"exchange": "okx"}
    )
    bot_event(core_v1, bot=halted, reason="RevisionCreated", message="revision 2 created")

    fleet = plugin("status", "-A")
    assert fleet.code == 0
    rows = {line.split()[2]: line for line in fleet.out.splitlines()[1:]}
    assert rows["btc-tokyo"].split()[:4] == ["ap-northeast-1", namespace, "btc-tokyo", "Running"]
    assert "125.25 (1.25%)" in rows["btc-tokyo"]
    assert rows["btc-tokyo"].rstrip().endswith("-")  # no condition means trouble
    singapore = rows["eth-singapore"]
    assert singapore.split()[:4] == ["ap-southeast-1", other_namespace, "eth-singapore", "Halted"]
    assert "12.50%" in singapore and "Open:Drawdown" in singapore
    assert "Trading=CircuitBreakerOpen, CircuitBreakerOpen=Drawdown" in singapore
    # Sorted by region: Tokyo's row comes first.
    assert fleet.out.index("btc-tokyo") < fleet.out.index("eth-singapore")

    one_namespace = plugin("status", "-n", namespace)
    assert "btc-tokyo" in one_namespace.out and "eth-singapore" not in one_namespace.out

    detail = plugin("status", "eth-singapore", "-n", other_namespace)
    assert detail.code == 0
    assert f"TradingBot {other_namespace}/eth-singapore" in detail.out
    assert "Phase:        Halted" in detail.out
    assert "!CircuitBreakerOpen" in detail.out  # marked as trouble
    assert "drawdown 12.5% reached maxDrawdownPct 10%" in detail.out
    assert "RevisionCreated" in detail.out and "revision 2 created" in detail.out
    assert "Revisions: current 2, last good 2" in detail.out

    missing = plugin("status", "nope", "-n", namespace)
    assert missing.code == 1


def test_pause_resume_kill_unkill_and_reset_breaker_are_idempotent(
    plugin: Plugin, namespace: str, custom: client.CustomObjectsApi, cluster: ClusterAccess
) -> None:
    create_bot(custom, namespace, "steer", status=_breaker_status())

    for _ in range(2):
        assert plugin("pause", "steer", "-n", namespace).code == 0
        assert get_bot(custom, namespace, "steer")["spec"]["paused"] is True
    assert "already paused" in plugin("pause", "steer", "-n", namespace).out
    for _ in range(2):
        assert plugin("resume", "steer", "-n", namespace).code == 0
        assert get_bot(custom, namespace, "steer")["spec"]["paused"] is False

    for _ in range(2):
        assert plugin("kill", "steer", "-n", namespace).code == 0
        annotations = get_bot(custom, namespace, "steer")["metadata"]["annotations"]
        assert annotations["tradefleet.io/kill-switch"] == "true"
    for _ in range(2):
        assert plugin("unkill", "steer", "-n", namespace).code == 0
        annotations = get_bot(custom, namespace, "steer")["metadata"].get("annotations") or {}
        assert "tradefleet.io/kill-switch" not in annotations

    # Each reset is a new value of the annotation the operator acts on once per value; the
    # second one succeeds where `kubectl annotate` without --overwrite fails.
    first = plugin("reset-breaker", "steer", "-n", namespace)
    assert first.code == 0 and "open Drawdown breaker" in first.out
    value_1 = get_bot(custom, namespace, "steer")["metadata"]["annotations"][
        "tradefleet.io/reset-circuit-breaker"
    ]
    refused = kubectl(
        "annotate",
        "-n",
        namespace,
        "tb",
        "steer",
        "tradefleet.io/reset-circuit-breaker=again",
        kubeconfig=cluster.kubeconfig,
        check=False,
    )
    assert refused.returncode != 0  # the old README command, run a second time
    time.sleep(1.1)
    assert plugin("reset-breaker", "steer", "-n", namespace).code == 0
    value_2 = get_bot(custom, namespace, "steer")["metadata"]["annotations"][
        "tradefleet.io/reset-circuit-breaker"
    ]
    assert value_2 > value_1


def test_ask_why_halted_by_the_kill_switch_and_by_the_breaker(
    plugin: Plugin, namespace: str, custom: client.CustomObjectsApi
) -> None:
    create_bot(
        custom,
        namespace,
        "killed",
        annotations={"tradefleet.io/kill-switch": "true"},
        status={
            "phase": "Halted",
            "runtime": {"userHalted": True, "halted": True, "haltReason": "kill switch"},
            "control": {
                "killSwitchApplied": True,
                "killSwitch": {
                    "state": "Halted",
                    "since": moment(ago_s=60),
                    "message": "halted; positions flattened",
                },
            },
            "conditions": [
                cond("Ready", "True", "RuntimeAvailable"),
                cond("Trading", "False", "KillSwitch", "halted by the kill switch"),
            ],
        },
    )
    create_bot(custom, namespace, "tripped", status=_breaker_status())

    killed = plugin("ask", "killed", "why is it halted?", "-n", namespace)
    assert killed.code == 0
    assert "The kill switch is set" in killed.out
    assert "Kill switch state Halted" in killed.out and "positions flattened" in killed.out
    assert "kubectl tradefleet unkill killed" in killed.out
    assert "circuit breaker" not in killed.out

    tripped = plugin("ask", "tripped", "Why was it halted", "-n", namespace)
    assert "A circuit breaker is open: Drawdown" in tripped.out
    assert "drawdown 12.5% reached maxDrawdownPct 10%" in tripped.out
    assert "kubectl tradefleet reset-breaker tripped" in tripped.out
    assert "kill switch" not in tripped.out.lower()

    # After the operator saw the kill switch go, the same question says it is not halted.
    custom.patch_namespaced_custom_object(
        "tradefleet.io",
        "v1alpha1",
        namespace,
        "tradingbots",
        "killed",
        {"metadata": {"annotations": {"tradefleet.io/kill-switch": None}}},
    )
    set_status(
        custom,
        namespace,
        "killed",
        {
            "phase": "Running",
            "runtime": {"userHalted": False, "halted": False, "haltReason": None},
            "control": {"killSwitchApplied": False, "killSwitch": None},
            "conditions": HEALTHY,
        },
    )
    assert "It is not halted" in plugin("ask", "killed", "why is it halted", "-n", namespace).out


def test_ask_why_not_trading_names_the_condition_and_what_to_do(
    plugin: Plugin, namespace: str, custom: client.CustomObjectsApi
) -> None:
    create_bot(
        custom,
        namespace,
        "nokeys",
        mode="testnet",
        credentials={"secretRef": {"name": "binance-keys"}},
        paused=True,
        status={
            "phase": "Pending",
            "conditions": [
                cond(
                    "Ready",
                    "False",
                    "CredentialsMissing",
                    'Secret "binance-keys" not found',
                ),
                cond("Trading", "False", "RuntimeNotRunning", "no runtime is running"),
            ],
        },
    )
    create_bot(
        custom,
        namespace,
        "busy",
        status={"phase": "Running", "conditions": HEALTHY},
    )

    answer = plugin("ask", "nokeys", "why is it not trading?", "-n", namespace)
    assert answer.code == 0
    assert "spec.paused is true" in answer.out
    assert "kubectl tradefleet resume nokeys" in answer.out
    assert "Ready=False, reason CredentialsMissing" in answer.out
    assert 'Secret "binance-keys" not found' in answer.out
    assert 'labelled `tradefleet.io/credentials: "true"`' in answer.out  # the documented fix
    assert "Trading=False, reason RuntimeNotRunning" in answer.out

    busy = plugin("ask", "busy", "is it trading?", "-n", namespace)
    assert "It is trading" in busy.out


def test_ask_why_it_rolled_back_and_what_changed_since_yesterday(
    plugin: Plugin,
    namespace: str,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
    apps_v1: client.AppsV1Api,
) -> None:
    reason = (
        "revision 3 not healthy within progressDeadlineSeconds=60: pod not ready: CrashLoopBackOff"
    )
    bot = create_bot(
        custom,
        namespace,
        "flappy",
        status={
            "phase": "Running",
            "currentRevision": 2,
            "lastGoodRevision": 2,
            "revisionHistory": [
                {
                    "revision": 3,
                    "hash": "c" * 64,
                    "createdAt": moment(ago_s=3600),
                    "source": "spec",
                },
                {"revision": 2, "hash": "b" * 64, "createdAt": moment(ago_s=3 * 86400)},
            ],
            "rollback": {
                "fromRevision": 3,
                "toRevision": 2,
                "failedHash": "c" * 64,
                "reason": reason,
                "at": moment(ago_s=3000),
            },
            "conditions": [
                *HEALTHY,
                cond("RolledBack", "True", "ProgressDeadlineExceeded", reason, ago_s=3000),
            ],
        },
    )
    bot_event(core_v1, bot=bot, reason="RolledBack", message=reason, type_="Warning", ago_s=3000)
    controller_revision(apps_v1, bot=bot, number=2, config_hash="b" * 64, spec={"symbol": "x"})

    why = plugin("ask", "flappy", "why did it roll back?", "-n", namespace)
    assert why.code == 0
    assert f"Revision 3 of {namespace}/flappy was rolled back to revision 2" in why.out
    assert f"Why: {reason}" in why.out
    assert "RolledBack=True, reason ProgressDeadlineExceeded" in why.out
    assert "fix the spec; a spec change rolls forward" in why.out

    changed = plugin("ask", "flappy", "what changed since yesterday?", "-n", namespace)
    assert "revision 3 created (spec)" in changed.out
    assert "RolledBack became True (ProgressDeadlineExceeded)" in changed.out
    assert "event Warning RolledBack" in changed.out
    assert "revision 2 created" not in changed.out  # three days old

    unknown = plugin("ask", "flappy", "what is the meaning of life?", "-n", namespace)
    assert unknown.code == 0
    for question in (
        "why is it halted?",
        "why is it not trading?",
        "what changed since yesterday?",
        "why did it roll back?",
    ):
        assert question in unknown.out

    never = create_bot(custom, namespace, "steady", status={"phase": "Running"})
    assert never["metadata"]["name"] == "steady"
    assert "No rollback is recorded" in plugin("ask", "steady", "rollback?", "-n", namespace).out


def test_report_bundles_the_bot_without_any_secret_value(
    plugin: Plugin,
    namespace: str,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
    apps_v1: client.AppsV1Api,
    fake_kubelet: FakeKubelet,
    tmp_path: Path,
) -> None:
    core_v1.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="binance-keys", labels={"tradefleet.io/credentials": "true"}
            ),
            string_data={"apiKey": "AKIA-SECRET-KEY-VALUE", "apiSecret": "s3cr3t-VALUE"},
        ),
    )
    bot = create_bot(
        custom,
        namespace,
        "bundled",
        mode="testnet",
        credentials={"secretRef": {"name": "binance-keys"}},
        status=_breaker_status(),
    )
    controller_revision(
        apps_v1, bot=bot, number=2, config_hash="b" * 64, spec={"exchange": "binance"}
    )
    bot_event(core_v1, bot=bot, reason="CommandDelivered", message="runtime acknowledged halt")
    runtime_pod(
        core_v1,
        namespace=namespace,
        bot="bundled",
        name="bundled-abc",
        node=fake_kubelet.node,
        env={
            "REDIS_URL": "redis://:hunter2@redis:6379/0",
            "CONTROL_TOKEN": "tok-literal-123",
            "LOG_LEVEL": "info",
        },
    )
    fake_kubelet.logs[(namespace, "bundled-abc", "runtime")] = [
        "INFO circuit breaker tripped: drawdown",
        "INFO connecting to redis://:hunter2@redis:6379/0",
    ]
    runtime_pod(core_v1, namespace=namespace, bot="bundled", name="bundled-pending")

    target = tmp_path / "bundle.tar.gz"
    run = plugin("report", "bundled", "-n", namespace, "-o", str(target))
    assert run.code == 0 and str(target) in run.out
    with tarfile.open(target) as tar:
        texts = {
            Path(m.name).relative_to(f"tradefleet-report-{namespace}-bundled").as_posix(): (
                tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            )
            for m in tar.getmembers()
        }
    assert {
        "bot.yaml",
        "status.txt",
        "answers.txt",
        "events.yaml",
        "revisions.yaml",
        "pods.yaml",
    } <= set(texts)
    assert "circuit breaker tripped: drawdown" in texts["logs/bundled-abc.log"]
    assert "redis://<redacted>@redis:6379/0" in texts["logs/bundled-abc.log"]
    assert "logs/bundled-pending.log" in texts  # not scheduled yet: an empty log
    assert "maxDrawdownPct 10%" in texts["bot.yaml"] and "binance-keys" in texts["bot.yaml"]
    assert "runtime acknowledged halt" in texts["events.yaml"]
    assert "revision: 2" in texts["revisions.yaml"]
    assert "A circuit breaker is open: Drawdown" in texts["answers.txt"]
    assert "LOG_LEVEL" in texts["pods.yaml"] and "info" in texts["pods.yaml"]
    everything = "\n".join(texts.values())
    for secret in ("AKIA-SECRET-KEY-VALUE", "s3cr3t-VALUE", "hunter2", "tok-literal-123"):
        assert secret not in everything


def test_the_console_script_runs_as_kubectl_runs_it(
    namespace: str, custom: client.CustomObjectsApi, cluster: ClusterAccess, plugin_crds: None
) -> None:
    create_bot(custom, namespace, "scripted", status=_breaker_status())
    env = {
        **os.environ,
        # Several files, as kubectl merges them: the first does not exist.
        "KUBECONFIG": os.pathsep.join(["/nonexistent/kubeconfig", str(cluster.kubeconfig)]),
        "PYTHONPATH": os.pathsep.join(
            str(REPO / p) for p in ("operator", "bot-runtime", "devtools")
        ),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tradefleet_kubectl", "status", "-n", namespace],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "scripted" in done.stdout and "Open:Drawdown" in done.stdout
    failed = subprocess.run(
        [sys.executable, "-m", "tradefleet_kubectl", "pause", "absent", "-n", namespace],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 1
    assert f'TradingBot "absent" not found in namespace "{namespace}"' in failed.stderr
    assert "Traceback" not in failed.stderr


def test_logs_reads_and_follows_the_current_runtime_pod(
    plugin: Plugin,
    namespace: str,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
    fake_kubelet: FakeKubelet,
) -> None:
    create_bot(
        custom,
        namespace,
        "chatty",
        status={"phase": "Running", "currentRevision": 2, "conditions": HEALTHY},
    )
    # The pod of the revision before, still there, and the current revision's pod.
    runtime_pod(
        core_v1,
        namespace=namespace,
        bot="chatty",
        name="chatty-old",
        node=fake_kubelet.node,
        revision=1,
    )
    runtime_pod(
        core_v1,
        namespace=namespace,
        bot="chatty",
        name="chatty-new",
        node=fake_kubelet.node,
        revision=2,
    )
    fake_kubelet.logs[(namespace, "chatty-old", "runtime")] = ["old runtime line"]
    fake_kubelet.logs[(namespace, "chatty-new", "runtime")] = [f"line {i}" for i in range(1, 6)]

    full = plugin("logs", "chatty", "-n", namespace)
    assert full.code == 0
    assert full.out.splitlines() == [f"line {i}" for i in range(1, 6)]

    tail = plugin("logs", "chatty", "-n", namespace, "--tail", "2")
    assert tail.out.splitlines() == ["line 4", "line 5"]

    followed = plugin("logs", "chatty", "-n", namespace, "-f")
    assert followed.code == 0
    assert followed.out.splitlines() == [f"line {i}" for i in range(1, 6)]
    assert any("follow=true" in r and "chatty-new" in r for r in fake_kubelet.requests)

    create_bot(custom, namespace, "podless", status={"phase": "Pending"})
    assert plugin("logs", "podless", "-n", namespace).code == 1
