"""Revision and rollback decisions (:mod:`tradefleet_operator.revisions`), pure: which revision a
pass rolls out, when a revision that is not ready rolls back, and that a failed one stays pinned
to the last good revision until the spec changes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tradefleet_api import content_hash
from tradefleet_operator.conditions import format_time
from tradefleet_operator.render import without_account_terms
from tradefleet_operator.revisions import (
    RevisionPlan,
    decide_rollback,
    plan_revision,
    revision_content,
    revision_identity,
    startable,
)
from tradefleet_operator.spec import SelfHealingSpec, parse_trading_bot_spec
from tradefleet_operator.spec.reason_docs import PROBLEM_REASONS, REASONS, documented
from tradefleet_operator.spec.vocabulary import ConditionType, Reason, breaker_reason

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
RAW = {"exchange": "binance", "market": "futures", "symbol": "BTC/USDT:USDT"}
SPEC = parse_trading_bot_spec(RAW)
POLICY = SelfHealingSpec(progress_deadline_seconds=60)


def _kept(number: int, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "revision": number,
        "metadata": {"annotations": {"tradefleet.io/config-hash": content_hash(content)}},
        "data": content,
    }


def _content(symbol: str) -> dict[str, Any]:
    return revision_content(config={"symbol": symbol}, raw_spec={**RAW, "symbol": symbol})


def _plan(content: dict[str, Any], previous: dict[str, Any], kept: list[Any]) -> RevisionPlan:
    return plan_revision(content=content, spec=SPEC, kept=kept, previous_status=previous, now=NOW)


def test_a_revision_keeps_its_start_while_it_stays_current() -> None:
    good = _content("BTC/USDT:USDT")
    started = format_time(NOW - timedelta(seconds=30))
    plan = _plan(good, {"currentRevision": 1, "currentRevisionSince": started}, [_kept(1, good)])
    assert (plan.revision.number, plan.is_new, plan.pinned, plan.since) == (
        1,
        False,
        False,
        started,
    )
    newer = _plan(_content("ETH/USDT:USDT"), {"currentRevision": 1}, [_kept(1, good)])
    assert (newer.revision.number, newer.is_new, newer.since) == (2, True, format_time(NOW))


def test_a_revision_not_ready_past_its_deadline_rolls_back_to_the_last_good_one() -> None:
    good, bad = _content("BTC/USDT:USDT"), _content("NOPE/USDT:USDT")
    kept = [_kept(1, good), _kept(2, bad)]
    previous = {
        "currentRevision": 2,
        "currentRevisionSince": format_time(NOW - timedelta(seconds=59)),
        "lastGoodRevision": 1,
    }
    plan = _plan(bad, previous, kept)

    def decide(now: datetime, *, ready: bool = False) -> Any:
        return decide_rollback(
            plan=plan,
            ready=ready,
            ready_message="pod bot-x: CrashLoopBackOff",
            previous_status=previous,
            policy=POLICY,
            now=now,
        )

    waiting = decide(NOW)
    assert not waiting.rolled_back_now and waiting.due_s == pytest.approx(1.0)
    late = decide(NOW + timedelta(seconds=2))
    assert late.rolled_back_now and late.last_good == 1
    assert late.rollback["fromRevision"] == 2 and late.rollback["toRevision"] == 1
    assert late.rollback["failedHash"] == revision_identity(bad)
    assert "CrashLoopBackOff" in late.rollback["reason"]
    assert decide(NOW + timedelta(seconds=2), ready=True).last_good == 2

    # The failed content stays pinned to revision 1 until the spec changes.
    after = {**previous, "rollback": late.rollback}
    pinned = _plan(bad, after, kept)
    assert pinned.pinned and pinned.revision.number == 1
    assert pinned.workload_spec.symbol == "BTC/USDT:USDT"
    forward = _plan(_content("ETH/USDT:USDT"), after, kept)
    assert not forward.pinned and forward.revision.number == 3


def test_the_deadline_counts_from_when_the_previous_runtime_is_gone() -> None:
    """A healthy revision whose old pod takes long to leave is not rolled back for it: while
    succession holds the workload at zero, the deadline starts afresh at every pass."""
    good, healthy = _content("BTC/USDT:USDT"), _content("ETH/USDT:USDT")
    kept = [_kept(1, good), _kept(2, healthy)]
    previous = {
        "currentRevision": 2,
        "currentRevisionSince": format_time(NOW - timedelta(seconds=90)),
        "lastGoodRevision": 1,
    }
    plan = _plan(healthy, previous, kept)

    def decide(*, waiting: bool, now: datetime) -> Any:
        started = startable(plan=plan, waiting_for_previous=waiting, now=now)
        return started, decide_rollback(
            plan=started,
            ready=False,
            ready_message="Deployment held at 0: waiting for the previous runtime pod",
            previous_status=previous,
            policy=POLICY,
            now=now,
        )

    # 90 s past the start of the rollout, 60 s deadline: without the wait, a rollback.
    assert decide(waiting=False, now=NOW)[1].rolled_back_now
    # The old pod is still terminating: no rollback, and the clock restarts now.
    held, decision = decide(waiting=True, now=NOW)
    assert not decision.rolled_back_now and held.since == format_time(NOW)
    # Once the old pod is gone, the new runtime gets its whole deadline from the last wait.
    previous["currentRevisionSince"] = held.since
    plan = _plan(healthy, previous, kept)
    assert not decide(waiting=False, now=NOW + timedelta(seconds=59))[1].rolled_back_now
    assert decide(waiting=False, now=NOW + timedelta(seconds=62))[1].rolled_back_now


def test_no_rollback_without_a_last_good_revision_or_when_the_policy_says_no() -> None:
    bad = _content("NOPE/USDT:USDT")
    old = format_time(NOW - timedelta(seconds=600))
    first = {"currentRevision": 1, "currentRevisionSince": old}
    plan = _plan(bad, first, [_kept(1, bad)])
    never_good = decide_rollback(
        plan=plan, ready=False, ready_message="", previous_status=first, policy=POLICY, now=NOW
    )
    assert not never_good.rolled_back_now and never_good.due_s is None
    previous = {"currentRevision": 2, "currentRevisionSince": old, "lastGoodRevision": 1}
    plan = _plan(bad, previous, [_kept(1, _content("BTC/USDT:USDT")), _kept(2, bad)])
    kept_going = decide_rollback(
        plan=plan,
        ready=False,
        ready_message="",
        previous_status=previous,
        policy=SelfHealingSpec(rollback_on_failure=False),
        now=NOW,
    )
    assert not kept_going.rolled_back_now and kept_going.last_good == 1


ACCOUNT_RAW = {**RAW, "mode": "testnet", "accountRef": {"name": "fleet"}}
ACCOUNT_KEYS = {"secretRef": {"name": "fleet-keys"}}


def _on_account(symbol: str, *, capital: float, exposure_pct: float = 50.0) -> dict[str, Any]:
    """A revision of a bot on an ExchangeAccount: its config carries the account's terms."""
    config = {
        "symbol": symbol,
        "exchange": {"requestIntervalMs": 200, "credentials": {"apiKeyEnv": "KEY"}},
        "risk": {"capital": capital, "maxTotalExposurePct": exposure_pct},
    }
    return revision_content(config=config, raw_spec={**ACCOUNT_RAW, "symbol": symbol})


