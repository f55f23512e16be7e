"""A spec change whose revision never becomes healthy is rolled back to the last good revision;
a local webhook (spec.notifications) receives the rollback, once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kubernetes import client
from support.bots import exchange_bot, get_bot, wait_for_condition, wait_for_phase
from support.k8s import wait_for
from support.webhook import Receiver, webhook_target, webhook_with_secret
from tradefleet_devtools.stack import LocalStack

pytestmark = pytest.mark.e2e


@pytest.fixture
def hook(e2e_api: client.ApiClient, e2e_namespace: str) -> Iterator[Receiver]:
    """A local webhook, and the Secret steady-hook with its URL."""
    with webhook_with_secret(
        client.CoreV1Api(e2e_api), namespace=e2e_namespace, secret="steady-hook"
    ) as receiver:
        yield receiver


def test_unhealthy_revision_is_rolled_back_to_the_last_good_one(
    stack: LocalStack,
    e2e_api: client.ApiClient,
    e2e_namespace: str,
    exchange_keys: str,
    hook: Receiver,
) -> None:
    custom = client.CustomObjectsApi(e2e_api)
    custom.create_namespaced_custom_object(
        "tradefleet.io",
        "v1alpha1",
        e2e_namespace,
        "tradingbots",
        exchange_bot(
            "steady",
            symbol="SOL/USDT:USDT",
            notifications=[
                webhook_target(name="ops", secret="steady-hook", events=["breaker", "rollbacks"])
            ],
        ),
    )
    running = wait_for_phase(e2e_api, e2e_namespace, "steady", "Running", timeout_s=120)
    assert running["status"]["lastGoodRevision"] == 1

    # A symbol the exchange does not list: the runtime of revision 2 can never become ready.
    custom.patch_namespaced_custom_object(
        "tradefleet.io",
        "v1alpha1",
        e2e_namespace,
        "tradingbots",
        "steady",
        {"spec": {"symbol": "DOGE/USDT:USDT"}},
    )
    changed_at = time.monotonic()
    wait_for(
        lambda: get_bot(e2e_api, e2e_namespace, "steady")["status"].get("currentRevision") == 2,
        timeout_s=30,
        what="revision 2",
    )

    rolled = wait_for_condition(
        e2e_api, e2e_namespace, "steady", "RolledBack", status="True", timeout_s=120
    )
    detected_after = time.monotonic() - changed_at
    assert rolled["reason"] == "ProgressDeadlineExceeded"
    assert "revision 1" in rolled["message"] and "revision 2" in rolled["message"]
    status = wait_for(
        lambda: (
            (s := get_bot(e2e_api, e2e_namespace, "steady")["status"]).get("currentRevision") == 1
            and s
        ),
        timeout_s=15,
        what="the bot to run revision 1 again",
    )
    assert status["rollback"]["fromRevision"] == 2 and status["rollback"]["toRevision"] == 1

    template = (
        client.AppsV1Api(e2e_api).read_namespaced_deployment("steady", e2e_namespace).spec.template
    )
    assert template.metadata.annotations["tradefleet.io/revision"] == "1"
    wait_for_phase(e2e_api, e2e_namespace, "steady", "Running", timeout_s=90)
    restored_after = time.monotonic() - changed_at
    print(
        f"bad revision applied -> RolledBack: {detected_after:.1f}s (progressDeadlineSeconds=25); "
        f"-> Running on revision 1 again: {restored_after:.1f}s (target: detection -> rollback <= 60 s)"
    )
    events = client.CoreV1Api(e2e_api).list_namespaced_event(e2e_namespace).items
    assert any(e.reason == "RolledBack" and e.type == "Warning" for e in events)
    wait_for(lambda: hook.events() == ["rolledBack"], timeout_s=10, what="the rollback notified")
    assert hook.got[0]["title"] == "rolled back from revision 2 to revision 1"

    # A later, healthy change rolls forward and becomes the new last good revision.
    custom.patch_namespaced_custom_object(
        "tradefleet.io",
        "v1alpha1",
        e2e_namespace,
        "tradingbots",
        "steady",
        {"spec": {"symbol": "SOL/USDT:USDT", "risk": {"maxPositionPct": 5}}},
    )
    forward = wait_for(
        lambda: (
            (b := get_bot(e2e_api, e2e_namespace, "steady"))["status"].get("lastGoodRevision", 0)
            >= 3
            and b
        ),
        timeout_s=120,
        what="a new last good revision",
    )
    rolled_back = next(c for c in forward["status"]["conditions"] if c["type"] == "RolledBack")
    assert rolled_back["status"] == "False"
