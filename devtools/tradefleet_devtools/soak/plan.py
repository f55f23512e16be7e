"""What one soak trial will do to the bot, drawn from a seeded RNG before it starts (pure).

``draw_plan`` is called by the soak runner (``tradefleet_devtools.soak.runner``) once per
trial; the trial runner (``tradefleet_devtools.soak.trial``) carries the plan out. The same
seed always gives the same plan, so a trial that found something can be run again alone.

A plan has an active phase of ``active_s`` seconds during which the price is pushed so the bot
trades both ways, and, at offsets into it:

* exchange faults (``FaultRule``s posted to the local exchange): every kind of
  ``tradefleet_devtools.exchange.faults`` (``clock_skew`` included: the runtime resyncs its
  clock on ``-1021``) except ``auth_failure`` — an authentication failure halts the bot for a
  human by design — unless ``PlanOptions.auth_faults`` opts it in;
* runtime kills (SIGKILL) at a random moment, right after an ``order intent recorded`` line,
  or inside the window between the exchange accepting an order and Redis recording it (an
  ``accept_then_timeout`` fault holds the reply after the exchange executed the order; the
  kill lands while the reply is held, before the runtime's own 3 s client timeout);
* Redis kills (SIGKILL of a server running ``appendfsync everysec``), down for a while, half
  of them also losing the append-only file's last second of writes, as a node crash under
  ``everysec`` does;
* a second runtime started for the same bot, after which the first is killed, hung (SIGSTOP,
  possibly past its lease), the second killed, or nothing;
* ``unreachable`` windows of the exchange (drawn with the other exchange faults).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from tradefleet_devtools.exchange.faults import FaultKind, FaultRule

ORDER_PATH = "/fapi/v1/order"
ALGO_PATH = "/fapi/v1/algoOrder"
READ_PATHS = (
    ("GET", ORDER_PATH),
    ("GET", ALGO_PATH),
    ("GET", "/fapi/v1/openOrders"),
    ("GET", "/fapi/v1/openAlgoOrders"),
    ("GET", "/fapi/v3/positionRisk"),
    ("GET", "/fapi/v3/account"),
    ("GET", "/fapi/v1/depth"),
)
WRITE_PATHS = (("POST", ORDER_PATH), ("POST", ALGO_PATH), ("DELETE", ALGO_PATH))
# The runtime's venue client gives up after 3 s (venue.timeoutMs of the soak's config).
CLIENT_TIMEOUT_S = 3.0


class KillPoint(StrEnum):
    ANY_TIME = "any time"
    AFTER_INTENT = "after an order intent"
    ACCEPTED_NOT_RECORDED = "exchange accepted, Redis not yet recorded"


class SecondRuntimeThen(StrEnum):
    STAYS = "stays in standby"
    FIRST_KILLED = "first killed"
    FIRST_HUNG = "first hung"
    SECOND_KILLED = "second killed"


@dataclass(frozen=True, kw_only=True, slots=True)
class ExchangeFault:
    """Post ``rule`` to the exchange ``at_s`` into the active phase."""

    at_s: float
    rule: FaultRule


@dataclass(frozen=True, kw_only=True, slots=True)
class RuntimeKill:
    """SIGKILL the runtime holding the lease: at ``at_s`` (``ANY_TIME``), ``delay_s`` after
    its next intent line, or ``delay_s`` after the exchange executed an order whose reply an
    ``accept_then_timeout`` fault of ``hold_s`` on ``window`` (``POST <path>``) holds.
    The bot's pod comes back ``restart_after_s`` later."""

    at_s: float
    point: KillPoint
    delay_s: float
    restart_after_s: float
    window: str = ORDER_PATH
    hold_s: float = 6.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RedisKill:
    """SIGKILL Redis at ``at_s``, start it again ``down_s`` later; with ``lose_unsynced`` the
    append-only file first loses what was written in its last second."""

    at_s: float
    down_s: float
    lose_unsynced: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class SecondRuntime:
    """Start a second runtime of the bot at ``at_s``; ``after_s`` later, ``then`` happens
    (a hung runtime is resumed ``hang_s`` after it was stopped)."""

    at_s: float
    then: SecondRuntimeThen
    after_s: float
    hang_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanOptions:
    """How hard trials are: durations, how often each harness fault is drawn."""

    active_s: tuple[float, float] = (14.0, 20.0)
    exchange_faults: tuple[int, int] = (1, 4)
    kill_probability: float = 0.75
    second_kill_probability: float = 0.2
    redis_kill_probability: float = 0.35
    second_runtime_probability: float = 0.3
    unreachable_probability: float = 0.25
    auth_faults: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class TrialPlan:
    trial: int
    seed: int
    active_s: float
    price_step: float
    price_period_s: float
    first_direction: int
    exchange_faults: tuple[ExchangeFault, ...] = ()
    kills: tuple[RuntimeKill, ...] = ()
    redis_kills: tuple[RedisKill, ...] = ()
    second_runtime: SecondRuntime | None = None


_PER_REQUEST = (
    (FaultKind.HTTP_429, 2),
    (FaultKind.HTTP_5XX, 4),
    (FaultKind.TIMEOUT, 3),
    (FaultKind.DROP_AFTER_ACCEPT, 3),
    (FaultKind.ACCEPT_THEN_TIMEOUT, 3),
    (FaultKind.ACCEPT_THEN_5XX, 3),
    (FaultKind.PARTIAL_FILL, 2),
    (FaultKind.SLOW_FILL, 2),
    (FaultKind.LATE_EXECUTION, 3),
    (FaultKind.CLOCK_SKEW, 2),
)
_AUTH = ((FaultKind.AUTH_FAILURE, 1),)


