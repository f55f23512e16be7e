"""A container's environment, resolved the way the kubelet resolves it.

Used by the pod worker (:mod:`tradefleet_devtools.devnode.pods`) before each container start and by
the volume writer for downward-API files. Covers ``$(VAR)`` expansion in values, command and args
(Kubernetes semantics: ``$$`` escapes, unknown references stay as written), ``env`` with
``value`` / ``valueFrom`` (configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef) and
``envFrom`` (with ``prefix``), and the ``KUBERNETES_SERVICE_*`` variables every kubelet gives a
container for the cluster's own API, pointing at the apiserver the agent talks to, so in-cluster
client configuration works in the pods it runs. Problems become :class:`PodConfigError` with the
kubelet's reason ``CreateContainerConfigError`` and a message in the kubelet's words.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
import urllib.parse
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from tradefleet_devtools.devnode.errors import PodConfigError

JsonObject = dict[str, Any]

CONFIG_ERROR = "CreateContainerConfigError"

# The kubelet's relaxed env var name rule (IsEnvVarName); other envFrom keys are skipped.
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_QUANTITY = re.compile(r"^([+-]?[0-9]*\.?[0-9]+)([eE][+-]?[0-9]+)?([a-zA-Z]*)$")
_QUANTITY_SUFFIX: dict[str, Fraction] = {
    "": Fraction(1),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}
_MAP_FIELD = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class ObjectSource(Protocol):
    """Where ConfigMaps and Secrets come from (the API, with a per-start cache)."""

    def config_map(self, *, namespace: str, name: str) -> JsonObject | None:
        """The ConfigMap, or None when it does not exist."""

    def secret(self, *, namespace: str, name: str) -> JsonObject | None:
        """The Secret, or None when it does not exist."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PodContext:
    """What ``fieldRef`` and ``resourceFieldRef`` resolve against."""

    pod: JsonObject
    pod_ip: str
    host_ip: str
    node_allocatable: Mapping[str, str]
    # What the kubelet defines before the container's own env (see apiserver_service_env).
    service_env: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])


def apiserver_service_env(*, server: str) -> dict[str, str]:
    """The ``KUBERNETES_SERVICE_*`` variables for the apiserver at ``server`` (its URL).

    A kubelet sets them from the ``kubernetes`` Service; ClusterIPs do not route here, so they
    name the address the agent itself reaches the apiserver at.
    """
    url = urllib.parse.urlsplit(server)
    port = str(url.port or (443 if url.scheme == "https" else 80))
    return {
        "KUBERNETES_SERVICE_HOST": url.hostname or "",
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
    }


