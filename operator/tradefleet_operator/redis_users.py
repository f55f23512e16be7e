"""Redis ACL users for bots, signal sources and the market-data workloads of ExchangeAccounts:
each reaches its own keys and nothing else.

Used by the reconciler (:mod:`tradefleet_operator.reconcile` for bots,
:mod:`tradefleet_operator.sources` for signal sources) when the operator runs with
``redisAcl: true``, the chart's default: its Redis then requires a password, which the operator
holds in ``TRADEFLEET_REDIS_ADMIN_PASSWORD``. Each bot and source gets

* a Redis user, ``tradefleet:bot:<namespace>:<name>`` or ``tradefleet:source:<namespace>:<name>``,
  whose password is derived from the operator's (HMAC-SHA256 of the user name), so the operator
  recomputes it after a restart instead of storing it anywhere but in
* a Secret ``<name>-redis`` (keys ``username`` and ``password``) the pod reads as its
  environment, and
* ACL rules — a bot: every command but the dangerous ones (``@dangerous``: KEYS, FLUSHALL, CONFIG,
  ACL, DEBUG …) on the keys under its own prefix, and reading the streams of the SignalSources its
  running revision references and its ExchangeAccount's shared market data, taken from the
  runtime config the pod is given; a source: the
  same on its own stream, and reading the stream its spec names as input (a whale source's
  ``redisStream``, never one of Tradefleet's own keys: the spec is refused); an account's
  market-data workloads: writing under their key prefixes, which the account's bots read. No
  Pub/Sub channels.

The rules are written on every pass: ``ACL SETUSER`` is idempotent and costs one round trip, and a
Redis that restarted without its users has them back within one pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tradefleet_operator.kube import KubeApiError, KubeClient
from tradefleet_operator.render import (
    ENV_REDIS_PASSWORD,
    ENV_REDIS_USERNAME,
    REDIS_SECRET_KEYS,
    Owner,
    account_labels,
    bot_labels,
    child_metadata,
    redis_secret_name,
    signal_stream_key,
    source_labels,
)
from tradefleet_operator.settings import OperatorSettings

log = logging.getLogger("tradefleet.operator")

# The environment variable holding the password of Redis's default user, which manages the ACL.
ENV_REDIS_ADMIN_PASSWORD = "TRADEFLEET_REDIS_ADMIN_PASSWORD"


class RedisUserError(RuntimeError):
    """Redis refused or could not take an ACL user; the message says which and why."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RedisUser:
    """One ACL user: its name, password and rules (``ACL SETUSER`` arguments after the name)."""

    username: str
    password: str
    rules: tuple[str, ...]

    def setuser_arguments(self) -> tuple[str, ...]:
        # reset first: rules of an earlier revision (a source no longer referenced) go.
        return ("reset", "on", f">{self.password}", *self.rules)


def user_password(*, admin_password: str, username: str) -> str:
    """The password of ``username``: only whoever holds the operator's password can derive it."""
    return hmac.new(admin_password.encode(), username.encode(), hashlib.sha256).hexdigest()


def bot_rules(
    *, key_prefix: str, streams: Sequence[str], market_prefix: str | None = None
) -> tuple[str, ...]:
    return (
        f"~{key_prefix}:*",
        *(f"%R~{stream}" for stream in sorted(set(streams))),
        # Its ExchangeAccount's shared market data, read only.
        *((f"%R~{market_prefix}:*",) if market_prefix else ()),
        "resetchannels",
        "+@all",
        "-@dangerous",
    )


def source_rules(*, stream: str, inputs: Sequence[str]) -> tuple[str, ...]:
    return (
        f"~{stream}",
        *(f"%R~{name}" for name in sorted(set(inputs))),
        "resetchannels",
        "+@all",
        "-@dangerous",
    )


def bot_user(*, admin_password: str, owner: Owner, config: Mapping[str, Any]) -> RedisUser:
    """The user of a bot whose pod is given the runtime ``config`` (its key prefix and the
    streams of the sources it references)."""
    username = f"tradefleet:bot:{owner.namespace}:{owner.name}"
    streams = [str(ref["redisStream"]) for ref in config.get("signalSources") or []]
    market = (config.get("marketData") or {}).get("sharedKeyPrefix")
    return RedisUser(
        username=username,
        password=user_password(admin_password=admin_password, username=username),
        rules=bot_rules(
            key_prefix=str(config["redis"]["keyPrefix"]),
            streams=streams,
            market_prefix=str(market) if market else None,
        ),
    )


def source_user(*, admin_password: str, owner: Owner, inputs: Sequence[str]) -> RedisUser:
    """The user of a source that publishes to its own stream and reads the ``inputs`` streams
    its spec names (a whale source's ``redisStream``)."""
    username = f"tradefleet:source:{owner.namespace}:{owner.name}"
    stream = signal_stream_key(namespace=owner.namespace, source=owner.name)
    return RedisUser(
        username=username,
        password=user_password(admin_password=admin_password, username=username),
        rules=source_rules(stream=stream, inputs=inputs),
    )


