"""The operator against a real apiserver, controller-manager and scheduler: what a user sees after
`kubectl apply` — children, status, conditions, drift repair, region scoping, deletion."""

from __future__ import annotations

import base64
import re
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.k8s import condition, kubectl, wait_for
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
GROUP, VERSION = "tradefleet.io", "v1alpha1"


def _bot(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {"exchange": "binance", "market": "futures", "symbol": "BTC/USDT:USDT", **spec},
    }


def _get_bot(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", name
    )
    return obj


def _reconciled(
    custom: client.CustomObjectsApi, namespace: str, name: str
) -> dict[str, Any] | None:
    bot = _get_bot(custom, namespace, name)
    rec = condition(bot, "Reconciled")
    if (
        rec
        and rec["status"] == "True"
        and bot["status"].get("observedGeneration") == bot["metadata"]["generation"]
    ):
        return bot
    return None


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


def test_examples_apply_and_show_as_a_dashboard(
    cluster: ClusterAccess,
    namespace: str,
    tokyo_operator: OperatorProcess,
    region_nodes: dict[str, str],
    custom: client.CustomObjectsApi,
) -> None:
    applied = kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        str(REPO / "manifests" / "examples"),
        kubeconfig=cluster.kubeconfig,
    )
    created = [line for line in applied.stdout.splitlines() if line.endswith(" created")]
    assert sum("tradingbot.tradefleet.io/" in line for line in created) == 5
    assert sum("signalsource.tradefleet.io/" in line for line in created) == 2
    assert sum("exchangeaccount.tradefleet.io/" in line for line in created) == 1

    wait_for(
        lambda: _reconciled(custom, namespace, "btc-usdt-binance-paper"),
        timeout_s=30,
        what="the Binance bot",
    )

    def dashboard() -> str | None:
        out = kubectl("get", "tradingbots", "-n", namespace, kubeconfig=cluster.kubeconfig).stdout
        return out if "NotOwned" in out and "ap-northeast-1" in out else None

    table = wait_for(
        dashboard,
        timeout_s=30,
        what="the dashboard columns to fill in",
    )
    header = table.splitlines()[0].split()
    assert header[:9] == [
        "NAME",
        "EXCHANGE",
        "SYMBOL",
        "MODE",
        "REGION",
        "PHASE",
        "PNL",
        "REGIME",
        "CIRCUIT",
    ]
    wide = kubectl(
        "get", "tb", "-o", "wide", "-n", namespace, kubeconfig=cluster.kubeconfig
    ).stdout.splitlines()[0]
    assert "REVISION" in wide and "RESTARTS" in wide
    # The apiserver publishes a new CRD's OpenAPI a few seconds after it is established.
    explained = wait_for(
        lambda: (
            kubectl(
                "explain", "tradingbot.spec.risk", kubeconfig=cluster.kubeconfig, check=False
            ).stdout
        ),
        timeout_s=30,
        what="kubectl explain to know the CRD",
    )
    assert "kellyFraction" in explained and "maxDrawdownPct" in explained
    assert "DESCRIPTION" in explained and len(explained.splitlines()) > 20


def test_bot_is_reconciled_into_region_pinned_children(
    namespace: str,
    tokyo_operator: OperatorProcess,
    region_nodes: dict[str, str],
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
    apps_v1: client.AppsV1Api,
) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", _bot("pinned"))
    bot = wait_for(
        lambda: _reconciled(custom, namespace, "pinned"), timeout_s=30, what="reconciliation"
    )
    assert bot["status"]["region"] == "ap-northeast-1"
    assert bot["status"]["currentRevision"] == 1

    deployment = apps_v1.read_namespaced_deployment("pinned", namespace)
    assert deployment.spec.replicas == 1
    assert deployment.spec.strategy.type == "Recreate", (
        "two live instances of one bot must never overlap"
    )
    assert deployment.metadata.owner_references[0].uid == bot["metadata"]["uid"]
    term = deployment.spec.template.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    assert term.node_selector_terms[0].match_expressions[0].values == ["ap-northeast-1"]
    assert deployment.spec.template.spec.automount_service_account_token is False
    container = deployment.spec.template.spec.containers[0]
    assert container.security_context.read_only_root_filesystem is True
    assert core_v1.read_namespaced_service("pinned", namespace).spec.ports[0].port == 8080
    assert (
        core_v1.read_namespaced_service_account("pinned", namespace).automount_service_account_token
        is False
    )
    client.NetworkingV1Api(core_v1.api_client).read_namespaced_network_policy("pinned", namespace)
    config = core_v1.read_namespaced_config_map("pinned-config", namespace)
    assert '"symbol":"BTC/USDT:USDT"' in config.data["config.json"]
    token = core_v1.read_namespaced_secret("pinned-control", namespace)
    assert len(base64.b64decode(token.data["token"])) >= 32

    def scheduled_node() -> str | None:
        pods = core_v1.list_namespaced_pod(
            namespace, label_selector="tradefleet.io/bot=pinned"
        ).items
        return next((p.spec.node_name for p in pods if p.spec.node_name), None)

    assert (
        wait_for(scheduled_node, timeout_s=30, what="the bot pod to be scheduled")
        == region_nodes["ap-northeast-1"]
    )


