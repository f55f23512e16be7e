"""Pods as the cluster shows them, and a fake API for one reconcile pass, for the succession tests.

Imported by tests/unit/operator/test_runtime_succession.py and test_reconcile_succession.py.
Nothing here needs :mod:`tradefleet_operator.succession`, so the reconcile-pass tests also run
against code that predates it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tradefleet_operator.render import Owner
from tradefleet_operator.render_optimizer import render_optimizer_job
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.spec import parse_trading_bot_spec

OWNER = Owner(kind="TradingBot", name="bot", namespace="ns", uid="uid-1")
SETTINGS = OperatorSettings(region="ap-northeast-1")
SPEC = parse_trading_bot_spec(
    {"exchange": "binance", "market": "futures", "symbol": "BTC/USDT:USDT"}
)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def replica_set_pod(name: str, *, deployment: str = "bot", template_hash: str = "5d8f6c") -> Any:
    """A pod of the bot's Deployment, as its ReplicaSet makes it."""
    return {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"tradefleet.io/bot": "bot", "pod-template-hash": template_hash},
            "annotations": {"tradefleet.io/revision": "1"},
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": f"{deployment}-{template_hash}", "controller": True}
            ],
        },
        "spec": {"nodeName": "node-a", "terminationGracePeriodSeconds": 30},
    }


def job_pod(name: str) -> Any:
    """A pod of an optimization Job of the bot: the Job's pod template, owned by the Job."""
    job = render_optimizer_job(
        owner=OWNER, spec=SPEC, run="2026-11-21T00:00:00Z", based_on="abc", settings=SETTINGS
    )
    return {
        "kind": "Pod",
        "metadata": {
            **job["spec"]["template"]["metadata"],
            "name": name,
            "ownerReferences": [
                {"kind": "Job", "name": job["metadata"]["name"], "controller": True}
            ],
        },
        "spec": {"nodeName": "node-a"},
        "status": {"phase": "Running"},
    }


def terminating(pod: dict[str, Any], *, asked_s_ago: float = 5.0) -> dict[str, Any]:
    """``pod`` deleted ``asked_s_ago`` with a 30 s grace period, as the apiserver stamps it."""
    deadline = datetime.now(UTC) + timedelta(seconds=30 - asked_s_ago)
    pod["metadata"] |= {"deletionTimestamp": stamp(deadline), "deletionGracePeriodSeconds": 30}
    return pod


class FakeKube:
    """Records what a pass writes; every node is Ready."""

    def __init__(self) -> None:
        # What each create, apply and replace left, by kind and name.
        self.written: dict[tuple[str, str], dict[str, Any]] = {}
        self.deleted: list[tuple[str, str]] = []
        self._version = 100

    def _stored(self, body: dict[str, Any]) -> dict[str, Any]:
        self._version += 1
        return {**body, "metadata": {**body["metadata"], "resourceVersion": str(self._version)}}

    async def apply(self, *, body: dict[str, Any]) -> dict[str, Any]:
        stored = self._stored(body)
        self.written[(body["kind"], body["metadata"]["name"])] = stored
        return stored

    async def create(self, *, body: dict[str, Any]) -> dict[str, Any]:
        return await self.apply(body=body)

    async def replace(self, *, body: dict[str, Any]) -> dict[str, Any]:
        return await self.apply(body=body)

    async def get(self, *, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        if kind == "Node":
            return {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
        return None

    async def delete(self, *, kind: str, namespace: str | None, name: str, **_: Any) -> bool:
        self.deleted.append((kind, name))
        return True


def bot_body(*, self_healing: dict[str, Any]) -> dict[str, Any]:
    """The bot ``bot`` at revision 1, with ``status.selfHealing`` as the last pass left it."""
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {
            "name": "bot",
            "namespace": "ns",
            "uid": "uid-1",
            "generation": 1,
            "creationTimestamp": stamp(datetime.now(UTC)),
        },
        "spec": {"exchange": "binance", "market": "futures", "symbol": "BTC/USDT:USDT"},
        "status": {"currentRevision": 1, "selfHealing": self_healing},
    }
