"""Bots that join an ExchangeAccount together are allocated together.

A fleet is applied in one go (``kubectl apply -f fleet/``): its bots reach the operator a few
milliseconds apart. Allocated as each arrived, the first bot would be given the whole account,
render its runtime's capital from it and start trading, and be cut to its share a moment later,
when the next bot joined, with whatever it had opened meanwhile sized on the whole account.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from succession_support import SETTINGS, FakeKube, stamp
from tradefleet_operator.accounts import (
    AccountMember,
    AccountPass,
    account_member,
    reconcile_account,
)
from tradefleet_operator.allocation import JOIN_SETTLE_S, JOIN_WAIT_MAX_S
from tradefleet_operator.outcome import Outcome
from tradefleet_operator.reconcile import Reconciler
from tradefleet_operator.spec.reason_docs import documented
from tradefleet_operator.spec.vocabulary import Reason

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


def _account(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "ExchangeAccount",
        "metadata": {"name": "fleet", "namespace": "ns", "uid": "uid-acc", "generation": 1},
        "spec": {
            "exchange": "binance",
            "mode": "paper",
            "allocation": {"capital": 3000, "policy": "weighted", "weights": {"alpha": 2}},
        },
        "status": status or {},
    }


def _member(name: str, *, created: datetime) -> AccountMember:
    return account_member(
        name=name,
        spec={"exchange": "binance", "market": "futures", "symbol": "BTC/USDT:USDT"},
        status={},
        annotations={},
        created=stamp(created),
    )


async def _pass(*, members: list[AccountMember], at: datetime, status: dict[str, Any]) -> Outcome:
    reconciler = Reconciler(kube=FakeKube(), settings=SETTINGS)  # type: ignore[arg-type]
    try:
        return await reconcile_account(
            writer=reconciler.writer,
            redis_users=None,
            account=AccountPass(body=_account(status), members=members, children={}, now=at),
        )
    finally:
        await reconciler.runtime.close()


def _allocations(outcome: Outcome) -> dict[str, float]:
    return {row["name"]: row["allocation"] for row in outcome.status.get("bots") or []}


def _ready_message(outcome: Outcome) -> str:
    ready = next(c for c in outcome.status["conditions"] if c["type"] == "Ready")
    return str(ready["message"])


async def test_bots_applied_together_are_allocated_together_never_the_first_alone() -> None:
    alpha = _member("alpha", created=NOW - timedelta(seconds=1))
    first = await _pass(members=[alpha], at=NOW, status={})
    # Alpha alone, a second old: it waits for the bots applied with it, and the pass comes back.
    assert _allocations(first) == {}, first.status
    assert "1 bot(s) joining" in _ready_message(first)
    assert first.poll_again_s == pytest.approx(JOIN_SETTLE_S - 1)

    beta = _member("beta", created=NOW + timedelta(seconds=1))
    later = NOW + timedelta(seconds=JOIN_SETTLE_S)
    second = await _pass(members=[alpha, beta], at=later, status=first.status)
    # Beta came after alpha: both wait until no bot has joined for JOIN_SETTLE_S.
    assert _allocations(second) == {}, second.status
    assert second.poll_again_s == pytest.approx(1)

    settled = later + timedelta(seconds=1)
    third = await _pass(members=[alpha, beta], at=settled, status=second.status)
    assert _allocations(third) == {"alpha": 2000, "beta": 1000}
    assert third.poll_again_s is None
    assert "joining" not in _ready_message(third)


async def test_a_bot_joining_an_allocated_fleet_waits_and_its_peers_keep_trading() -> None:
    old = NOW - timedelta(hours=1)
    fleet = await _pass(
        members=[_member("alpha", created=old), _member("beta", created=old)],
        at=NOW,
        status={},
    )
    assert _allocations(fleet) == {"alpha": 2000, "beta": 1000}
    gamma = _member("gamma", created=NOW)
    members = [_member("alpha", created=old), _member("beta", created=old), gamma]
    joining = await _pass(members=members, at=NOW, status=fleet.status)
    assert _allocations(joining) == {"alpha": 2000, "beta": 1000}
    joined = await _pass(
        members=members, at=NOW + timedelta(seconds=JOIN_SETTLE_S), status=joining.status
    )
    assert _allocations(joined) == {"alpha": 1500, "beta": 750, "gamma": 750}


async def test_bots_that_keep_joining_hold_the_first_no_longer_than_the_longest_wait() -> None:
    """A bot created every second (a slow loop of applies) never leaves JOIN_SETTLE_S quiet:
    the first one waits JOIN_WAIT_MAX_S at most, and then every bot old enough is allocated."""
    first = NOW - timedelta(seconds=JOIN_WAIT_MAX_S)
    members = [_member("alpha", created=first), _member("beta", created=NOW)]
    outcome = await _pass(members=members, at=NOW, status={})
    assert set(_allocations(outcome)) == {"alpha", "beta"}


def test_the_documented_wait_is_the_one_applied() -> None:
    """``kubectl describe`` and the docs tell a waiting bot's owner how long joining takes."""
    doc = documented(Reason.ALLOCATION_PENDING)
    assert doc is not None and f"no other bot has joined for {JOIN_SETTLE_S:g} s" in doc.meaning
