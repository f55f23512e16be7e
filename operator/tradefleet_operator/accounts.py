"""One pass over an ExchangeAccount: allocate its capital, measure it, halt or rearm its bots.

Called by the Kopf wiring (:mod:`tradefleet_operator.handlers`) whenever the account, one of
its bots' status or one of its children changes, and every ``reconcileIntervalSeconds``. The bots
come from the operator's index of TradingBots by ``spec.accountRef`` (:func:`account_member`), so
a pass makes no API call unless it halts or rearms bots or repairs its shared market-data
workloads (:mod:`tradefleet_operator.market_workloads`). The decisions are
:mod:`tradefleet_operator.allocation`'s; bots read their terms from the status written here
(:mod:`tradefleet_operator.account_terms`).

The operator of the region the account's exchange maps to runs it; the others leave it alone.
A drawdown halt sets each bot's kill switch (``tradefleet.io/kill-switch: "true"``) and marks it
with ``tradefleet.io/halted-by-account``, so a rearm (``tradefleet.io/rearm`` set to a new value)
clears only the kill switches the account set, never one a user set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradefleet_api.models import ExchangeAccountSpec

from tradefleet_operator.allocation import (
    JOIN_SETTLE_S,
    AccountFigures,
    BotFigures,
    BotSlice,
    JoinWait,
    account_figures,
    bot_figures,
    funding,
    joins_waiting,
    rebalance,
    slices_of,
)
from tradefleet_operator.conditions import Condition, format_time, parse_time
from tradefleet_operator.healing import ANNOTATION_KILL_SWITCH
from tradefleet_operator.kube import KubeApiError, KubeClient
from tradefleet_operator.market_workloads import reconcile_market_data
from tradefleet_operator.outcome import Event, Outcome, finish, normal, warning
from tradefleet_operator.redis_users import RedisUsers
from tradefleet_operator.render_market import market_sets
from tradefleet_operator.spec import (
    AccountPhase,
    ProblemReason,
    SpecError,
    TradingMode,
    ValidationProblem,
    parse_exchange_account_spec,
    split_symbol,
    validate_exchange_account_spec,
)
from tradefleet_operator.spec.schedule import next_fire_time
from tradefleet_operator.spec.vocabulary import ConditionType, Reason
from tradefleet_operator.writes import ChildKey, ChildWriter, owner_of

ANNOTATION_REARM = "tradefleet.io/rearm"
ANNOTATION_HALTED_BY = "tradefleet.io/halted-by-account"


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountMember:
    """A bot on an account, as the operator's index holds it."""

    figures: BotFigures
    kill_switch: bool
    halted_by: str | None
    # What the account's shared market data publishes for it: (market, symbol, timeframe).
    market: tuple[str, str, str]
    # An Invalid bot (another exchange or mode than the account's, its own keys) is given no
    # capital, but the account still halts it.
    invalid: bool = False
    # The currency its symbol settles in, which its part of the account's balance is held in.
    currency: str | None = None
    # Its creationTimestamp: a bot that joins waits for the bots applied with it (JOIN_SETTLE_S).
    created: datetime | None = None

    @property
    def name(self) -> str:
        return self.figures.name


