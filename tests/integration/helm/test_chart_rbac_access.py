"""Issue 20, item 4: what the operator's service account may do, as the real apiserver decides it.

The chart is installed (Helm's library, into the local control plane with RBAC on) and kept while
SubjectAccessReviews ask the apiserver's RBAC authorizer about the operator's service account. With
the default values the operator's rights are Roles in the release's own namespace (the one it then
watches): nothing of a bot's in another namespace, no Secrets anywhere else, nothing cluster-wide
but discovery. Cluster-wide rights only with ``rbac.clusterWide: true``. No CronJobs in either.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from chart_install import ChartError, install, uninstall
from kubernetes import client
from tradefleet_devtools.controlplane import ClusterAccess

pytestmark = pytest.mark.integration

RELEASE = "tradefleet-rbac-probe"  # contains the chart name: its objects are named after it


def _allowed(
    authz: client.AuthorizationV1Api,
    *,
    namespace: str,
    verb: str,
    resource: str,
    group: str = "",
    in_namespace: str | None,
    name: str | None = None,
) -> bool:
    account = f"{RELEASE}-operator"
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{namespace}:{account}",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
            resource_attributes=client.V1ResourceAttributes(
                namespace=in_namespace, verb=verb, group=group, resource=resource, name=name
            ),
        )
    )
    answer = authz.create_subject_access_review(review)
    return bool(answer.status.allowed)


@pytest.fixture
def other_namespace(core_v1: client.CoreV1Api) -> Iterator[str]:
    name = f"tenant-{uuid.uuid4().hex[:6]}"
    core_v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core_v1.delete_namespace(name, propagation_policy="Background")


def _installed(
    cluster: ClusterAccess, core_v1: client.CoreV1Api, values: dict[str, Any]
) -> Iterator[str]:
    namespace = f"rbac-{uuid.uuid4().hex[:6]}"
    install(
        kubeconfig=cluster.kubeconfig,
        release=RELEASE,
        namespace=namespace,
        # The chart's CRDs too (adopted when they exist): the peering hook needs Kopf's.
        values={"region": "eu-west-1", **values},
    )
    try:
        yield namespace
    finally:
        uninstall(kubeconfig=cluster.kubeconfig, release=RELEASE, namespace=namespace)
        core_v1.delete_namespace(namespace, propagation_policy="Background")


@pytest.fixture
def default_install(cluster: ClusterAccess, core_v1: client.CoreV1Api) -> Iterator[str]:
    yield from _installed(cluster, core_v1, {})


@pytest.fixture
def cluster_wide_install(cluster: ClusterAccess, core_v1: client.CoreV1Api) -> Iterator[str]:
    yield from _installed(cluster, core_v1, {"rbac": {"clusterWide": True}})


# (verb, group, resource) the operator needs where it watches.
NEEDED = [
    ("get", "", "secrets"),
    ("create", "", "secrets"),
    ("create", "apps", "deployments"),
    ("delete", "batch", "jobs"),
    ("create", "rbac.authorization.k8s.io", "roles"),
    ("patch", "tradefleet.io", "tradingbots"),
    ("delete", "", "pods"),
]


def test_by_default_the_operator_may_act_in_its_own_namespace_only(
    default_install: str, other_namespace: str, api_client: client.ApiClient
) -> None:
    authz = client.AuthorizationV1Api(api_client)
    ns = default_install
    for verb, group, resource in NEEDED:
        assert _allowed(
            authz, namespace=ns, verb=verb, group=group, resource=resource, in_namespace=ns
        ), f"{verb} {group}/{resource} refused in the release's namespace"
        assert not _allowed(
            authz,
            namespace=ns,
            verb=verb,
            group=group,
            resource=resource,
            in_namespace=other_namespace,
        ), f"{verb} {group}/{resource} allowed in another tenant's namespace"
        assert not _allowed(
            authz, namespace=ns, verb=verb, group=group, resource=resource, in_namespace=None
        ), f"{verb} {group}/{resource} allowed cluster-wide"
    # Discovery stays cluster-wide and read-only.
    assert _allowed(
        authz,
        namespace=ns,
        verb="list",
        group="apiextensions.k8s.io",
        resource="customresourcedefinitions",
        in_namespace=None,
    )
    assert not _allowed(authz, namespace=ns, verb="list", resource="secrets", in_namespace=None)
    # The operator registers its admission webhook in its region's configuration, and may
    # change no other webhook configuration of the cluster, nor create one.
    for verb, name, allowed in (
        ("patch", "eu-west-1.admission.tradefleet.io", True),
        ("patch", "another-webhook.example.com", False),
        ("create", None, False),
    ):
        assert (
            _allowed(
                authz,
                namespace=ns,
                verb=verb,
                group="admissionregistration.k8s.io",
                resource="mutatingwebhookconfigurations",
                in_namespace=None,
                name=name,
            )
            == allowed
        ), f"{verb} of mutatingwebhookconfigurations {name}: allowed is not {allowed}"
    for where in (ns, other_namespace):
        assert not _allowed(
            authz,
            namespace=ns,
            verb="create",
            group="batch",
            resource="cronjobs",
            in_namespace=where,
        ), "cronjobs are granted, and nothing uses them"


def test_cluster_wide_rights_only_when_asked_for(
    cluster_wide_install: str, other_namespace: str, api_client: client.ApiClient
) -> None:
    authz = client.AuthorizationV1Api(api_client)
    ns = cluster_wide_install
    for verb, group, resource in NEEDED:
        assert _allowed(
            authz,
            namespace=ns,
            verb=verb,
            group=group,
            resource=resource,
            in_namespace=other_namespace,
        ), f"{verb} {group}/{resource} refused in a namespace of the cluster"
    for verb in ("get", "list", "create", "delete"):
        assert not _allowed(
            authz,
            namespace=ns,
            verb=verb,
            group="batch",
            resource="cronjobs",
            in_namespace=other_namespace,
        )


def test_watched_namespaces_and_cluster_wide_together_are_refused(
    cluster: ClusterAccess, core_v1: client.CoreV1Api
) -> None:
    with pytest.raises(ChartError, match=r"rbac\.clusterWide"):
        list(
            _installed(
                cluster,
                core_v1,
                {"rbac": {"clusterWide": True}, "watchNamespaces": ["somewhere"]},
            )
        )
