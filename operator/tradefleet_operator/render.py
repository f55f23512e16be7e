"""Desired state of a TradingBot's children, rendered from its spec, and what every child shares.

Pure functions, no I/O: the reconciler (:mod:`tradefleet_operator.reconcile`) calls them and
applies what differs from the cluster. Everything a bot pod needs that may change the bot's
behaviour goes into the rendered runtime config; its content hash is the revision's identity.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tradefleet_api import canonical_json

from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import ResourceRequirements, TradingBotSpec

GROUP = "tradefleet.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
MANAGED_BY = "tradefleet-operator"

LABEL_BOT = "tradefleet.io/bot"
LABEL_SOURCE = "tradefleet.io/signal-source"
LABEL_ACCOUNT = "tradefleet.io/exchange-account"
LABEL_MARKET = "tradefleet.io/market"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
# The region whose operator made a child; set by the reconciler on everything it writes.
LABEL_REGION = "tradefleet.io/region"
ANNOTATION_REVISION = "tradefleet.io/revision"
ANNOTATION_CONFIG_HASH = "tradefleet.io/config-hash"
REGION_LABEL = "topology.kubernetes.io/region"

CONFIG_MOUNT = "/etc/tradefleet"
CONFIG_FILE = "config.json"
# An optimization Job writes its result into a ConfigMap with this label and this key.
LABEL_OPTIMIZER_RESULT = "tradefleet.io/optimizer-result"
RESULT_FILE = "result.json"
# Env var names the runtime reads; credentials never travel in the rendered config.
ENV_API_KEY = "TRADEFLEET_API_KEY"
ENV_API_SECRET = "TRADEFLEET_API_SECRET"
ENV_API_PASSPHRASE = "TRADEFLEET_API_PASSPHRASE"
ENV_CONTROL_TOKEN = "TRADEFLEET_CONTROL_TOKEN"
CONTROL_TOKEN_KEY = "token"
# With redisAcl, a pod's Redis user and password (tradefleet_operator.redis_users), from its
# Secret <name>-redis; the same keys name the Secret's entries.
ENV_REDIS_USERNAME = "TRADEFLEET_REDIS_USERNAME"
ENV_REDIS_PASSWORD = "TRADEFLEET_REDIS_PASSWORD"
REDIS_SECRET_KEYS = {ENV_REDIS_USERNAME: "username", ENV_REDIS_PASSWORD: "password"}
MAX_NAME = 63
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# How long a runtime pod's deletion waits for the runtime to stop (SIGTERM: stop trading, persist
# its state) before the kubelet kills it. Explicit, not the cluster's default: a replacement waits
# out the old pod's termination, and it is part of how long a pod on a lost node is waited for.
RUNTIME_TERMINATION_GRACE_S = 30


def child_name(*, owner: str, suffix: str = "") -> str:
    """A DNS-1035 label for a child (what a Service name must be), unique per owner.

    ``<owner>-<suffix>`` when that is one, as for almost every bot; otherwise — a name with dots,
    one that starts with a digit, or one too long — the owner's name made a label and shortened,
    with a hash of the full name so that ``a.b`` and ``a-b`` never share children.
    """
    name = f"{owner}-{suffix}" if suffix else owner
    if len(name) <= MAX_NAME and _DNS_1035.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    base = re.sub(r"[^a-z0-9-]+", "-", owner.lower()).strip("-")
    if not base[:1].isalpha():
        base = f"b-{base}".rstrip("-")
    keep = MAX_NAME - len(digest) - (len(suffix) + 2 if suffix else 1)
    head = base[:keep].rstrip("-")
    return f"{head}-{digest}-{suffix}" if suffix else f"{head}-{digest}"


def bot_labels(*, bot: str) -> dict[str, str]:
    return {
        LABEL_NAME: "tradefleet-bot",
        LABEL_INSTANCE: bot,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_BOT: bot,
    }


def source_labels(*, source: str) -> dict[str, str]:
    return {
        LABEL_NAME: "tradefleet-signal-source",
        LABEL_INSTANCE: source,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_SOURCE: source,
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class Owner:
    """The custom resource that owns the children (for ownerReferences and names)."""

    kind: str
    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def signal_stream_key(*, namespace: str, source: str) -> str:
    """The Redis stream a SignalSource publishes to and bots read from."""
    return f"tradefleet:signals:{namespace}:{source}"


def render_runtime_config(
    *,
    owner: Owner,
    spec: TradingBotSpec,
    raw_spec: Mapping[str, Any],
    settings: OperatorSettings,
    request_interval_ms: int | None = None,
    order_interval_ms: int | None = None,
    market_key: str | None = None,
) -> dict[str, Any]:
    """The runtime's whole configuration, as the bot pod reads it from ``/etc/tradefleet/config.json``.

    ``paused`` and the kill switch are left out on purpose: they are commands the operator
    delivers to the running runtime, not revisions that roll the pod. ``request_interval_ms``
    is the least time between two exchange requests: a bot's share of its ExchangeAccount's
    request budget, ``order_interval_ms`` the least time between two orders: its share of the
    account's orders per second; ``market_key`` where the account's shared market data is
    published, which the bot then reads instead of polling the exchange.
    """
    exchange = str(spec.exchange)
    credentials: dict[str, Any] | None = None
    if spec.credentials is not None:
        credentials = {"apiKeyEnv": ENV_API_KEY, "apiSecretEnv": ENV_API_SECRET}
        if spec.credentials.secret_ref.passphrase_key:
            credentials["passphraseEnv"] = ENV_API_PASSPHRASE
    return {
        "apiVersion": API_VERSION,
        "kind": "RuntimeConfig",
        "bot": {"name": owner.name, "namespace": owner.namespace},
        "exchange": {
            "id": exchange,
            "market": str(spec.market),
            "symbol": spec.symbol,
            "mode": str(spec.mode),
            "liveTradingOptIn": spec.live_trading_opt_in,
            "baseUrl": settings.exchange_urls.get(exchange),
            "credentials": credentials,
            "requestIntervalMs": request_interval_ms,
            **({"orderIntervalMs": order_interval_ms} if order_interval_ms else {}),
        },
        "strategy": dict(raw_spec.get("strategy") or {}),
        "risk": dict(raw_spec.get("risk") or {}),
        "signalSources": [
            {
                "name": ref.name,
                "weight": ref.weight,
                "redisStream": signal_stream_key(namespace=owner.namespace, source=ref.name),
            }
            for ref in spec.strategy.signal_sources
        ],
        "redis": {
            "url": settings.redis_url,
            "keyPrefix": f"tradefleet:bot:{owner.namespace}:{owner.name}",
        },
        "api": {"port": settings.runtime_port, "controlTokenEnv": ENV_CONTROL_TOKEN},
        "heartbeatTimeoutSeconds": spec.self_healing.heartbeat_timeout_seconds,
        "optimizer": dict(raw_spec.get("optimizer") or {}),
        **(
            {"marketData": {"source": "shared", "sharedKeyPrefix": market_key}}
            if market_key
            else {}
        ),
    }


# Where an ExchangeAccount's terms sit in a bot's runtime config: its keys, its request and orders
# shares, its capital and its shared market data. They are the account's, not the revision's: a
# rolled-back bot runs its last good spec on the account's terms of now.
ACCOUNT_TERM_FIELDS: tuple[tuple[str, ...], ...] = (
    ("exchange", "credentials"),
    ("exchange", "requestIntervalMs"),
    ("exchange", "orderIntervalMs"),
    ("risk", "capital"),
    ("marketData",),
)
# The exposure limits: each the lower of the bot's own and the account's share of its gross
# limit, so they carry the spec's figure too. A rolled-back bot takes the lower of its own and
# the current one: never above what it ran with, never above what the account allows now.
ACCOUNT_LIMIT_FIELDS: tuple[tuple[str, ...], ...] = (
    ("risk", "maxTotalExposurePct"),
    ("risk", "maxSingleAssetExposurePct"),
    ("risk", "maxPositionPct"),
)


def without_account_terms(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` (a rendered runtime config) without any of the ExchangeAccount's terms.

    Only the mappings on the way to a term are copied; the rest is shared with ``config``, so
    the result is for reading (every pass hashes it: a deep copy was 3 % of the operator's CPU in
    a burst of 1,000 new bots).
    """
    result = dict(config)
    copied = {id(result)}
    for *parents, leaf in (*ACCOUNT_TERM_FIELDS, *ACCOUNT_LIMIT_FIELDS):
        block = result
        for key in parents:
            inner = block.get(key)
            if not isinstance(inner, Mapping):
                break
            if not isinstance(inner, dict) or id(inner) not in copied:
                inner = dict(inner)
                copied.add(id(inner))
                block[key] = inner
            block = inner
        else:
            block.pop(leaf, None)
    return result