def test_bot_of_another_region_gets_only_a_condition(
    namespace: str,
    tokyo_operator: OperatorProcess,
    custom: client.CustomObjectsApi,
    apps_v1: client.AppsV1Api,
) -> None:
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "tradingbots",
        _bot("okx-bot", exchange="okx", market="spot", symbol="ETH/USDT"),
    )

    def not_owned() -> dict[str, Any] | None:
        ready = condition(_get_bot(custom, namespace, "okx-bot"), "Ready")
        return ready if ready and ready["reason"] == "OwnedByOtherRegion" else None

    ready = wait_for(not_owned, timeout_s=30, what="the NotOwned condition")
    assert "ap-southeast-1" in ready["message"]
    assert _get_bot(custom, namespace, "okx-bot")["status"]["phase"] == "NotOwned"
    assert apps_v1.list_namespaced_deployment(namespace).items == []


def test_drift_is_repaired_and_spec_changes_roll_a_new_revision(
    namespace: str,
    tokyo_operator: OperatorProcess,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
    apps_v1: client.AppsV1Api,
) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", _bot("drifty"))
    wait_for(lambda: _reconciled(custom, namespace, "drifty"), timeout_s=30, what="reconciliation")
    first_uid = apps_v1.read_namespaced_deployment("drifty", namespace).metadata.uid

    apps_v1.delete_namespaced_deployment("drifty", namespace)
    core_v1.delete_namespaced_config_map("drifty-config", namespace)

    def restored() -> bool:
        try:
            dep = apps_v1.read_namespaced_deployment("drifty", namespace)
            core_v1.read_namespaced_config_map("drifty-config", namespace)
        except client.ApiException:
            return False
        return bool(dep.metadata.uid != first_uid)

    wait_for(restored, timeout_s=30, what="the deleted Deployment and ConfigMap to come back")

    # A hand edit of an operator-owned field is reverted.
    apps_v1.patch_namespaced_deployment(
        "drifty", namespace, {"spec": {"strategy": {"type": "RollingUpdate"}}}
    )
    wait_for(
        lambda: (
            apps_v1.read_namespaced_deployment("drifty", namespace).spec.strategy.type == "Recreate"
        ),
        timeout_s=30,
        what="the edited strategy to be restored",
    )

    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "tradingbots",
        "drifty",
        {"spec": {"risk": {"maxPositionPct": 5}}},
    )
    bot = wait_for(
        lambda: (
            (b := _reconciled(custom, namespace, "drifty"))
            and b["status"]["currentRevision"] == 2
            and b
        ),
        timeout_s=30,
        what="revision 2",
    )
    assert [row["revision"] for row in bot["status"]["revisionHistory"]] == [2, 1]
    template = apps_v1.read_namespaced_deployment("drifty", namespace).spec.template
    assert template.metadata.annotations["tradefleet.io/revision"] == "2"
    assert (
        '"maxPositionPct":5'
        in core_v1.read_namespaced_config_map("drifty-config", namespace).data["config.json"]
    )
    reasons = {
        e.reason
        for e in core_v1.list_namespaced_event(namespace).items
        if e.involved_object.name == "drifty"
    }
    assert {"DriftRepaired", "RevisionCreated"} <= reasons


def test_missing_credentials_are_a_condition_not_a_workload(
    namespace: str,
    tokyo_operator: OperatorProcess,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
    apps_v1: client.AppsV1Api,
) -> None:
    spec = {"mode": "testnet", "credentials": {"secretRef": {"name": "keys"}}}
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", _bot("needs-keys", **spec)
    )

    def credentials_missing() -> dict[str, Any] | None:
        ready = condition(_get_bot(custom, namespace, "needs-keys"), "Ready")
        return ready if ready and ready["reason"] == "CredentialsMissing" else None

    ready = wait_for(credentials_missing, timeout_s=30, what="CredentialsMissing")
    assert "keys" in ready["message"]
    assert apps_v1.list_namespaced_deployment(namespace).items == []

    # Issue 20: a Secret not marked for credentials is not handed to the bot; the status says
    # how to mark it.
    core_v1.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="keys"), string_data={"apiKey": "k", "apiSecret": "s"}
        ),
    )

    def not_marked() -> dict[str, Any] | None:
        ready = credentials_missing()
        return ready if ready and "not marked" in ready["message"] else None

    ready = wait_for(not_marked, timeout_s=30, what="CredentialsMissing: the Secret is not marked")
    assert "tradefleet.io/credentials=true" in ready["message"], ready
    assert apps_v1.list_namespaced_deployment(namespace).items == []
    core_v1.patch_namespaced_secret(
        "keys", namespace, {"metadata": {"labels": {"tradefleet.io/credentials": "true"}}}
    )
    wait_for(
        lambda: _reconciled(custom, namespace, "needs-keys"),
        timeout_s=30,
        what="reconciliation once the keys' Secret is marked",
    )
    env = (
        apps_v1.read_namespaced_deployment("needs-keys", namespace)
        .spec.template.spec.containers[0]
        .env
    )
    key_refs = {
        e.name: e.value_from.secret_key_ref.key
        for e in env
        if e.value_from and e.value_from.secret_key_ref
    }
    assert key_refs["TRADEFLEET_API_KEY"] == "apiKey"
    assert all(e.value not in ("k", "s") for e in env), "keys travel by reference only"


