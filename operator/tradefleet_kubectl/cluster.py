"""The plugin's access to the apiserver: read bots, their events, revisions and pods; patch bots.

Called by :mod:`tradefleet_kubectl.cli`, :mod:`tradefleet_kubectl.actions` and
:mod:`tradefleet_kubectl.report`. Built on the official ``kubernetes`` client with kubectl's
resolution of where the cluster is: ``--kubeconfig``, else ``$KUBECONFIG``, else
``~/.kube/config``, else the pod's service account (in-cluster). Objects come back as the API's own
JSON (camelCase dictionaries), the shape the operator and ``kubectl get -o json`` use. The only
Secret ever read is the one a user names for ``ask --api-key-secret``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from tradefleet_operator.render import ANNOTATION_REVISION, LABEL_BOT, LABEL_NAME

from tradefleet_kubectl.facts import GROUP, PLURAL, VERSION, BotFacts, bot_facts

BOT_POD_NAME = "tradefleet-bot"  # app.kubernetes.io/name of a bot's runtime pods
RUNTIME_CONTAINER = "runtime"


class PluginError(Exception):
    """A failure the plugin reports in one line (exit code 1), not as a traceback."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """Where the plugin looks: the kubeconfig and context to use, and the namespace."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


def _kubeconfig_namespace(*, path: str, context: str | None) -> str | None:
    """The namespace of the kubeconfig's context (``context``, else the current one)."""
    contexts, active = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    chosen = next((c for c in contexts if c["name"] == context), None) if context else active
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


def api_client(*, target: Target) -> tuple[client.ApiClient, str]:
    """A client for the cluster and the namespace to use: ``-n``, else the context's, else
    ``default`` (in-cluster: the pod's own namespace)."""
    default_path = Path.home() / ".kube" / "config"
    path = target.kubeconfig or os.environ.get("KUBECONFIG") or None
    if path is None and default_path.exists():
        path = str(default_path)
    if path is not None:
        # KUBECONFIG may list several files: the client merges them as kubectl does.
        try:
            api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=path, context=target.context
            )
            namespace = target.namespace or _kubeconfig_namespace(path=path, context=target.context)
        except (ConfigException, OSError) as exc:
            raise PluginError(f"cannot load kubeconfig {path}: {exc}") from exc
        return api, namespace or "default"
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise PluginError(f"no kubeconfig and not in a cluster: {exc}") from exc
    sa_ns = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    namespace = target.namespace or (sa_ns.read_text().strip() if sa_ns.exists() else "default")
    return client.ApiClient(), namespace


def _message(exc: client.ApiException) -> str:
    return f"{exc.status} {exc.reason}" + (f": {exc.body}" if exc.body else "")


