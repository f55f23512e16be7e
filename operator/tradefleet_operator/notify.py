"""Sends a bot's notifications (``spec.notifications``) to webhook, Slack and Telegram targets.

Called by the pass loop (:mod:`tradefleet_operator.passes`) around each bot's status write:
:meth:`Notifier.prepare` before it (the transitions of the status, recorded in
``status.notifications.notified``, and the ``NotificationsDelivered`` condition), and
:meth:`Notifier.dispatch` once the status is written, so a transition is sent once, also across
operator restarts. Sending is asynchronous: each bot and target has its own queue and task, so a
slow or failing receiver never blocks a reconcile pass. A target's URL or token is read from its
Secret (labelled ``tradefleet.io/notifications: "true"``) at each message and never logged. The
decisions (transitions, texts, rate limit) are :mod:`tradefleet_operator.notify_events`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client import Counter

from tradefleet_operator import conditions as cond
from tradefleet_operator import notify_events as ne
from tradefleet_operator.kube import KubeApiError, KubeClient
from tradefleet_operator.outcome import Outcome, normal, warning
from tradefleet_operator.spec import (
    NotificationTarget,
    NotificationType,
    SpecError,
    parse_notification_targets,
)
from tradefleet_operator.spec.vocabulary import ConditionType, Reason

log = logging.getLogger("tradefleet.operator")

Wake = Callable[[str, str], None]  # (namespace, bot name): run the bot's pass soon


@dataclass(frozen=True, kw_only=True, slots=True)
class Failure:
    reason: Reason
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Prepared:
    """What a pass decided to send, per target, once its status is written."""

    uid: str
    bot: ne.BotRef
    sends: tuple[tuple[NotificationTarget, tuple[ne.Notice, ...]], ...]


@dataclass(kw_only=True, slots=True)
class _Channel:
    """One bot's target: its queue, its sender task, its sends in the rate window, its health."""

    bot: ne.BotRef
    target: NotificationTarget
    queue: asyncio.Queue[ne.Notice] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    sent: list[float] = field(default_factory=list)
    failure: Failure | None = None


class _UnusableError(Exception):
    """The target's Secret cannot be used; not retried."""


