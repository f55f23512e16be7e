"""Issue 15, item 2: why a bot's runtime does not run is in its conditions, not only in logs.

The container's last termination message (the runtime writes its fatal error to
/dev/termination-log; ``FallbackToLogsOnError`` keeps the log's tail otherwise) and its waiting
reason (CrashLoopBackOff, ImagePullBackOff, ErrImagePull, InvalidImageName,
CreateContainerConfigError) reach the ``Ready`` condition, the restart records and the
``Degraded`` message; a bot whose image or container configuration cannot run is ``Failed``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pass_support import available_children, condition, one_pass
from succession_support import OWNER, SETTINGS, SPEC, bot_body
from tradefleet_operator.healing import assess_restarts, pod_view
from tradefleet_operator.render import Revision, render_bot_children
from tradefleet_operator.spec import SelfHealingSpec

pytestmark = pytest.mark.unit

FATAL = "StartupError: binanceusdm has no market NOPE/USDT:USDT"


def _crash_looping(*, waiting: str, message: str = "", last_message: str = FATAL) -> Any:
    children = available_children()
    children[("Deployment", "bot")]["status"] = {
        "observedGeneration": 1,
        "updatedReplicas": 1,
        "availableReplicas": 0,
    }
    pod = children[("Pod", "bot-5d8f6c-x2x7q")]
    pod["status"] = {
        "phase": "Running" if waiting == "CrashLoopBackOff" else "Pending",
        "podIP": "127.0.0.1",
        "containerStatuses": [
            {
                "name": "runtime",
                "ready": False,
                "restartCount": 3 if waiting == "CrashLoopBackOff" else 0,
                "state": {"waiting": {"reason": waiting, "message": message}},
                "lastState": {
                    "terminated": {"exitCode": 1, "reason": "Error", "message": last_message}
                }
                if waiting == "CrashLoopBackOff"
                else {},
            }
        ],
    }
    return children


async def test_a_crash_loop_names_the_runtimes_fatal_error() -> None:
    children = _crash_looping(
        waiting="CrashLoopBackOff", message="back-off 40s restarting failed container=runtime"
    )
    _, outcome = await one_pass(body=bot_body(self_healing={}), children=children, port=1)
    ready = condition(outcome, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "CrashLoopBackOff"
    assert FATAL in ready["message"] and "exit code 1" in ready["message"]
    restarts = outcome.status["selfHealing"]["recentRestarts"]
    assert restarts and all(FATAL in r["message"] for r in restarts)


@pytest.mark.parametrize(
    ("waiting", "message"),
    [
        ("ImagePullBackOff", 'Back-off pulling image "registry.invalid/bot-runtime:9"'),
        ("ErrImagePull", 'failed to pull image "registry.invalid/bot-runtime:9": not found'),
        ("InvalidImageName", 'couldn\'t parse image reference "Bad Image"'),
        ("CreateContainerConfigError", 'secret "keys" not found'),
    ],
)
async def test_a_runtime_that_cannot_start_is_failed_and_says_why(
    waiting: str, message: str
) -> None:
    children = _crash_looping(waiting=waiting, message=message)
    _, outcome = await one_pass(body=bot_body(self_healing={}), children=children, port=1)
    ready = condition(outcome, "Ready")
    assert ready["status"] == "False" and ready["reason"] == waiting
    assert message in ready["message"]
    assert outcome.status["phase"] == "Failed"


@pytest.mark.parametrize(
    ("waiting", "message"),
    [
        ("CreateContainerError", 'failed to create shim: mount "/etc/bot" not permitted'),
        ("RunContainerError", 'exec: "/opt/venv/bin/bot-runtime": permission denied'),
    ],
)
async def test_a_container_the_runtime_cannot_create_or_start_is_named_at_once(
    waiting: str, message: str
) -> None:
    """Not a step of a pod on its way (paced as progress): the kubelet's own reason, written
    at once; the kubelet keeps retrying, so the bot is not Failed."""
    children = _crash_looping(waiting=waiting, message=message)
    _, outcome = await one_pass(body=bot_body(self_healing={}), children=children, port=1)
    ready = condition(outcome, "Ready")
    assert ready["status"] == "False" and ready["reason"] == waiting
    assert message in ready["message"]
    assert outcome.status["phase"] != "Failed"


def test_the_degraded_message_names_the_latest_restarts_cause() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    pod = {
        "metadata": {"name": "bot-1"},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "restartCount": 2,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {
                        "terminated": {"exitCode": 1, "reason": "Error", "message": FATAL}
                    },
                }
            ],
        },
    }
    decision = assess_restarts(
        policy=SelfHealingSpec(max_restarts=2),
        previous={"observedPod": "bot-1", "observedPodRestarts": 0},
        generation=1,
        pod=pod_view(pod),
        runtime=None,
        pods_exist=True,
        now=now + timedelta(seconds=1),
    )
    degraded = next(c for c in decision.conditions if c.type == "Degraded")
    assert degraded.status and degraded.reason == "RestartBudgetExhausted"
    assert "maxRestarts=2" in degraded.message and FATAL in degraded.message


def test_the_runtime_container_falls_back_to_its_logs_for_the_termination_message() -> None:
    revision = Revision(number=1, config_hash="abc", content={"config": {}})
    children = render_bot_children(
        owner=OWNER,
        spec=SPEC,
        region="ap-northeast-1",
        revision=revision,
        replicas=1,
        settings=SETTINGS,
    )
    deployment = next(c for c in children if c["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert "terminationMessagePath" not in container  # the default, /dev/termination-log


def _restarted_pod(*, restarts: int, last_message: str | None) -> Any:
    """The pod as a real kubelet can report it: the container restarted, and the instance that
    ended may already be garbage-collected, leaving no lastState."""
    status: dict[str, Any] = {"restartCount": restarts, "state": {"running": {}}}
    if last_message is not None:
        status["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
        status["lastState"] = {
            "terminated": {"exitCode": 1, "reason": "Error", "message": last_message}
        }
    return pod_view({"metadata": {"name": "bot-1"}, "status": {"containerStatuses": [status]}})


def _assess(*, previous: dict[str, Any], pod: Any, at: datetime) -> Any:
    return assess_restarts(
        policy=SelfHealingSpec(max_restarts=5),
        previous=previous,
        generation=1,
        pod=pod,
        runtime=None,
        pods_exist=True,
        now=at,
    )


def test_a_restart_without_its_end_is_counted_at_once_and_explained_by_the_next() -> None:
    # The kubelet removed the ended instance as the next one started (its dead-container
    # deletor counts a created container as not running): no lastState at restartCount 1.
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    first = _assess(previous={}, pod=_restarted_pod(restarts=1, last_message=None), at=now)
    (counted,) = first.state["recentRestarts"]
    assert first.restarted == ["crashed"] and "did not report how it ended" in counted["message"]
    second = _assess(
        previous=first.state,
        pod=_restarted_pod(restarts=1, last_message=FATAL),
        at=now + timedelta(seconds=4),
    )
    (explained,) = second.state["recentRestarts"]
    assert second.restarted == [] and FATAL in explained["message"]
    assert "did not report" not in explained["message"]
    third = _assess(
        previous=second.state,
        pod=_restarted_pod(restarts=2, last_message=FATAL),
        at=now + timedelta(seconds=20),
    )
    assert [FATAL in r["message"] for r in third.state["recentRestarts"]] == [True, True]


def test_a_restart_whose_end_stays_unknown_says_so() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    state: dict[str, Any] = {}
    for second in (0, 10, 60):
        state = _assess(
            previous=state,
            pod=_restarted_pod(restarts=1, last_message=None),
            at=now + timedelta(seconds=second),
        ).state
        (restart,) = state["recentRestarts"]
        assert restart["message"].endswith("(the node did not report how it ended)")
