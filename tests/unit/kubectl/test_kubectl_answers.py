"""The kubectl plugin's pure logic: which question is asked, what the fleet table flags, what the
debug bundle redacts, which kept revision a returned-to configuration is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tradefleet_kubectl.ask import Topic, answer, topic_of
from tradefleet_kubectl.facts import bot_facts, revision_facts
from tradefleet_kubectl.report import REDACTED, redact
from tradefleet_kubectl.status_view import bot_detail, fleet_table

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Why is it halted?", Topic.HALTED),
        ("why did the kill switch fire", Topic.HALTED),
        ("why is it not trading", Topic.NOT_TRADING),
        ("Why no trades today?", Topic.NOT_TRADING),
        ("what changed since yesterday?", Topic.CHANGED),
        ("why did it roll back", Topic.ROLLED_BACK),
        ("Why was revision 4 rolled back?", Topic.ROLLED_BACK),
        ("how tall is the operator", Topic.UNKNOWN),
    ],
)
def test_questions_are_matched_by_their_keywords(question: str, topic: Topic) -> None:
    assert topic_of(question) is topic


def test_the_fleet_table_flags_only_conditions_that_mean_trouble() -> None:
    def bot(name: str, conditions: list[dict[str, str]]) -> dict[str, object]:
        return {
            "metadata": {"name": name, "namespace": "desk"},
            "status": {"phase": "Running", "region": "eu-central-1", "conditions": conditions},
        }

    table = fleet_table(
        [
            bot_facts(
                bot=bot(
                    "fine",
                    [
                        {"type": "Ready", "status": "True", "reason": "RuntimeAvailable"},
                        {"type": "CircuitBreakerOpen", "status": "False", "reason": "Closed"},
                        {"type": "RolledBack", "status": "False", "reason": "NoRollback"},
                    ],
                )
            ),
            bot_facts(
                bot=bot(
                    "sick",
                    [
                        {"type": "Ready", "status": "False", "reason": "StateStoreUnavailable"},
                        {"type": "Degraded", "status": "True", "reason": "RestartBudgetExhausted"},
                        {"type": "Progressing", "status": "True", "reason": "RolloutInProgress"},
                    ],
                )
            ),
        ]
    )
    rows = {line.split()[2]: line for line in table.splitlines()[1:]}
    assert rows["fine"].rstrip().endswith("-")
    assert (
        rows["sick"]
        .rstrip()
        .endswith("Ready=StateStoreUnavailable, Degraded=RestartBudgetExhausted")
    )


def test_what_changed_keeps_the_last_24_hours_newest_first() -> None:
    facts = bot_facts(
        bot={
            "metadata": {"name": "b", "namespace": "n"},
            "status": {
                "revisionHistory": [
                    {"revision": 5, "hash": "e", "createdAt": _at(2), "source": "optimizer"},
                    {"revision": 4, "hash": "d", "createdAt": _at(20)},
                    {"revision": 3, "hash": "c", "createdAt": _at(30)},
                ]
            },
        },
        now=NOW,
    )
    lines = answer(facts=facts, question="what changed since yesterday").lines
    assert [line.strip() for line in lines[1:]] == [
        "2h ago: revision 5 created (optimizer)",
        "20h ago: revision 4 created",
    ]


def test_a_bot_without_status_is_said_to_have_no_report_from_its_operator() -> None:
    facts = bot_facts(bot={"metadata": {"name": "new", "namespace": "n"}}, now=NOW)
    text = answer(facts=facts, question="why is it not trading?").text
    assert "is its region's operator running?" in text


def test_redaction_keeps_references_and_removes_values() -> None:
    redacted = redact(
        {
            "credentials": {"secretRef": {"name": "keys", "apiSecretKey": "apiSecret"}},
            "token": "abc",
            "env": [
                {"name": "API_KEY", "value": "k-123"},
                {"name": "LOG_LEVEL", "value": "debug"},
                {"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            ],
            "url": "https://user:pw@example.com/x",
        }
    )
    assert redacted["credentials"]["secretRef"] == {"name": "keys", "apiSecretKey": "apiSecret"}
    assert redacted["token"] == REDACTED
    assert redacted["env"][0]["value"] == REDACTED
    assert redacted["env"][1]["value"] == "debug"
    assert redacted["env"][2]["valueFrom"]["secretKeyRef"]["key"] == "password"
    assert redacted["url"] == f"https://{REDACTED}@example.com/x"


def test_a_returned_to_configuration_is_found_by_its_hash() -> None:
    kept = [
        {
            "metadata": {"annotations": {"tradefleet.io/config-hash": "h1"}},
            "revision": 1,
            "data": {"spec": {"symbol": "BTC/USDT"}},
        }
    ]
    status = {"revisionHistory": [{"revision": 3, "hash": "h1"}, {"revision": 2, "hash": "h2"}]}
    by_number = {r.number: r for r in revision_facts(status=status, kept=kept)}
    assert by_number[3].spec == {"symbol": "BTC/USDT"}
    assert by_number[2].spec is None


def test_a_trading_bot_is_said_to_trade_with_its_other_troubles_as_notes() -> None:
    facts = bot_facts(
        bot={
            "metadata": {"name": "b", "namespace": "n"},
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "Trading", "status": "True", "reason": "RateLimited"},
                    {"type": "RolledBack", "status": "True", "reason": "ProgressDeadlineExceeded"},
                ],
            },
        },
        now=NOW,
    )
    lines = answer(facts=facts, question="why is it not trading?").lines
    assert lines[1].startswith("It is trading: Trading=True, reason RateLimited")
    assert lines[2].startswith("  Also: RolledBack=True, reason ProgressDeadlineExceeded")


def test_a_bots_detail_shows_its_ml_model_or_why_there_is_none() -> None:
    def detail(ml: dict[str, object]) -> str:
        bot = {
            "metadata": {"name": "learner", "namespace": "desk"},
            "spec": {"exchange": "binance", "symbol": "BTC/USDT"},
            "status": {"phase": "Running", "ml": ml},
        }
        return bot_detail(bot_facts(bot=bot))

    ready = {
        "state": "Ready",
        "version": 3,
        "trainedBy": "learner-opt-1",
        "walkForwardAccuracy": 0.6123,
        "probabilityUp": 0.7,
    }
    assert (
        "ML input:     model v3 by learner-opt-1, walk-forward accuracy 61.2%, P(up) 70%"
        in detail(ready)
    )
    waiting = {"state": "WaitingForModel", "reason": "no model stored yet"}
    assert "ML input:     WaitingForModel: no model stored yet" in detail(waiting)
