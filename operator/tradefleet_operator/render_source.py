"""Desired state of a SignalSource's children, rendered from its spec.

Pure, no I/O: the source reconciler (:mod:`tradefleet_operator.sources`) calls it and applies what
differs from the cluster. Shares names, labels, security and the network policy with the bots'
children (:mod:`tradefleet_operator.render`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradefleet_api import content_hash

from tradefleet_operator.render import (
    ANNOTATION_CONFIG_HASH,
    API_VERSION,
    CONFIG_FILE,
    CONFIG_MOUNT,
    LABEL_NAME,
    LABEL_SOURCE,
    Owner,
    child_metadata,
    child_name,
    config_map_of,
    container_resources,
    container_security,
    network_policy_spec,
    redis_env,
    signal_stream_key,
    single_pod_deployment,
    source_labels,
)
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import SignalSourceSpec

# Egress of a signal source: its feeds (HTTP and HTTPS) and Redis, plus DNS; nothing else.
SOURCE_EGRESS_PORTS = (80, 443, 6379)

# Where a source pod finds what its spec references (read by tradefleet_runtime.sources).
SOURCE_INPUTS_MOUNT = "/etc/tradefleet-inputs"
ENV_LLM_API_KEY = "TRADEFLEET_LLM_API_KEY"
ENV_HTTP_HEADERS_DIR = "TRADEFLEET_HTTP_HEADERS_DIR"
ENV_MACRO_EVENTS_DIR = "TRADEFLEET_MACRO_EVENTS_DIR"


def _headers_secret(spec: SignalSourceSpec) -> str | None:
    """The Secret of request headers of an http or whale source, if it names one."""
    for block in (spec.http, spec.whale):
        if block is not None and block.headers_secret_ref is not None:
            return block.headers_secret_ref.name
    return None


def _source_inputs(
    spec: SignalSourceSpec,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(env, volumes, volume mounts) delivering a source's Secret and ConfigMap references: the
    LLM key as an env var; the header Secret and the events ConfigMap as read-only directories
    (their files follow edits of the Secret or ConfigMap without a restart)."""
    env: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    key_ref = spec.sentiment.llm.api_key_secret_ref if spec.sentiment else None
    if key_ref is not None:
        env.append(
            {
                "name": ENV_LLM_API_KEY,
                "valueFrom": {"secretKeyRef": {"name": key_ref.name, "key": key_ref.key}},
            }
        )
    directories = (
        ("http-headers", ENV_HTTP_HEADERS_DIR, "secret", "secretName", _headers_secret(spec)),
        ("macro-events", ENV_MACRO_EVENTS_DIR, "configMap", "name",
         spec.macro.events_config_map if spec.macro else None),
    )  # fmt: skip
    for volume, variable, kind, key, name in directories:
        if name is None:
            continue
        path = f"{SOURCE_INPUTS_MOUNT}/{volume}"
        env.append({"name": variable, "value": path})
        volumes.append({"name": volume, kind: {key: name}})
        mounts.append({"name": volume, "mountPath": path, "readOnly": True})
    return env, volumes, mounts


def _source_container(
    *, owner: Owner, spec: SignalSourceSpec, settings: OperatorSettings
) -> dict[str, Any]:
    """A SignalSource pod's one container: the runtime's ``signal-source`` command, its probes."""
    return {
        "name": "source",
        "image": spec.image or settings.runtime_image,
        "command": [*settings.runtime_command, "signal-source"],
        "env": [
            {
                "name": "TRADEFLEET_CONFIG",
                "value": f"{CONFIG_MOUNT}/{CONFIG_FILE}",
            },
            {
                "name": "TRADEFLEET_LISTEN_HOST",
                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
            },
            *redis_env(owner=owner, settings=settings),
            *({"name": k, "value": v} for k, v in sorted(settings.runtime_env.items())),
            *_source_inputs(spec)[0],
        ],
        "ports": [
            {
                "name": "http",
                "containerPort": settings.runtime_port,
                "protocol": "TCP",
            }
        ],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 10,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "initialDelaySeconds": 10,
            "periodSeconds": 15,
        },
        "resources": container_resources(spec.resources),
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
            *_source_inputs(spec)[2],
        ],
    }


def render_source_children(
    *, owner: Owner, spec: SignalSourceSpec, raw_spec: Mapping[str, Any], settings: OperatorSettings
) -> list[dict[str, Any]]:
    """A SignalSource's ConfigMap, Deployment, Service and NetworkPolicy (its feeds over HTTP(S)
    and Redis only); it publishes to its Redis stream, from a node of the operator's region."""
    labels = source_labels(source=owner.name)
    name = child_name(owner=owner.name, suffix="sigsrc")
    config = {
        "apiVersion": API_VERSION,
        "kind": "SignalSourceConfig",
        "source": {"name": owner.name, "namespace": owner.namespace},
        "spec": dict(raw_spec),
        "redis": {
            "url": settings.redis_url,
            "stream": signal_stream_key(namespace=owner.namespace, source=owner.name),
        },
        "api": {"port": settings.runtime_port},
    }
    config_hash = content_hash(config)
    return [
        config_map_of(
            owner=owner,
            name=name,
            labels=labels,
            annotations={ANNOTATION_CONFIG_HASH: config_hash},
            config=config,
        ),
        single_pod_deployment(
            owner=owner,
            name=name,
            labels=labels,
            selector={LABEL_SOURCE: owner.name, LABEL_NAME: "tradefleet-signal-source"},
            config_hash=config_hash,
            container=_source_container(owner=owner, spec=spec, settings=settings),
            volumes=[{"name": "config", "configMap": {"name": name}}, *_source_inputs(spec)[1]],
            settings=settings,
            replicas=0 if spec.paused else 1,
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": child_metadata(owner=owner, name=name, labels=labels),
            "spec": {
                "selector": {LABEL_SOURCE: owner.name, LABEL_NAME: "tradefleet-signal-source"},
                "ports": [
                    {
                        "name": "http",
                        "port": settings.runtime_port,
                        "targetPort": "http",
                        "protocol": "TCP",
                    }
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": child_metadata(owner=owner, name=name, labels=labels),
            "spec": network_policy_spec(
                selector={LABEL_SOURCE: owner.name, LABEL_NAME: "tradefleet-signal-source"},
                port=settings.runtime_port,
                egress_ports=SOURCE_EGRESS_PORTS,
            ),
        },
    ]
