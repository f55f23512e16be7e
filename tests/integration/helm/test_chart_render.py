"""The chart as Helm renders it, for the four default regions and the value variants users set.

Rendering is a real ``helm install`` (helm-sdkpy, Helm's Go library) into the local control plane,
read back and uninstalled: Helm's library offers no client-only render. Checks what a cluster
admin relies on: the operator's settings carry the region and the exchange map, RBAC grants
exactly what the operator uses, every pod is restricted, CRDs are the API's and survive an
uninstall, peering is on, bad values are refused with Helm's clear messages, and the committed
raw install manifests are what the chart renders today.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_install import (
    CHART,
    DEFAULT_REGIONS,
    INSTALL_NAMESPACE,
    REPO,
    ChartError,
    Release,
    install,
    manifest_files,
    region_release,
    render,
    render_regions,
    uninstall,
)
from kubernetes import client
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_operator.admission import configuration_name
from tradefleet_operator.settings import OperatorSettings, load_settings

pytestmark = pytest.mark.integration

# What the operator does with each resource (operator/tradefleet_operator: Kopf watches and
# patches the custom resources, the reconciler applies/replaces/prunes children, reads pods and
# secrets, creates the control-token Secret and events; Jobs for optimization runs and
# the Role/RoleBinding they run with; an old bot pod on a lost node is force-deleted, which needs
# reading its node).
CHILD_VERBS = frozenset({"get", "list", "watch", "create", "patch", "update", "delete"})
OPERATOR_RULES: dict[tuple[str, str], frozenset[str]] = {
    ("tradefleet.io", "tradingbots"): frozenset({"get", "list", "watch", "patch"}),
    ("tradefleet.io", "signalsources"): frozenset({"get", "list", "watch", "patch"}),
    ("tradefleet.io", "exchangeaccounts"): frozenset({"get", "list", "watch", "patch"}),
    ("tradefleet.io", "tradingbots/status"): frozenset({"patch"}),
    ("tradefleet.io", "signalsources/status"): frozenset({"patch"}),
    ("tradefleet.io", "exchangeaccounts/status"): frozenset({"patch"}),
    ("tradefleet.io", "tradingbots/finalizers"): frozenset({"update"}),
    ("tradefleet.io", "signalsources/finalizers"): frozenset({"update"}),
    ("tradefleet.io", "exchangeaccounts/finalizers"): frozenset({"update"}),
    ("apps", "deployments"): CHILD_VERBS,
    ("apps", "controllerrevisions"): CHILD_VERBS,
    ("", "configmaps"): CHILD_VERBS,
    ("", "services"): CHILD_VERBS,
    ("", "serviceaccounts"): CHILD_VERBS,
    ("networking.k8s.io", "networkpolicies"): CHILD_VERBS,
    ("batch", "jobs"): CHILD_VERBS,
    ("rbac.authorization.k8s.io", "roles"): CHILD_VERBS,
    ("rbac.authorization.k8s.io", "rolebindings"): CHILD_VERBS,
    ("", "pods"): frozenset({"get", "list", "watch", "delete"}),
    ("", "secrets"): frozenset({"get", "create"}),
    ("", "events"): frozenset({"create"}),
}
PEERING_VERBS = frozenset({"get", "list", "watch", "patch"})
DISCOVERY_RULES: dict[tuple[str, str], frozenset[str]] = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): frozenset({"list", "watch"}),
    ("", "namespaces"): frozenset({"list", "watch"}),
    ("", "nodes"): frozenset({"get"}),
}
# Stand-ins for prometheus-operator's CRDs (same group, kinds and names; any spec), so the
# monitoring objects can be installed into the local control plane.
MONITORING_KINDS = (
    ("ServiceMonitor", "servicemonitors"),
    ("PodMonitor", "podmonitors"),
    ("PrometheusRule", "prometheusrules"),
)


def _rules(role: Mapping[str, Any]) -> dict[tuple[str, str], frozenset[str]]:
    """(apiGroup, resource) → verbs, a resource granted by name as ``resource/name``; fails on a
    pair granted twice, which hides what is granted."""
    granted: dict[tuple[str, str], frozenset[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for name in rule.get("resourceNames") or [None]:
                    key = (group, resource if name is None else f"{resource}/{name}")
                    assert key not in granted, f"{group}/{key[1]} granted twice"
                    granted[key] = frozenset(rule["verbs"])
    return granted


def _cluster_rules(region: str) -> dict[tuple[str, str], frozenset[str]]:
    """What the operator may do cluster-wide: discovery, and change the region's webhook
    configuration (its admission webhook's registration), and no other, nor create one."""
    webhooks = configuration_name(settings=OperatorSettings(region=region))
    return DISCOVERY_RULES | {
        ("admissionregistration.k8s.io", f"mutatingwebhookconfigurations/{webhooks}"): frozenset(
            {"patch"}
        )
    }


def _settings_of(release: Release, *, tmp_path: Path) -> Any:
    (config_map,) = [
        cm
        for cm in release.find(kind="ConfigMap")
        if cm["metadata"]["labels"].get("app.kubernetes.io/component") == "operator"
    ]
    path = tmp_path / f"{release.name}.yaml"
    path.write_text(config_map["data"]["operator.yaml"])
    return load_settings(path=path)


def _pod_specs(release: Release) -> dict[str, dict[str, Any]]:
    return {
        f"{doc['kind']}/{doc['metadata']['name']}": doc["spec"]["template"]["spec"]
        for doc in release.documents
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    }


@pytest.fixture(scope="module")
def regions(cluster: ClusterAccess) -> dict[str, Release]:
    """The four default regions, rendered as the install manifests are."""
    return render_regions(kubeconfig=cluster.kubeconfig)


@pytest.fixture(scope="module")
def render_namespace(core_v1: client.CoreV1Api) -> Iterator[str]:
    name = f"helm-render-{uuid.uuid4().hex[:6]}"
    yield name
    core_v1.delete_namespace(name, propagation_policy="Background")


def _render(*, cluster: ClusterAccess, namespace: str, values: Mapping[str, Any]) -> Release:
    return render(
        kubeconfig=cluster.kubeconfig, release="variant", namespace=namespace, values=values
    )


@pytest.mark.parametrize("region", DEFAULT_REGIONS)
def test_operator_settings_carry_the_region_and_the_exchange_map(
    regions: dict[str, Release], region: str, tmp_path: Path
) -> None:
    settings = _settings_of(regions[region], tmp_path=tmp_path)
    assert settings.region == region
    assert settings.exchange_regions["binance"] == "ap-northeast-1"
    assert settings.exchange_regions["okx"] == "ap-southeast-1"
    assert settings.exchange_regions["kraken"] == "eu-central-1"
    assert settings.exchange_regions["coinbase"] == "us-east-1"
    assert settings.peering_name == f"tradefleet-{region}"
    # Issue 20: the release's own namespace by default, never the whole cluster.
    assert settings.namespaces == (INSTALL_NAMESPACE,)
    assert (
        settings.redis_url
        == f"redis://{region_release(region)}-redis.{INSTALL_NAMESPACE}.svc:6379/0"
    )
    assert settings.runtime_image == "ghcr.io/tradefleet/bot-runtime:0.1.0"
    assert settings.node_lost_timeout_s == 60.0
    # Every object of the release says which region it belongs to.
    for doc in regions[region].documents:
        if doc["kind"] != "CustomResourceDefinition":
            assert doc["metadata"]["labels"]["tradefleet.io/region"] == region, doc["kind"]


def test_exchange_map_overrides_reach_the_operator(
    cluster: ClusterAccess, render_namespace: str, tmp_path: Path
) -> None:
    release = _render(
        cluster=cluster,
        namespace=render_namespace,
        values={
            "region": "eu-west-1",
            "crds": {"create": False},
            "exchangeRegions": {"binance": "eu-west-1"},
        },
    )
    settings = _settings_of(release, tmp_path=tmp_path)
    assert settings.region == "eu-west-1"
    assert settings.exchange_regions["binance"] == "eu-west-1"
    # Keys left out keep the chart's defaults.
    assert settings.exchange_regions["okx"] == "ap-southeast-1"
    assert release.find(kind="CustomResourceDefinition") == []


def test_bots_may_run_only_the_charts_images_and_the_allowed_prefixes(
    regions: dict[str, Release], cluster: ClusterAccess, render_namespace: str, tmp_path: Path
) -> None:
    """Issue 20: spec.image is checked against the chart's own images, plus the value's prefixes."""
    default = _settings_of(regions[DEFAULT_REGIONS[0]], tmp_path=tmp_path)
    assert default.allowed_image_prefixes == (
        "ghcr.io/tradefleet/operator",
        "ghcr.io/tradefleet/bot-runtime",
        "ghcr.io/tradefleet/research",
    )
    release = _render(
        cluster=cluster,
        namespace=render_namespace,
        values={
            "region": "eu-west-1",
            "crds": {"create": False},
            "runtime": {
                "image": {"repository": "registry.local/tf/bot-runtime"},
                "allowedImagePrefixes": ["registry.example.com/quant/"],
            },
        },
    )
    assert _settings_of(release, tmp_path=tmp_path).allowed_image_prefixes == (
        "ghcr.io/tradefleet/operator",
        "registry.local/tf/bot-runtime",
        "ghcr.io/tradefleet/research",
        "registry.example.com/quant/",
    )


@pytest.mark.parametrize("region", DEFAULT_REGIONS)
def test_rbac_grants_exactly_what_the_operator_needs(
    regions: dict[str, Release], region: str
) -> None:
    """Issue 20: by default a Role in the release's namespace; cluster-wide only discovery (no
    ClusterRole grants Secrets)."""
    release = regions[region]
    operator = f"{release.name}-operator"
    (cluster_role,) = release.find(kind="ClusterRole")
    assert cluster_role["metadata"]["name"] == f"{operator}-discovery"
    assert _rules(cluster_role) == _cluster_rules(region)
    # The chart owns the configuration the operator fills in, so that an uninstall removes it.
    assert [
        doc["metadata"]["name"] for doc in release.find(kind="MutatingWebhookConfiguration")
    ] == [configuration_name(settings=OperatorSettings(region=region))]
    (role,) = release.find(kind="Role")
    assert role["metadata"]["namespace"] == INSTALL_NAMESPACE
    assert _rules(role) == {**OPERATOR_RULES, ("kopf.dev", "kopfpeerings"): PEERING_VERBS}
    subject = {"kind": "ServiceAccount", "name": operator, "namespace": INSTALL_NAMESPACE}
    for binding in release.find(kind="ClusterRoleBinding") + release.find(kind="RoleBinding"):
        assert binding["subjects"] == [subject]
    text = release.manifest
    assert "'*'" not in text
    assert '"*"' not in text
    assert "[*]" not in text


def test_cluster_wide_rights_need_the_explicit_value(
    regions: dict[str, Release], cluster: ClusterAccess, render_namespace: str, tmp_path: Path
) -> None:
    """With ``rbac.clusterWide`` (the regions' renders installed the peering CRDs it needs)."""
    release = _render(
        cluster=cluster,
        namespace=render_namespace,
        values={"region": "us-east-1", "crds": {"create": False}, "rbac": {"clusterWide": True}},
    )
    assert _settings_of(release, tmp_path=tmp_path).namespaces == ()
    operator = f"{release.name}-tradefleet-operator"
    roles = {doc["metadata"]["name"]: doc for doc in release.find(kind="ClusterRole")}
    assert set(roles) == {operator, f"{operator}-discovery"}
    assert _rules(roles[operator]) == {
        **OPERATOR_RULES,
        ("kopf.dev", "clusterkopfpeerings"): PEERING_VERBS,
    }
    assert release.find(kind="Role") == []
    (peering,) = release.find(kind="ClusterKopfPeering")
    assert peering["metadata"]["name"] == "tradefleet-us-east-1"


def test_watched_namespaces_get_a_role_and_a_peering_each(
    cluster: ClusterAccess, core_v1: client.CoreV1Api, render_namespace: str, tmp_path: Path
) -> None:
    watched = [f"desk-a-{uuid.uuid4().hex[:6]}", f"desk-b-{uuid.uuid4().hex[:6]}"]
    for name in watched:
        core_v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        release = _render(
            cluster=cluster,
            namespace=render_namespace,
            values={"region": "us-east-1", "crds": {"create": False}, "watchNamespaces": watched},
        )
    finally:
        for name in watched:
            core_v1.delete_namespace(name, propagation_policy="Background")
    assert _settings_of(release, tmp_path=tmp_path).namespaces == tuple(watched)
    roles = release.find(kind="Role")
    assert sorted(role["metadata"]["namespace"] for role in roles) == sorted(watched)
    for role in roles:
        assert _rules(role) == {**OPERATOR_RULES, ("kopf.dev", "kopfpeerings"): PEERING_VERBS}
    bindings = release.find(kind="RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(watched)
    # Nothing cluster-wide but discovery and the webhook's registration.
    (cluster_role,) = release.find(kind="ClusterRole")
    assert _rules(cluster_role) == _cluster_rules("us-east-1")
    peerings = release.find(kind="KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == sorted(watched)
    assert {p["metadata"]["name"] for p in peerings} == {"tradefleet-us-east-1"}
    assert release.find(kind="ClusterKopfPeering") == []


def _assert_restricted(*, where: str, pod_spec: Mapping[str, Any]) -> None:
    pod_security = pod_spec["securityContext"]
    assert pod_security["runAsNonRoot"] is True, where
    assert pod_security["runAsUser"] > 0, where
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, where
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod_spec.get(flag), f"{where}: {flag}"
    for volume in pod_spec.get("volumes") or []:
        assert "hostPath" not in volume, f"{where}: hostPath volume {volume['name']}"
    containers = [*pod_spec["containers"], *(pod_spec.get("initContainers") or [])]
    for container in containers:
        what = f"{where} container {container['name']}"
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True, what
        assert security["allowPrivilegeEscalation"] is False, what
        assert security["readOnlyRootFilesystem"] is True, what
        assert security["capabilities"] == {"drop": ["ALL"]}, what
        assert "privileged" not in security, what


@pytest.mark.parametrize("region", DEFAULT_REGIONS)
def test_every_pod_and_container_is_restricted(regions: dict[str, Release], region: str) -> None:
    pods = _pod_specs(regions[region])
    name = region_release(region)
    assert set(pods) == {f"Deployment/{name}-operator", f"StatefulSet/{name}-redis"}
    for where, pod_spec in pods.items():
        _assert_restricted(where=where, pod_spec=pod_spec)


def test_the_operator_is_one_recreated_replica_in_a_peering_of_its_region(
    regions: dict[str, Release],
) -> None:
    release = regions["ap-northeast-1"]
    (deployment,) = release.find(kind="Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "--standalone" not in container["command"] + container["args"]
    assert "--config=/etc/tradefleet-operator/operator.yaml" in container["args"]
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == f"{release.name}-operator"
    # The operator's pods carry the label the bots' NetworkPolicies admit.
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == (
        "tradefleet-operator"
    )
    (peering,) = release.find(kind="KopfPeering")
    assert peering["metadata"]["name"] == "tradefleet-ap-northeast-1"
    assert peering["metadata"]["namespace"] == INSTALL_NAMESPACE
    assert peering["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"


def test_redis_keeps_an_append_only_file_on_its_own_volume(regions: dict[str, Release]) -> None:
    release = regions["eu-central-1"]
    (statefulset,) = release.find(kind="StatefulSet")
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    # Each write on disk before Redis acknowledges it: a node crash loses no money state.
    assert command[command.index("--appendfsync") + 1] == "always"
    assert command[command.index("--dir") + 1] == "/data"
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    policies = {p["metadata"]["name"]: p["spec"] for p in release.find(kind="NetworkPolicy")}
    redis_policy = policies[f"{release.name}-redis"]
    assert redis_policy["egress"] == []
    admitted = [peer["podSelector"]["matchLabels"] for peer in redis_policy["ingress"][0]["from"]]
    assert {"app.kubernetes.io/name": "tradefleet-bot"} in admitted


def test_an_external_redis_replaces_the_regions_own(
    cluster: ClusterAccess, render_namespace: str, tmp_path: Path
) -> None:
    url = "rediss://redis.example.internal:6380/2"
    release = _render(
        cluster=cluster,
        namespace=render_namespace,
        values={
            "region": "us-east-1",
            "crds": {"create": False},
            "redis": {"external": {"url": url}, "auth": {"existingSecret": "bank-redis"}},
        },
    )
    assert release.find(kind="StatefulSet") == []
    assert release.find(kind="Secret") == []
    assert {s["metadata"]["name"] for s in release.find(kind="Service")} == {
        "variant-tradefleet-operator-metrics",
        "variant-tradefleet-operator-webhook",
    }
    settings = _settings_of(release, tmp_path=tmp_path)
    assert (settings.redis_url, settings.redis_acl) == (url, True)
    operator = _pod_specs(release)["Deployment/variant-tradefleet-operator"]["containers"][0]
    assert {
        "name": "TRADEFLEET_REDIS_ADMIN_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "bank-redis", "key": "password"}},
    } in operator["env"]


def _env_of(container: Mapping[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("valueFrom") or e.get("value") for e in container.get("env") or []}


def test_redis_requires_a_password_only_the_operator_is_given(
    regions: dict[str, Release], tmp_path: Path
) -> None:
    release = regions["ap-northeast-1"]
    secret = {"secretKeyRef": {"name": f"{release.name}-redis-auth", "key": "password"}}
    pods = _pod_specs(release)
    (redis,) = pods[f"StatefulSet/{release.name}-redis"]["containers"]
    command = redis["command"]
    assert command[command.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert _env_of(redis)["REDIS_PASSWORD"] == secret
    assert _env_of(redis)["REDISCLI_AUTH"] == secret  # the readiness probe's redis-cli
    (operator,) = pods[f"Deployment/{release.name}-operator"]["containers"]
    assert _env_of(operator)["TRADEFLEET_REDIS_ADMIN_PASSWORD"] == secret
    # The operator writes one ACL user per bot and source with it.
    assert _settings_of(release, tmp_path=tmp_path).redis_acl is True
    # Only pods of the watched namespaces may reach Redis at all.
    policies = {p["metadata"]["name"]: p["spec"] for p in release.find(kind="NetworkPolicy")}
    for peer in policies[f"{release.name}-redis"]["ingress"][0]["from"]:
        if "namespaceSelector" in peer:
            (expression,) = peer["namespaceSelector"]["matchExpressions"]
            assert expression["values"] == [INSTALL_NAMESPACE]


def test_without_an_existing_secret_the_chart_makes_redis_a_password_and_keeps_it(
    cluster: ClusterAccess, render_namespace: str
) -> None:
    release = _render(
        cluster=cluster,
        namespace=render_namespace,
        values={"region": "us-east-1", "crds": {"create": False}},
    )
    (secret,) = release.find(kind="Secret")
    assert secret["metadata"]["name"] == "variant-tradefleet-redis-auth"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    password = base64.b64decode(secret["data"]["password"]).decode()
    assert len(password) == 40 and password.isalnum()
    # Kept on uninstall; a second install finds it and keeps the password.
    again = _render(
        cluster=cluster,
        namespace=render_namespace,
        values={"region": "us-east-1", "crds": {"create": False}},
    )
    (kept,) = again.find(kind="Secret")
    assert kept["data"]["password"] == secret["data"]["password"]


@pytest.mark.parametrize("region", DEFAULT_REGIONS)
def test_crds_are_the_apis_and_kept_on_uninstall(
    regions: dict[str, Release], region: str, api_client: client.ApiClient
) -> None:
    crds = {
        doc["metadata"]["name"]: doc
        for doc in regions[region].find(kind="CustomResourceDefinition")
    }
    assert set(crds) == {
        "tradingbots.tradefleet.io",
        "signalsources.tradefleet.io",
        "exchangeaccounts.tradefleet.io",
        "kopfpeerings.kopf.dev",
        "clusterkopfpeerings.kopf.dev",
    }
    for path in sorted((REPO / "crds").glob("*.yaml")):
        source = yaml.safe_load(path.read_text())
        rendered = crds[source["metadata"]["name"]]
        assert rendered["spec"] == source["spec"]
    for crd in crds.values():
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # Rendering uninstalled every release; the CRDs are still served.
    served = {
        crd.metadata.name
        for crd in client.ApiextensionsV1Api(api_client).list_custom_resource_definition().items
    }
    assert set(crds) <= served


def _monitoring_crds(api_client: client.ApiClient) -> None:
    extensions = client.ApiextensionsV1Api(api_client)
    existing = {crd.metadata.name for crd in extensions.list_custom_resource_definition().items}
    for kind, plural in MONITORING_KINDS:
        if f"{plural}.monitoring.coreos.com" in existing:
            continue
        extensions.create_custom_resource_definition(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{plural}.monitoring.coreos.com"},
                "spec": {
                    "group": "monitoring.coreos.com",
                    "scope": "Namespaced",
                    "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
                    "versions": [
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "schema": {
                                "openAPIV3Schema": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    ],
                },
            }
        )


def test_monitoring_objects_embed_the_checked_rules_and_dashboard(
    cluster: ClusterAccess, api_client: client.ApiClient, render_namespace: str
) -> None:
    _monitoring_crds(api_client)
    runbooks = "https://runbooks.example.org/tradefleet/"
    release = _render(
        cluster=cluster,
        namespace=render_namespace,
        values={
            "region": "ap-southeast-1",
            "crds": {"create": False},
            "metrics": {
                "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus"}},
                "podMonitor": {"enabled": True},
                "prometheusRule": {"enabled": True, "runbookBaseUrl": runbooks},
            },
            "grafana": {"dashboard": {"enabled": True}},
        },
    )
    (service_monitor,) = release.find(kind="ServiceMonitor")
    assert service_monitor["metadata"]["labels"]["release"] == "kube-prometheus"
    (endpoint,) = service_monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["honorLabels"] is True
    (pod_monitor,) = release.find(kind="PodMonitor")
    # The bots of the watched namespaces: by default the release's own (issue 20).
    assert pod_monitor["spec"]["namespaceSelector"] == {"matchNames": [release.namespace]}
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "http"
    (rule,) = release.find(kind="PrometheusRule")
    source = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    rendered_rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    source_rules = [r for group in source["groups"] for r in group["rules"]]
    assert [r["expr"] for r in rendered_rules] == [r["expr"] for r in source_rules]
    for rendered in rendered_rules:
        assert rendered["annotations"]["runbook_url"] == f"{runbooks}{rendered['alert']}.md"
    (dashboard,) = [
        cm for cm in release.find(kind="ConfigMap") if cm["metadata"]["name"].endswith("-dashboard")
    ]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["tradefleet.json"]) == json.loads(
        (CHART / "files" / "grafana-dashboard.json").read_text()
    )


# (values, text Helm's answer must contain): the schema's and the templates' refusals.
BAD_VALUES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("no region", {}, ["region is required", "--set region="]),
    ("region not a label", {"region": "Tokyo"}, ["/region", "'Tokyo' does not match pattern"]),
    (
        "unknown exchange",
        {"region": "us-east-1", "exchangeRegions": {"mtgox": "ap-northeast-1"}},
        ["/exchangeRegions", "additional properties 'mtgox' not allowed"],
    ),
    (
        "exchange mapped to a bad region",
        {"region": "us-east-1", "exchangeRegions": {"binance": "Tokyo 1"}},
        ["/exchangeRegions/binance", "'Tokyo 1' does not match pattern"],
    ),
    (
        "two operators",
        {"region": "us-east-1", "operator": {"replicas": 2}},
        ["/operator/replicas", "maximum"],
    ),
    (
        "privileged metrics port",
        {"region": "us-east-1", "operator": {"metricsPort": 80}},
        ["/operator/metricsPort", "minimum"],
    ),
    (
        "metrics and health on one port",
        {"region": "us-east-1", "operator": {"metricsPort": 9000, "healthPort": 9000}},
        ["operator.metricsPort, operator.healthPort and operator.webhookPort must differ"],
    ),
    (
        "webhook and health on one port",
        {"region": "us-east-1", "operator": {"webhookPort": 8081}},
        ["operator.metricsPort, operator.healthPort and operator.webhookPort must differ"],
    ),
    (
        "unknown log level",
        {"region": "us-east-1", "operator": {"logLevel": "VERBOSE"}},
        ["/operator/logLevel", "'DEBUG'", "'INFO'"],
    ),
    (
        "namespace not a label",
        {"region": "us-east-1", "watchNamespaces": ["Trading_Desk"]},
        ["/watchNamespaces/0", "does not match pattern"],
    ),
    (
        "redis url without scheme",
        {"region": "us-east-1", "redis": {"external": {"url": "redis-host:6379"}}},
        ["/redis/external/url", "does not match pattern"],
    ),
    (
        "external redis without its password",
        {"region": "us-east-1", "redis": {"external": {"url": "redis://redis.example:6379/0"}}},
        ["redis.auth.existingSecret", "redis.auth.enabled: false"],
    ),
    (
        "unknown region affinity",
        {"region": "us-east-1", "regionAffinity": "sometimes"},
        ["/regionAffinity", "'preferred'"],
    ),
    ("misspelt key", {"region": "us-east-1", "regoin": "us-east-1"}, ["regoin", "not allowed"]),
    (
        "zero reconcile interval",
        {"region": "us-east-1", "operator": {"reconcileIntervalSeconds": 0}},
        ["/operator/reconcileIntervalSeconds", "exclusiveMinimum"],
    ),
    (
        "runtime env value not a string",
        {"region": "us-east-1", "runtime": {"env": {"WORKERS": 4}}},
        ["/runtime/env/WORKERS", "want string"],
    ),
    (
        "redis volume size not a quantity",
        {"region": "us-east-1", "redis": {"storage": {"size": "2 GB"}}},
        ["/redis/storage/size", "does not match pattern"],
    ),
    (
        "unknown appendfsync policy",
        {"region": "us-east-1", "redis": {"appendfsync": "sometimes"}},
        ["/redis/appendfsync", "'always'"],
    ),
    (
        "crds.create not a boolean",
        {"region": "us-east-1", "crds": {"create": "yes"}},
        ["/crds/create", "want boolean"],
    ),
]


@pytest.mark.parametrize(
    ("values", "expected"),
    [pytest.param(values, expected, id=case) for case, values, expected in BAD_VALUES],
)
def test_bad_values_are_refused_with_a_clear_message(
    cluster: ClusterAccess, render_namespace: str, values: dict[str, Any], expected: list[str]
) -> None:
    with pytest.raises(ChartError) as refused:
        install(
            kubeconfig=cluster.kubeconfig,
            release="refused",
            namespace=render_namespace,
            values=values,
        )
        uninstall(kubeconfig=cluster.kubeconfig, release="refused", namespace=render_namespace)
    message = str(refused.value)
    for fragment in expected:
        assert fragment in message, message


def test_the_install_manifests_are_what_the_chart_renders(regions: dict[str, Release]) -> None:
    out_of_date = [
        name
        for name, text in manifest_files(releases=regions).items()
        if (REPO / "manifests" / "install" / name).read_text() != text
    ]
    assert out_of_date == [], "run scripts/render-manifests.sh"
