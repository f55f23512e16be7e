"""Why a container ended, and why it cannot start, the way a kubelet reports them.

The termination message (the file at ``terminationMessagePath``, ``/dev/termination-log`` by
default, or the log's tail with ``FallbackToLogsOnError``) becomes the terminated state's message;
an image reference that cannot be parsed waits with ``InvalidImageName``, and one whose registry
cannot be reached (a host under ``.invalid``, which never resolves) with ``ErrImagePull``, then
``ImagePullBackOff``. The operator reads these to say why a bot does not run (issue 15, item 2).
"""

from __future__ import annotations

import pytest
from devnode_support import TOKYO, create_pod, main_status, pod_manifest, wait_for_pod
from kubernetes import client
from tradefleet_devtools.devnode import DevNodeAgentHandle

pytestmark = pytest.mark.integration


def _last_message(pod: client.V1Pod) -> str | None:
    status = main_status(pod)
    if status is None or status.last_state is None or status.last_state.terminated is None:
        return None
    return str(status.last_state.terminated.message or "")


def test_the_termination_message_file_is_the_last_states_message(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str
) -> None:
    write = [
        "python",
        "-c",
        "open('/dev/termination-log', 'w').write('fatal: binance has no market NOPE/USDT:USDT');"
        " raise SystemExit(3)",
    ]
    create_pod(
        core_v1,
        namespace=namespace,
        manifest=pod_manifest(name="explains", command=write, region=TOKYO.region),
    )
    pod = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="explains",
        what="a restart whose last state carries the message",
        check=lambda p: bool(_last_message(p)),
    )
    assert _last_message(pod) == "fatal: binance has no market NOPE/USDT:USDT"
    assert main_status(pod).last_state.terminated.exit_code == 3


def test_fallback_to_logs_on_error_takes_the_logs_tail_when_the_file_is_empty(
    dev_node_agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str
) -> None:
    shout = [
        "python",
        "-c",
        "import sys; print('starting', flush=True); sys.exit('the last words before dying')",
    ]
    for name, policy in (("falls-back", "FallbackToLogsOnError"), ("keeps-file", "File")):
        create_pod(
            core_v1,
            namespace=namespace,
            manifest=pod_manifest(
                name=name,
                command=shout,
                region=TOKYO.region,
                container={"terminationMessagePolicy": policy},
            ),
        )
    pod = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="falls-back",
        what="a restart whose message is the log's tail",
        check=lambda p: bool(_last_message(p)),
    )
    assert "the last words before dying" in str(_last_message(pod))
    silent = wait_for_pod(
        core_v1,
        namespace=namespace,
        name="keeps-file",
        what="a restart",
        check=lambda p: _last_message(p) is not None,
    )
    assert _last_message(silent) == ""


@pytest.mark.parametrize(
    ("image", "reasons"),
    [
        ("Not A/Valid Image", {"InvalidImageName"}),
        ("registry.invalid/tradefleet/bot-runtime:1", {"ErrImagePull", "ImagePullBackOff"}),
    ],
)
def test_an_image_that_cannot_be_pulled_waits_with_the_kubelets_reason(
    dev_node_agent: DevNodeAgentHandle,
    core_v1: client.CoreV1Api,
    namespace: str,
    image: str,
    reasons: set[str],
) -> None:
    name = "bad-image" if "invalid" in image else "bad-name"
    create_pod(
        core_v1,
        namespace=namespace,
        manifest=pod_manifest(
            name=name, command=["true"], region=TOKYO.region, container={"image": image}
        ),
    )
    pod = wait_for_pod(
        core_v1,
        namespace=namespace,
        name=name,
        what=f"waiting with {sorted(reasons)}",
        check=lambda p: (
            (s := main_status(p)) is not None
            and s.state.waiting is not None
            and s.state.waiting.reason in reasons
        ),
    )
    waiting = main_status(pod).state.waiting
    assert image in waiting.message
    assert pod.status.phase == "Pending"
