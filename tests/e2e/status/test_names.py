"""Issue 15, item 3: a bot whose name is no DNS label runs like any other.

``dotted.name`` and ``9starts-with-digit`` are valid TradingBot names; their children get names a
Service accepts, the runtime trades on the local exchange under the bot's full name, and the bot
is ``Running`` with ``Ready=True``.
"""

from __future__ import annotations

import pytest
from kubernetes import client
from support.bots import condition_of, exchange_bot, wait_for_phase
from tradefleet_devtools.stack import LocalStack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("name", ["dotted.name", "9starts-with-digit"])
def test_a_name_that_is_no_dns_label_runs(
    name: str,
    stack: LocalStack,
    e2e_api: client.ApiClient,
    e2e_namespace: str,
    exchange_keys: str,
) -> None:
    client.CustomObjectsApi(e2e_api).create_namespaced_custom_object(
        "tradefleet.io", "v1alpha1", e2e_namespace, "tradingbots", exchange_bot(name)
    )
    running = wait_for_phase(e2e_api, e2e_namespace, name, "Running", timeout_s=120)
    assert running["status"]["region"] == "ap-northeast-1"
    ready = condition_of(e2e_api, e2e_namespace, name, "Ready")
    assert ready is not None and ready["status"] == "True"
    trading = condition_of(e2e_api, e2e_namespace, name, "Trading")
    assert trading is not None and trading["status"] == "True"
