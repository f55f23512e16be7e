"""Bots put into states for the kubectl plugin's tests, written the way the operator writes them:
status through the status subresource, events as Kopf posts them, ControllerRevisions as kept
revisions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client

from support.k8s import wait_for

GROUP, VERSION, PLURAL = "tradefleet.io", "v1alpha1", "tradingbots"


@dataclass(frozen=True)
class Run:
    """What one run of the plugin returned and printed."""

    code: int
    out: str


Plugin = Callable[..., Run]


def moment(*, ago_s: float = 0.0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=ago_s)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cond(
    type_: str, status: str, reason: str, message: str = "", *, ago_s: float = 0.0
) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message or reason,
        "lastTransitionTime": moment(ago_s=ago_s),
    }


def create_bot(
    custom: client.CustomObjectsApi,
    namespace: str,
    name: str,
    *,
    annotations: Mapping[str, str] | None = None,
    status: Mapping[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A TradingBot, with ``status`` written through the status subresource as the operator does."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TradingBot",
        "metadata": {"name": name, "annotations": dict(annotations or {})},
        "spec": {"exchange": "binance", "market": "futures", "symbol": "BTC/USDT:USDT", **spec},
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    if status is not None:
        set_status(custom, namespace, name, status)
    return get_bot(custom, namespace, name)


def set_status(
    custom: client.CustomObjectsApi, namespace: str, name: str, status: Mapping[str, Any]
) -> None:
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": dict(status)}
    )


def get_bot(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    return obj


def bot_event(
    core_v1: client.CoreV1Api,
    *,
    bot: Mapping[str, Any],
    reason: str,
    message: str,
    type_: str = "Normal",
    ago_s: float = 0.0,
) -> None:
    """An event on the bot, as the operator (Kopf) posts them."""
    meta = bot["metadata"]
    at = moment(ago_s=ago_s)
    core_v1.create_namespaced_event(
        meta["namespace"],
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}."),
            involved_object=client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}",
                kind="TradingBot",
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta["uid"],
            ),
            reason=reason,
            message=message,
            type=type_,
            first_timestamp=at,
            last_timestamp=at,
            count=1,
            source=client.V1EventSource(component="kopf"),
        ),
    )


def controller_revision(
    apps_v1: client.AppsV1Api,
    *,
    bot: Mapping[str, Any],
    number: int,
    config_hash: str,
    spec: Mapping[str, Any],
) -> None:
    """A kept revision of the bot, as the operator writes it."""
    meta = bot["metadata"]
    apps_v1.create_namespaced_controller_revision(
        meta["namespace"],
        {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {
                "name": f"{meta['name']}-{config_hash[:10]}",
                "labels": {"tradefleet.io/bot": meta["name"]},
                "annotations": {"tradefleet.io/config-hash": config_hash},
            },
            "data": {"config": {}, "spec": dict(spec)},
            "revision": number,
        },
    )


def runtime_pod(
    core_v1: client.CoreV1Api,
    *,
    namespace: str,
    bot: str,
    name: str,
    node: str | None = None,
    revision: int = 1,
    env: Mapping[str, str] | None = None,
    created_ago_s: float = 0.0,
) -> None:
    """A runtime pod of ``bot`` (labelled as the operator's Deployment labels them), bound to
    ``node`` and shown Running there, as its kubelet would report it."""
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name,
            labels={"tradefleet.io/bot": bot, "app.kubernetes.io/name": "tradefleet-bot"},
            annotations={"tradefleet.io/revision": str(revision)},
        ),
        spec=client.V1PodSpec(
            node_name=node,
            tolerations=[client.V1Toleration(operator="Exists")],
            containers=[
                client.V1Container(
                    name="runtime",
                    image="ghcr.io/tradefleet/runtime:0.1.0",
                    env=[client.V1EnvVar(name=k, value=v) for k, v in (env or {}).items()],
                )
            ],
        ),
    )

    def created() -> bool:
        try:
            core_v1.create_namespaced_pod(namespace, pod)
        except client.ApiException as exc:
            # A new namespace: 403 "service account not found", then 500 "No API token found",
            # until the controller-manager has made its default ServiceAccount.
            if exc.status in (403, 500) and "service account" in str(exc.body).lower().replace(
                "serviceaccount", "service account"
            ):
                return False
            raise
        return True

    wait_for(created, timeout_s=30, what="the namespace's default ServiceAccount")
    if node is None:
        return
    started = moment(ago_s=created_ago_s)
    core_v1.patch_namespaced_pod_status(
        name,
        namespace,
        {
            "status": {
                "phase": "Running",
                "podIP": "10.244.0.10",
                "containerStatuses": [
                    {
                        "name": "runtime",
                        "image": "ghcr.io/tradefleet/runtime:0.1.0",
                        "imageID": "",
                        "ready": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": started}},
                    }
                ],
            }
        },
    )
