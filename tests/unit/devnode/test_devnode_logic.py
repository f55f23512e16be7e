"""The dev node agent's pure rules, pinned to hand-worked cases: ``$(VAR)`` expansion, crash-loop
backoff, restart policies, the pod phase, resource quantities, pod IPs, flags, atomic volume writes.

Unit tests (no cluster, no processes); they sit with the agent's integration tests until the lead
moves them under tests/unit/.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from tradefleet_devtools.devnode import AgentConfigError, AgentSettings, NodeSpec
from tradefleet_devtools.devnode.backoff import BackoffPolicy, restart_wanted
from tradefleet_devtools.devnode.podenv import (
    PodContext,
    expand,
    parse_quantity,
    resource_field_value,
)
from tradefleet_devtools.devnode.settings import PodNetwork
from tradefleet_devtools.devnode.status import (
    ContainerView,
    Running,
    Terminated,
    Waiting,
    pod_phase,
)
from tradefleet_devtools.devnode.volumes import FileContent, write_atomically

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("--bind $(POD_IP)", "--bind 127.77.1.2"),
        ("$(POD_IP):$(PORT)", "127.77.1.2:8080"),
        ("$$(POD_IP)", "$(POD_IP)"),  # escaped
        ("$(UNDEFINED)", "$(UNDEFINED)"),  # unknown references stay as written
        ("$(POD_IP", "$(POD_IP"),  # unterminated
        ("cost $5 and $", "cost $5 and $"),  # a lone $ is kept
        ("$$$(PORT)", "$8080"),
    ],
)
def test_variable_references_expand_as_in_kubernetes(text: str, expanded: str) -> None:
    assert expand(text, env={"POD_IP": "127.77.1.2", "PORT": "8080"}) == expanded


def test_backoff_restarts_at_once_then_doubles_up_to_the_cap() -> None:
    policy = BackoffPolicy(base_s=10, max_s=300, reset_after_s=600)
    delays, backoff = [], None
    for _ in range(8):
        step = policy.after_exit(backoff_s=backoff, ran_for_s=1)
        delays.append(step.delay_s)
        backoff = step.next_backoff_s
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300]


def test_backoff_starts_afresh_after_a_long_successful_run() -> None:
    policy = BackoffPolicy(base_s=10, max_s=300, reset_after_s=600)
    assert policy.after_exit(backoff_s=160, ran_for_s=599).delay_s == 160
    fresh = policy.after_exit(backoff_s=160, ran_for_s=600)
    assert (fresh.delay_s, fresh.next_backoff_s) == (0, 10)


@pytest.mark.parametrize(
    ("policy", "exit_code", "wanted"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 137, True),
        ("Never", 1, False),
    ],
)
def test_restart_policy_decides_on_the_exit_code(policy: str, exit_code: int, wanted: bool) -> None:
    assert restart_wanted(restart_policy=policy, exit_code=exit_code) is wanted


def _ended(code: int) -> Terminated:
    return Terminated(
        exit_code=code,
        reason="Error" if code else "Completed",
        message="",
        started_at=0.0,
        finished_at=1.0,
        signal=None,
        container_id="devnode://1",
    )


def _view(state: Running | Waiting | Terminated, last: Terminated | None = None) -> ContainerView:
    return ContainerView(
        name="main",
        image="i",
        state=state,
        last_terminated=last,
        ready=False,
        started=False,
        restart_count=0,
        container_id="",
    )


@pytest.mark.parametrize(
    ("containers", "policy", "phase"),
    [
        ([_view(Waiting(reason="ContainerCreating"))], "Always", "Pending"),
        ([_view(Running(started_at=0))], "Never", "Running"),
        ([_view(Waiting(reason="CrashLoopBackOff"), _ended(1))], "Always", "Running"),
        ([_view(_ended(1))], "Never", "Failed"),
        ([_view(_ended(1))], "OnFailure", "Running"),
        ([_view(_ended(0)), _view(_ended(0))], "OnFailure", "Succeeded"),
        ([_view(_ended(0)), _view(Running(started_at=0))], "Never", "Running"),
    ],
)
def test_pod_phase_follows_the_kubelet(
    containers: list[ContainerView], policy: str, phase: str
) -> None:
    assert pod_phase(init=[], containers=containers, restart_policy=policy) == phase


def test_a_failed_init_container_fails_a_never_restarting_pod() -> None:
    init = [_view(_ended(2))]
    waiting = [_view(Waiting(reason="PodInitializing"))]
    assert pod_phase(init=init, containers=waiting, restart_policy="Never") == "Failed"
    assert pod_phase(init=init, containers=waiting, restart_policy="OnFailure") == "Pending"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("1.5Gi", Fraction(1610612736)),
        ("2e3", Fraction(2000)),
        ("64Mi", Fraction(67108864)),
    ],
)
def test_quantities_parse_exactly(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


def test_resource_field_refs_round_up_and_fall_back_to_the_node() -> None:
    context = PodContext(
        pod={"metadata": {"namespace": "n"}, "spec": {"containers": []}},
        pod_ip="127.77.1.2",
        host_ip="127.77.1.1",
        node_allocatable={"cpu": "4", "memory": "8Gi"},
    )
    container = {
        "name": "main",
        "resources": {"limits": {"cpu": "250m"}, "requests": {"memory": "100Mi"}},
    }

    def value(resource: str, divisor: str = "1") -> str:
        reference = {"resource": resource, "divisor": divisor}
        return resource_field_value(context=context, container=container, reference=reference)

    assert value("limits.cpu") == "1"  # 0.25 core rounds up to 1
    assert value("limits.cpu", "1m") == "250"
    assert value("limits.memory", "1Mi") == "8192"  # no limit: the node's 8Gi
    assert value("requests.memory", "1Mi") == "100"
    assert value("requests.cpu") == "0"


def test_pod_ips_come_from_each_nodes_own_slash_24_round_robin() -> None:
    network = PodNetwork(cidr="127.77.0.0/16", node_names=["tokyo-1", "singapore-1"])
    assert network.host_ip("tokyo-1") == "127.77.1.1"
    assert network.host_ip("singapore-1") == "127.77.2.1"
    first, second = network.allocate("tokyo-1"), network.allocate("tokyo-1")
    assert (first, second) == ("127.77.1.2", "127.77.1.3")
    network.release(first)
    assert network.allocate("tokyo-1") == "127.77.1.4", "a freed IP is not handed out again at once"
    assert network.allocate("singapore-1") == "127.77.2.2"


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "127.0.0.0/16", "127.77.1.0/25", "not-a-network"])
def test_pod_networks_outside_private_loopback_are_refused(cidr: str) -> None:
    with pytest.raises(AgentConfigError):
        PodNetwork(cidr=cidr, node_names=["tokyo-1"])


def test_flags_round_trip_through_settings() -> None:
    settings = AgentSettings(
        kubeconfig=Path("/k/config"),
        nodes=(
            NodeSpec(name="tokyo-1", region="ap-northeast-1"),
            NodeSpec(name="sg-1", region="ap-southeast-1"),
        ),
        state_dir=Path("/s"),
        pod_network="127.88.0.0/16",
        backoff_base_s=1.0,
        backoff_max_s=60.0,
        delete_nodes_on_exit=True,
    )
    parsed, level = AgentSettings.from_argv([*settings.to_argv(), "--log-level", "DEBUG"])
    assert parsed == settings
    assert level == "DEBUG"


@pytest.mark.parametrize("flag", ["tokyo-1", "Tokyo_1=ap-northeast-1", "tokyo-1="])
def test_bad_node_flags_are_refused_with_the_expected_form(flag: str) -> None:
    with pytest.raises(AgentConfigError):
        NodeSpec.parse(flag)


def test_volume_files_are_swapped_atomically_and_stale_keys_removed(tmp_path: Path) -> None:
    target = tmp_path / "config"
    first = {
        "a.yaml": FileContent(data=b"1", mode=0o644),
        "nested/b": FileContent(data=b"2", mode=0o600),
    }
    assert write_atomically(target=target, files=first)
    assert not write_atomically(target=target, files=first), "unchanged content is not rewritten"
    assert (target / "a.yaml").read_text() == "1"
    assert ((target / "nested" / "b").stat().st_mode & 0o777) == 0o600
    old_data = (target / "..data").resolve()

    assert write_atomically(
        target=target, files={"a.yaml": FileContent(data=b"changed", mode=0o644)}
    )
    assert (target / "a.yaml").read_text() == "changed"
    assert not (target / "nested").exists()
    assert not old_data.exists()
    assert (target / "a.yaml").is_symlink(), "keys point into ..data, as with the kubelet"