def _weighted(rng: random.Random, *, table: tuple[tuple[FaultKind, int], ...]) -> FaultKind:
    kinds = [kind for kind, _ in table]
    return rng.choices(kinds, weights=[weight for _, weight in table])[0]


def draw_fault_rule(*, rng: random.Random, kind: FaultKind) -> FaultRule:
    """One rule of ``kind`` aimed at an endpoint the runtime uses, with drawn parameters."""
    if kind is FaultKind.UNREACHABLE:
        return FaultRule(kind=kind, hold_seconds=round(rng.uniform(1.0, 8.0), 2))
    if kind is FaultKind.CLOCK_SKEW:
        skew = rng.choice((-1, 1)) * rng.randint(1_500, 5_000)
        return FaultRule(kind=kind, skew_ms=skew, hold_seconds=round(rng.uniform(2.0, 8.0), 2))
    if kind.places_orders_only:
        method, path = "POST", ORDER_PATH
    elif kind in (
        FaultKind.DROP_AFTER_ACCEPT,
        FaultKind.ACCEPT_THEN_TIMEOUT,
        FaultKind.ACCEPT_THEN_5XX,
    ):
        method, path = rng.choice(WRITE_PATHS)
    else:
        method, path = rng.choice(READ_PATHS + WRITE_PATHS)
    sustained = kind in (FaultKind.HTTP_429, FaultKind.HTTP_5XX, FaultKind.TIMEOUT)
    times = rng.randint(5, 25) if sustained and rng.random() < 0.2 else rng.randint(1, 2)
    if kind is FaultKind.AUTH_FAILURE:
        times = 1
    return FaultRule(
        kind=kind,
        method=method,
        path=path,
        times=times,
        hold_seconds=round(
            rng.uniform(0.2, 2.0)
            if kind is FaultKind.LATE_EXECUTION
            else rng.uniform(0.5, 6.0)
            if kind is FaultKind.TIMEOUT
            else rng.uniform(1.0, 8.0),
            2,
        ),
        fill_ratio=round(rng.uniform(0.1, 0.9), 2),
        fill_seconds=round(rng.uniform(0.5, 5.0), 2),
        fill_steps=rng.randint(2, 5),
        status=rng.choice((500, 502, 503, 504)),
    )


def _exchange_faults(
    *, rng: random.Random, options: PlanOptions, active_s: float
) -> list[ExchangeFault]:
    table = _PER_REQUEST + (_AUTH if options.auth_faults else ())
    faults = [
        ExchangeFault(
            at_s=round(rng.uniform(0.5, active_s - 1.0), 2),
            rule=draw_fault_rule(rng=rng, kind=_weighted(rng, table=table)),
        )
        for _ in range(rng.randint(*options.exchange_faults))
    ]
    if rng.random() < options.unreachable_probability:
        faults.append(
            ExchangeFault(
                at_s=round(rng.uniform(1.0, active_s - 1.0), 2),
                rule=draw_fault_rule(rng=rng, kind=FaultKind.UNREACHABLE),
            )
        )
    return sorted(faults, key=lambda f: f.at_s)


def _kill(*, rng: random.Random, active_s: float) -> RuntimeKill:
    point = rng.choices(list(KillPoint), weights=(3, 3, 4))[0]
    window = ORDER_PATH if rng.random() < 0.75 else ALGO_PATH
    return RuntimeKill(
        at_s=round(rng.uniform(1.0, active_s - 2.0), 2),
        point=point,
        # Inside the held reply, well before the runtime's client timeout gives up on it.
        delay_s=round(
            rng.uniform(0.0, CLIENT_TIMEOUT_S / 2)
            if point is KillPoint.ACCEPTED_NOT_RECORDED
            else rng.uniform(0.0, 0.3),
            3,
        ),
        restart_after_s=round(rng.uniform(0.2, 3.0), 2),
        window=window,
        hold_s=round(rng.uniform(CLIENT_TIMEOUT_S + 0.5, 8.0), 2),
    )


def draw_plan(*, trial: int, seed: int, options: PlanOptions | None = None) -> TrialPlan:
    """The plan of trial ``trial``, a pure function of ``seed`` and ``options``."""
    options = options or PlanOptions()
    rng = random.Random(seed)
    active_s = round(rng.uniform(*options.active_s), 2)
    kills: list[RuntimeKill] = []
    if rng.random() < options.kill_probability:
        kills.append(_kill(rng=rng, active_s=active_s))
        if rng.random() < options.second_kill_probability:
            kills.append(_kill(rng=rng, active_s=active_s))
    redis_kills = []
    if rng.random() < options.redis_kill_probability:
        redis_kills.append(
            RedisKill(
                at_s=round(rng.uniform(1.0, active_s - 1.0), 2),
                down_s=round(rng.uniform(0.3, 5.0), 2),
                lose_unsynced=rng.random() < 0.5,
            )
        )
    second = None
    if rng.random() < options.second_runtime_probability:
        second = SecondRuntime(
            at_s=round(rng.uniform(0.5, active_s / 2), 2),
            then=rng.choice(list(SecondRuntimeThen)),
            after_s=round(rng.uniform(1.0, 4.0), 2),
            hang_s=round(rng.uniform(4.0, 16.0), 2),
        )
    return TrialPlan(
        trial=trial,
        seed=seed,
        active_s=active_s,
        price_step=round(rng.uniform(0.0015, 0.003), 5),
        price_period_s=round(rng.uniform(0.25, 0.4), 3),
        first_direction=rng.choice((-1, 1)),
        exchange_faults=tuple(_exchange_faults(rng=rng, options=options, active_s=active_s)),
        kills=tuple(sorted(kills, key=lambda k: k.at_s)),
        redis_kills=tuple(redis_kills),
        second_runtime=second,
    )