def test_missing_signal_source_is_named_in_a_condition(
    namespace: str, tokyo_operator: OperatorProcess, custom: client.CustomObjectsApi
) -> None:
    strategy = {"signalSources": [{"name": "nowhere-feed", "weight": 0.5}]}
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", _bot("lonely", strategy=strategy)
    )
    bot = wait_for(
        lambda: _reconciled(custom, namespace, "lonely"), timeout_s=30, what="reconciliation"
    )
    sources = condition(bot, "SignalSourcesReady")
    assert (
        sources is not None
        and sources["status"] == "False"
        and sources["reason"] == "SignalSourceMissing"
    )
    assert "nowhere-feed" in sources["message"] and "redistributed" in sources["message"]
    assert bot["status"]["signalSources"] == [
        {"name": "nowhere-feed", "found": False, "ready": False, "weightApplied": 0}
    ]


def test_deleting_a_bot_without_a_running_runtime_does_not_hang(
    namespace: str,
    tokyo_operator: OperatorProcess,
    custom: client.CustomObjectsApi,
    core_v1: client.CoreV1Api,
) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", _bot("doomed"))
    wait_for(lambda: _reconciled(custom, namespace, "doomed"), timeout_s=30, what="reconciliation")
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", "doomed")

    def gone() -> bool:
        try:
            _get_bot(custom, namespace, "doomed")
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout_s=30, what="the bot to be deleted")
    reasons = {
        e.reason
        for e in core_v1.list_namespaced_event(namespace).items
        if e.involved_object.name == "doomed"
    }
    assert "FlattenSkipped" in reasons


def test_a_flatten_not_confirmed_in_a_namespace_being_deleted_is_logged_and_exported(
    tokyo_operator: OperatorProcess, custom: client.CustomObjectsApi, core_v1: client.CoreV1Api
) -> None:
    # Deleting a namespace deletes its bots with their pods, and the apiserver refuses new events
    # in a namespace being deleted: the Warning event of the unconfirmed flatten is lost there.
    namespace = f"swept-desk-{uuid.uuid4().hex[:6]}"
    core_v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tradingbots", _bot("swept"))
    wait_for(lambda: _reconciled(custom, namespace, "swept"), timeout_s=30, what="reconciliation")
    core_v1.delete_namespace(namespace)

    def exported() -> dict[str, str] | None:
        with urllib.request.urlopen(tokyo_operator.metrics_url, timeout=5) as answer:
            text = answer.read().decode()
        for line in text.splitlines():
            if line.startswith("tradefleet_operator_flatten_not_confirmed_timestamp_seconds{"):
                labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
                if labels.get("namespace") == namespace:
                    return {**labels, "value": line.rsplit(" ", 1)[1]}
        return None

    series = wait_for(exported, timeout_s=30, what="the unconfirmed flatten in the metrics")
    assert series["bot"] == "swept" and series["reason"] == "FlattenSkipped"
    assert abs(float(series["value"]) - time.time()) < 60, "the value is the deletion's time"
    assert f"bot {namespace}/swept deleted: FlattenSkipped: " in tokyo_operator.log_text()


def test_operator_exports_fleet_metrics(
    namespace: str, tokyo_operator: OperatorProcess, custom: client.CustomObjectsApi
) -> None:
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tradingbots", _bot("measured")
    )
    wait_for(
        lambda: _reconciled(custom, namespace, "measured"), timeout_s=30, what="reconciliation"
    )

    def scrape() -> str | None:
        with urllib.request.urlopen(tokyo_operator.metrics_url, timeout=5) as answer:
            text = answer.read().decode()
        return text if 'bot="measured"' in text else None

    text = wait_for(scrape, timeout_s=15, what="the bot in the operator's metrics")
    assert 'tradefleet_operator_reconcile_total{kind="TradingBot",result="ok"}' in text
    assert re.search(r'tradefleet_operator_bots\{phase="\w+",region="ap-northeast-1"\} [1-9]', text)
    assert (
        f'tradefleet_operator_bot_condition{{bot="measured",condition="Paused",namespace="{namespace}",reason="Trading"}} 0.0'
        in text
    )
