"""Issue 15, item 3: every name the API accepts works (or the bot says why not), and another
region's operator never hides the owner's failure.

Against a real apiserver: bots named ``dotted.name`` and ``9starts-with-digit`` get children with
valid names (a Service name is a DNS-1035 label) and are reconciled; a name longer than 63
characters, which no label value can hold, is ``Invalid`` with a reason naming ``metadata.name``.
A failure of the owner's own writes (here a ResourceQuota that admits no Service) is a condition
with the apiserver's message — not a line in the operator log — and the operator of another region,
running in the same cluster, leaves that status alone instead of writing ``NotOwned`` over it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.k8s import condition, wait_for
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

GROUP, VERSION = "tradefleet.io", "v1alpha1"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _bot(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {"exchange": "binance", "market": "futures", "symbol": "BTC/USDT:USDT"},
    }


def _get(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    bot: dict[str, Any] = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", name
    )
    return bot


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def singapore_operator(
    cluster: ClusterAccess, crds: None, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """The operator of another region, in the same cluster (a documented mode)."""
    process = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=tmp_path / "operator-singapore",
        region="ap-southeast-1",
        settings={"reconcileIntervalSeconds": 2},
    )
    process.start()
    yield process
    process.stop()
    assert "Traceback" not in process.log_text(), "the operator logged a traceback"


@pytest.mark.parametrize("name", ["dotted.name", "9starts-with-digit"])
def test_names_that_are_no_dns_label_get_valid_children_and_are_reconciled(
    name: str,
    namespace: str,
    tokyo_operator: OperatorProcess,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
    apps_v1: client.AppsV1Api,
) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", _bot(name))

    def reconciled() -> dict[str, Any] | None:
        bot = _get(custom, namespace, name)
        rec = condition(bot, "Reconciled")
        return bot if rec and rec["status"] == "True" else None

    bot = wait_for(reconciled, timeout_s=30, what=f"{name} reconciled")
    assert bot["status"]["phase"] in ("Pending", "Progressing", "Running")
    (service,) = core_v1.list_namespaced_service(namespace).items
    assert DNS_1035.match(service.metadata.name), service.metadata.name
    assert service.spec.selector["tradefleet.io/bot"] == name
    (deployment,) = apps_v1.list_namespaced_deployment(namespace).items
    assert deployment.metadata.name == service.metadata.name
    assert deployment.spec.template.metadata.labels["tradefleet.io/bot"] == name


def test_a_name_too_long_for_a_label_value_is_invalid_with_a_reason(
    namespace: str,
    tokyo_operator: OperatorProcess,
    custom: client.CustomObjectsApi,
    apps_v1: client.AppsV1Api,
) -> None:
    name = "a-bot-whose-name-is-longer-than-any-label-value-may-be.and-then-some"
    assert len(name) > 63
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", _bot(name))

    def refused() -> dict[str, Any] | None:
        ready = condition(_get(custom, namespace, name), "Ready")
        return ready if ready and ready["status"] == "False" and ready["reason"] != "" else None

    ready = wait_for(refused, timeout_s=30, what="a reason on Ready")
    assert ready["reason"] == "NameTooLong", ready
    assert ready["message"].startswith("metadata.name:") and "63" in ready["message"]
    assert _get(custom, namespace, name)["status"]["phase"] == "Invalid"
    assert apps_v1.list_namespaced_deployment(namespace).items == []


def test_the_owners_failure_is_a_condition_that_another_region_never_hides(
    namespace: str,
    tokyo_operator: OperatorProcess,
    singapore_operator: OperatorProcess,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
) -> None:
    core_v1.create_namespaced_resource_quota(
        namespace,
        client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="no-services"),
            spec=client.V1ResourceQuotaSpec(hard={"services": "0"}),
        ),
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", _bot("quota-bound")
    )

    def failure() -> dict[str, Any] | None:
        rec = condition(_get(custom, namespace, "quota-bound"), "Reconciled")
        return rec if rec and rec["status"] == "False" and rec["reason"] == "ApplyFailed" else None

    reconciled = wait_for(failure, timeout_s=45, what="Reconciled=False ApplyFailed")
    assert "services" in reconciled["message"] and "403" in reconciled["message"]
    # The Singapore operator passes over this bot every 2 s: its status must stay the owner's.
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        status = _get(custom, namespace, "quota-bound")["status"]
        assert status.get("phase") != "NotOwned", status
        assert status.get("region") == "ap-northeast-1", status
        time.sleep(1)
    reasons = {
        e.reason
        for e in core_v1.list_namespaced_event(namespace).items
        if e.involved_object.name == "quota-bound"
    }
    assert "ApplyFailed" in reasons
