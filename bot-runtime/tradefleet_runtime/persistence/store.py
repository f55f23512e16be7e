"""One bot's state in Redis, written so that a crash at any point loses nothing acknowledged.

The bot service writes through :class:`StateStore` only. Every multi-key update is one
MULTI/EXEC transaction (redis-py pipeline with ``transaction=True``); Redis runs with AOF, so
an acknowledged EXEC survives a Redis restart. The order protocol:

1. :meth:`StateStore.record_intent` stores the tracked order (state ``intent``), adds its client
   order id to the unresolved set and advances the decision sequence — before the order is sent;
2. :meth:`StateStore.record_orders` stores what the exchange answered, with the position and
   balance that resulted, in one transaction;
3. on start the service reconciles every unresolved client order id with the exchange before
   trading (found → its final state; never seen → ``abandoned``).

Keys (``<p>`` is ``redis.keyPrefix`` of the config, e.g. ``tradefleet:bot:<ns>:<bot>``):
``<p>:orders`` hash id → order JSON; ``<p>:orders:unresolved`` set; ``<p>:position``,
``<p>:balance``, ``<p>:portfolio``, ``<p>:breaker``, ``<p>:last_decision`` JSON strings;
``<p>:flags`` hash (the user's pause and kill switch, the runtime's own pause and halt with
their causes and reasons); ``<p>:epoch`` and ``<p>:seq`` (decision ids);
``<p>:equity`` and ``<p>:signals`` capped lists (newest first); ``<p>:meta`` hash;
``<p>:starting_equity`` (what PnL is measured from, written once); ``<p>:pnl`` hash (the bot's
own realised PnL: ``trades`` written with the position the trade closed, ``fees`` with the
orders that paid them, so a restart never books either twice) and ``<p>:pnl:unpriced`` hash
(exchange order id → symbol of ended orders whose fees are still to be looked up);
``<p>:lease`` and
``<p>:fence`` (see :mod:`tradefleet_runtime.persistence.lease`). Redis failures surface as
:class:`StateStoreError`; a write by a runtime whose fencing token was superseded raises
:class:`~tradefleet_runtime.persistence.lease.FencedError` instead (never retried).

Paper mode: the simulated account of :class:`~tradefleet_runtime.execution.paper.PaperVenue` is
``<p>:paper`` (JSON: format, quote currency, wallet, exposures, leverage, next order number) and
``<p>:paper:orders`` (hash exchange order id → order JSON), saved through
:class:`StorePaperJournal` by the venue before each call that changed it returns, in one
transaction with only the orders that changed. :meth:`StateStore.load` returns it, or — when
either key is unreadable — ``paper_account_problem`` naming the key and field; the service
then halts instead of opening a new account over it (see
:mod:`tradefleet_runtime.service.bot`). Deleting ``<p>:paper`` opens a new account at the
next start (stale orders left in ``<p>:paper:orders`` are dropped by its first save).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from tradefleet_runtime.execution.paper import PaperAccount, PaperAccountSaveError
from tradefleet_runtime.persistence.lease import FencedError
from tradefleet_runtime.persistence.records import (
    BalanceRecord,
    FeesRecord,
    PositionRecord,
    StateFormatError,
    TrackedOrder,
    TradePnlRecord,
    paper_account_from_dict,
    paper_account_to_dict,
    paper_order_to_dict,
)

EQUITY_POINTS_KEPT = 10_000
SIGNALS_KEPT = 1_000


class StateStoreError(Exception):
    """Redis could not be reached or answered an error; the message says which operation."""


class RuntimeHaltCause(StrEnum):
    """Why the runtime halted itself; only a human's ``acknowledge`` clears it."""

    AUTHENTICATION_FAILED = "AuthenticationFailed"
    PAPER_ACCOUNT_DAMAGED = "PaperAccountDamaged"