def account_member(
    *,
    name: str,
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
    annotations: Mapping[str, str],
    created: str | None,
) -> AccountMember:
    """The index's record of a bot on an account, from its spec (the apiserver's defaults
    applied), status, annotations and creationTimestamp."""
    strategy = spec.get("strategy") or {}
    try:
        currency = split_symbol(symbol=str(spec.get("symbol")), field="spec.symbol").settlement
    except SpecError:
        currency = None
    return AccountMember(
        figures=bot_figures(name=name, status=status),
        kill_switch=annotations.get(ANNOTATION_KILL_SWITCH) == "true",
        halted_by=annotations.get(ANNOTATION_HALTED_BY),
        market=(
            str(spec.get("market") or "spot"),
            str(spec.get("symbol")),
            str(strategy.get("timeframe") or "5m"),
        ),
        invalid=status.get("phase") == "Invalid",
        currency=currency,
        created=parse_time(created),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountPass:
    """What a pass over one account works from: its body, its bots and its children."""

    body: Mapping[str, Any]
    members: Sequence[AccountMember]
    children: Mapping[ChildKey, Mapping[str, Any]]
    now: datetime


async def reconcile_account(
    *,
    writer: ChildWriter,
    redis_users: RedisUsers | None,
    account: AccountPass,
) -> Outcome:
    """The outcome of one pass over an account."""
    body, settings = account.body, writer.settings
    previous: Mapping[str, Any] = body.get("status") or {}
    spec, problems = _parsed(body.get("spec") or {})
    region = settings.exchange_regions.get(str(spec.exchange)) if spec is not None else None
    if spec is not None and region is None:
        problems = [
            *problems,
            ValidationProblem(
                field="spec.exchange",
                reason=ProblemReason.REGION_UNRESOLVED,
                message=f"the operator's exchangeRegions map has no region for {spec.exchange}: "
                "add it (Helm value exchangeRegions)",
            ),
        ]
    if spec is None or problems:
        problem = problems[0]
        return finish(
            body=body,
            observed=[
                Condition(
                    type=ConditionType.READY,
                    status=False,
                    reason=problem.reason,
                    message=f"{problem.field}: {problem.message}",
                )
            ],
            status={"phase": str(AccountPhase.INVALID), "botCount": len(account.members)},
            events=[],
            writes=0,
        )
    if region != settings.region:
        # The region of its exchange runs it; this operator writes nothing of it.
        return Outcome(status=dict(previous), leave_status=True)
    return await _run(
        writer=writer, redis_users=redis_users, spec=spec, account=account, region=region
    )


def _parsed(raw: Mapping[str, Any]) -> tuple[ExchangeAccountSpec | None, list[ValidationProblem]]:
    try:
        spec = parse_exchange_account_spec(raw)
    except SpecError as error:
        problem = ValidationProblem(
            field=error.field, reason=ProblemReason.INVALID_SPEC, message=error.message
        )
        return None, [problem]
    return spec, validate_exchange_account_spec(spec)


async def _run(
    *,
    writer: ChildWriter,
    redis_users: RedisUsers | None,
    spec: ExchangeAccountSpec,
    account: AccountPass,
    region: str,
) -> Outcome:
    body, members, now = account.body, account.members, account.now
    previous: Mapping[str, Any] = body.get("status") or {}
    meta = body["metadata"]
    name = str(meta["name"])
    events: list[Event] = []
    slices = slices_of(previous)
    waiting = joins_waiting(
        joined={m.name: m.created for m in members if not m.invalid and m.name not in slices},
        now=now,
    )
    figures = [
        member.figures
        for member in members
        if not member.invalid and (waiting is None or member.name not in waiting.names)
    ]
    due = _rebalance_due(spec=spec, body=body, figures=figures, slices=slices, now=now)
    last_rebalance = previous.get("lastRebalance")
    if due is not None:
        slices = rebalance(spec=spec.allocation, bots=figures, previous=slices)
        last_rebalance = format_time(now)
        events.append(normal(Reason.REBALANCED, f"{due}: {_split_words(slices)}"))
    rearm = (meta.get("annotations") or {}).get(ANNOTATION_REARM)
    rearmed = rearm is not None and rearm != previous.get("rearmed")
    held = account_figures(
        capital=spec.allocation.capital,
        slices=slices,
        # Every bot's exposure and requests count, an Invalid one's too.
        bots=[member.figures for member in members],
        previous=previous,
        rearmed=rearmed,
    )
    halted_at = None if rearmed else previous.get("haltedAt")
    limit = spec.risk.max_drawdown_pct
    if halted_at is None and limit is not None and held.drawdown_pct >= limit:
        halted_at = format_time(now)
        events.append(
            warning(
                Reason.ACCOUNT_DRAWDOWN_LIMIT,
                f"equity {held.equity:.2f} is {held.drawdown_pct:.2f}% below its peak "
                f"{held.peak_equity:.2f} (limit {limit:g}%): halting {len(members)} bot(s)",
            )
        )
    if rearmed:
        events.append(normal(Reason.ACCOUNT_REARMED, f"{ANNOTATION_REARM}={rearm}: trading again"))
    market_data = await reconcile_market_data(
        writer=writer,
        redis_users=redis_users,
        owner=owner_of(body),
        spec=spec,
        markets=market_sets([m.market for m in members if not m.invalid]),
        children=account.children,
        settings=writer.settings,
    )
    writes = market_data.writes + await _command_bots(
        kube=writer.kube,
        namespace=str(meta["namespace"]),
        account=name,
        members=members,
        halt=halted_at is not None,
    )
    status: dict[str, Any] = {
        "phase": str(AccountPhase.HALTED if halted_at else AccountPhase.READY),
        "region": region,
        "botCount": len(members),
        **_figures_status(held),
        "bots": [
            slices[f.name].to_status(f)
            for f in sorted(figures, key=lambda f: f.name)
            if f.name in slices
        ],
        "nextRebalance": format_time(
            next_fire_time(expression=spec.allocation.rebalance_schedule, after=now)
        ),
    }
    if spec.market_data.shared:
        status["marketData"] = list(market_data.rows)
    balances, funded, funded_events = _funding(
        spec=spec, members=members, slices=slices, previous=previous
    )
    if balances:
        status["balances"] = balances
    events += funded_events
    for key, value in (
        ("lastRebalance", last_rebalance),
        ("haltedAt", halted_at),
        ("rearmed", rearm if rearmed else previous.get("rearmed")),
    ):
        if value is not None:
            status[key] = value
    observed = [
        Condition(
            type=ConditionType.READY,
            status=True,
            reason=Reason.ALLOCATED,
            message=f"{held.allocated:.2f} of {held.capital:.2f} allocated to "
            f"{len(slices)} bot(s), {held.free:.2f} free" + _joining_words(waiting),
        ),
        _halted_condition(held=held, halted_at=halted_at, limit=limit),
        *([market_data.condition()] if spec.market_data.shared else []),
        funded,
    ]
    outcome = finish(body=body, observed=observed, status=status, events=events, writes=writes)
    outcome.poll_again_s = None if waiting is None else waiting.wait_s
    return outcome


def _joining_words(waiting: JoinWait | None) -> str:
    """What the Ready message says of bots that joined and are not allocated yet: no countdown,
    so the message does not change while they wait."""
    if waiting is None:
        return ""
    return (
        f"; {len(waiting.names)} bot(s) joining, allocated once no other bot has joined "
        f"for {JOIN_SETTLE_S:g}s"
    )


def _funding(
    *,
    spec: ExchangeAccountSpec,
    members: Sequence[AccountMember],
    slices: Mapping[str, BotSlice],
    previous: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], Condition, list[Event]]:
    """``status.balances``, the Funded condition and, when it turns False, its event. The
    condition's message names no live figure (``status.balances`` has them): it is written at
    once when it changes, the figures at the paced interval."""
    if spec.mode == TradingMode.PAPER:
        return [], _funded(True, Reason.SIMULATED_WALLETS, "a paper account: no balance"), []
    valid = [m for m in members if m.currency and not m.invalid]
    held = funding(
        currencies={m.name: m.currency for m in valid if m.currency},
        slices=slices,
        bots=[m.figures for m in valid],
    )
    rows = [row for row in (f.to_status() for f in held) if row is not None]
    short = [f for f in held if f.covered is False and f.balance is not None]
    unknown = [f.currency for f in held if f.covered is None]
    if short:
        condition = _funded(
            False,
            Reason.ALLOCATION_EXCEEDS_BALANCE,
            "; ".join(f"{f.allocated:.2f} {f.currency} allocated" for f in short)
            + " is more than the exchange holds (status.balances): lower "
            "spec.allocation.capital or fund the exchange account",
        )
    elif unknown:
        condition = _funded(
            None,
            Reason.BALANCE_NOT_REPORTED,
            f"no bot has read the exchange's balance of {', '.join(unknown)} yet",
        )
    else:
        covered = ", ".join(f.currency for f in held) or "no currency: nothing is allocated"
        condition = _funded(True, Reason.BALANCE_COVERS_ALLOCATION, f"covered: {covered}")
    was_short = any(
        c.get("type") == ConditionType.FUNDED and c.get("status") == "False"
        for c in previous.get("conditions") or []
    )
    events = [
        warning(
            Reason.ALLOCATION_EXCEEDS_BALANCE,
            f"{f.allocated:.2f} {f.currency} allocated, the exchange holds "
            f"{f.balance.total:.2f} (read by {f.balance.reported_by})",
        )
        for f in short
        if f.balance is not None and not was_short
    ]
    return rows, condition, events