def expand(text: str, *, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion (k8s.io/kubernetes third_party/forked/golang/expansion).

    ``$(NAME)`` becomes NAME's value when NAME is defined and stays ``$(NAME)`` otherwise; ``$$``
    is an escaped ``$``; any other ``$`` is kept.
    """
    out: list[str] = []
    cursor = 0
    checkpoint = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            following = text[cursor + 1]
            advance = 1
            if following == "$":
                out.append("$")
            elif following == "(":
                closer = text.find(")", cursor + 2)
                if closer == -1:
                    out.append("$(")
                else:
                    name = text[cursor + 2 : closer]
                    out.append(env.get(name, f"$({name})"))
                    advance = closer - cursor
            else:
                out.append("$" + following)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def parse_quantity(text: str) -> Fraction:
    """A Kubernetes resource quantity (``500m``, ``1.5Gi``, ``2e3``) as an exact number."""
    match = _QUANTITY.match(text.strip())
    if match is None or match.group(3) not in _QUANTITY_SUFFIX:
        raise PodConfigError(reason=CONFIG_ERROR, message=f"invalid resource quantity {text!r}")
    number = Fraction(match.group(1))
    if match.group(2):
        number *= Fraction(10) ** int(match.group(2)[1:])
    return number * _QUANTITY_SUFFIX[match.group(3)]


def _format_map(values: Mapping[str, str]) -> str:
    """The downward API's rendering of all labels or annotations: sorted ``key="value"`` lines."""
    return "\n".join(f"{key}={json.dumps(values[key])}" for key in sorted(values))


def field_value(*, context: PodContext, field_path: str) -> str:
    """The value of a ``fieldRef`` (env) or downward-API volume item."""
    metadata = context.pod.get("metadata", {})
    spec = context.pod.get("spec", {})
    simple = {
        "metadata.name": metadata.get("name", ""),
        "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": context.host_ip,
        "status.podIP": context.pod_ip,
        "status.podIPs": context.pod_ip,
    }
    if field_path in simple:
        return str(simple[field_path])
    if field_path in ("metadata.labels", "metadata.annotations"):
        return _format_map(metadata.get(field_path.split(".")[1]) or {})
    match = _MAP_FIELD.match(field_path)
    if match:
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    raise PodConfigError(
        reason=CONFIG_ERROR, message=f"unsupported fieldRef fieldPath {field_path!r}"
    )


def resource_field_value(
    *, context: PodContext, container: JsonObject, reference: JsonObject
) -> str:
    """The value of a ``resourceFieldRef``: the request or limit, rounded up in ``divisor`` units.

    A limit that is not set resolves to the node's allocatable amount, as with the kubelet.
    """
    resource = str(reference.get("resource", ""))
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory", "ephemeral-storage"):
        raise PodConfigError(
            reason=CONFIG_ERROR, message=f"unsupported resourceFieldRef resource {resource!r}"
        )
    target = container
    if reference.get("containerName"):
        containers = context.pod.get("spec", {}).get("containers", [])
        found = [c for c in containers if c.get("name") == reference["containerName"]]
        if not found:
            raise PodConfigError(
                reason=CONFIG_ERROR,
                message=f"resourceFieldRef names unknown container {reference['containerName']!r}",
            )
        target = found[0]
    declared = (target.get("resources") or {}).get(kind) or {}
    if name in declared:
        amount = parse_quantity(str(declared[name]))
    elif kind == "limits":
        amount = parse_quantity(context.node_allocatable.get(name, "0"))
    else:
        amount = Fraction(0)
    divisor = parse_quantity(str(reference.get("divisor") or "1"))
    if divisor <= 0:
        raise PodConfigError(
            reason=CONFIG_ERROR, message=f"resourceFieldRef divisor must be > 0 in {resource}"
        )
    return str(math.ceil(amount / divisor))


def _secret_text(*, data: Mapping[str, str], key: str, where: str) -> str:
    try:
        return base64.b64decode(data[key], validate=True).decode("utf-8", errors="surrogateescape")
    except (binascii.Error, ValueError) as exc:
        raise PodConfigError(
            reason=CONFIG_ERROR, message=f"key {key} in {where} is not valid base64"
        ) from exc


def _source_entries(
    *, context: PodContext, source: ObjectSource, kind: str, name: str, optional: bool
) -> dict[str, str] | None:
    """All keys of a ConfigMap or Secret as text; None when it is missing and optional."""
    namespace = context.namespace
    if kind == "configmap":
        found = source.config_map(namespace=namespace, name=name)
    else:
        found = source.secret(namespace=namespace, name=name)
    if found is None:
        if optional:
            return None
        raise PodConfigError(reason=CONFIG_ERROR, message=f'{kind} "{name}" not found')
    where = f"{'ConfigMap' if kind == 'configmap' else 'Secret'} {namespace}/{name}"
    if kind == "configmap":
        return {str(k): str(v) for k, v in (found.get("data") or {}).items()}
    data = found.get("data") or {}
    return {str(key): _secret_text(data=data, key=key, where=where) for key in data}


def _value_from(
    *, context: PodContext, container: JsonObject, source: ObjectSource, value_from: JsonObject
) -> str | None:
    """One ``valueFrom``; None means "optional and missing: leave the variable out"."""
    for field, kind, label in (
        ("configMapKeyRef", "configmap", "ConfigMap"),
        ("secretKeyRef", "secret", "Secret"),
    ):
        ref = value_from.get(field)
        if ref is None:
            continue
        optional = bool(ref.get("optional", False))
        entries = _source_entries(
            context=context,
            source=source,
            kind=kind,
            name=str(ref.get("name", "")),
            optional=optional,
        )
        if entries is None:
            return None
        key = str(ref.get("key", ""))
        if key not in entries:
            if optional:
                return None
            raise PodConfigError(
                reason=CONFIG_ERROR,
                message=f"couldn't find key {key} in {label} {context.namespace}/{ref.get('name')}",
            )
        return entries[key]
    if "fieldRef" in value_from:
        return field_value(
            context=context, field_path=str(value_from["fieldRef"].get("fieldPath", ""))
        )
    if "resourceFieldRef" in value_from:
        return resource_field_value(
            context=context, container=container, reference=value_from["resourceFieldRef"]
        )
    raise PodConfigError(reason=CONFIG_ERROR, message=f"unsupported valueFrom {sorted(value_from)}")


def container_env(
    *, context: PodContext, container: JsonObject, source: ObjectSource
) -> dict[str, str]:
    """The container's variables in kubelet order: ``envFrom`` first, then ``env`` (later wins)."""
    env: dict[str, str] = {}
    for env_from in container.get("envFrom") or []:
        prefix = str(env_from.get("prefix", ""))
        for field, kind in (("configMapRef", "configmap"), ("secretRef", "secret")):
            ref = env_from.get(field)
            if ref is None:
                continue
            entries = _source_entries(
                context=context,
                source=source,
                kind=kind,
                name=str(ref.get("name", "")),
                optional=bool(ref.get("optional", False)),
            )
            for key, value in (entries or {}).items():
                if _ENV_NAME.match(prefix + key):
                    env[prefix + key] = value
    for variable in container.get("env") or []:
        name = str(variable.get("name", ""))
        if "valueFrom" in variable:
            resolved = _value_from(
                context=context,
                container=container,
                source=source,
                value_from=variable["valueFrom"],
            )
            if resolved is not None:
                env[name] = resolved
        else:
            # Like the kubelet, values may refer to the service variables defined below.
            env[name] = expand(
                str(variable.get("value", "")), env=ChainMap(env, dict(context.service_env))
            )
    # Added last, so a container that defines one of them itself keeps its own value.
    for name, value in context.service_env.items():
        env.setdefault(name, value)
    return env