def market_user(*, admin_password: str, owner: Owner, prefixes: Sequence[str]) -> RedisUser:
    """The user of an ExchangeAccount's market-data workloads: they write under ``prefixes``."""
    username = f"tradefleet:market:{owner.namespace}:{owner.name}"
    return RedisUser(
        username=username,
        password=user_password(admin_password=admin_password, username=username),
        rules=(
            *(f"~{prefix}:*" for prefix in sorted(set(prefixes))),
            "resetchannels",
            "+@all",
            "-@dangerous",
        ),
    )


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def render_redis_secret(*, owner: Owner, user: RedisUser) -> dict[str, Any]:
    """The Secret the pod reads its Redis user and password from."""
    if owner.kind == "TradingBot":
        labels = bot_labels(bot=owner.name)
    elif owner.kind == "SignalSource":
        labels = source_labels(source=owner.name)
    else:
        labels = account_labels(account=owner.name)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": child_metadata(owner=owner, name=redis_secret_name(owner=owner), labels=labels),
        "type": "Opaque",
        "data": {
            REDIS_SECRET_KEYS[ENV_REDIS_USERNAME]: _base64(user.username),
            REDIS_SECRET_KEYS[ENV_REDIS_PASSWORD]: _base64(user.password),
        },
    }


class RedisAcl:
    """The operator's connection to Redis as its default user, which writes the ACL users."""

    def __init__(self, *, url: str, admin_password: str) -> None:
        self.admin_password = admin_password
        self._redis = aioredis.Redis.from_url(
            url, password=admin_password, socket_timeout=3.0, socket_connect_timeout=3.0
        )

    async def close(self) -> None:
        await self._redis.aclose()

    async def write(self, user: RedisUser) -> None:
        """``ACL SETUSER`` with the user's password and rules (replacing any earlier ones)."""
        try:
            # The raw command: redis-py's acl_setuser has no read-only key patterns (%R~), and
            # its execute_command is untyped.
            command: Any = self._redis.execute_command
            await command("ACL", "SETUSER", user.username, *user.setuser_arguments())
        except (RedisError, OSError) as error:
            raise RedisUserError(f"ACL SETUSER {user.username}: {error}") from error


class RedisUsers:
    """Writes the ACL users and their Secrets; one instance per operator process."""

    def __init__(self, *, kube: KubeClient, acl: RedisAcl) -> None:
        self.kube = kube
        self.acl = acl
        # Owners (uid) whose Secret this process has seen hold the current password.
        self._secrets: set[str] = set()

    @property
    def admin_password(self) -> str:
        return self.acl.admin_password

    def forget(self, *, uid: str) -> None:
        """Drop what this process knows of a deleted owner's Secret."""
        self._secrets.discard(uid)

    async def ensure(self, *, owner: Owner, user: RedisUser) -> int:
        """The user's Secret (created or corrected once per process) and its ACL rules (every
        pass); returns the objects written to the apiserver. A failure is logged and retried
        next pass; the pod reports the Redis it cannot use meanwhile."""
        try:
            writes = await self._ensure_secret(owner=owner, user=user)
            await self.acl.write(user)
        except RedisUserError as error:
            log.warning("%s/%s: Redis user not written: %s", owner.namespace, owner.name, error)
            return 0
        return writes

    async def _ensure_secret(self, *, owner: Owner, user: RedisUser) -> int:
        if owner.uid in self._secrets:
            return 0
        desired = render_redis_secret(owner=owner, user=user)
        name = desired["metadata"]["name"]
        try:
            actual = await self.kube.get(kind="Secret", namespace=owner.namespace, name=name)
            if actual is None:
                await self.kube.create(body=desired)
            elif actual.get("data") != desired["data"]:
                # The operator's password changed (a rotated chart Secret): every user's did.
                meta = {
                    **desired["metadata"],
                    "resourceVersion": actual["metadata"]["resourceVersion"],
                }
                await self.kube.replace(body={**desired, "metadata": meta})
            else:
                self._secrets.add(owner.uid)
                return 0
        except KubeApiError as error:
            raise RedisUserError(f"Secret {name}: {error}") from error
        self._secrets.add(owner.uid)
        return 1


def admin_password(*, settings: OperatorSettings) -> str | None:
    """The password of Redis's default user with ``redisAcl``, None without; raises
    :class:`RedisUserError` when ``redisAcl`` is on and the password is missing."""
    if not settings.redis_acl:
        return None
    password = os.environ.get(ENV_REDIS_ADMIN_PASSWORD, "")
    if not password:
        raise RedisUserError(
            f"redisAcl is on but {ENV_REDIS_ADMIN_PASSWORD} is empty: give the operator the "
            "password of Redis's default user (the chart does, from its Redis Secret), or turn "
            "redisAcl off"
        )
    return password


def redis_users_for(*, settings: OperatorSettings, kube: KubeClient) -> RedisUsers | None:
    """The ACL writer of this operator, None without ``redisAcl``."""
    password = admin_password(settings=settings)
    if password is None:
        return None
    return RedisUsers(kube=kube, acl=RedisAcl(url=settings.redis_url, admin_password=password))