def _funded(status: bool | None, reason: Reason, message: str) -> Condition:
    return Condition(type=ConditionType.FUNDED, status=status, reason=reason, message=message)


def _rebalance_due(
    *,
    spec: ExchangeAccountSpec,
    body: Mapping[str, Any],
    figures: Sequence[BotFigures],
    slices: Mapping[str, BotSlice],
    now: datetime,
) -> str | None:
    """Why the capital is split again now, or None."""
    previous: Mapping[str, Any] = body.get("status") or {}
    if previous.get("observedGeneration") != body["metadata"].get("generation"):
        return "the account's spec changed"
    names = {bot.name for bot in figures}
    if names != set(slices):
        joined = sorted(names - set(slices))
        left = sorted(set(slices) - names)
        parts = [f"joined: {', '.join(joined)}"] if joined else []
        parts += [f"left: {', '.join(left)}"] if left else []
        return "bots " + "; ".join(parts)
    scheduled = parse_time(previous.get("nextRebalance"))
    if scheduled is not None and now >= scheduled:
        return f"scheduled ({spec.allocation.rebalance_schedule})"
    return None


def _split_words(slices: Mapping[str, BotSlice]) -> str:
    shown = sorted(slices.values(), key=lambda s: s.name)
    words = ", ".join(f"{s.name} {s.allocation:.2f}" for s in shown[:20])
    more = f" and {len(shown) - 20} more" if len(shown) > 20 else ""
    return (words + more) if shown else "no bots"


