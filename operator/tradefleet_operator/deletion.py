"""What happens to a bot's positions when the TradingBot is deleted (``spec.deletionPolicy``).

Called by the deletion handler before the finalizer is removed and the children are garbage
collected. ``Flatten`` asks the runtime to close its positions and waits for it, bounded by the
operator's ``deletionTimeoutSeconds``; ``Keep`` leaves them (and their exchange-side stops) alone.
Deletion never hangs: an unreachable runtime or a timeout ends with a Warning event saying so.
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


def _is_flat(status: Mapping[str, Any]) -> bool:
    position = status.get("position") or {}
    return float(position.get("size") or 0.0) == 0.0


async def settle_positions(
    *,
    kube: KubeClient,
    settings: OperatorSettings,
    body: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
) -> DeletionOutcome:
    policy = (body.get("spec") or {}).get("deletionPolicy", "Flatten")
    if policy == "Keep":
        return DeletionOutcome(
            type="Normal",
            reason="PositionsKept",
            message="deletionPolicy Keep: open positions are left on the exchange",
        )
    host = _running_pod_ip(pods)
    if host is None:
        return DeletionOutcome(
            type="Warning",
            reason="FlattenSkipped",
            message="deletionPolicy Flatten, but no running bot pod: check the exchange for open positions",
        )
    meta = body["metadata"]
    client = RuntimeClient()
    deadline = time.monotonic() + settings.deletion_timeout_s
    try:
        token = await control_token(kube=kube, namespace=meta["namespace"], bot=meta["name"])
        if token is None:
            return DeletionOutcome(
                type="Warning",
                reason="FlattenSkipped",
                message="control token Secret is gone; positions not flattened",
            )
        await client.command(host=host, port=settings.runtime_port, command="flatten", token=token)
        while time.monotonic() < deadline:
            if _is_flat(await client.status(host=host, port=settings.runtime_port)):
                return DeletionOutcome(
                    type="Normal",
                    reason="PositionsFlattened",
                    message="positions closed before deletion",
                )
            await asyncio.sleep(1.0)
        return DeletionOutcome(
            type="Warning",
            reason="FlattenTimedOut",
            message=f"positions still open after {settings.deletion_timeout_s:.0f}s; deleting anyway — check the exchange",
        )
    except RuntimeUnreachableError as exc:
        return DeletionOutcome(
            type="Warning",
            reason="RuntimeUnreachableError",
            message=f"positions not flattened: {exc}",
        )
    finally:
        await client.close()
