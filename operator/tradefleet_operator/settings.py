"""The operator's own configuration: its region, the exchange → region map, runtime image and wiring.

Loaded once at start-up by :mod:`tradefleet_operator.cli` from a YAML file (the Helm chart
renders it into a ConfigMap) and command-line overrides; passed read-only to the reconciler.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from tradefleet_operator.spec import DEFAULT_EXCHANGE_REGIONS


class SettingsError(ValueError):
    """The operator's configuration file or flags are invalid; the message names the key."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OperatorSettings:
    """Everything the operator needs besides the resources it watches."""

    region: str
    # None inside the cluster (service account); a kubeconfig path for the local demo and tests.
    kubeconfig: Path | None = None
    exchange_regions: MappingProxyType[str, str] = field(
        default_factory=lambda: MappingProxyType(
            {str(k): v for k, v in DEFAULT_EXCHANGE_REGIONS.items()}
        )
    )
    # Namespaces to watch; empty means the whole cluster.
    namespaces: tuple[str, ...] = ()
    runtime_image: str = "ghcr.io/tradefleet/bot-runtime:0.1.0"
    # The optimizer Jobs' image: the runtime plus the `research` extra (optuna, numba, tqdm), the
    # Dockerfile's `research` target. The runtime image alone cannot run `optimize`.
    optimizer_image: str = "ghcr.io/tradefleet/research:0.1.0"
    # Image prefixes a TradingBot's or SignalSource's spec.image must lie under (besides the
    # repositories of runtime_image and optimizer_image, always allowed): a bot's pod holds its
    # exchange keys, so its author may not run any image they like with them.
    allowed_image_prefixes: tuple[str, ...] = ()
    # Hosts (and their subdomains) signal sources may fetch from; empty: any host.
    source_allowed_hosts: tuple[str, ...] = ()
    # The command bot pods run; the image's entry point by default.
    runtime_command: tuple[str, ...] = ("python", "-m", "tradefleet_runtime")
    # Extra environment for every bot and source pod (e.g. PYTHONPATH for a dev image).
    runtime_env: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    redis_url: str = "redis://tradefleet-redis:6379/0"
    # One Redis ACL user per bot and source (tradefleet_operator.redis_users); the operator then
    # needs the password of Redis's default user in TRADEFLEET_REDIS_ADMIN_PASSWORD.
    redis_acl: bool = False
    # Exchange API base URL overrides by exchange name (local exchange server in dev and tests).
    exchange_urls: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    runtime_port: int = 8080
    reconcile_interval_s: float = 30.0
    # Reconcile passes running at once; the rest wait their turn instead of piling onto the apiserver.
    max_concurrent_reconciles: int = 32
    # Bots of the region that roll a new revision (a spec change, a new runtime image) out over a
    # healthy one at once; the others keep running theirs until one of these is healthy or rolled
    # back.
    max_concurrent_rollouts: int = 10
    health_poll_interval_s: float = 5.0
    # Least time between two status writes of a resource that differ only in live figures
    # (tradefleet_operator.status_pacing); anything else is written at once.
    status_interval_s: float = 30.0
    deletion_timeout_s: float = 60.0
    # How long a kill switch may stay unconfirmed by the runtime (unreachable, or none running)
    # before the bot's workload is scaled to zero, its flatten not confirmed.
    kill_switch_unreachable_s: float = 30.0
    # How long a runtime pod on a lost node (NotReady, Unknown or gone) is waited for, on top of
    # its grace period, before it is force-deleted so that the bot's replacement may start.
    node_lost_timeout_s: float = 60.0
    revision_history_limit: int = 10
    metrics_port: int = 9090
    peering_name: str = "tradefleet"
    # The admission webhook (tradefleet_operator.admission): its port, and the Service in front of
    # the operator as "namespace/name" (the chart's). Without a Service, the webhook is reached at
    # 127.0.0.1: an operator run as a local process beside its apiserver.
    webhook_port: int = 9443
    webhook_service: str = ""

    def image_prefixes(self) -> tuple[str, ...]:
        """Every prefix a spec.image may lie under: the allowed ones and the operator's images'."""
        own = tuple(image_repository(i) for i in (self.runtime_image, self.optimizer_image))
        return tuple(dict.fromkeys((*self.allowed_image_prefixes, *own)))

    def with_overrides(self, **changes: Any) -> OperatorSettings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def image_repository(image: str) -> str:
    """``image`` without its digest and tag (``ghcr.io/x/runtime:1`` -> ``ghcr.io/x/runtime``)."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _str_map(*, raw: Any, key: str) -> MappingProxyType[str, str]:
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise SettingsError(f"{key} must be a mapping of strings to strings")
    return MappingProxyType(dict(raw))


def _at_least_one(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ValueError(f"expected a whole number of at least 1, got {raw!r}")
    return raw


def _boolean(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError(f"expected true or false, got {raw!r}")
    return raw


def _service_reference(raw: Any) -> str:
    namespace, _, name = str(raw).partition("/")
    if not namespace or not name or "/" in name:
        raise ValueError(f"{raw!r} is not a Service as namespace/name")
    return f"{namespace}/{name}"


def _strings(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ValueError(f"expected a list of strings, got {raw!r}")
    return tuple(raw)


# Settings-file key → (field, converter) for the plain values.
_SCALAR_KEYS: dict[str, tuple[str, Any]] = {
    "namespaces": ("namespaces", _strings),
    "runtimeImage": ("runtime_image", str),
    "optimizerImage": ("optimizer_image", str),
    "allowedImagePrefixes": ("allowed_image_prefixes", _strings),
    "sourceAllowedHosts": ("source_allowed_hosts", _strings),
    "runtimeCommand": ("runtime_command", _strings),
    "redisUrl": ("redis_url", str),
    "redisAcl": ("redis_acl", _boolean),
    "runtimePort": ("runtime_port", int),
    "reconcileIntervalSeconds": ("reconcile_interval_s", float),
    "maxConcurrentReconciles": ("max_concurrent_reconciles", _at_least_one),
    "maxConcurrentRollouts": ("max_concurrent_rollouts", _at_least_one),
    "healthPollIntervalSeconds": ("health_poll_interval_s", float),
    "statusIntervalSeconds": ("status_interval_s", float),
    "deletionTimeoutSeconds": ("deletion_timeout_s", float),
    "killSwitchUnreachableSeconds": ("kill_switch_unreachable_s", float),
    "nodeLostTimeoutSeconds": ("node_lost_timeout_s", float),
    "revisionHistoryLimit": ("revision_history_limit", int),
    "metricsPort": ("metrics_port", int),
    "peeringName": ("peering_name", str),
    "webhookPort": ("webhook_port", int),
    "webhookService": ("webhook_service", _service_reference),
}
_STRUCTURED_KEYS = frozenset({"region", "exchangeRegions", "runtimeEnv", "exchangeUrls"})


def load_settings(*, path: Path | None, region: str | None = None) -> OperatorSettings:
    """Read the YAML settings file (if any), then apply the ``--region`` override."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"cannot read operator settings {path}: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise SettingsError(f"{path} must hold a mapping at the top level")
        raw = loaded or {}
    unknown = sorted(set(raw) - set(_SCALAR_KEYS) - _STRUCTURED_KEYS)
    if unknown:
        raise SettingsError(f"unknown operator setting(s): {', '.join(unknown)}")
    chosen_region = region or raw.get("region")
    if not isinstance(chosen_region, str) or not chosen_region:
        raise SettingsError(
            "the operator's region is required (--region or `region:` in the settings file)"
        )
    regions = {str(k): v for k, v in DEFAULT_EXCHANGE_REGIONS.items()}
    regions.update(_str_map(raw=raw.get("exchangeRegions"), key="exchangeRegions"))
    values: dict[str, Any] = {
        "region": chosen_region,
        "exchange_regions": MappingProxyType(regions),
        "runtime_env": _str_map(raw=raw.get("runtimeEnv"), key="runtimeEnv"),
        "exchange_urls": _str_map(raw=raw.get("exchangeUrls"), key="exchangeUrls"),
    }
    for key, (attribute, convert) in _SCALAR_KEYS.items():
        if key in raw:
            try:
                values[attribute] = convert(raw[key])
            except (TypeError, ValueError) as exc:
                raise SettingsError(f"invalid operator setting {key}: {exc}") from exc
    return OperatorSettings(**values)