def _bound(symbol: str) -> Any:
    """The spec of a bot on the account, with the account's keys (as its pass binds it)."""
    return parse_trading_bot_spec({**ACCOUNT_RAW, "symbol": symbol}).model_copy(
        update={
            "credentials": parse_trading_bot_spec({**RAW, "credentials": ACCOUNT_KEYS}).credentials
        }
    )


def _rolled_back(plan: RevisionPlan, previous: dict[str, Any]) -> dict[str, Any]:
    """The status after ``plan``'s revision missed its deadline and was rolled back."""
    failed = decide_rollback(
        plan=plan,
        ready=False,
        ready_message="CrashLoopBackOff",
        previous_status=previous,
        policy=POLICY,
        now=NOW,
    )
    assert failed.rolled_back_now
    return {**previous, "rollback": failed.rollback}


def test_a_rollback_on_an_account_runs_the_last_good_spec_on_the_accounts_current_terms() -> None:
    """A rebalance changes the capital in every revision's config: it neither retries the failed
    spec nor leaves the rolled-back bot on its old capital, and the bot keeps the account's keys."""
    good, bad = (
        _on_account("BTC/USDT:USDT", capital=2000),
        _on_account("NOPE/USDT:USDT", capital=2000),
    )
    kept = [_kept(1, good), _kept(2, bad)]
    previous = {
        "currentRevision": 2,
        "currentRevisionSince": format_time(NOW - timedelta(seconds=120)),
        "lastGoodRevision": 1,
    }
    bound = _bound("NOPE/USDT:USDT")

    def plan(content: dict[str, Any], status: dict[str, Any]) -> RevisionPlan:
        return plan_revision(
            content=content, spec=bound, kept=kept, previous_status=status, now=NOW
        )

    after = _rolled_back(plan(bad, previous), previous)

    same_terms = plan(bad, after)
    assert same_terms.pinned and same_terms.revision.number == 1
    assert same_terms.workload_spec.symbol == "BTC/USDT:USDT"
    # The account's keys, which the kept spec (the user's own) does not name.
    assert same_terms.workload_spec.credentials == bound.credentials

    rebalanced = plan(_on_account("NOPE/USDT:USDT", capital=1500), after)
    assert rebalanced.pinned, "a rebalance retried the spec that failed"
    assert rebalanced.workload_spec.symbol == "BTC/USDT:USDT"
    assert rebalanced.revision.content["config"]["symbol"] == "BTC/USDT:USDT"
    assert rebalanced.revision.content["config"]["risk"]["capital"] == 1500
    assert rebalanced.revision.number == 3 and rebalanced.is_new