def _figures_status(held: AccountFigures) -> dict[str, Any]:
    return {
        "capital": held.capital,
        "allocated": held.allocated,
        "free": held.free,
        "equity": held.equity,
        "peakEquity": held.peak_equity,
        "drawdownPct": held.drawdown_pct,
        "grossExposure": held.gross_exposure,
        "requestsPerMinute": held.requests_per_minute,
    }


def _halted_condition(
    *, held: AccountFigures, halted_at: str | None, limit: float | None
) -> Condition:
    if halted_at is not None:
        return Condition(
            type=ConditionType.HALTED,
            status=True,
            reason=Reason.ACCOUNT_DRAWDOWN_LIMIT,
            message=f"halted at {halted_at}: drawdown reached spec.risk.maxDrawdownPct {limit:g}%; "
            f"every bot has the kill switch set. Set the annotation {ANNOTATION_REARM} to a new "
            "value to trade again",
        )
    shown = f"{limit:g}%" if limit is not None else "none"
    return Condition(
        type=ConditionType.HALTED,
        status=False,
        reason=Reason.WITHIN_DRAWDOWN_LIMIT,
        message=f"drawdown {held.drawdown_pct:.2f}% (limit {shown})",
    )


async def _command_bots(
    *,
    kube: KubeClient,
    namespace: str,
    account: str,
    members: Sequence[AccountMember],
    halt: bool,
) -> int:
    """Set the kill switch on every bot of a halted account that lacks it; on an account trading
    again, clear the kill switches it set. Return the writes made."""
    writes = 0
    for member in members:
        annotations: dict[str, str | None]
        if halt and not member.kill_switch:
            annotations = {ANNOTATION_KILL_SWITCH: "true", ANNOTATION_HALTED_BY: account}
        elif not halt and member.halted_by == account:
            annotations = {ANNOTATION_KILL_SWITCH: None, ANNOTATION_HALTED_BY: None}
        else:
            continue
        try:
            await kube.patch_merge(
                kind="TradingBot",
                namespace=namespace,
                name=member.name,
                patch={"metadata": {"annotations": annotations}},
            )
        except KubeApiError as error:
            if not error.not_found:  # deleted since the index saw it: nothing to halt
                raise
            continue
        writes += 1
    return writes
