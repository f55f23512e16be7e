"""What happens to a bot's positions when the TradingBot is deleted (``spec.deletionPolicy``).

Called by the deletion handler (:mod:`tradefleet_operator.handlers`) before the finalizer is
removed and the children are garbage collected. ``Flatten`` asks the runtime to close its
positions and waits until the runtime confirms that its flatten is done — the runtime flattens in
the background and reports the outcome in ``/status`` (``flatten``) — bounded by the operator's
``deletionTimeoutSeconds``; an unreachable runtime is asked again until then. ``Keep`` leaves the
positions (and their exchange-side stops) alone. Deletion never hangs: the deadline, a failed
flatten or no runtime at all ends with a Warning event saying the flatten is not confirmed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tradefleet_operator.kube import KubeClient
from tradefleet_operator.runtime_client import RuntimeClient, RuntimeUnreachableError, control_token
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec.vocabulary import Reason

POLL_S = 1.0


@dataclass(frozen=True, kw_only=True, slots=True)
class DeletionOutcome:
    type: str
    reason: str
    message: str


def _running_pod_ip(pods: Sequence[Mapping[str, Any]]) -> str | None:
    for pod in pods:
        status = pod.get("status") or {}
        if (
            status.get("phase") == "Running"
            and status.get("podIP")
            and not pod["metadata"].get("deletionTimestamp")
        ):
            return str(status["podIP"])
    return None


def _outcome(type_: str, reason: Reason, message: str) -> DeletionOutcome:
    return DeletionOutcome(type=type_, reason=str(reason), message=message)


async def settle_positions(
    *,
    kube: KubeClient,
    settings: OperatorSettings,
    body: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
) -> DeletionOutcome:
    policy = (body.get("spec") or {}).get("deletionPolicy", "Flatten")
    if policy == "Keep":
        return _outcome(
            "Normal",
            Reason.POSITIONS_KEPT,
            "deletionPolicy Keep: open positions are left on the exchange",
        )
    host = _running_pod_ip(pods)
    if host is None:
        return _outcome(
            "Warning",
            Reason.FLATTEN_SKIPPED,
            "deletionPolicy Flatten, but no running bot pod: flatten not confirmed, check the "
            "exchange for open positions",
        )
    meta = body["metadata"]
    token = await control_token(kube=kube, namespace=meta["namespace"], bot=meta["name"])
    if token is None:
        return _outcome(
            "Warning",
            Reason.FLATTEN_SKIPPED,
            "control token Secret is gone; positions not flattened, check the exchange",
        )
    client = RuntimeClient()
    try:
        return await _flatten(client=client, host=host, token=token, settings=settings)
    finally:
        await client.close()


async def _flatten(
    *, client: RuntimeClient, host: str, token: str, settings: OperatorSettings
) -> DeletionOutcome:
    """Ask for a flatten until it is taken, then wait for its outcome, up to the deadline."""
    deadline = time.monotonic() + settings.deletion_timeout_s
    port = settings.runtime_port
    asked = False
    problem = "the runtime did not answer"
    while time.monotonic() < deadline:
        try:
            if not asked:
                await client.command(host=host, port=port, command="flatten", token=token)
                asked = True
            flatten = (await client.status(host=host, port=port, token=token)).get("flatten") or {}
        except RuntimeUnreachableError as exc:
            problem = str(exc)
            await asyncio.sleep(POLL_S)
            continue
        state = flatten.get("state") if isinstance(flatten, Mapping) else None
        if state == "done":
            return _outcome(
                "Normal",
                Reason.POSITIONS_FLATTENED,
                "the runtime confirmed its flatten before deletion",
            )
        if state == "failed":
            return _outcome(
                "Warning",
                Reason.FLATTEN_FAILED,
                f"the runtime's flatten failed ({flatten.get('reason') or 'no reason given'}); "
                "deleting anyway: flatten not confirmed, check the exchange for open positions",
            )
        problem = "the flatten is still running" if state == "running" else f"flatten {state}"
        await asyncio.sleep(POLL_S)
    if not asked:
        return _outcome(
            "Warning",
            Reason.FLATTEN_UNREACHABLE,
            f"positions not flattened, the runtime was unreachable for "
            f"{settings.deletion_timeout_s:.0f}s ({problem}): flatten not confirmed, check the "
            "exchange",
        )
    return _outcome(
        "Warning",
        Reason.FLATTEN_TIMED_OUT,
        f"flatten not confirmed after {settings.deletion_timeout_s:.0f}s ({problem}); deleting "
        "anyway, check the exchange for open positions",
    )
