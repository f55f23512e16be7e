"""A new TradingBot carries the operator's finalizer from its creation, set by the operator's
admission webhook; without the webhook (operator down), bots are still created and the operator
adds the finalizer itself when it is back."""

from __future__ import annotations

import time

import pytest
from kubernetes import client
from support.k8s import wait_for
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

FINALIZER = "tradefleet.io/finalizer"


def _bot(name: str) -> dict[str, object]:
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {"exchange": "binance", "symbol": "BTC/USDT"},
    }


def _create(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, object]:
    created: dict[str, object] = custom.create_namespaced_custom_object(
        "tradefleet.io", "v1alpha1", namespace, "tradingbots", _bot(name)
    )
    return created


def _finalizers(obj: dict[str, object]) -> list[str]:
    meta = obj["metadata"]
    assert isinstance(meta, dict)
    return list(meta.get("finalizers") or [])


def _webhooks_of(api_client: client.ApiClient, process: OperatorProcess) -> list[str]:
    """The mutating webhooks that point at ``process`` (others may be left by killed ones)."""
    configs = client.AdmissionregistrationV1Api(api_client).list_mutating_webhook_configuration()
    urls = [
        str(hook.client_config.url) for config in configs.items for hook in config.webhooks or []
    ]
    return [url for url in urls if f":{process.webhook_port}/" in url]


def _registered(api_client: client.ApiClient, process: OperatorProcess) -> None:
    # The operator registers the webhook at start, just before it reports healthy.
    wait_for(
        lambda: _webhooks_of(api_client, process),
        timeout_s=30,
        what="the operator's webhook registered",
    )


def test_a_new_bot_is_created_with_the_operators_finalizer(
    namespace: str, restartable_operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(api_client)
    _registered(api_client, restartable_operator)
    created = _create(custom, namespace, "admitted")
    # In the create's own answer: no second write to the bot is needed for it.
    assert _finalizers(created) == [FINALIZER]


def test_bots_are_created_while_the_operator_is_down_and_get_the_finalizer_when_it_is_back(
    namespace: str, restartable_operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(api_client)
    _registered(api_client, restartable_operator)
    # Killed, as a crashed pod: its webhook stays registered and cannot answer.
    restartable_operator.kill()
    started = time.monotonic()
    created = _create(custom, namespace, "while-down")
    assert time.monotonic() - started < 5, "a bot's creation waited for the absent webhook"
    assert _finalizers(created) == []
    restartable_operator.start()
    wait_for(
        lambda: (
            FINALIZER
            in _finalizers(
                custom.get_namespaced_custom_object(
                    "tradefleet.io", "v1alpha1", namespace, "tradingbots", "while-down"
                )
            )
            or None
        ),
        timeout_s=30,
        what="the operator's finalizer on a bot created while it was down",
    )


def test_a_stopped_operator_leaves_no_webhook_behind(
    cluster: ClusterAccess,
    crds: None,
    tmp_path_factory: pytest.TempPathFactory,
    api_client: client.ApiClient,
) -> None:
    process = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=tmp_path_factory.mktemp("operator-admission-stop"),
        region="eu-west-1",
    )
    process.start()
    try:
        _registered(api_client, process)
    finally:
        process.stop()
    # Stopped as a pod is on an upgrade: the apiserver stops calling it at once.
    assert _webhooks_of(api_client, process) == []


def test_a_bot_outside_the_watched_namespaces_is_created_without_the_finalizer(
    cluster: ClusterAccess,
    crds: None,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
    api_client: client.ApiClient,
    core_v1: client.CoreV1Api,
) -> None:
    # The webhook sees the bots of every namespace; no operator of this release would ever
    # remove a finalizer from a bot it does not watch, and the bot could not be deleted.
    elsewhere = f"{namespace}-elsewhere"
    core_v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=elsewhere)))
    process = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        workdir=tmp_path_factory.mktemp("operator-admission-namespaces"),
        region="us-east-1",
        settings={"namespaces": [namespace]},
    )
    process.start()
    try:
        _registered(api_client, process)
        custom = client.CustomObjectsApi(api_client)
        assert _finalizers(_create(custom, elsewhere, "not-watched")) == []
        assert _finalizers(_create(custom, namespace, "watched")) == [FINALIZER]
    finally:
        process.stop()
        core_v1.delete_namespace(elsewhere, propagation_policy="Background")
    assert "Traceback" not in process.log_text(), "the operator logged a traceback"
