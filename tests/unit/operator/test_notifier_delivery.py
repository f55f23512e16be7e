"""Issue 21, item 3: the operator's notifier against local HTTP receivers and a fake API.

A pass's outcome gets ``status.notifications.notified`` and the ``NotificationsDelivered``
condition; what is sent goes out only on ``dispatch`` (after the status write), in the background;
a failing receiver is retried and then reported (condition, Warning event, metric); a Secret not
marked for notifications is never read; Telegram goes to ``<apiUrl>/bot<token>/sendMessage``.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from tradefleet_devtools.controlplane import free_port
from tradefleet_operator.notify import Notifier
from tradefleet_operator.outcome import Outcome

pytestmark = pytest.mark.unit


@dataclass
class Receiver:
    url: str
    answer: int = 200
    got: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@asynccontextmanager
async def receiver(answer: int = 200) -> AsyncIterator[Receiver]:
    port = free_port()
    box = Receiver(url=f"http://127.0.0.1:{port}/hook", answer=answer)

    async def take(request: web.Request) -> web.Response:
        box.got.append((request.path, await request.json()))
        return web.json_response({"ok": box.answer < 300}, status=box.answer)

    app = web.Application()
    app.router.add_post("/{tail:.*}", take)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield box
    finally:
        await runner.cleanup()


class SecretsKube:
    def __init__(self, secrets: dict[str, dict[str, Any]]) -> None:
        self.secrets = secrets

    async def get(self, *, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        assert kind == "Secret"
        return self.secrets.get(name)


def _secret(key: str, value: str, *, marked: bool = True) -> dict[str, Any]:
    labels = {"tradefleet.io/notifications": "true"} if marked else {}
    return {
        "metadata": {"labels": labels},
        "data": {key: base64.b64encode(value.encode()).decode()},
    }


def _body(targets: list[dict[str, Any]], notified: dict[str, Any] | None) -> dict[str, Any]:
    status: dict[str, Any] = {"region": "r1", "conditions": []}
    if notified is not None:
        status["notifications"] = {"notified": notified}
    return {
        "metadata": {"name": "btc", "namespace": "desk", "uid": "u1", "generation": 1},
        "spec": {"notifications": targets},
        "status": status,
    }


CLOSED = {"breaker": "", "halt": "", "degraded": False, "rollbackAt": "", "position": ""}


def _tripped() -> Outcome:
    return Outcome(
        status={
            "region": "r1",
            "conditions": [],
            "circuitBreaker": {"state": "Open", "reason": "Drawdown", "message": "dd 21%"},
        }
    )


def _notifier(kube: SecretsKube, woken: list[str]) -> tuple[Notifier, Counter]:
    counter = Counter("n_total", "n", ["kind", "result"], registry=CollectorRegistry())
    notifier = Notifier(
        kube=kube,  # type: ignore[arg-type]
        region="r1",
        counter=counter,
        wake=lambda ns, name: woken.append(f"{ns}/{name}"),
        retry_delays_s=(0.05, 0.05),
        timeout_s=2.0,
    )
    return notifier, counter


def _condition(outcome: Outcome) -> dict[str, Any]:
    return next(c for c in outcome.status["conditions"] if c["type"] == "NotificationsDelivered")


async def _until(predicate: Any, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_a_transition_is_sent_once_after_dispatch_and_never_for_the_baseline() -> None:
    async with receiver() as hook, receiver() as slack:
        kube = SecretsKube({"hook": _secret("url", hook.url), "slack": _secret("url", slack.url)})
        woken: list[str] = []
        notifier, counter = _notifier(kube, woken)
        targets = [
            {"name": "ops", "type": "webhook", "secretRef": {"name": "hook", "key": "url"}},
            {
                "name": "chat",
                "type": "slack",
                "secretRef": {"name": "slack", "key": "url"},
                "events": ["rollbacks"],
            },
        ]
        # First pass with notifications: the baseline, nothing sent.
        baseline = _tripped()
        assert notifier.prepare(body=_body(targets, None), outcome=baseline) is None
        assert baseline.status["notifications"]["notified"]["breaker"] == "Drawdown"
        assert _condition(baseline)["status"] == "True"

        outcome = _tripped()
        prepared = notifier.prepare(body=_body(targets, CLOSED), outcome=outcome)
        assert prepared is not None
        await asyncio.sleep(0.1)
        assert hook.got == [], "sent before the status that records it was written"
        notifier.dispatch(prepared)
        await _until(lambda: len(hook.got) == 1)
        _path, payload = hook.got[0]
        assert payload["event"] == "breakerTripped" and payload["bot"] == "btc"
        assert "circuit breaker tripped (Drawdown)" in payload["text"]
        assert slack.got == [], "slack filters on rollbacks only"
        # The stored state: the next pass sees no transition.
        again = _tripped()
        assert (
            notifier.prepare(
                body=_body(targets, outcome.status["notifications"]["notified"]), outcome=again
            )
            is None
        )
        assert counter.labels(kind="webhook", result="sent")._value.get() == 1
        await notifier.close()


async def test_a_failing_receiver_is_retried_then_reported() -> None:
    async with receiver(answer=500) as hook:
        kube = SecretsKube({"hook": _secret("url", hook.url)})
        woken: list[str] = []
        notifier, counter = _notifier(kube, woken)
        targets = [{"name": "ops", "type": "webhook", "secretRef": {"name": "hook", "key": "url"}}]
        prepared = notifier.prepare(body=_body(targets, CLOSED), outcome=_tripped())
        assert prepared is not None
        notifier.dispatch(prepared)
        await _until(lambda: woken == ["desk/btc"])
        assert len(hook.got) == 3, "one attempt and two retries"
        assert counter.labels(kind="webhook", result="retried")._value.get() == 2
        assert counter.labels(kind="webhook", result="failed")._value.get() == 1
        outcome = _tripped()
        notifier.prepare(body=_body(targets, CLOSED), outcome=outcome)
        condition = _condition(outcome)
        assert condition["status"] == "False"
        assert condition["reason"] == "NotificationTargetFailing"
        assert "target ops (webhook): HTTP 500 after 3 attempt(s)" in condition["message"]
        assert hook.url not in condition["message"]
        assert [(e.type, e.reason) for e in outcome.events] == [
            ("Warning", "NotificationTargetFailing")
        ]
        # The receiver recovers: the next message gets through and the condition is True again.
        hook.answer = 200
        notifier.dispatch(prepared)
        await _until(lambda: woken == ["desk/btc", "desk/btc"])
        healed = Outcome(status={**_tripped().status, "conditions": outcome.status["conditions"]})
        notifier.prepare(body=_body(targets, CLOSED), outcome=healed)
        assert _condition(healed)["status"] == "True"
        assert [(e.type, e.reason) for e in healed.events] == [("Normal", "NotificationsDelivered")]
        await notifier.close()


async def test_an_unmarked_secret_is_not_read_and_telegram_goes_to_its_api_url() -> None:
    async with receiver() as api:
        token = "123:secret-token"
        kube = SecretsKube(
            {"tg": _secret("token", token), "stolen": _secret("url", api.url, marked=False)}
        )
        woken: list[str] = []
        notifier, _ = _notifier(kube, woken)
        base = api.url.removesuffix("/hook")
        targets = [
            {
                "name": "tg",
                "type": "telegram",
                "secretRef": {"name": "tg", "key": "token"},
                "telegram": {"chatId": "-1001", "apiUrl": base},
            },
            {"name": "other", "type": "webhook", "secretRef": {"name": "stolen", "key": "url"}},
        ]
        prepared = notifier.prepare(body=_body(targets, CLOSED), outcome=_tripped())
        assert prepared is not None
        notifier.dispatch(prepared)
        await _until(lambda: len(api.got) == 1 and woken == ["desk/btc"])
        path, payload = api.got[0]
        assert path == f"/bot{token}/sendMessage"
        assert payload["chat_id"] == "-1001" and "Drawdown" in payload["text"]
        outcome = _tripped()
        notifier.prepare(body=_body(targets, CLOSED), outcome=outcome)
        condition = _condition(outcome)
        assert condition["reason"] == "NotificationSecretMissing"
        assert "tradefleet.io/notifications=true" in condition["message"]
        await notifier.close()


async def test_a_telegram_target_without_a_chat_names_the_field() -> None:
    notifier, _ = _notifier(SecretsKube({}), [])
    targets = [{"name": "tg", "type": "telegram", "secretRef": {"name": "tg", "key": "token"}}]
    outcome = _tripped()
    notifier.prepare(body=_body(targets, CLOSED), outcome=outcome)
    condition = _condition(outcome)
    assert condition["status"] == "False"
    assert condition["reason"] == "NotificationConfigInvalid"
    assert condition["message"].startswith("spec.notifications[0].telegram.chatId:")
    await notifier.close()


async def test_removing_the_targets_removes_the_condition_and_the_record() -> None:
    notifier, _ = _notifier(SecretsKube({}), [])
    outcome = Outcome(
        status={
            "region": "r1",
            "notifications": {"notified": CLOSED},
            "conditions": [{"type": "NotificationsDelivered", "status": "True"}],
        }
    )
    assert notifier.prepare(body=_body([], CLOSED), outcome=outcome) is None
    assert "notifications" not in outcome.status and outcome.status["conditions"] == []
    # Another region's bot: nothing at all.
    other = Outcome(status={"region": "r2", "conditions": []})
    targets = [{"name": "ops", "type": "webhook", "secretRef": {"name": "h", "key": "url"}}]
    assert notifier.prepare(body=_body(targets, CLOSED), outcome=other) is None
    assert other.status == {"region": "r2", "conditions": []}
    await notifier.close()