class RuntimePauseCause(StrEnum):
    """Why the runtime paused itself (no new positions)."""

    INSUFFICIENT_FUNDS = "InsufficientFunds"
    ORDERS_UNRESOLVED = "OrdersUnresolved"


@dataclass(frozen=True, kw_only=True, slots=True)
class Flags:
    """Who stopped the bot, kept apart: the user's pause and kill switch, and the runtime's own
    safety pause and halt. A user's ``resume`` never lifts what the runtime decided."""

    user_paused: bool = False
    user_halted: bool = False
    runtime_pause: RuntimePauseCause | None = None
    runtime_pause_reason: str = ""
    runtime_halt: RuntimeHaltCause | None = None
    runtime_halt_reason: str = ""

    @property
    def paused(self) -> bool:
        return self.user_paused or self.runtime_pause is not None

    @property
    def halted(self) -> bool:
        return self.user_halted or self.runtime_halt is not None

    @property
    def pause_reason(self) -> str:
        reasons = [self.runtime_pause_reason] if self.runtime_pause is not None else []
        return "; ".join([*(["paused by command"] if self.user_paused else []), *reasons])

    @property
    def halt_reason(self) -> str:
        reasons = [self.runtime_halt_reason] if self.runtime_halt is not None else []
        return "; ".join(
            [*(["halted by command (kill switch)"] if self.user_halted else []), *reasons]
        )

    def to_mapping(self) -> dict[Any, Any]:
        return {
            "userPaused": "1" if self.user_paused else "0",
            "userHalted": "1" if self.user_halted else "0",
            "runtimePause": self.runtime_pause.value if self.runtime_pause else "",
            "runtimePauseReason": self.runtime_pause_reason,
            "runtimeHalt": self.runtime_halt.value if self.runtime_halt else "",
            "runtimeHaltReason": self.runtime_halt_reason,
        }

    @classmethod
    def from_mapping(cls, raw: Mapping[str, str]) -> Flags:
        if "userPaused" not in raw and ("paused" in raw or "halted" in raw):
            return cls._from_single_flags(raw)
        pause, halt = raw.get("runtimePause", ""), raw.get("runtimeHalt", "")
        return cls(
            user_paused=raw.get("userPaused") == "1",
            user_halted=raw.get("userHalted") == "1",
            runtime_pause=RuntimePauseCause(pause) if pause in _PAUSES else None,
            runtime_pause_reason=raw.get("runtimePauseReason", ""),
            runtime_halt=RuntimeHaltCause(halt) if halt in _HALTS else None,
            runtime_halt_reason=raw.get("runtimeHaltReason", ""),
        )

    @classmethod
    def _from_single_flags(cls, raw: Mapping[str, str]) -> Flags:
        """Flags written before user and runtime causes were kept apart."""
        pause_reason, halt_reason = raw.get("pauseReason", ""), raw.get("haltReason", "")
        by_command_halt = halt_reason.startswith("halted by command")
        runtime_halted = raw.get("halted") == "1" and not by_command_halt
        runtime_paused = raw.get("paused") == "1" and pause_reason.startswith("insufficient")
        return cls(
            user_paused=raw.get("paused") == "1" and not runtime_paused,
            user_halted=raw.get("halted") == "1" and by_command_halt,
            runtime_pause=RuntimePauseCause.INSUFFICIENT_FUNDS if runtime_paused else None,
            runtime_pause_reason=pause_reason if runtime_paused else "",
            runtime_halt=(
                RuntimeHaltCause.AUTHENTICATION_FAILED
                if runtime_halted and "authentication" in halt_reason
                else RuntimeHaltCause.PAPER_ACCOUNT_DAMAGED
                if runtime_halted
                else None
            ),
            runtime_halt_reason=halt_reason if runtime_halted else "",
        )


# JSON objects a restart reads back, one key each under the bot's prefix.
_JSON_KEYS = ("position", "balance", "portfolio", "breaker", "last_decision", "fusion_learning")