def test_new_account_terms_that_fail_roll_back_to_the_old_terms_and_the_next_terms_are_tried() -> (
    None
):
    good, rebalanced = (
        _on_account("BTC/USDT:USDT", capital=2000),
        _on_account("BTC/USDT:USDT", capital=1500),
    )
    spec = _bound("BTC/USDT:USDT")
    kept = [_kept(1, good), _kept(2, rebalanced)]
    previous = {
        "currentRevision": 2,
        "currentRevisionSince": format_time(NOW - timedelta(seconds=120)),
        "lastGoodRevision": 1,
    }

    def plan(content: dict[str, Any], status: dict[str, Any]) -> RevisionPlan:
        return plan_revision(content=content, spec=spec, kept=kept, previous_status=status, now=NOW)

    after = _rolled_back(plan(rebalanced, previous), previous)
    back = plan(rebalanced, after)
    # The last good revision as it ran: its spec is the same, so its old terms are the change.
    assert back.pinned and back.revision.number == 1
    assert back.revision.content["config"]["risk"]["capital"] == 2000
    # The next rebalance is tried.
    again = plan(_on_account("BTC/USDT:USDT", capital=1200), after)
    assert not again.pinned and again.revision.number == 3


def test_a_rolled_back_bot_never_runs_above_its_own_or_the_accounts_exposure_limit() -> None:
    good = _on_account("BTC/USDT:USDT", capital=2000, exposure_pct=20.0)
    spec = _bound("NOPE/USDT:USDT")
    for failed_pct, account_now, expected in ((80.0, 50.0, 20.0), (80.0, 10.0, 10.0)):
        bad = _on_account("NOPE/USDT:USDT", capital=2000, exposure_pct=failed_pct)
        kept = [_kept(1, good), _kept(2, bad)]
        rollback = {"failedHash": revision_identity(bad), "fromRevision": 2, "toRevision": 1}
        now = _on_account("NOPE/USDT:USDT", capital=1800, exposure_pct=account_now)
        pinned = plan_revision(
            content=now,
            spec=spec,
            kept=kept,
            previous_status={"currentRevision": 2, "lastGoodRevision": 1, "rollback": rollback},
            now=NOW,
        )
        assert pinned.pinned and pinned.workload_spec.symbol == "BTC/USDT:USDT"
        risk = pinned.revision.content["config"]["risk"]
        assert (risk["capital"], risk["maxTotalExposurePct"]) == (1800, expected)


def test_a_rollback_off_an_account_keeps_the_last_good_revision_as_it_was() -> None:
    """A bot with capital of its own: its risk block is its spec's, and the failed spec's capital
    does not reach the last good revision."""

    def own(symbol: str, capital: float) -> dict[str, Any]:
        config = {"symbol": symbol, "risk": {"capital": capital}}
        return revision_content(config=config, raw_spec={**RAW, "symbol": symbol})

    good, bad = own("BTC/USDT:USDT", 1000), own("NOPE/USDT:USDT", 5000)
    kept = [_kept(1, good), _kept(2, bad)]
    failed = {"failedHash": revision_identity(bad), "fromRevision": 2, "toRevision": 1}
    pinned = _plan(bad, {"currentRevision": 2, "lastGoodRevision": 1, "rollback": failed}, kept)
    assert pinned.pinned and pinned.revision.number == 1
    assert pinned.revision.content["config"]["risk"]["capital"] == 1000


def test_every_reason_and_condition_type_is_documented_once() -> None:
    documented_reasons = [d.reason for d in (*REASONS, *PROBLEM_REASONS)]
    assert len(documented_reasons) == len(set(documented_reasons))
    assert {str(r) for r in Reason} <= set(documented_reasons)
    for doc in REASONS:
        assert doc.meaning and doc.action, doc.reason
        assert all(t == "event" or t in set(ConditionType) for t in doc.used_on), doc.reason
    assert documented("RestartBudgetExhausted") is not None


def test_breaker_reasons_of_the_runtime_map_to_named_reasons() -> None:
    assert breaker_reason("drawdown") == Reason.DRAWDOWN
    assert breaker_reason("daily_loss") == Reason.DAILY_LOSS
    assert breaker_reason("consecutive_losses") == Reason.CONSECUTIVE_LOSSES
    assert breaker_reason("atr") == Reason.ATR
    assert breaker_reason("something new!") == Reason.TRIPPED
    assert breaker_reason(None) == Reason.TRIPPED


def test_a_configs_identity_drops_the_accounts_terms_and_leaves_the_config_untouched() -> None:
    config = {
        "exchange": {"id": "binance", "credentials": {"secretName": "keys"}, "orderIntervalMs": 5},
        "risk": {"capital": 1000.0, "maxPositionPct": 10.0, "stopLossPct": 2.0},
        "marketData": {"key": "md:binance"},
        "strategy": {"name": "trend"},
    }
    before = copy.deepcopy(config)
    identity = without_account_terms(config)
    assert identity == {
        "exchange": {"id": "binance"},
        "risk": {"stopLossPct": 2.0},
        "strategy": {"name": "trend"},
    }
    assert config == before, "reading the identity changed the bot's config"
