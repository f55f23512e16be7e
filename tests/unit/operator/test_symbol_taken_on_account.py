"""Two bots on one symbol of one exchange account: the later one is refused, with a reason.

An account is what a bot's keys open (exchange, mode, credentials Secret); paper bots each have
their own. The first created keeps trading; the other is ``Invalid`` with ``SymbolTakenOnAccount``
naming the bot that holds the symbol, and gets no workload.
"""

from __future__ import annotations

from typing import Any

import pytest
from pass_support import available_children, condition, one_pass
from succession_support import bot_body
from tradefleet_operator.spec import account_market_of, earlier_holders

pytestmark = pytest.mark.unit


def _spec(**fields: Any) -> dict[str, Any]:
    return {
        "exchange": "binance",
        "symbol": "BTC/USDT:USDT",
        "mode": "testnet",
        "credentials": {"secretRef": {"name": "keys"}},
        **fields,
    }


def test_bots_on_one_symbol_with_the_same_keys_share_an_account_market() -> None:
    assert account_market_of(_spec()) == account_market_of(_spec())
    assert account_market_of(_spec()) != account_market_of(_spec(symbol="ETH/USDT:USDT"))
    assert account_market_of(_spec()) != account_market_of(
        _spec(credentials={"secretRef": {"name": "other-keys"}})
    )
    assert account_market_of(_spec()) != account_market_of(_spec(exchange="bybit"))
    # Paper bots, and bots without keys, each have an account of their own.
    assert account_market_of(_spec(mode="paper")) is None
    assert account_market_of(_spec(credentials=None)) is None


def test_the_first_created_holds_the_symbol_and_ties_go_by_name() -> None:
    holders = [("2026-12-05T10:00:02Z", "late"), ("2026-12-05T10:00:01Z", "early")]
    assert earlier_holders(holders=holders, name="early") == []
    assert earlier_holders(holders=holders, name="late") == ["early"]
    tied = [("2026-12-05T10:00:01Z", "b"), ("2026-12-05T10:00:01Z", "a")]
    assert earlier_holders(holders=tied, name="a") == []
    assert earlier_holders(holders=tied, name="b") == ["a"]


async def test_a_bot_whose_symbol_is_taken_on_its_account_is_invalid_without_a_workload() -> None:
    body = bot_body(self_healing={})
    body["spec"].update(mode="testnet", credentials={"secretRef": {"name": "keys"}})
    body["status"] = {}
    kube, outcome = await one_pass(
        body=body, children={}, port=1, symbol_holders=["older", "also-refused"]
    )
    assert outcome.status["phase"] == "Invalid"
    ready = condition(outcome, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "SymbolTakenOnAccount"
    assert ready["message"].startswith("spec.symbol: older already trades BTC/USDT:USDT")
    assert "Secret keys" in ready["message"]
    assert not [key for key in kube.written if key[0] == "Deployment"]


async def test_a_bot_alone_on_its_account_symbol_runs() -> None:
    body = bot_body(self_healing={})
    _, outcome = await one_pass(body=body, children=available_children(), port=1)
    assert outcome.status["phase"] != "Invalid"
