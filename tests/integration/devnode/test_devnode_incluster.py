"""Pods the dev node agent runs reach the apiserver with in-cluster configuration, as on a kubelet.

The agent gives every container ``KUBERNETES_SERVICE_HOST``/``_PORT`` for the apiserver it talks
to, next to the service-account token volume the ServiceAccount admission plugin adds, so
``kubernetes.config.load_incluster_config()`` works and requests carry the pod's own identity.
"""

from __future__ import annotations

import textwrap

import pytest
from devnode_support import TOKYO, create_pod, pod_manifest, wait_for_pod
from kubernetes import client
from tradefleet_devtools.controlplane import ClusterAccess
from tradefleet_devtools.devnode import DevNodeAgentHandle

pytestmark = pytest.mark.integration

# Lists ConfigMaps (allowed by the Role below) and Secrets (not allowed) as the pod's identity.
IN_CLUSTER_LISTER = textwrap.dedent(
    """
    import os
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    config.load_incluster_config()
    api = client.CoreV1Api()
    namespace = os.environ["NAMESPACE"]
    names = sorted(cm.metadata.name for cm in api.list_namespaced_config_map(namespace).items)
    print("configmaps:", ",".join(names))
    try:
        api.list_namespaced_secret(namespace)
        print("secrets: allowed")
    except ApiException as exc:
        print("secrets:", exc.status)
    """
)
# What a container sees of the apiserver's address.
SERVICE_VARIABLES = textwrap.dedent(
    """
    import os

    print("server:", os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
    print("https port:", os.environ["KUBERNETES_SERVICE_PORT_HTTPS"])
    print("derived:", os.environ["DERIVED"])
    """
)


def _grant_configmap_listing(
    *, api_client: client.ApiClient, core_v1: client.CoreV1Api, namespace: str
) -> None:
    core_v1.create_namespaced_service_account(namespace, {"metadata": {"name": "lister"}})
    rbac = client.RbacAuthorizationV1Api(api_client)
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "list-configmaps"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "lister-lists-configmaps"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "list-configmaps",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "lister", "namespace": namespace}],
        },
    )


def _run_to_completion(
    *,
    dev_node_agent: DevNodeAgentHandle,
    core_v1: client.CoreV1Api,
    namespace: str,
    name: str,
    script: str,
    env: list[dict[str, object]],
    service_account: str = "default",
) -> str:
    manifest = pod_manifest(
        name=name,
        command=["python", "-c", script],
        node_name=TOKYO.name,
        restart_policy="Never",
        container={
            "env": [
                {
                    "name": "NAMESPACE",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                },
                *env,
            ]
        },
        pod_spec={"serviceAccountName": service_account},
    )
    create_pod(core_v1, namespace=namespace, manifest=manifest)
    pod = wait_for_pod(
        core_v1,
        namespace=namespace,
        name=name,
        what="run to completion",
        check=lambda p: p.status.phase in ("Succeeded", "Failed"),
    )
    log = dev_node_agent.container_log(namespace=namespace, pod=name, container="main")
    assert log is not None
    output = log.read_text()
    assert pod.status.phase == "Succeeded", output
    return output


def test_a_pod_lists_what_its_service_account_may_list_with_in_cluster_config(
    dev_node_agent: DevNodeAgentHandle,
    cluster: ClusterAccess,
    api_client: client.ApiClient,
    core_v1: client.CoreV1Api,
    namespace: str,
) -> None:
    _grant_configmap_listing(api_client=api_client, core_v1=core_v1, namespace=namespace)
    core_v1.create_namespaced_config_map(
        namespace, {"metadata": {"name": "visible"}, "data": {"k": "v"}}
    )
    output = _run_to_completion(
        dev_node_agent=dev_node_agent,
        core_v1=core_v1,
        namespace=namespace,
        name="lister",
        script=IN_CLUSTER_LISTER,
        env=[],
        service_account="lister",
    )
    listed = next(line for line in output.splitlines() if line.startswith("configmaps: "))
    assert "visible" in listed.removeprefix("configmaps: ").split(",")
    # The token is the pod's ServiceAccount's, not the agent's admin credentials.
    assert "secrets: 403" in output


def test_service_variables_name_the_apiserver_and_expand_in_the_pods_env(
    dev_node_agent: DevNodeAgentHandle,
    cluster: ClusterAccess,
    core_v1: client.CoreV1Api,
    namespace: str,
) -> None:
    output = _run_to_completion(
        dev_node_agent=dev_node_agent,
        core_v1=core_v1,
        namespace=namespace,
        name="service-variables",
        script=SERVICE_VARIABLES,
        env=[{"name": "DERIVED", "value": "$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"}],
    )
    port = cluster.server.rsplit(":", 1)[1]
    assert f"server: 127.0.0.1 {port}" in output
    assert f"https port: {port}" in output
    assert f"derived: 127.0.0.1:{port}" in output


def test_a_pod_that_sets_the_service_variables_keeps_its_own_values(
    dev_node_agent: DevNodeAgentHandle,
    cluster: ClusterAccess,
    core_v1: client.CoreV1Api,
    namespace: str,
) -> None:
    output = _run_to_completion(
        dev_node_agent=dev_node_agent,
        core_v1=core_v1,
        namespace=namespace,
        name="own-server",
        script=SERVICE_VARIABLES,
        env=[
            {"name": "KUBERNETES_SERVICE_HOST", "value": "apiserver.example"},
            {"name": "DERIVED", "value": "$(KUBERNETES_SERVICE_HOST)"},
        ],
    )
    port = cluster.server.rsplit(":", 1)[1]
    assert f"server: apiserver.example {port}" in output
    assert "derived: apiserver.example" in output