_PAUSES = {cause.value for cause in RuntimePauseCause}
_HALTS = {cause.value for cause in RuntimeHaltCause}


@dataclass(frozen=True, kw_only=True, slots=True)
class PersistedState:
    """What a starting runtime restores; ``None`` where nothing was stored yet."""

    flags: Flags
    epoch: str | None
    sequence: int
    unresolved: tuple[TrackedOrder, ...]
    position: PositionRecord | None
    balance: BalanceRecord | None
    portfolio: Mapping[str, object] | None
    breaker: Mapping[str, object] | None
    last_decision: Mapping[str, object] | None
    problems: tuple[str, ...] = field(default=())
    paper_account: PaperAccount | None = None
    paper_account_problem: str | None = None
    starting_equity: float | None = None
    fusion_learning: Mapping[str, object] | None = None
    trade_pnl: TradePnlRecord = field(default_factory=TradePnlRecord)
    fees: FeesRecord = field(default_factory=FeesRecord)


def _loads(
    raw: bytes | str | None, *, key: str, problems: list[str]
) -> Mapping[str, object] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        problems.append(f"{key}: not JSON ({error})")
        return None
    if not isinstance(value, dict):
        problems.append(f"{key}: not a JSON object")
        return None
    return value


def _positive_float(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


def _pnl_field(raw: Mapping[str, str] | None, name: str, *, problems: list[str]) -> float:
    text = (raw or {}).get(name)
    if text is None:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        problems.append(f"pnl.{name}: not a number: {text!r} (counted as 0)")
        return 0.0
    return value


def _paper_account(
    *, raw_account: str | None, raw_orders: Mapping[str, str], account_key: str, orders_key: str
) -> tuple[PaperAccount | None, str | None]:
    """The stored paper account, or what makes it unusable; ``(None, None)`` when none is stored."""
    if raw_account is None:
        return None, None
    try:
        account = json.loads(raw_account)
    except json.JSONDecodeError as error:
        return None, f"{account_key}: not JSON ({error})"
    orders: dict[str, object] = {}
    for exchange_order_id, raw in raw_orders.items():
        try:
            orders[exchange_order_id] = json.loads(raw)
        except json.JSONDecodeError as error:
            return None, f"{orders_key}[{exchange_order_id}]: not JSON ({error})"
    try:
        return paper_account_from_dict(account, orders=orders), None
    except StateFormatError as error:
        return None, f"{account_key}: {error}"


# The pod's Redis user and password, where the operator runs Redis with one ACL user per bot and
# source (its redisAcl setting): from the Secret <name>-redis.
ENV_REDIS_USERNAME = "TRADEFLEET_REDIS_USERNAME"
ENV_REDIS_PASSWORD = "TRADEFLEET_REDIS_PASSWORD"


@dataclass(frozen=True, kw_only=True, slots=True)
class RedisLogin:
    """Who a runtime is to Redis; no login (None) for a Redis without ACL users."""

    username: str
    password: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RedisLogin | None:
        username = environ.get(ENV_REDIS_USERNAME, "")
        password = environ.get(ENV_REDIS_PASSWORD, "")
        return cls(username=username, password=password) if username and password else None


def redis_client(*, url: str, login: RedisLogin | None, timeout_s: float) -> aioredis.Redis:
    """A client of ``url`` as ``login``, with string replies and ``timeout_s`` socket timeouts."""
    return aioredis.Redis.from_url(
        url,
        username=login.username if login else None,
        password=login.password if login else None,
        decode_responses=True,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=5,
    )


class StateStore:
    """Redis access for one bot (one key prefix)."""

    def __init__(
        self, *, url: str, prefix: str, timeout_s: float = 2.0, login: RedisLogin | None = None
    ) -> None:
        self._redis: aioredis.Redis = redis_client(url=url, login=login, timeout_s=timeout_s)
        self.prefix = prefix
        self._token: int | None = None

    @classmethod
    def of_bot(cls, *, url: str, prefix: str, environ: Mapping[str, str]) -> StateStore:
        """A bot's store, logged in as the Redis user its environment names (if any)."""
        return cls(url=url, prefix=prefix, login=RedisLogin.from_environ(environ))

    @property
    def redis(self) -> aioredis.Redis:
        """The client, shared with readers of other keys (SignalSource streams)."""
        return self._redis

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as error:
            raise StateStoreError(f"Redis ping failed: {error}") from None

    async def load(self) -> PersistedState:
        """Everything a restart needs; malformed values are skipped and listed in ``problems``,
        except a malformed paper account, which is ``paper_account_problem`` (never skipped: a
        skipped account would be replaced by a new one)."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(self.key("flags"))
                pipe.get(self.key("epoch"))
                pipe.get(self.key("seq"))
                pipe.smembers(self.key("orders:unresolved"))
                pipe.get(self.key("paper"))
                pipe.hgetall(self.key("paper:orders"))
                pipe.get(self.key("starting_equity"))
                pipe.hgetall(self.key("pnl"))
                pipe.hgetall(self.key("pnl:unpriced"))
                for name in _JSON_KEYS:
                    pipe.get(self.key(name))
                (
                    flags,
                    epoch,
                    seq,
                    unresolved_ids,
                    paper,
                    paper_orders,
                    starting_equity,
                    pnl,
                    unpriced,
                    *values,
                ) = await pipe.execute()
            orders = (
                await self._redis.hmget(self.key("orders"), sorted(unresolved_ids))
                if unresolved_ids
                else []
            )
        except (RedisError, OSError) as error:
            raise StateStoreError(f"loading state from Redis failed: {error}") from None
        problems: list[str] = []
        unresolved = []
        for client_order_id, raw in zip(sorted(unresolved_ids), orders, strict=True):
            data = _loads(raw, key=f"orders[{client_order_id}]", problems=problems)
            if data is None:
                continue
            try:
                unresolved.append(TrackedOrder.from_dict(data))
            except StateFormatError as error:
                problems.append(f"orders[{client_order_id}]: {error}")
        position_raw, balance_raw, portfolio, breaker, decision, learning = (
            _loads(raw, key=name, problems=problems)
            for raw, name in zip(values, _JSON_KEYS, strict=True)
        )
        position = balance = None
        try:
            position = PositionRecord.from_dict(position_raw) if position_raw else None
        except StateFormatError as error:
            problems.append(f"position: {error}")
        try:
            balance = BalanceRecord.from_dict(balance_raw) if balance_raw else None
        except StateFormatError as error:
            problems.append(f"balance: {error}")
        paper_account, paper_problem = _paper_account(
            raw_account=paper,
            raw_orders=paper_orders or {},
            account_key=self.key("paper"),
            orders_key=self.key("paper:orders"),
        )
        return PersistedState(
            flags=Flags.from_mapping(flags or {}),
            epoch=epoch or None,
            sequence=int(seq) if seq and seq.isdigit() else 0,
            unresolved=tuple(unresolved),
            position=position,
            balance=balance,
            portfolio=portfolio,
            breaker=breaker,
            last_decision=decision,
            problems=tuple(problems),
            paper_account=paper_account,
            paper_account_problem=paper_problem,
            starting_equity=_positive_float(starting_equity),
            fusion_learning=learning,
            trade_pnl=TradePnlRecord(
                trades=_pnl_field(pnl, "trades", problems=problems),
                capital=_positive_float((pnl or {}).get("capital") or None),
            ),
            fees=FeesRecord(
                paid=_pnl_field(pnl, "fees", problems=problems), unpriced=dict(unpriced or {})
            ),
        )

    def fence(self, token: int) -> None:
        """From now on every write checks that ``<p>:fence`` still holds ``token``."""
        self._token = token

    @contextlib.asynccontextmanager
    async def _transaction(self, *, what: str) -> AsyncIterator[aioredis.client.Pipeline]:
        """One MULTI/EXEC; with a fencing token, WATCHed so a superseded runtime cannot write."""
        fence_key = self.key("fence")
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                if self._token is not None:
                    await pipe.watch(fence_key)
                    current = str(await pipe.get(fence_key))
                    if current != str(self._token):
                        cause = (
                            "Redis lost it: restarted without its latest writes, or wiped"
                            if current == "None"
                            else "another runtime of this bot took over"
                        )
                        raise FencedError(
                            f"{what} refused: the fencing token is {current}, this runtime "
                            f"holds {self._token} ({cause})"
                        )
                    pipe.multi()  # type: ignore[no-untyped-call]
                yield pipe
                await pipe.execute()
        except WatchError:
            raise FencedError(
                f"{what} refused: the fencing token changed during the write"
            ) from None
        except (RedisError, OSError) as error:
            raise StateStoreError(f"{what} failed: {error}") from None

    def _queue_order(self, pipe: aioredis.client.Pipeline, order: TrackedOrder) -> None:
        pipe.hset(self.key("orders"), order.client_order_id, json.dumps(order.to_dict()))
        if order.state.unresolved:
            pipe.sadd(self.key("orders:unresolved"), order.client_order_id)
        else:
            pipe.srem(self.key("orders:unresolved"), order.client_order_id)

    async def record_intent(
        self, *, order: TrackedOrder, epoch: str, sequence: int, decision: Mapping[str, object]
    ) -> None:
        """Step 1 of the order protocol: the intent, before anything is sent.

        Decision ids are ``<epoch>-<sequence>``; the epoch is chosen when no state exists, so
        a bot whose Redis state was lost never reuses a client order id.
        """
        async with self._transaction(
            what=f"recording the intent of {order.client_order_id}"
        ) as pipe:
            self._queue_order(pipe, order)
            pipe.set(self.key("epoch"), epoch)
            pipe.set(self.key("seq"), str(sequence))
            pipe.set(self.key("last_decision"), json.dumps(decision))

    async def record_orders(
        self,
        *,
        orders: Sequence[TrackedOrder],
        position: PositionRecord | None = None,
        balance: BalanceRecord | None = None,
        portfolio: Mapping[str, object] | None = None,
        breaker: Mapping[str, object] | None = None,
        starting_equity: float | None = None,
        trade_pnl: TradePnlRecord | None = None,
        fees: FeesRecord | None = None,
    ) -> None:
        """Order results together with the account state they led to, atomically; the
        starting equity (what PnL is measured from) is written once and kept across restarts.
        ``fees`` go with the orders that paid them, ``trade_pnl`` with the position its trades
        closed."""
        async with self._transaction(what="recording order results and account state") as pipe:
            for order in orders:
                self._queue_order(pipe, order)
            if position is not None:
                pipe.set(self.key("position"), json.dumps(position.to_dict()))
            if balance is not None:
                pipe.set(self.key("balance"), json.dumps(balance.to_dict()))
            if portfolio is not None:
                pipe.set(self.key("portfolio"), json.dumps(portfolio))
            if breaker is not None:
                pipe.set(self.key("breaker"), json.dumps(breaker))
            if starting_equity is not None:
                pipe.set(self.key("starting_equity"), repr(starting_equity), nx=True)
            if trade_pnl is not None:
                capital = "" if trade_pnl.capital is None else repr(trade_pnl.capital)
                pipe.hset(self.key("pnl"), "trades", repr(trade_pnl.trades))
                pipe.hset(self.key("pnl"), "capital", capital)
            if fees is not None:
                pipe.hset(self.key("pnl"), "fees", repr(fees.paid))
                pipe.delete(self.key("pnl:unpriced"))
                for order_id, symbol in fees.unpriced.items():
                    pipe.hset(self.key("pnl:unpriced"), order_id, symbol)

    async def save_paper_account(
        self, *, account: PaperAccount, previous: PaperAccount | None
    ) -> None:
        """The paper account, atomically; ``previous`` is the account saved last: only orders
        that differ from it are written (``None``: the whole order hash is rewritten)."""
        orders_key = self.key("paper:orders")
        current = {order.exchange_order_id: order for order in account.orders}
        before = {o.exchange_order_id: o for o in previous.orders} if previous is not None else {}
        changed: dict[Any, Any] = {
            exchange_order_id: json.dumps(paper_order_to_dict(order))
            for exchange_order_id, order in current.items()
            if before.get(exchange_order_id) != order
        }
        gone = sorted(before.keys() - current.keys())
        async with self._transaction(what="saving the paper account") as pipe:
            if previous is None:
                pipe.delete(orders_key)
            if changed:
                pipe.hset(orders_key, mapping=changed)
            if gone:
                pipe.hdel(orders_key, *gone)
            pipe.set(self.key("paper"), json.dumps(paper_account_to_dict(account)))

    async def save_fusion_learning(self, state: Mapping[str, object]) -> None:
        """The fusion-weight learner's state (signals/learning.py), so a restart goes on
        from the weights learned so far."""
        async with self._transaction(what="saving the fusion learning state") as pipe:
            pipe.set(self.key("fusion_learning"), json.dumps(state))

    async def save_flags(self, flags: Flags) -> None:
        async with self._transaction(what="saving the paused/halted flags") as pipe:
            pipe.delete(self.key("flags"))
            pipe.hset(self.key("flags"), mapping=flags.to_mapping())

    async def append_history(
        self,
        *,
        equity_point: Mapping[str, object] | None = None,
        signal: Mapping[str, object] | None = None,
    ) -> None:
        async with self._transaction(what="appending history") as pipe:
            if equity_point is not None:
                pipe.lpush(self.key("equity"), json.dumps(equity_point))
                pipe.ltrim(self.key("equity"), 0, EQUITY_POINTS_KEPT - 1)
            if signal is not None:
                pipe.lpush(self.key("signals"), json.dumps(signal))
                pipe.ltrim(self.key("signals"), 0, SIGNALS_KEPT - 1)

    async def save_meta(self, meta: Mapping[str, str]) -> None:
        async with self._transaction(what="saving runtime metadata") as pipe:
            values: dict[Any, Any] = dict(meta)
            pipe.hset(self.key("meta"), mapping=values)

    async def history(self, *, name: str, limit: int) -> list[Mapping[str, object]]:
        """Newest first: ``equity`` or ``signals``."""
        try:
            raw = await self._redis.lrange(self.key(name), 0, limit - 1)
        except (RedisError, OSError) as error:
            raise StateStoreError(f"reading {name} history failed: {error}") from None
        problems: list[str] = []
        items = [_loads(item, key=name, problems=problems) for item in raw]
        return [item for item in items if item is not None]

    async def tracked_orders(self) -> list[TrackedOrder]:
        try:
            raw = await self._redis.hgetall(self.key("orders"))
        except (RedisError, OSError) as error:
            raise StateStoreError(f"reading tracked orders failed: {error}") from None
        orders = []
        for value in raw.values():
            try:
                orders.append(TrackedOrder.from_dict(json.loads(value)))
            except (json.JSONDecodeError, StateFormatError):
                continue
        return sorted(orders, key=lambda order: order.created_at_ms)


@dataclass(frozen=True, kw_only=True, slots=True)
class StorePaperJournal:
    """The :class:`~tradefleet_runtime.execution.paper.PaperJournal` of a paper bot: its
    account in this bot's Redis state. Built by the bot service for its ``PaperVenue``."""

    store: StateStore

    async def save(self, *, account: PaperAccount, previous: PaperAccount | None) -> None:
        try:
            await self.store.save_paper_account(account=account, previous=previous)
        except StateStoreError as error:
            raise PaperAccountSaveError(f"the call was undone: {error}") from None