class Notifier:
    """All notification targets of the operator's bots; one per operator process."""

    def __init__(
        self,
        *,
        kube: KubeClient,
        region: str,
        counter: Counter,
        wake: Wake,
        retry_delays_s: Sequence[float] = ne.RETRY_DELAYS_S,
        timeout_s: float = 10.0,
    ) -> None:
        self._kube = kube
        self._region = region
        self._counter = counter
        self._wake = wake
        self._delays = tuple(retry_delays_s)
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._channels: dict[tuple[str, str], _Channel] = {}
        # Per bot uid: the generation parsed, its usable targets, the problems of the others.
        self._targets: dict[str, tuple[int, tuple[NotificationTarget, ...], tuple[str, ...]]] = {}

    # -- around a pass ------------------------------------------------------------------------

    def prepare(self, *, body: Mapping[str, Any], outcome: Outcome) -> Prepared | None:
        """Record in ``outcome`` what is notified (``status.notifications``) and the targets'
        health (the condition, its events); return what to send once the status is written."""
        status = outcome.status
        if outcome.leave_status or status.get("region") != self._region:
            return None  # another region's operator runs (and notifies for) the bot
        meta = body["metadata"]
        uid, bot = str(meta["uid"]), ne.BotRef(namespace=meta["namespace"], name=meta["name"])
        targets, problems = self._parsed(uid=uid, body=body)
        self._drop_channels(uid=uid, keep={t.name for t in targets})
        if not targets and not problems:
            status.pop("notifications", None)
            status["conditions"] = [
                c
                for c in status.get("conditions") or []
                if c.get("type") != ConditionType.NOTIFICATIONS_DELIVERED
            ]
            return None
        previous = body.get("status") or {}
        before = ne.Snapshot.from_status((previous.get("notifications") or {}).get("notified"))
        after = ne.observed_state(status=status, previous=before)
        notices = ne.transitions(before=before, after=after, status=status, at=cond.now_rfc3339())
        status["notifications"] = {"notified": after.to_status()}
        self._condition(body=body, outcome=outcome, targets=targets, problems=problems, uid=uid)
        sends = tuple(
            (target, chosen)
            for target in targets
            if (chosen := tuple(n for n in notices if ne.wanted(notice=n, events=target.events)))
        )
        return Prepared(uid=uid, bot=bot, sends=sends) if sends else None

    def dispatch(self, prepared: Prepared) -> None:
        """Queue the prepared notices on their targets' channels (sent in the background)."""
        for target, notices in prepared.sends:
            channel = self._channel(uid=prepared.uid, bot=prepared.bot, target=target)
            for notice in notices:
                channel.queue.put_nowait(notice)

    def forget(self, *, uid: str) -> None:
        """The bot is gone: stop its channels (what they still held is not sent)."""
        self._drop_channels(uid=uid, keep=set())
        self._targets.pop(uid, None)

    async def close(self) -> None:
        for key in list(self._channels):
            self._stop(key)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _parsed(
        self, *, uid: str, body: Mapping[str, Any]
    ) -> tuple[tuple[NotificationTarget, ...], tuple[str, ...]]:
        generation = int(body["metadata"].get("generation") or 0)
        cached = self._targets.get(uid)
        if cached is not None and cached[0] == generation:
            return cached[1], cached[2]
        try:
            parsed = parse_notification_targets(body.get("spec") or {})
        except SpecError as exc:
            # The apiserver refuses this first; a raw dict from elsewhere lands here.
            self._targets[uid] = (generation, (), (f"{exc.field}: {exc}",))
            return (), (f"{exc.field}: {exc}",)
        usable, problems = [], []
        for index, target in enumerate(parsed):
            if target.type is NotificationType.TELEGRAM and target.telegram is None:
                problems.append(
                    f"spec.notifications[{index}].telegram.chatId: type telegram needs the chat "
                    "to send to: set telegram.chatId"
                )
            else:
                usable.append(target)
        self._targets[uid] = (generation, tuple(usable), tuple(problems))
        return tuple(usable), tuple(problems)

    def _condition(
        self,
        *,
        body: Mapping[str, Any],
        outcome: Outcome,
        targets: Sequence[NotificationTarget],
        problems: Sequence[str],
        uid: str,
    ) -> None:
        """Merge the NotificationsDelivered condition into the outcome, with an event when it
        changes (a Warning when it turns False)."""
        failing = [
            (t, c.failure)
            for t in targets
            if (c := self._channels.get((uid, t.name))) is not None and c.failure is not None
        ]
        if problems:
            observed = cond.Condition(
                type=ConditionType.NOTIFICATIONS_DELIVERED,
                status=False,
                reason=Reason.NOTIFICATION_CONFIG_INVALID,
                message="; ".join(problems),
            )
        elif failing:
            observed = cond.Condition(
                type=ConditionType.NOTIFICATIONS_DELIVERED,
                status=False,
                reason=failing[0][1].reason,
                message="; ".join(f"target {t.name} ({t.type}): {f.message}" for t, f in failing),
            )
        else:
            observed = cond.Condition(
                type=ConditionType.NOTIFICATIONS_DELIVERED,
                status=True,
                reason=Reason.NOTIFICATIONS_DELIVERED,
                message=f"{len(targets)} target(s): "
                + ", ".join(f"{t.name} ({t.type})" for t in targets),
            )
        previous = outcome.status.get("conditions") or []
        before = next((c for c in previous if c.get("type") == observed.type), None)
        outcome.status["conditions"] = cond.merge_conditions(
            previous=previous,
            observed=[observed],
            generation=int(body["metadata"].get("generation") or 0),
            now=cond.now_rfc3339(),
        )
        if before is not None and (before.get("status"), before.get("reason")) == (
            observed.status_word,
            observed.reason,
        ):
            return
        if not observed.status:
            outcome.events.append(warning(Reason(observed.reason), observed.message))
        elif before is not None:
            outcome.events.append(normal(Reason.NOTIFICATIONS_DELIVERED, observed.message))

    # -- channels -----------------------------------------------------------------------------

    def _channel(self, *, uid: str, bot: ne.BotRef, target: NotificationTarget) -> _Channel:
        key = (uid, target.name)
        channel = self._channels.get(key)
        if channel is not None and channel.target != target:
            # The target was edited: its messages go the new way from now on.
            channel.target = target
        if channel is None:
            channel = _Channel(bot=bot, target=target)
            self._channels[key] = channel
        if channel.task is None or channel.task.done():
            channel.task = asyncio.get_running_loop().create_task(self._run(channel))
        return channel

    def _drop_channels(self, *, uid: str, keep: set[str]) -> None:
        for key in [k for k in self._channels if k[0] == uid and k[1] not in keep]:
            self._stop(key)

    def _stop(self, key: tuple[str, str]) -> None:
        channel = self._channels.pop(key, None)
        if channel is not None and channel.task is not None:
            channel.task.cancel()

    async def _run(self, channel: _Channel) -> None:
        """Send what the channel's queue gets, within the rate limit; what is over the limit
        waits, and is sent as one summary when the window allows."""
        pending: list[ne.Notice] = []
        while True:
            try:
                if not pending:
                    pending.append(await channel.queue.get())
                while not channel.queue.empty():
                    pending.append(channel.queue.get_nowait())
                now = time.monotonic()
                channel.sent = [t for t in channel.sent if now - t < ne.RATE_WINDOW_S]
                wait_s = ne.next_slot_s(sent=channel.sent, now=now)
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                    continue
                groups = ne.coalesce(
                    pending=pending, slots=ne.free_slots(sent=channel.sent, now=now)
                )
                pending = []
                for group in groups:
                    channel.sent.append(time.monotonic())
                    await self._deliver(channel=channel, notices=group)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug, not the receiver: keep the channel alive for the next message.
                log.exception(
                    "notification sender of bot %s/%s crashed",
                    channel.bot.namespace,
                    channel.bot.name,
                )
                await asyncio.sleep(1.0)

    async def _deliver(self, *, channel: _Channel, notices: Sequence[ne.Notice]) -> None:
        """One message, with retries on 5xx, 429, timeouts and refused connections."""
        target, kind = channel.target, str(channel.target.type)
        try:
            url, payload = await self._request(channel=channel, notices=notices)
        except _UnusableError as exc:
            self._counter.labels(kind=kind, result="failed").inc()
            self._health(
                channel, Failure(reason=Reason.NOTIFICATION_SECRET_MISSING, message=str(exc))
            )
            return
        attempts = len(self._delays) + 1
        for attempt in range(attempts):
            status, error = await self._post(url=url, payload=payload)
            if error is None:
                self._counter.labels(kind=kind, result="sent").inc()
                self._health(channel, None)
                return
            if not ne.retryable(status) or attempt == attempts - 1:
                self._counter.labels(kind=kind, result="failed").inc()
                log.warning(
                    "notification to target %s of bot %s/%s failed: %s",
                    target.name,
                    channel.bot.namespace,
                    channel.bot.name,
                    error,
                )
                self._health(
                    channel,
                    Failure(
                        reason=Reason.NOTIFICATION_TARGET_FAILING,
                        message=f"{error} after {attempt + 1} attempt(s); "
                        f"{len(notices)} notification(s) not delivered",
                    ),
                )
                return
            self._counter.labels(kind=kind, result="retried").inc()
            await asyncio.sleep(self._delays[attempt])

    def _health(self, channel: _Channel, failure: Failure | None) -> None:
        if failure == channel.failure:
            return
        was_failing = channel.failure is not None
        channel.failure = failure
        if failure is not None or was_failing:
            self._wake(channel.bot.namespace, channel.bot.name)

    async def _request(
        self, *, channel: _Channel, notices: Sequence[ne.Notice]
    ) -> tuple[str, dict[str, Any]]:
        """The URL and JSON body of the message; the URL holds a secret and is never shown."""
        target = channel.target
        value = await self._secret_value(namespace=channel.bot.namespace, target=target)
        body = ne.request_body(
            type_=target.type,
            bot=channel.bot,
            notices=notices,
            chat_id=target.telegram.chat_id if target.telegram else None,
        )
        if target.type is NotificationType.TELEGRAM:
            assert target.telegram is not None
            return f"{target.telegram.api_url.rstrip('/')}/bot{value}/sendMessage", body
        if not value.startswith(("http://", "https://")):
            ref = target.secret_ref
            raise _UnusableError(
                f"key {ref.key!r} of Secret {ref.name!r} does not hold an http(s) URL"
            )
        return value, body

    async def _secret_value(self, *, namespace: str, target: NotificationTarget) -> str:
        ref = target.secret_ref
        try:
            secret = await self._kube.get(kind="Secret", namespace=namespace, name=ref.name)
        except KubeApiError as exc:
            raise _UnusableError(f"Secret {ref.name!r} cannot be read: {exc}") from exc
        if secret is None:
            raise _UnusableError(f"Secret {ref.name!r} not found in namespace {namespace}")
        labels = (secret.get("metadata") or {}).get("labels") or {}
        if labels.get(ne.LABEL_NOTIFICATIONS) != "true":
            raise _UnusableError(
                f"Secret {ref.name!r} is not marked for notifications: label it (kubectl label "
                f"secret {ref.name} -n {namespace} {ne.LABEL_NOTIFICATIONS}=true)"
            )
        encoded = (secret.get("data") or {}).get(ref.key)
        if not encoded:
            raise _UnusableError(f"Secret {ref.name!r} has no key {ref.key!r}")
        try:
            return base64.b64decode(encoded).decode().strip()
        except ValueError as exc:
            raise _UnusableError(f"key {ref.key!r} of Secret {ref.name!r} is not text") from exc

    async def _post(self, *, url: str, payload: Mapping[str, Any]) -> tuple[int | None, str | None]:
        """(HTTP status, error) of one attempt; the error never quotes the URL."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout_s)
            )
        try:
            async with self._session.post(url, json=dict(payload)) as response:
                if 200 <= response.status < 300:
                    return response.status, None
                return response.status, f"HTTP {response.status}"
        except TimeoutError:
            return None, f"no answer within {self._timeout_s:g}s"
        except aiohttp.ClientError as exc:
            return None, f"connection failed ({exc.__class__.__name__})"


async def close_quietly(notifier: Notifier | None) -> None:
    """Stop every channel and close the HTTP session (operator shutdown)."""
    if notifier is not None:
        with contextlib.suppress(Exception):
            await notifier.close()
