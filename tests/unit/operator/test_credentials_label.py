"""Issue 20, item 2: a bot is given only a Secret marked for exchange credentials.

``spec.credentials.secretRef`` may name any Secret of the namespace; the operator gives the bot's
pod the Secret's keys only when the Secret carries the label ``tradefleet.io/credentials: "true"``.
Otherwise the bot is Pending with ``CredentialsMissing`` and a message that says how to label it,
and no workload is rendered. Whole passes against a fake API.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pass_support import TokenKube, condition, one_pass, secret_of_token
from succession_support import bot_body

pytestmark = pytest.mark.unit

KEYS = {
    "apiKey": base64.b64encode(b"k").decode(),
    "apiSecret": base64.b64encode(b"s").decode(),
}


def _bot() -> dict[str, Any]:
    body = bot_body(self_healing={})
    body["spec"] |= {"mode": "testnet", "credentials": {"secretRef": {"name": "keys"}}}
    return body


def _secret(labels: dict[str, str] | None) -> dict[str, Any]:
    return {"metadata": {"name": "keys", "labels": labels or {}}, "data": dict(KEYS)}


@pytest.mark.parametrize(
    "labels",
    [None, {"tradefleet.io/credentials": "false"}, {"app": "payments"}],
    ids=["unlabelled", "labelled-false", "other-labels"],
)
async def test_a_secret_not_marked_for_credentials_is_not_given_to_the_bot(
    labels: dict[str, str] | None,
) -> None:
    kube = TokenKube(secrets={"keys": _secret(labels)})
    _, outcome = await one_pass(body=_bot(), children={}, port=1, kube=kube)
    assert outcome.status["phase"] == "Pending"
    ready = condition(outcome, "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "CredentialsMissing"
    assert "Secret 'keys' is not marked for exchange credentials" in ready["message"]
    assert "kubectl label secret keys -n ns tradefleet.io/credentials=true" in ready["message"]
    assert kube.written == {}, "the refused bot's workload was written"


async def test_a_secret_marked_for_credentials_is_given_to_the_bot() -> None:
    kube = TokenKube(secrets={"keys": _secret({"tradefleet.io/credentials": "true"})})
    _, outcome = await one_pass(body=_bot(), children={}, port=1, kube=kube)
    assert condition(outcome, "Ready")["reason"] != "CredentialsMissing"
    pod = kube.written[("Deployment", "bot")]["spec"]["template"]["spec"]
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in pod["containers"][0]["env"]
        if "secretKeyRef" in (e.get("valueFrom") or {})
    }
    assert "keys" in refs


async def test_a_marked_secret_without_the_keys_still_says_which_are_missing() -> None:
    secret = {**_secret({"tradefleet.io/credentials": "true"}), "data": {"apiKey": KEYS["apiKey"]}}
    kube = TokenKube(secrets={"keys": secret, "bot-control": secret_of_token()})
    _, outcome = await one_pass(body=_bot(), children={}, port=1, kube=kube)
    assert condition(outcome, "Ready")["message"] == "Secret 'keys' has no key(s) apiSecret"