class Cluster:
    """The bots of one cluster, as the plugin reads and changes them."""

    def __init__(self, *, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)

    def _json(self, obj: Any) -> dict[str, Any]:
        return cast(dict[str, Any], self.api.sanitize_for_serialization(obj))  # type: ignore[no-untyped-call]

    # Bots -------------------------------------------------------------------------------------

    def bot(self, name: str) -> dict[str, Any]:
        try:
            return cast(
                dict[str, Any],
                self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, name
                ),
            )
        except client.ApiException as exc:
            if exc.status == 404:
                raise PluginError(
                    f'TradingBot "{name}" not found in namespace "{self.namespace}"'
                ) from exc
            raise PluginError(f"reading TradingBot {name}: {_message(exc)}") from exc

    def bots(self, *, all_namespaces: bool) -> list[dict[str, Any]]:
        try:
            if all_namespaces:
                answer = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
            else:
                answer = self.custom.list_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL
                )
        except client.ApiException as exc:
            raise PluginError(f"listing TradingBots: {_message(exc)}") from exc
        return list(cast(dict[str, Any], answer).get("items") or [])

    def patch_bot(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the bot (spec or metadata; never its status)."""
        try:
            return cast(
                dict[str, Any],
                self.custom.patch_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, name, dict(body)
                ),
            )
        except client.ApiException as exc:
            raise PluginError(f"patching TradingBot {name}: {_message(exc)}") from exc

    def replace_bot(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the bot; its metadata.resourceVersion makes a concurrent change fail (409)."""
        try:
            return cast(
                dict[str, Any],
                self.custom.replace_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, name, dict(body)
                ),
            )
        except client.ApiException as exc:
            if exc.status == 409:
                raise PluginError(
                    f"TradingBot {name} changed while it was being written; run the command again"
                ) from exc
            raise PluginError(f"writing TradingBot {name}: {_message(exc)}") from exc

    # What belongs to a bot ----------------------------------------------------------------------

    def events(self, name: str, *, pods: bool = True) -> list[dict[str, Any]]:
        """The events of the bot and (``pods``) of its pods."""
        names = {name}
        if pods:
            names |= {p["metadata"]["name"] for p in self.pods(name)}
        try:
            items = self.core.list_namespaced_event(self.namespace).items
        except client.ApiException as exc:
            raise PluginError(f"listing events: {_message(exc)}") from exc
        wanted = [
            e
            for e in items
            if e.involved_object.name in names
            and e.involved_object.kind in ("TradingBot", "Pod")
            and (e.involved_object.kind == "TradingBot") == (e.involved_object.name == name)
        ]
        return [self._json(e) for e in wanted]

    def revisions(self, name: str) -> list[dict[str, Any]]:
        """The bot's kept ControllerRevisions, by revision number."""
        try:
            items = self.apps.list_namespaced_controller_revision(
                self.namespace, label_selector=f"{LABEL_BOT}={name}"
            ).items
        except client.ApiException as exc:
            raise PluginError(f"listing ControllerRevisions: {_message(exc)}") from exc
        return sorted((self._json(r) for r in items), key=lambda r: int(r.get("revision") or 0))

    def pods(self, name: str) -> list[dict[str, Any]]:
        try:
            items = self.core.list_namespaced_pod(
                self.namespace, label_selector=f"{LABEL_BOT}={name},{LABEL_NAME}={BOT_POD_NAME}"
            ).items
        except client.ApiException as exc:
            raise PluginError(f"listing pods: {_message(exc)}") from exc
        return [self._json(p) for p in items]

    def current_pod(self, name: str, *, bot: Mapping[str, Any]) -> str | None:
        """The bot's current runtime pod: not being deleted, of the current revision when one is,
        running before pending, newest first."""
        revision = str((bot.get("status") or {}).get("currentRevision") or "")
        live = [p for p in self.pods(name) if not p["metadata"].get("deletionTimestamp")]
        if not live:
            return None

        def rank(pod: Mapping[str, Any]) -> tuple[bool, bool, str]:
            annotations = pod["metadata"].get("annotations") or {}
            return (
                annotations.get(ANNOTATION_REVISION) == revision,
                (pod.get("status") or {}).get("phase") == "Running",
                str(pod["metadata"].get("creationTimestamp") or ""),
            )

        return str(max(live, key=rank)["metadata"]["name"])

    def facts(self, name: str) -> BotFacts:
        bot = self.bot(name)
        return bot_facts(
            bot=bot,
            events=self.events(name),
            kept=self.revisions(name),
            pod=self.current_pod(name, bot=bot),
        )

    def secret_value(self, name: str, key: str) -> str:
        """One data key of a Secret the user named (``ask --api-key-secret``); nothing else of
        the plugin reads Secrets."""
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
        except client.ApiException as exc:
            raise PluginError(f"reading Secret {name}: {_message(exc)}") from exc
        data = secret.data or {}
        if key not in data:
            raise PluginError(f"Secret {name} has no data key {key!r}")
        return base64.b64decode(data[key]).decode().strip()

    # Logs ---------------------------------------------------------------------------------------

    def logs(
        self, pod: str, *, tail: int | None, previous: bool = False, since_s: int | None = None
    ) -> str:
        try:
            text: str = self.core.read_namespaced_pod_log(
                pod,
                self.namespace,
                container=RUNTIME_CONTAINER,
                tail_lines=tail,
                previous=previous,
                since_seconds=since_s,
                timestamps=False,
            )
        except client.ApiException as exc:
            raise PluginError(f"logs of pod {pod}: {_message(exc)}") from exc
        return text or ""  # a pod not scheduled yet has no log: an empty answer

    def follow_logs(self, pod: str, *, tail: int | None) -> Iterator[bytes]:
        """The pod's log as it is written, until the container ends or the caller stops."""
        try:
            response: Any = self.core.read_namespaced_pod_log(
                pod,
                self.namespace,
                container=RUNTIME_CONTAINER,
                tail_lines=tail,
                follow=True,
                _preload_content=False,
            )
        except client.ApiException as exc:
            raise PluginError(f"logs of pod {pod}: {_message(exc)}") from exc
        try:
            yield from response.stream(amt=4096, decode_content=True)
        finally:
            response.release_conn()
