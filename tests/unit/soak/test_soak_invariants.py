"""The soak's invariant checks on hand-made trials: for each invariant, a ledger (with logs,
Redis records and status samples) that satisfies it and one that breaks it.

The checks are pure functions of a ``TrialObservation``; a wrong check either hides a
money-safety bug of the runtime or cries wolf in every soak, so both directions are pinned.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

import pytest
from tradefleet_devtools.soak.evidence import (
    FaultHit,
    FinalState,
    Incarnation,
    LogLine,
    StatusSample,
    TrialObservation,
    observation_from_json,
    parse_log,
)
from tradefleet_devtools.soak.invariants import (
    Invariant,
    check_all,
    check_equity_matches,
    check_no_order_from_fenced_runtime,
    check_no_orphan_orders,
    check_one_order_per_decision,
    check_position_is_fills,
    check_protected_within_2s,
    check_settles,
)
from tradefleet_devtools.soak.spans import Span
from tradefleet_runtime.execution.client_order_id import client_order_id

pytestmark = pytest.mark.unit

BOT = "soakbot"
T0 = 1_800_000_000_000


def cid(decision: str, *, leg: str) -> str:
    return client_order_id(exchange="binanceusdm", bot_name=BOT, decision_id=decision, leg=leg)


ENTRY, STOP, EXIT = cid("a-1", leg="entry"), cid("a-2", leg="sl"), cid("a-3", leg="exit")


def order(
    client_id: str,
    *,
    side: str,
    at: int,
    qty: str = "0.003",
    reduce_only: bool = False,
    status: str = "FILLED",
    order_id: int | None = None,
    algo_id: int | None = None,
) -> dict[str, Any]:
    executed = qty if status in ("FILLED", "PARTIALLY_FILLED") else "0.000"
    return {
        "order_id": order_id if order_id is not None else at,
        "client_order_id": client_id,
        "symbol": "BTCUSDT",
        "side": side,
        "type": "MARKET",
        "reduce_only": reduce_only,
        "quantity": qty,
        "executed_quantity": executed,
        "status": status,
        "request_timestamp_ms": at - 5,
        "received_ms": at,
        "booked_ms": at,
        "algo_id": algo_id,
    }


def fill(
    client_id: str, *, side: str, at: int, order_id: int, qty: str = "0.003"
) -> dict[str, Any]:
    return {
        "trade_id": at,
        "order_id": order_id,
        "client_order_id": client_id,
        "symbol": "BTCUSDT",
        "side": side,
        "quantity": qty,
        "price": "30000.0",
        "time_ms": at,
    }


def stop(
    client_id: str, *, side: str, created: int, status: str = "NEW", updated: int | None = None
) -> dict[str, Any]:
    return {
        "algo_id": created,
        "client_algo_id": client_id,
        "symbol": "BTCUSDT",
        "side": side,
        "type": "STOP_MARKET",
        "quantity": "0.000",
        "close_position": True,
        "trigger_price": "29000.0",
        "status": status,
        "created_ms": created,
        "updated_ms": updated if updated is not None else created,
        "triggered_ms": None,
    }


def log_line(at: int, *, message: str) -> LogLine:
    return LogLine(at_ms=at, text=f"2027-01-15 08:00:00,000 INFO tradefleet_runtime.bot {message}")


def runtime(
    name: str, *, acquired: int, intents: list[tuple[int, str, str]], ended: int | None = None
) -> Incarnation:
    lines = [log_line(acquired, message=f"lease acquired: fencing token {acquired}")]
    lines += [
        log_line(at, message=f"order intent recorded: {leg} buy 0.003 {client_id}")
        for at, leg, client_id in intents
    ]
    return Incarnation(
        name=name,
        slot="primary",
        started_ms=acquired - 1_000,
        ended_ms=ended,
        end_cause="killed" if ended else "running",
        log=tuple(lines),
    )


def settled(*, position: dict[str, Any], equity: float, open_orders: list[str]) -> FinalState:
    return FinalState(
        settled=True,
        note="",
        status={"position": position, "equity": equity, "openOrders": open_orders},
        redis_position=position,
    )


LONG = {"side": "long", "size": 0.003}


def healthy_trial() -> TrialObservation:
    """A long opened at T0+1000, its stop 400 ms later, all by one runtime holding the lease."""
    entry = order(ENTRY, side="BUY", at=T0 + 1_000, order_id=1)
    return TrialObservation(
        trial=0,
        seed=7,
        bot_name=BOT,
        exchange_id="binanceusdm",
        symbol="BTCUSDT",
        started_ms=T0,
        ended_ms=T0 + 20_000,
        ledger={
            "orders": [entry],
            "fills": [fill(ENTRY, side="BUY", at=T0 + 1_000, order_id=1)],
            "algo_orders": [stop(STOP, side="SELL", created=T0 + 1_400)],
            "positions": {"BTCUSDT": {"amount": "0.003"}},
            "wallet": {"equity": "9999.95"},
        },
        redis_orders={
            ENTRY: {"decisionId": "a-1", "leg": "entry", "state": "filled"},
            STOP: {"decisionId": "a-2", "leg": "sl", "state": "open"},
        },
        redis_unresolved=frozenset({STOP}),
        incarnations=(
            runtime(
                "primary-0",
                acquired=T0 + 100,
                intents=[(T0 + 900, "entry", ENTRY), (T0 + 1_300, "sl", STOP)],
            ),
        ),
        samples=(),
        fault_hits=(),
        faults_cleared_ms=T0 + 15_000,
        redis_down=(),
        final=settled(position=LONG, equity=9999.95, open_orders=[STOP]),
    )


def test_a_healthy_trial_breaks_nothing() -> None:
    assert check_all(healthy_trial()) == []


def with_ledger(trial: TrialObservation, **changes: Any) -> TrialObservation:
    return replace(trial, ledger={**trial.ledger, **changes})


# ------------------------------------------------------------ one order per decision


def test_a_client_order_id_booked_twice_is_one_order_too_many() -> None:
    trial = healthy_trial()
    retried = order(ENTRY, side="BUY", at=T0 + 1_200, order_id=2)
    broken = with_ledger(trial, orders=[*trial.ledger["orders"], retried])
    violations = check_one_order_per_decision(broken)
    assert [v.invariant for v in violations] == [Invariant.ONE_ORDER_PER_DECISION]
    assert "booked 2 times" in violations[0].message
    assert check_one_order_per_decision(trial) == []


def test_an_entry_filled_onto_an_open_position_is_a_second_decision_on_an_unknown_outcome() -> None:
    trial = healthy_trial()
    second = cid("a-4", leg="entry")
    broken = with_ledger(
        trial,
        orders=[*trial.ledger["orders"], order(second, side="BUY", at=T0 + 3_000, order_id=3)],
        fills=[*trial.ledger["fills"], fill(second, side="BUY", at=T0 + 3_000, order_id=3)],
    )
    violations = check_one_order_per_decision(broken)
    assert len(violations) == 1
    assert "onto an open position of 0.003" in violations[0].message


def test_an_exit_then_a_new_entry_from_flat_is_fine() -> None:
    trial = healthy_trial()
    entry = cid("a-4", leg="entry")
    fine = with_ledger(
        trial,
        orders=[
            *trial.ledger["orders"],
            order(EXIT, side="SELL", at=T0 + 3_000, order_id=2, reduce_only=True),
            order(entry, side="SELL", at=T0 + 4_000, order_id=3),
        ],
        fills=[
            *trial.ledger["fills"],
            fill(EXIT, side="SELL", at=T0 + 3_000, order_id=2),
            fill(entry, side="SELL", at=T0 + 4_000, order_id=3),
        ],
    )
    assert check_one_order_per_decision(fine) == []


# ------------------------------------------------------------- position equals fills


def test_the_bots_position_must_be_the_sum_of_the_exchanges_fills() -> None:
    trial = healthy_trial()
    assert check_position_is_fills(trial) == []
    wrong = replace(
        trial,
        final=settled(position={"side": "long", "size": 0.006}, equity=9999.95, open_orders=[STOP]),
    )
    messages = [v.message for v in check_position_is_fills(wrong)]
    assert any("the bot reports a position of 0.006" in m for m in messages)
    assert any("Redis holds a position of 0.006" in m for m in messages)


def test_the_exchanges_booked_position_must_be_its_fills() -> None:
    trial = healthy_trial()
    broken = with_ledger(trial, positions={"BTCUSDT": {"amount": "0.004"}})
    assert "books a position of 0.004" in check_position_is_fills(broken)[0].message


# ------------------------------------------------------------------------ protection


def test_a_stop_400_ms_after_the_fill_protects_in_time() -> None:
    assert check_protected_within_2s(healthy_trial()) == []


def test_a_stop_placed_3_s_after_the_fill_is_too_late() -> None:
    trial = healthy_trial()
    late = with_ledger(trial, algo_orders=[stop(STOP, side="SELL", created=T0 + 4_000)])
    violations = check_protected_within_2s(late)
    assert len(violations) == 1
    assert "for 3.00s while a runtime could act" in violations[0].message


def test_a_stop_on_the_wrong_side_protects_nothing() -> None:
    trial = healthy_trial()
    wrong = with_ledger(trial, algo_orders=[stop(STOP, side="BUY", created=T0 + 1_400)])
    assert check_protected_within_2s(wrong)


def test_time_with_no_live_runtime_or_redis_down_is_excused_but_not_the_rest() -> None:
    trial = healthy_trial()
    # The runtime died 500 ms after the fill; its successor acquired the lease 10 s later
    # and placed the stop 1.5 s after that: never more than 2 s while a runtime could act.
    successor = cid("b-1", leg="sl")
    restarted = replace(
        with_ledger(trial, algo_orders=[stop(successor, side="SELL", created=T0 + 13_000)]),
        incarnations=(
            runtime(
                "primary-0",
                acquired=T0 + 100,
                intents=[(T0 + 900, "entry", ENTRY)],
                ended=T0 + 1_500,
            ),
            runtime("primary-1", acquired=T0 + 11_500, intents=[(T0 + 12_900, "sl", successor)]),
        ),
        redis_orders={successor: {"decisionId": "b-1", "leg": "sl", "state": "open"}},
        final=settled(position=LONG, equity=9999.95, open_orders=[successor]),
    )
    assert check_protected_within_2s(restarted) == []
    # The same with Redis down from the fill on for 9 s: still excused.
    assert (
        check_protected_within_2s(
            replace(restarted, redis_down=(Span(start_ms=T0 + 1_000, end_ms=T0 + 10_000),))
        )
        == []
    )
    # The successor taking 2.5 s after its lease is a violation.
    slow = with_ledger(restarted, algo_orders=[stop(successor, side="SELL", created=T0 + 14_000)])
    assert len(check_protected_within_2s(slow)) == 1


def test_an_unreachable_exchange_excuses_its_window() -> None:
    trial = healthy_trial()
    late = with_ledger(trial, algo_orders=[stop(STOP, side="SELL", created=T0 + 6_000)])
    window = FaultHit(
        at_ms=T0 + 1_500, kind="unreachable", method="GET", path="/fapi/v1/depth", hold_s=4.0
    )
    assert check_protected_within_2s(replace(late, fault_hits=(window,))) == []
    a_5xx = FaultHit(
        at_ms=T0 + 1_500, kind="http_5xx", method="POST", path="/fapi/v1/algoOrder", hold_s=2.0
    )
    assert check_protected_within_2s(replace(late, fault_hits=(a_5xx,)))


def test_while_the_venue_refuses_stops_the_runtime_must_report_a_software_stop() -> None:
    # The exchange is unreachable from just after the fill until the stop goes on: no
    # runtime is blamed on the exchange's side, so the runtime's own report must show it
    # protecting the position with a software stop.
    trial = healthy_trial()
    late = with_ledger(trial, algo_orders=[stop(STOP, side="SELL", created=T0 + 6_000)])
    window = FaultHit(
        at_ms=T0 + 1_100, kind="unreachable", method="GET", path="/fapi/v1/depth", hold_s=5.0
    )
    refused = replace(late, fault_hits=(window,))

    def sample(at: int, *, unprotected: float, kind: str | None) -> StatusSample:
        return StatusSample(
            at_ms=at,
            incarnation="primary-0",
            phase="trading",
            position=0.003,
            stop_kind=kind,
            unprotected_s=unprotected,
            orders_blocked=None,
            equity=9999.95,
            lease_token=T0 + 100,
        )

    software = replace(refused, samples=(sample(T0 + 4_000, unprotected=0.0, kind="software"),))
    assert check_protected_within_2s(software) == []
    bare = replace(
        refused,
        samples=(
            sample(T0 + 4_000, unprotected=2.6, kind=None),
            sample(T0 + 4_250, unprotected=2.85, kind=None),
        ),
    )
    violations = check_protected_within_2s(bare)
    assert len(violations) == 1
    assert "2 status sample(s)" in violations[0].message
    # The same report while the exchange holds the stop is a stale status, not a risk.
    assert check_protected_within_2s(replace(trial, samples=bare.samples)) == []


# ---------------------------------------------------------------------------- orphans


def test_a_stop_left_on_a_flat_position_is_an_orphan() -> None:
    trial = healthy_trial()
    assert check_no_orphan_orders(trial) == []
    flat = with_ledger(
        trial,
        orders=[
            *trial.ledger["orders"],
            order(EXIT, side="SELL", at=T0 + 3_000, order_id=2, reduce_only=True),
        ],
        fills=[*trial.ledger["fills"], fill(EXIT, side="SELL", at=T0 + 3_000, order_id=2)],
    )
    violations = check_no_orphan_orders(flat)
    assert len(violations) == 1
    assert "a stop left while the position is flat" in violations[0].message


def test_an_open_order_the_bot_does_not_track_is_an_orphan() -> None:
    trial = healthy_trial()
    untracked = replace(
        trial,
        redis_orders={ENTRY: trial.redis_orders[ENTRY]},
        redis_unresolved=frozenset(),
        final=settled(position=LONG, equity=9999.95, open_orders=[]),
    )
    violations = check_no_orphan_orders(untracked)
    assert len(violations) == 1
    assert "the bot does not track it" in violations[0].message


# ---------------------------------------------------------------------------- fencing


def test_an_order_sent_after_the_next_runtime_took_the_lease_is_from_a_fenced_runtime() -> None:
    trial = healthy_trial()
    assert check_no_order_from_fenced_runtime(trial) == []
    late_exit = order(EXIT, side="SELL", at=T0 + 9_000, order_id=2, reduce_only=True)
    fenced = replace(
        with_ledger(trial, orders=[*trial.ledger["orders"], late_exit]),
        incarnations=(
            runtime(
                "primary-0",
                acquired=T0 + 100,
                intents=[
                    (T0 + 900, "entry", ENTRY),
                    (T0 + 1_300, "sl", STOP),
                    (T0 + 8_990, "exit", EXIT),
                ],
            ),
            runtime("second-1", acquired=T0 + 8_000, intents=[]),
        ),
    )
    violations = check_no_order_from_fenced_runtime(fenced)
    assert len(violations) == 1
    assert "outside its lease tenure" in violations[0].message


@pytest.mark.parametrize(
    "measured_at",
    [T0 + 500, T0 + 950],
    ids=["before-the-intent", "after-the-intent-before-the-retry"],
)
def test_a_request_signed_with_the_exchanges_clock_is_judged_on_the_runtimes_clock(
    measured_at: int,
) -> None:
    # After a clock_skew fault the runtime signs with the exchange's clock (4.25 s behind):
    # the request timestamp falls before its tenure, though it was sent well inside it. The
    # difference may be measured before the intent, or after it, when the order's own first
    # attempt was refused for its timestamp and the retry was signed with the exchange's time.
    trial = healthy_trial()
    signed_early = order(ENTRY, side="BUY", at=T0 + 1_000, order_id=1) | {
        "request_timestamp_ms": T0 + 1_000 - 4_255
    }
    inc = trial.incarnations[0]
    clock_line = log_line(
        measured_at,
        message="binanceusdm:testnet refused a request's timestamp: its clock is 4250 ms behind "
        "ours; signing with its time from now on",
    )
    skewed = with_ledger(trial, orders=[signed_early])
    assert len(check_no_order_from_fenced_runtime(skewed)) == 1  # the clock line unknown
    resynced = replace(
        skewed, incarnations=(replace(inc, log=(inc.log[0], clock_line, *inc.log[1:])),)
    )
    assert check_no_order_from_fenced_runtime(resynced) == []


def test_an_order_is_never_judged_sent_after_the_exchange_received_it() -> None:
    # Chaos-soak trial 199 (seed 11199): the runtime measured a 2.456 s clock difference, then
    # rebuilt its exchange connection and signed with its own clock again. Its last order was
    # received 0.16 s before it was killed; its timestamp plus the stale correction put the send
    # 2.3 s after the kill, though nothing can be sent after the exchange received it.
    killed_at = T0 + 9_000
    received = killed_at - 160
    last = order(EXIT, side="SELL", at=received, order_id=2, reduce_only=True) | {
        "request_timestamp_ms": received - 1
    }
    primary = runtime(
        "primary-0",
        acquired=T0 + 100,
        intents=[
            (T0 + 900, "entry", ENTRY),
            (T0 + 1_300, "sl", STOP),
            (received - 50, "exit", EXIT),
        ],
        ended=killed_at,
    )
    clock_line = log_line(
        T0 + 500,
        message="binanceusdm:testnet refused a request's timestamp: its clock is 2456 ms behind "
        "ours; signing with its time from now on",
    )
    trial = healthy_trial()
    killed = replace(
        with_ledger(trial, orders=[*trial.ledger["orders"], last]),
        incarnations=(
            replace(primary, log=(primary.log[0], clock_line, *primary.log[1:])),
            runtime("second-1", acquired=killed_at + 2_000, intents=[]),
        ),
    )
    assert check_no_order_from_fenced_runtime(killed) == []


def test_an_order_no_runtime_logged_an_intent_for_is_not_allowed() -> None:
    trial = healthy_trial()
    stray = with_ledger(
        trial, orders=[*trial.ledger["orders"], order(EXIT, side="SELL", at=T0 + 3_000, order_id=2)]
    )
    violations = check_no_order_from_fenced_runtime(stray)
    assert len(violations) == 1
    assert "without an 'order intent recorded' line" in violations[0].message


def test_an_order_executed_after_the_successor_acquired_the_lease_is_fenced_too() -> None:
    trial = healthy_trial()
    late = dict(order(EXIT, side="SELL", at=T0 + 7_000, order_id=2, reduce_only=True))
    late["booked_ms"] = T0 + 8_100
    held = replace(
        with_ledger(trial, orders=[*trial.ledger["orders"], late]),
        incarnations=(
            runtime(
                "primary-0",
                acquired=T0 + 100,
                intents=[
                    (T0 + 900, "entry", ENTRY),
                    (T0 + 1_300, "sl", STOP),
                    (T0 + 6_900, "exit", EXIT),
                ],
            ),
            runtime("second-1", acquired=T0 + 8_000, intents=[]),
        ),
    )
    assert (
        "after the next runtime acquired the lease"
        in check_no_order_from_fenced_runtime(held)[0].message
    )


def test_an_order_sent_while_fenced_and_refused_by_the_exchange_is_still_caught() -> None:
    trial = healthy_trial()
    refused = replace(
        trial,
        incarnations=(
            runtime(
                "primary-0",
                acquired=T0 + 100,
                intents=[
                    (T0 + 900, "entry", ENTRY),
                    (T0 + 1_300, "sl", STOP),
                    (T0 + 9_000, "exit", EXIT),
                ],
            ),
            runtime("second-1", acquired=T0 + 8_000, intents=[]),
        ),
    )
    violations = check_no_order_from_fenced_runtime(refused)
    assert len(violations) == 1
    assert "outside its lease tenure, and sent it" in violations[0].message


def test_a_stop_arriving_after_its_runtime_was_killed_is_fenced_only_once_a_successor_holds() -> (
    None
):
    trial = healthy_trial()
    # primary-0 logged the stop's intent, was killed, and the request arrived 1 ms later.
    in_flight = replace(
        with_ledger(trial, algo_orders=[stop(STOP, side="SELL", created=T0 + 1_401)]),
        incarnations=(
            runtime(
                "primary-0",
                acquired=T0 + 100,
                intents=[(T0 + 900, "entry", ENTRY), (T0 + 1_300, "sl", STOP)],
                ended=T0 + 1_400,
            ),
        ),
    )
    assert check_no_order_from_fenced_runtime(in_flight) == []
    successor = replace(
        in_flight,
        incarnations=(
            *in_flight.incarnations,
            runtime("primary-1", acquired=T0 + 1_401, intents=[]),
        ),
    )
    violations = check_no_order_from_fenced_runtime(successor)
    assert len(violations) == 1
    assert "after the next runtime acquired the lease" in violations[0].message


# ----------------------------------------------------------------------------- equity


def test_the_reported_equity_must_match_the_account_within_a_cent() -> None:
    trial = healthy_trial()
    assert check_equity_matches(trial) == []
    close = replace(trial, final=settled(position=LONG, equity=9999.955, open_orders=[STOP]))
    assert check_equity_matches(close) == []
    missed_fee = replace(trial, final=settled(position=LONG, equity=9999.995, open_orders=[STOP]))
    assert "off by 0.045" in check_equity_matches(missed_fee)[0].message


# ---------------------------------------------------------------------------- settling


def test_a_bot_that_never_settles_is_reported_and_its_final_state_not_judged() -> None:
    trial = replace(
        healthy_trial(),
        final=FinalState(settled=False, note="not settled", status=None, redis_position=None),
    )
    assert [v.invariant for v in check_settles(trial)] == [Invariant.SETTLES]
    assert check_equity_matches(trial) == []
    assert check_no_orphan_orders(trial) == []


# -------------------------------------------------------------------------------- logs


def test_a_saved_trial_reads_back_as_it_was_judged() -> None:
    trial = replace(
        healthy_trial(),
        redis_down=(Span(start_ms=T0 + 2_000, end_ms=T0 + 3_000),),
        fault_hits=(
            FaultHit(
                at_ms=T0 + 5, kind="http_5xx", method="GET", path="/fapi/v1/depth", hold_s=2.0
            ),
        ),
    )
    saved = json.loads(json.dumps(asdict(trial), default=sorted))
    assert observation_from_json(saved) == trial


def test_runtime_logs_are_read_with_their_timestamps() -> None:
    text = (
        "2027-01-15 08:00:01,250 INFO tradefleet_runtime.bot lease acquired: fencing token 42\n"
        "2027-01-15 08:00:02,500 INFO tradefleet_runtime.bot order intent recorded: entry buy 0.003 tfabc\n"
        "Traceback (most recent call last):\n"
    )
    lines = parse_log(text)
    base = int(datetime(2027, 1, 15, 8, 0, 0).timestamp() * 1000)
    assert [line.at_ms - base for line in lines] == [1_250, 2_500]
    assert lines[1].text.endswith("Traceback (most recent call last):")
    runtime_ = Incarnation(
        name="p", slot="primary", started_ms=0, ended_ms=None, end_cause="running", log=lines
    )
    assert runtime_.fencing_token == 42
    assert [i.client_order_id for i in runtime_.intents()] == ["tfabc"]
