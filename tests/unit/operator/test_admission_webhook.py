"""The admission webhook: which new bots are created with the operator's finalizer, and a
certificate the apiserver can verify."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from typing import Any

import aiohttp
import pytest
from tradefleet_devtools.controlplane import free_port
from tradefleet_operator import admission
from tradefleet_operator.admission import finalizer_patch, review_answer, serve
from tradefleet_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

FINALIZER = "tradefleet.io/finalizer"


def test_a_new_bot_gets_the_finalizer_beside_its_own() -> None:
    meta = {"name": "b", "namespace": "trading", "finalizers": ["example.com/keep"]}
    assert finalizer_patch(meta=meta, finalizer=FINALIZER, namespaces=()) == [
        "example.com/keep",
        FINALIZER,
    ]


def test_a_bot_that_already_has_it_is_left_as_it_is() -> None:
    meta = {"name": "b", "namespace": "trading", "finalizers": [FINALIZER]}
    assert finalizer_patch(meta=meta, finalizer=FINALIZER, namespaces=()) is None


def test_a_bot_outside_the_watched_namespaces_is_left_alone() -> None:
    # No operator of this release would ever remove it: the bot could not be deleted.
    meta = {"name": "b", "namespace": "elsewhere"}
    assert finalizer_patch(meta=meta, finalizer=FINALIZER, namespaces=("trading",)) is None
    assert finalizer_patch(
        meta={**meta, "namespace": "trading"}, finalizer=FINALIZER, namespaces=("trading",)
    ) == [FINALIZER]


def _review(*, namespace: str, finalizers: list[str] | None = None) -> dict[str, Any]:
    # As an apiserver before 1.22 sends it when the client left the namespace out of the object.
    meta: dict[str, Any] = {"name": "b"}
    if finalizers is not None:
        meta["finalizers"] = finalizers
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "operation": "CREATE",
            "namespace": namespace,
            "object": {"metadata": meta, "spec": {}},
        },
    }


def _patch(answer: dict[str, Any]) -> Any:
    response = answer["response"]
    assert response["uid"] == "u-1" and response["allowed"] is True
    if "patch" not in response:
        return None
    assert response["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(response["patch"]))


def test_the_answer_takes_the_namespace_from_the_request() -> None:
    answer = review_answer(
        review=_review(namespace="trading"), finalizer=FINALIZER, namespaces=("trading",)
    )
    assert _patch(answer) == [{"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}]
    answer = review_answer(
        review=_review(namespace="elsewhere"), finalizer=FINALIZER, namespaces=("trading",)
    )
    assert _patch(answer) is None
    answer = review_answer(
        review=_review(namespace="trading", finalizers=[FINALIZER]),
        finalizer=FINALIZER,
        namespaces=(),
    )
    assert _patch(answer) is None


@pytest.mark.parametrize(
    ("service", "hostname"),
    [
        ("trading-operators/tradefleet-tokyo-operator-webhook", None),
        ("", "127.0.0.1"),
    ],
)
def test_the_apiserver_can_call_the_webhook_trusting_only_its_ca_bundle(
    service: str, hostname: str | None
) -> None:
    """A client trusting only the CA bundle the operator registers reaches the webhook at the
    name it is registered under (the Service's DNS name, or 127.0.0.1) and gets the patch."""
    settings = OperatorSettings(
        region="ap-northeast-1", webhook_service=service, webhook_port=free_port()
    )
    if hostname is None:
        namespace, name = service.split("/")
        hostname = f"{name}.{namespace}.svc"

    async def call() -> tuple[dict[str, Any], dict[str, Any]]:
        webhook = await serve(settings=settings, finalizer=FINALIZER)
        assert webhook is not None
        try:
            client = webhook.registration["clientConfig"]
            trusting = ssl.create_default_context(
                cadata=base64.b64decode(client["caBundle"]).decode()
            )
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"https://127.0.0.1:{settings.webhook_port}/finalizer",
                    json=_review(namespace="trading"),
                    ssl=trusting,
                    server_hostname=hostname,
                ) as answer,
            ):
                return client, await answer.json()
        finally:
            await webhook.runner.cleanup()

    client, answer = asyncio.run(call())
    if service:
        assert client["service"]["path"] == "/finalizer"
        assert client["service"]["port"] == settings.webhook_port
    else:
        assert client["url"] == f"https://127.0.0.1:{settings.webhook_port}/finalizer"
    assert _patch(answer) == [{"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}]


def test_without_a_certificate_the_operator_runs_without_the_webhook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The certificate maker cannot run (a broken image): the webhook is an optimisation, so the
    # operator starts all the same, with nothing registered and Kopf's own finalizer write.
    monkeypatch.setattr(admission.sys, "executable", "/bin/false")
    settings = OperatorSettings(region="ap-northeast-1", webhook_port=free_port())
    assert asyncio.run(serve(settings=settings, finalizer=FINALIZER)) is None
