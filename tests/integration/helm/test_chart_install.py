"""The chart installed for real: its operator runs as a pod and reconciles a bot of its region.

helm-sdkpy installs the chart into the local control plane; a dev node agent plays a Tokyo node
and runs the operator pod (the agent runs the container's command as a local process: the
project's Python, since no image is pulled) with in-cluster configuration from its service
account. Dev values: the pod is pinned to the agent's node, Redis is the test's redis-server with
a password (``redis.external.url`` and ``redis.auth.existingSecret``: the operator writes the
bot's ACL user), the ports are free ones, and the operator watches one namespace.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import yaml
from chart_install import REPO, install, uninstall
from kubernetes import client
from kubernetes.client.rest import ApiException
from support.k8s import condition, wait_for
from tradefleet_devtools.controlplane import ClusterAccess, free_port
from tradefleet_devtools.devnode import DevNodeAgentHandle, NodeSpec, start_dev_node_agent
from tradefleet_devtools.redis_server import LocalRedis, RedisAccess

pytestmark = pytest.mark.integration

REGION = "ap-northeast-1"
NODE = NodeSpec(name=f"helm-test-tokyo-{uuid.uuid4().hex[:6]}", region=REGION)
RELEASE = "tradefleet-tokyo"
BOTS = ("tradefleet.io", "v1alpha1", "tradingbots")


@pytest.fixture(scope="module")
def tokyo_node(
    cluster: ClusterAccess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevNodeAgentHandle]:
    handle = start_dev_node_agent(
        cluster=cluster,
        state_dir=tmp_path_factory.mktemp("helm-devnode"),
        nodes=[NODE],
        backoff_base_s=1.0,
        backoff_max_s=30.0,
    )
    try:
        yield handle
    finally:
        handle.stop()


REDIS_PASSWORD = "chart-test-redis-password-5e1f"


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisAccess]:
    """A redis-server with a password, as the chart's (redis.auth) is."""
    locked = LocalRedis(workdir=tmp_path_factory.mktemp("helm-redis"), password=REDIS_PASSWORD)
    with locked.running() as access:
        yield access


@pytest.fixture
def bots_namespace(core_v1: client.CoreV1Api) -> Iterator[str]:
    name = f"helm-bots-{uuid.uuid4().hex[:6]}"
    core_v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core_v1.delete_namespace(name, propagation_policy="Background")


def _example_bot(filename: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (REPO / "manifests" / "examples" / filename).read_text()
    )
    return loaded


