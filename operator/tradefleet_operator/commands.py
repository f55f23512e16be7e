"""The reconciler's link to a bot's runtime: poll its ``/status``, deliver the commands it needs.

One :class:`RuntimeLink` per operator process, owned by the reconciler
(:mod:`tradefleet_operator.reconcile`). Which commands are due is decided by
:func:`tradefleet_operator.healing.runtime_commands`; this module sends them with the bot's
control token (read once from its Secret and kept) and records in ``status.control`` what the
runtime acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradefleet_operator.healing import PodView, RuntimeView, runtime_commands
from tradefleet_operator.kube import KubeClient
from tradefleet_operator.outcome import Event, normal, warning
from tradefleet_operator.render import Owner
from tradefleet_operator.runtime_client import RuntimeClient, RuntimeUnreachableError, control_token
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec.vocabulary import Reason


class RuntimeLink:
    """Talks to the bots' runtimes over their pod IPs."""

    def __init__(
        self, *, kube: KubeClient, client: RuntimeClient, settings: OperatorSettings
    ) -> None:
        self.kube = kube
        self.client = client
        self.settings = settings
        # Control tokens of the bots, read once from their Secrets.
        self._tokens: dict[str, str] = {}

    async def poll(self, *, pod: PodView | None, owner: Owner | None) -> RuntimeView | None:
        """The runtime's /status over its pod IP, with ``owner``'s control token (a bot's
        runtime answers nothing but probes and metrics without it; None for a signal source,
        whose /status is open); None when there is no running pod to ask."""
        if pod is None or not pod.running or not pod.ip:
            return None
        token = await self.token(owner=owner) if owner is not None else None
        try:
            answer = await self.client.status(
                host=pod.ip, port=self.settings.runtime_port, token=token
            )
        except RuntimeUnreachableError as exc:
            return RuntimeView(status=None, error=str(exc))
        return RuntimeView(status=answer, error=None)

    async def deliver(
        self,
        *,
        owner: Owner,
        pod: PodView | None,
        paused: bool,
        annotations: Mapping[str, str],
        control: dict[str, Any],
        runtime: Mapping[str, Any],
    ) -> list[Event]:
        """Send the commands that make the runtime match spec.paused and the annotations."""
        commands = runtime_commands(
            paused=paused, annotations=annotations, control=control, runtime=runtime
        )
        if not commands.names and commands.breaker_reset_value:
            control["breakerResetAcknowledged"] = commands.breaker_reset_value  # nothing was open
        if not commands.names or pod is None or not pod.ip:
            return []
        token = await self.token(owner=owner)
        if token is None:
            return [
                warning(
                    Reason.COMMAND_FAILED, "control token Secret missing; commands not delivered"
                )
            ]
        events = []
        for name in commands.names:
            try:
                await self.client.command(
                    host=pod.ip, port=self.settings.runtime_port, command=name, token=token
                )
            except RuntimeUnreachableError as exc:
                events.append(warning(Reason.COMMAND_FAILED, f"{name}: {exc}"))
                continue
            events.append(normal(Reason.COMMAND_DELIVERED, f"runtime acknowledged {name}"))
            if name == "reset-breaker" and commands.breaker_reset_value:
                control["breakerResetAcknowledged"] = commands.breaker_reset_value
            if name == "acknowledge" and commands.acknowledge_value:
                control["acknowledged"] = commands.acknowledge_value
            if name == "halt":
                control["killSwitchApplied"] = True
            if name == "unhalt":
                control["killSwitchApplied"] = False
        return events

    async def token(self, *, owner: Owner) -> str | None:
        """The bot's control token (read once from its Secret); None while the Secret is missing."""
        token = self._tokens.get(owner.uid) or await control_token(
            kube=self.kube, namespace=owner.namespace, bot=owner.name
        )
        if token is not None:
            self._tokens[owner.uid] = token
        return token

    def forget(self, *, uid: str) -> None:
        self._tokens.pop(uid, None)
