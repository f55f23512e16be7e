"""One whole reconcile pass of a bot whose runtime answers ``/status``, without a cluster.

A fake API (:class:`succession_support.FakeKube`) holds the bot's children; a stub runtime on
127.0.0.1 answers ``GET /status`` and ``POST /control/<command>`` as the real runtime does (its
``trading`` block is built by the runtime's own code). Imported by the operator's unit tests of
what the status says about a running runtime.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from succession_support import SETTINGS, FakeKube, replica_set_pod, stamp
from tradefleet_devtools.controlplane import free_port
from tradefleet_operator.reconcile import Reconciler
from tradefleet_operator.settings import OperatorSettings
from tradefleet_runtime.service.trading_state import TradingCondition, TradingReason

if TYPE_CHECKING:  # the tests also run against operators that predate it
    from tradefleet_operator.outcome import Outcome

TOKEN = "t0ken"


def runtime_status(
    *,
    reason: TradingReason = TradingReason.TRADING,
    message: str = "trading",
    **fields: Any,
) -> dict[str, Any]:
    """A runtime's ``/status`` with the Trading condition the runtime itself would report."""
    trading = reason in (TradingReason.TRADING, TradingReason.RATE_LIMITED)
    status: dict[str, Any] = {
        "phase": "trading",
        "heartbeat": datetime.now(UTC).timestamp(),
        "position": {"side": "flat", "size": 0.0, "entryPrice": 0.0},
        "circuitBreaker": {"state": "Closed"},
        "userPaused": False,
        "userHalted": False,
        "paused": False,
        "pauseReason": None,
        "halted": False,
        "haltReason": None,
        "ordersBlocked": None,
        "protection": {"stopKind": None, "unprotectedSeconds": 0.0},
        "lease": {"token": 1, "waitingFor": None},
        "flatten": {"state": "none"},
        "trading": TradingCondition(trading=trading, reason=reason, message=message).to_dict(),
    }
    status.update(fields)
    return status


@dataclass(kw_only=True)
class StubRuntime:
    """What the stub runtime answers and which commands it was sent."""

    status: dict[str, Any]
    port: int
    commands: list[str] = field(default_factory=list)
    # Called with each command's name as the runtime receives it (to change what /status says).
    on_command: Callable[[str], None] | None = None


@asynccontextmanager
async def stub_runtime(status: Mapping[str, Any]) -> AsyncIterator[StubRuntime]:
    stub = StubRuntime(status=dict(status), port=free_port())

    async def get_status(request: web.Request) -> web.Response:
        # As the real runtime: /status only with the bot's bearer token.
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"detail": "invalid control token"}, status=403)
        return web.json_response(stub.status)

    async def command(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"detail": "invalid control token"}, status=403)
        stub.commands.append(request.match_info["name"])
        if stub.on_command is not None:
            stub.on_command(request.match_info["name"])
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/status", get_status)
    app.router.add_post("/control/{name}", command)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", stub.port)
    await site.start()
    try:
        yield stub
    finally:
        await runner.cleanup()


def available_children(*, revision: int = 1) -> dict[tuple[str, str], Any]:
    """A Deployment that rolled out ``revision`` and its running, ready pod on 127.0.0.1."""
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "bot", "namespace": "ns", "resourceVersion": "7", "generation": 1},
        "spec": {
            "replicas": 1,
            "template": {"metadata": {"annotations": {"tradefleet.io/revision": str(revision)}}},
        },
        "status": {"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1},
    }
    pod = replica_set_pod("bot-5d8f6c-x2x7q")
    pod["metadata"]["annotations"] = {"tradefleet.io/revision": str(revision)}
    pod["status"] = {
        "phase": "Running",
        "podIP": "127.0.0.1",
        "containerStatuses": [
            {
                "name": "runtime",
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": stamp(datetime.now(UTC))}},
            }
        ],
    }
    return {(c["kind"], c["metadata"]["name"]): c for c in (deployment, pod)}


def secret_of_token() -> dict[str, Any]:
    import base64

    return {"data": {"token": base64.b64encode(TOKEN.encode()).decode()}}


class TokenKube(FakeKube):
    """The fake API, plus the bot's control-token Secret and any other Secrets given."""

    def __init__(self, *, secrets: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.secrets = {"bot-control": secret_of_token(), **(secrets or {})}
        self.patched: list[tuple[str, str, Any]] = []

    async def get(self, *, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        if kind == "Secret":
            found = self.secrets.get(name)
            return dict(found) if found is not None else None
        return await super().get(kind=kind, namespace=namespace, name=name)

    async def patch_merge(
        self, *, kind: str, namespace: str, name: str, patch: Any, subresource: str | None = None
    ) -> dict[str, Any]:
        self.patched.append((kind, name, patch))
        return {"metadata": {"name": name, "resourceVersion": "200"}}


async def one_pass(
    *,
    body: dict[str, Any],
    children: dict[tuple[str, str], Any],
    port: int,
    kube: FakeKube | None = None,
    symbol_holders: list[str] | None = None,
) -> tuple[FakeKube, Outcome]:
    kube = kube if kube is not None else TokenKube()
    reconciler = Reconciler(kube=kube, settings=replace(SETTINGS, runtime_port=port))  # type: ignore[arg-type]
    try:
        outcome = await reconciler.reconcile_bot(
            body=body, children=children, sources={}, symbol_holders=symbol_holders or []
        )
    finally:
        await reconciler.runtime.close()
    return kube, outcome


def condition(outcome: Outcome, type_: str) -> dict[str, Any]:
    found = [c for c in outcome.status["conditions"] if c["type"] == type_]
    types = [c["type"] for c in outcome.status["conditions"]]
    assert found, (
        f"no {type_} condition; the conditions are {types}, phase {outcome.status['phase']}"
    )
    return dict(found[0])


async def source_pass(
    *, spec: dict[str, Any], settings: OperatorSettings = SETTINGS
) -> tuple[Outcome, FakeKube]:
    """One reconcile pass of a SignalSource of this operator's region ("news" in "ns") with
    ``spec``, against a fake API: the outcome and what was applied."""
    body = {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "SignalSource",
        "metadata": {"name": "news", "namespace": "ns", "uid": "uid-src", "generation": 1},
        "spec": spec,
        "status": {"region": settings.region},
    }
    kube = FakeKube()
    reconciler = Reconciler(kube=kube, settings=settings)  # type: ignore[arg-type]
    try:
        outcome = await reconciler.reconcile_source(body=body, children={}, consumers=0)
    finally:
        await reconciler.runtime.close()
    return outcome, kube