def _bot(custom: client.CustomObjectsApi, *, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = custom.get_namespaced_custom_object(
            *BOTS[:2], namespace, BOTS[2], name
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found


def _delete_bots(*, custom: client.CustomObjectsApi, namespace: str) -> None:
    """Delete the bots while the operator still runs to settle them and release its finalizer.

    Whatever is left after a minute (an operator that never worked) loses its finalizers, so the
    namespace can go.
    """
    for bot in custom.list_namespaced_custom_object(*BOTS[:2], namespace, BOTS[2])["items"]:
        custom.delete_namespaced_custom_object(
            *BOTS[:2], namespace, BOTS[2], bot["metadata"]["name"]
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = custom.list_namespaced_custom_object(*BOTS[:2], namespace, BOTS[2])["items"]
        if not left:
            return
        time.sleep(0.5)
    for bot in left:
        custom.patch_namespaced_custom_object(
            *BOTS[:2],
            namespace,
            BOTS[2],
            bot["metadata"]["name"],
            {"metadata": {"finalizers": None}},
        )


def _operator_log(*, agent: DevNodeAgentHandle, core_v1: client.CoreV1Api, namespace: str) -> str:
    pods = core_v1.list_namespaced_pod(
        namespace, label_selector="app.kubernetes.io/name=tradefleet-operator"
    ).items
    lines: list[str] = []
    for pod in pods:
        path = agent.container_log(namespace=namespace, pod=pod.metadata.name, container="operator")
        if path is not None and path.exists():
            # Without the probes' access log lines.
            lines.extend(
                line
                for line in path.read_text(errors="replace").splitlines()
                if "aiohttp.access" not in line
            )
    return "\n".join(lines)


def test_the_installed_operator_reconciles_a_bot_of_its_region(
    cluster: ClusterAccess,
    tokyo_node: DevNodeAgentHandle,
    locked_redis: RedisAccess,
    api_client: client.ApiClient,
    core_v1: client.CoreV1Api,
    namespace: str,
    bots_namespace: str,
) -> None:
    values = {
        "region": REGION,
        "watchNamespaces": [bots_namespace],
        "redis": {
            "external": {"url": locked_redis.url},
            "auth": {"existingSecret": "tokyo-redis"},
        },
        "operator": {
            "nodeSelector": {"kubernetes.io/hostname": NODE.name},
            # Pods of the dev node agent share the host's ports.
            "metricsPort": free_port(),
            "healthPort": free_port(),
            "webhookPort": free_port(),
            "reconcileIntervalSeconds": 5,
            "deletionTimeoutSeconds": 5,
        },
    }
    custom = client.CustomObjectsApi(api_client)
    core_v1.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="tokyo-redis"),
            string_data={"password": REDIS_PASSWORD},
        ),
    )
    # Helm waits until the operator's Deployment is available: the pod passed its probes.
    install(
        kubeconfig=cluster.kubeconfig,
        release=RELEASE,
        namespace=namespace,
        values=values,
        wait=True,
        timeout_s=180,
    )
    try:
        deployment = client.AppsV1Api(api_client).read_namespaced_deployment(
            f"{RELEASE}-operator", namespace
        )
        assert deployment.status.available_replicas == 1
        (pod,) = core_v1.list_namespaced_pod(
            namespace, label_selector="app.kubernetes.io/name=tradefleet-operator"
        ).items
        assert pod.spec.node_name == NODE.name

        # The operator registered in its region's peering: it runs coordinated, not standalone.
        peering = wait_for(
            lambda: (
                custom.get_namespaced_custom_object(
                    "kopf.dev", "v1", bots_namespace, "kopfpeerings", f"tradefleet-{REGION}"
                ).get("status")
                or None
            ),
            timeout_s=60,
            what="the operator's entry in its KopfPeering",
        )
        assert len(peering) == 1

        tokyo_bot = _example_bot("10-tradingbot-binance-btc-paper.yaml")
        singapore_bot = _example_bot("11-tradingbot-okx-eth-paper.yaml")
        # The operator registers its admission webhook, reached through the chart's Service, in
        # the configuration the chart made, at start. The dev node's pods have loopback
        # addresses, which a Service's Endpoints refuse: here the apiserver finds no endpoint,
        # fails open, and the operator sets its finalizer by a write of its own, as for any bot
        # created while its webhook is unreachable.
        (hook,) = wait_for(
            lambda: [
                hook
                for config in client.AdmissionregistrationV1Api(api_client)
                .list_mutating_webhook_configuration()
                .items
                for hook in config.webhooks or []
                if hook.client_config.service is not None
                and hook.client_config.service.name == f"{RELEASE}-operator-webhook"
            ],
            timeout_s=60,
            what="the operator's admission webhook",
        )
        assert hook.client_config.service.namespace == namespace
        assert hook.client_config.ca_bundle
        assert hook.failure_policy == "Ignore"
        assert hook.client_config.service.path == "/finalizer"
        for bot in (tokyo_bot, singapore_bot):
            custom.create_namespaced_custom_object(*BOTS[:2], bots_namespace, BOTS[2], bot)

        reconciled = wait_for(
            lambda: condition(
                _bot(custom, namespace=bots_namespace, name=tokyo_bot["metadata"]["name"]) or {},
                "Reconciled",
            ),
            timeout_s=90,
            what="the Binance bot's Reconciled condition",
        )
        assert reconciled["status"] == "True", reconciled
        tokyo = _bot(custom, namespace=bots_namespace, name=tokyo_bot["metadata"]["name"])
        assert tokyo is not None
        assert tokyo["status"]["region"] == REGION
        # The bot's own Redis user: its Secret, its pod's login, its rules in Redis.
        bot_name = tokyo_bot["metadata"]["name"]
        login = core_v1.read_namespaced_secret(f"{bot_name}-redis", bots_namespace)
        username = base64.b64decode(login.data["username"]).decode()
        assert username == f"tradefleet:bot:{bots_namespace}:{bot_name}"
        env = {
            e.name: e.value_from.secret_key_ref.name
            for e in client.AppsV1Api(api_client)
            .read_namespaced_deployment(bot_name, bots_namespace)
            .spec.template.spec.containers[0]
            .env
            if e.value_from is not None and e.value_from.secret_key_ref is not None
        }
        assert (
            env["TRADEFLEET_REDIS_USERNAME"]
            == env["TRADEFLEET_REDIS_PASSWORD"]
            == login.metadata.name
        )
        acl = redis.Redis(port=locked_redis.port, password=REDIS_PASSWORD, decode_responses=True)
        rules = acl.acl_getuser(username)
        acl.close()
        keys = rules["keys"] if isinstance(rules["keys"], list) else rules["keys"].split()
        # Its own keys; read-only, the streams of the sources it references.
        referenced = sorted(ref["name"] for ref in tokyo_bot["spec"]["strategy"]["signalSources"])
        assert referenced, "the example bot references signal sources"
        assert keys == [
            f"~tradefleet:bot:{bots_namespace}:{bot_name}:*",
            *(f"%R~tradefleet:signals:{bots_namespace}:{name}" for name in referenced),
        ], rules
        # The exchange map from the chart's values: OKX belongs to the Singapore operator.
        not_owned = wait_for(
            lambda: (
                (
                    _bot(custom, namespace=bots_namespace, name=singapore_bot["metadata"]["name"])
                    or {}
                )
                .get("status", {})
                .get("phase")
                == "NotOwned"
            ),
            timeout_s=60,
            what="the OKX bot reported as another region's",
        )
        assert not_owned
        assert (
            client.AppsV1Api(api_client)
            .read_namespaced_deployment(tokyo_bot["metadata"]["name"], bots_namespace)
            .spec.template.spec.affinity.node_affinity
            is not None
        )
    except AssertionError as failure:
        log = _operator_log(agent=tokyo_node, core_v1=core_v1, namespace=namespace)
        raise AssertionError(
            f"{failure}\n--- operator log, last lines ---\n{log[-4000:]}"
        ) from failure
    finally:
        _delete_bots(custom=custom, namespace=bots_namespace)
        log = _operator_log(agent=tokyo_node, core_v1=core_v1, namespace=namespace)
        uninstall(kubeconfig=cluster.kubeconfig, release=RELEASE, namespace=namespace)
    assert "tradefleet operator serving region ap-northeast-1" in log
    assert "Traceback" not in log, log[-3000:]
    # The uninstall took the webhook's configuration with it: no webhook of a gone operator is
    # left for the apiserver to call.
    configurations = client.AdmissionregistrationV1Api(
        api_client
    ).list_mutating_webhook_configuration()
    assert f"{REGION}.admission.tradefleet.io" not in [
        config.metadata.name for config in configurations.items
    ]
