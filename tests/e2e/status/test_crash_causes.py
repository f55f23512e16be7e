"""Issue 15, item 2: why a bot's runtime crashes or cannot start is in its conditions.

A bot on a symbol its exchange does not list: the runtime writes its fatal error to the container's
termination message file and exits; the TradingBot's ``Ready`` says ``CrashLoopBackOff`` and quotes
the error, and once the restart budget is spent ``Degraded`` still does. A bot whose image cannot
be pulled is ``Failed`` with the kubelet's reason and the image's name.
"""

from __future__ import annotations

import pytest
from kubernetes import client
from support.bots import condition_of, exchange_bot, get_bot, wait_for_condition
from support.k8s import wait_for
from tradefleet_devtools.stack import LocalStack

pytestmark = pytest.mark.e2e

UNLISTED = "NOPE/USDT:USDT"


def _create(api: client.ApiClient, namespace: str, bot: dict[str, object]) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "tradefleet.io", "v1alpha1", namespace, "tradingbots", bot
    )


def test_an_unlisted_symbol_names_the_runtimes_fatal_error_until_it_is_degraded(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    bot = exchange_bot(
        "unlisted",
        symbol=UNLISTED,
        selfHealing={"maxRestarts": 3, "restartWindowSeconds": 600},
    )
    _create(e2e_api, e2e_namespace, bot)

    ready = wait_for(
        lambda: (
            (c := condition_of(e2e_api, e2e_namespace, "unlisted", "Ready"))
            and UNLISTED in c["message"]
            and c
        ),
        timeout_s=120,
        what="Ready to quote the runtime's fatal error",
    )
    assert ready["status"] == "False"
    assert ready["reason"] in ("CrashLoopBackOff", "PodNotReady"), ready
    degraded = wait_for_condition(
        e2e_api, e2e_namespace, "unlisted", "Degraded", status="True", timeout_s=180
    )
    assert degraded["reason"] == "RestartBudgetExhausted"
    assert UNLISTED in degraded["message"], degraded["message"]
    status = get_bot(e2e_api, e2e_namespace, "unlisted")["status"]
    assert status["phase"] == "Degraded"
    assert all(UNLISTED in r["message"] for r in status["selfHealing"]["recentRestarts"])


def test_an_image_that_cannot_be_pulled_makes_the_bot_failed_with_the_reason(
    stack: LocalStack, e2e_api: client.ApiClient, e2e_namespace: str, exchange_keys: str
) -> None:
    image = "registry.invalid/tradefleet/bot-runtime:0.0.0-missing"
    _create(e2e_api, e2e_namespace, exchange_bot("unpullable", image=image))

    ready = wait_for(
        lambda: (
            (c := condition_of(e2e_api, e2e_namespace, "unpullable", "Ready"))
            and c["reason"] in ("ErrImagePull", "ImagePullBackOff")
            and c
        ),
        timeout_s=120,
        what="Ready=False with the kubelet's image pull reason",
    )
    assert ready["status"] == "False" and image in ready["message"]
    status = wait_for(
        lambda: (
            (s := get_bot(e2e_api, e2e_namespace, "unpullable")["status"])["phase"] == "Failed"
            and s
        ),
        timeout_s=30,
        what="phase Failed",
    )
    assert status["phase"] == "Failed"
