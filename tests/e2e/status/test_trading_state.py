"""Issue 15, item 1: a runtime's own halt is visible on the TradingBot, not only in its logs.

A bot whose keys the exchange refuses: its runtime halts itself (market data may still flow), and
the TradingBot says so — ``Trading=False`` and ``Ready=False`` with reason
``AuthenticationFailed``, phase ``Halted``, ``status.runtime.halted`` with the exchange's words,
a Warning event. The ``tradefleet.io/acknowledge`` annotation reaches the runtime once per value.
"""

from __future__ import annotations

import pytest
from kubernetes import client
from support.bots import (
    condition_of,
    exchange_bot,
    get_bot,
    set_annotation,
    wait_for_condition,
)
from support.k8s import wait_for
from tradefleet_devtools.stack import LocalStack

pytestmark = pytest.mark.e2e


def test_a_refused_key_halts_the_bot_visibly_and_acknowledge_reaches_the_runtime(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str
) -> None:
    core = client.CoreV1Api(e2e_api)
    core.create_namespaced_secret(
        e2e_namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="revoked-keys", labels={"tradefleet.io/credentials": "true"}
            ),
            string_data={"apiKey": "revoked-key", "apiSecret": "revoked-secret"},
        ),
    )
    bot = exchange_bot("refused", symbol="ETH/USDT:USDT")
    bot["spec"]["credentials"] = {"secretRef": {"name": "revoked-keys"}}
    client.CustomObjectsApi(e2e_api).create_namespaced_custom_object(
        "tradefleet.io", "v1alpha1", e2e_namespace, "tradingbots", bot
    )

    trading = wait_for(
        lambda: (
            (c := condition_of(e2e_api, e2e_namespace, "refused", "Trading"))
            and c["reason"] == "AuthenticationFailed"
            and c
        ),
        timeout_s=120,
        what="Trading=False AuthenticationFailed",
    )
    assert trading["status"] == "False"
    status = wait_for(
        lambda: (
            (s := get_bot(e2e_api, e2e_namespace, "refused")["status"])["phase"] == "Halted" and s
        ),
        timeout_s=30,
        what="phase Halted",
    )
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "AuthenticationFailed"
    assert status["runtime"]["halted"] is True
    assert status["runtime"]["userHalted"] is False
    assert status["runtime"]["haltReason"]
    wait_for(
        lambda: any(
            e.type == "Warning"
            and e.reason == "AuthenticationFailed"
            and e.involved_object.name == "refused"
            for e in core.list_namespaced_event(e2e_namespace).items
        ),
        timeout_s=15,
        what="a Warning event AuthenticationFailed",
    )

    set_annotation(e2e_api, e2e_namespace, "refused", "tradefleet.io/acknowledge", "first")
    wait_for(
        lambda: (
            get_bot(e2e_api, e2e_namespace, "refused")["status"]
            .get("control", {})
            .get("acknowledged")
            == "first"
        ),
        timeout_s=30,
        what="the acknowledgement recorded",
    )
    # Kopf posts events in the background: the status may be written first.
    wait_for(
        lambda: [
            e
            for e in core.list_namespaced_event(e2e_namespace).items
            if e.reason == "CommandDelivered" and "acknowledge" in (e.message or "")
        ],
        timeout_s=15,
        what="the acknowledge command's event",
    )
    # The key is still refused: the runtime halts again, and the bot still says why.
    wait_for_condition(e2e_api, e2e_namespace, "refused", "Trading", status="False", timeout_s=60)
    assert condition_of(e2e_api, e2e_namespace, "refused", "Trading")["reason"] in (  # type: ignore[index]
        "AuthenticationFailed",
        "Starting",
    )