def with_account_terms(config: Mapping[str, Any], *, source: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` on the ExchangeAccount terms of ``source`` (both rendered runtime configs):
    each of :data:`ACCOUNT_TERM_FIELDS` as in ``source`` (removed where it has none), each of
    :data:`ACCOUNT_LIMIT_FIELDS` the lower of the two."""
    result = copy.deepcopy(dict(config))
    for *parents, leaf in ACCOUNT_TERM_FIELDS:
        origin, target = _block(source, parents), _block(result, parents, create=True)
        if target is None:
            continue
        if origin is not None and leaf in origin:
            target[leaf] = copy.deepcopy(origin[leaf])
        else:
            target.pop(leaf, None)
    for *parents, leaf in ACCOUNT_LIMIT_FIELDS:
        origin, target = _block(source, parents), _block(result, parents)
        now = origin.get(leaf) if origin is not None else None
        if target is not None and isinstance(now, int | float):
            before = target.get(leaf)
            target[leaf] = min(before, now) if isinstance(before, int | float) else now
    return result


def _block(config: Mapping[str, Any], path: Sequence[str], *, create: bool = False) -> Any:
    """The mapping at ``path`` in ``config`` (created in a dict when ``create``), or None."""
    block: Any = config
    for key in path:
        if not isinstance(block, Mapping):
            return None
        if create and isinstance(block, dict) and not isinstance(block.get(key), dict):
            block[key] = {}
        block = block.get(key)
    return block if isinstance(block, Mapping) else None


def container_resources(requirements: ResourceRequirements | None) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }
    if requirements is None:
        return rendered
    for part in ("requests", "limits"):
        quantities = getattr(requirements, part)
        if quantities is None:
            continue
        for resource in ("cpu", "memory"):
            value = getattr(quantities, resource)
            if value is not None:
                rendered[part][resource] = value
    return rendered


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def region_affinity(region: str) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": REGION_LABEL, "operator": "In", "values": [region]}
                        ]
                    }
                ]
            }
        }
    }


def child_metadata(
    *, owner: Owner, name: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "labels": labels,
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        meta["annotations"] = annotations
    return meta


def config_map_of(
    *,
    owner: Owner,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """The ConfigMap holding a child's rendered config as ``config.json`` (canonical JSON)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_metadata(
            owner=owner, name=name, labels=dict(labels), annotations=dict(annotations)
        ),
        "data": {CONFIG_FILE: canonical_json(config)},
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class Revision:
    """One revision's content (rendered runtime config + the spec its workload comes from) and number."""

    number: int
    config_hash: str
    content: Mapping[str, Any]

    @property
    def config(self) -> Mapping[str, Any]:
        config: Mapping[str, Any] = self.content["config"]
        return config


def _runtime_env(
    *, owner: Owner, spec: TradingBotSpec, settings: OperatorSettings
) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "TRADEFLEET_CONFIG", "value": f"{CONFIG_MOUNT}/{CONFIG_FILE}"},
        {"name": "TRADEFLEET_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {
            "name": "TRADEFLEET_LISTEN_HOST",
            "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
        },
        {
            "name": ENV_CONTROL_TOKEN,
            "valueFrom": {
                "secretKeyRef": {
                    "name": child_name(owner=owner.name, suffix="control"),
                    "key": CONTROL_TOKEN_KEY,
                }
            },
        },
    ]
    if spec.credentials is not None:
        ref = spec.credentials.secret_ref
        keys = [(ENV_API_KEY, ref.api_key_key), (ENV_API_SECRET, ref.api_secret_key)]
        if ref.passphrase_key:
            keys.append((ENV_API_PASSPHRASE, ref.passphrase_key))
        env.extend(
            {"name": var, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": key}}}
            for var, key in keys
        )
    env.extend(redis_env(owner=owner, settings=settings))
    env.extend({"name": k, "value": v} for k, v in sorted(settings.runtime_env.items()))
    return env


def account_labels(*, account: str) -> dict[str, str]:
    """An ExchangeAccount's children: its shared market-data workloads."""
    return {
        LABEL_NAME: "tradefleet-market-data",
        LABEL_INSTANCE: account,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_ACCOUNT: account,
    }


def market_key_prefix(*, namespace: str, account: str, market: str) -> str:
    """Where an ExchangeAccount's market-data workload of one market type publishes in Redis."""
    return f"tradefleet:market:{namespace}:{account}:{market}"


_REDIS_SECRET_SUFFIX = {"TradingBot": "redis", "SignalSource": "sigsrc-redis"}


def redis_secret_name(*, owner: Owner) -> str:
    """The Secret holding the Redis user of a bot, a signal source or an account's market-data
    workloads (with ``redisAcl``)."""
    return child_name(owner=owner.name, suffix=_REDIS_SECRET_SUFFIX.get(owner.kind, "market-redis"))


def redis_env(*, owner: Owner, settings: OperatorSettings) -> list[dict[str, Any]]:
    """The pod's Redis user and password from its Secret; none without ``redisAcl``."""
    if not settings.redis_acl:
        return []
    name = redis_secret_name(owner=owner)
    return [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}
        for env, key in REDIS_SECRET_KEYS.items()
    ]


def _bot_pod_template(
    *,
    owner: Owner,
    spec: TradingBotSpec,
    region: str,
    revision: Revision,
    settings: OperatorSettings,
    image: str | None,
) -> dict[str, Any]:
    """The runtime pod of a bot's Deployment, pinned to ``region``, at ``revision``."""
    labels = bot_labels(bot=owner.name)
    name = child_name(owner=owner.name)
    config_map = child_name(owner=owner.name, suffix="config")
    port = settings.runtime_port
    return {
        "metadata": {
            "labels": labels,
            "annotations": {
                ANNOTATION_REVISION: str(revision.number),
                ANNOTATION_CONFIG_HASH: revision.config_hash,
            },
        },
        "spec": {
            "serviceAccountName": name,
            "automountServiceAccountToken": False,
            "affinity": region_affinity(region),
            "securityContext": pod_security(),
            "terminationGracePeriodSeconds": RUNTIME_TERMINATION_GRACE_S,
            "containers": [
                _runtime_container(
                    owner=owner, spec=spec, settings=settings, image=image, port=port
                )
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": config_map}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }


def render_bot_children(
    *,
    owner: Owner,
    spec: TradingBotSpec,
    region: str,
    revision: Revision,
    replicas: int,
    settings: OperatorSettings,
    image: str | None = None,
) -> list[dict[str, Any]]:
    """Every child object of a bot except the control-token Secret (created once, never re-rendered).

    ``replicas`` is 1, or 0 while self-healing holds the bot stopped (pod replacement, degraded).
    ``image`` is the revision's runtime image; unset, ``spec.image`` or the operator's.
    """
    labels = bot_labels(bot=owner.name)
    name = child_name(owner=owner.name)
    config_map = child_name(owner=owner.name, suffix="config")
    port = settings.runtime_port
    pod_template = _bot_pod_template(
        owner=owner, spec=spec, region=region, revision=revision, settings=settings, image=image
    )
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": child_metadata(owner=owner, name=name, labels=labels),
            "automountServiceAccountToken": False,
        },
        config_map_of(
            owner=owner,
            name=config_map,
            labels=labels,
            annotations={
                ANNOTATION_REVISION: str(revision.number),
                ANNOTATION_CONFIG_HASH: revision.config_hash,
            },
            config=revision.config,
        ),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": child_metadata(owner=owner, name=name, labels=labels),
            "spec": {
                "replicas": replicas,
                # Never two live instances of one bot: a rollout deletes the old pod and starts the
                # new one only once the old one is gone, terminating ones included.
                "strategy": {"type": "Recreate"},
                "revisionHistoryLimit": 2,
                "progressDeadlineSeconds": spec.self_healing.progress_deadline_seconds,
                "selector": {"matchLabels": {LABEL_BOT: owner.name, LABEL_NAME: "tradefleet-bot"}},
                "template": pod_template,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": child_metadata(owner=owner, name=name, labels=labels),
            "spec": {
                # Headless: one pod behind it, found by DNS; no cluster IP spent per bot.
                "clusterIP": "None",
                "selector": {LABEL_BOT: owner.name, LABEL_NAME: "tradefleet-bot"},
                "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": child_metadata(owner=owner, name=name, labels=labels),
            "spec": network_policy_spec(
                selector={LABEL_BOT: owner.name, LABEL_NAME: "tradefleet-bot"},
                port=port,
                egress_ports=BOT_EGRESS_PORTS,
            ),
        },
    ]


def _runtime_container(
    *, owner: Owner, spec: TradingBotSpec, settings: OperatorSettings, image: str | None, port: int
) -> dict[str, Any]:
    """The bot pod's one container: the runtime, its probes, limits and read-only mounts."""
    return {
        "name": "runtime",
        "image": image or spec.image or settings.runtime_image,
        "command": list(settings.runtime_command),
        "env": _runtime_env(owner=owner, spec=spec, settings=settings),
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": container_resources(spec.resources),
        "securityContext": container_security(),
        # Why it ended, for the operator's conditions: the runtime writes its fatal
        # error to /dev/termination-log; a crash before that leaves the log's tail.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


# Egress of a bot: the exchange (HTTPS) and Redis, plus DNS; nothing else.
BOT_EGRESS_PORTS = (443, 6379)


def network_policy_spec(
    *, selector: Mapping[str, str], port: int, egress_ports: Sequence[int]
) -> dict[str, Any]:
    any_namespace: dict[str, Any] = {"namespaceSelector": {}}
    return {
        "podSelector": {"matchLabels": dict(selector)},
        "policyTypes": ["Ingress", "Egress"],
        # Only the operator (health polling, commands) and Prometheus (metrics) may call the pod.
        "ingress": [
            {
                "from": [
                    {
                        **any_namespace,
                        "podSelector": {"matchLabels": {LABEL_NAME: "tradefleet-operator"}},
                    },
                    {**any_namespace, "podSelector": {"matchLabels": {LABEL_NAME: "prometheus"}}},
                ],
                "ports": [{"protocol": "TCP", "port": port}],
            }
        ],
        "egress": [
            {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            {"ports": [{"protocol": "TCP", "port": p} for p in egress_ports]},
        ],
    }


def single_pod_deployment(
    *,
    owner: Owner,
    name: str,
    labels: dict[str, str],
    selector: Mapping[str, str],
    config_hash: str,
    container: Mapping[str, Any],
    volumes: Sequence[Mapping[str, Any]],
    settings: OperatorSettings,
    replicas: int = 1,
) -> dict[str, Any]:
    """A Deployment of one pod on the nodes of the operator's region (its image, command and
    Redis URL are that region's), recreated, never two at once, when its config changes: a
    SignalSource's workload or an ExchangeAccount's market data."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_metadata(owner=owner, name=name, labels=labels),
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "Recreate"},
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": dict(selector)},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {ANNOTATION_CONFIG_HASH: config_hash},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "affinity": region_affinity(settings.region),
                    "securityContext": pod_security(),
                    "containers": [dict(container)],
                    "volumes": [dict(volume) for volume in volumes],
                },
            },
        },
    }


def render_control_secret(*, owner: Owner, token: str) -> dict[str, Any]:
    """The Secret holding the bearer token that guards the runtime's API (all but its probes
    and metrics)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": child_metadata(
            owner=owner,
            name=child_name(owner=owner.name, suffix="control"),
            labels=bot_labels(bot=owner.name),
        ),
        "type": "Opaque",
        "stringData": {CONTROL_TOKEN_KEY: token},
    }


def revision_name(*, owner: Owner, revision: Revision) -> str:
    """The name of the ControllerRevision that keeps ``revision`` of ``owner``."""
    return child_name(owner=owner.name, suffix=revision.config_hash)


def render_controller_revision(*, owner: Owner, revision: Revision) -> dict[str, Any]:
    """The kept copy of one revision's rendered config (apps/v1 ControllerRevision, as StatefulSets keep theirs)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": child_metadata(
            owner=owner,
            name=revision_name(owner=owner, revision=revision),
            labels=bot_labels(bot=owner.name),
            annotations={ANNOTATION_CONFIG_HASH: revision.config_hash},
        ),
        "data": dict(revision.content),
        "revision": revision.number,
    }
