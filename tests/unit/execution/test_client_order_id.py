"""Deterministic client order ids: same decision leg → same id, within Binance's rules."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tradefleet_runtime.execution.client_order_id import ClientOrderIdError, client_order_id

pytestmark = pytest.mark.unit

BINANCE_CLIENT_ORDER_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


def test_the_same_decision_leg_always_gives_the_same_id() -> None:
    first = client_order_id(bot_name="btc-momentum", decision_id="1700000060000", leg="entry")
    again = client_order_id(bot_name="btc-momentum", decision_id="1700000060000", leg="entry")
    assert first == again
    assert first.startswith("tf-btcmomen-") and first.endswith("-entry")


def test_every_input_changes_the_id() -> None:
    base = {"bot_name": "btc-momentum", "decision_id": "1700000060000", "leg": "entry"}
    variants = [
        {**base, "leg": "sl"},
        {**base, "decision_id": "1700000120000"},
        # Same readable slug (first 8 characters), different bot: the digest tells them apart.
        {**base, "bot_name": "btc-momentum-eu"},
    ]
    ids = {client_order_id(**base), *(client_order_id(**v) for v in variants)}
    assert len(ids) == 4


@given(
    bot_name=st.text(min_size=1, max_size=200),
    decision_id=st.text(min_size=1, max_size=200),
    leg=st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True),
)
def test_ids_always_fit_binance_length_and_charset(
    bot_name: str, decision_id: str, leg: str
) -> None:
    assert BINANCE_CLIENT_ORDER_ID.match(
        client_order_id(bot_name=bot_name, decision_id=decision_id, leg=leg)
    )


@pytest.mark.parametrize(
    ("bot_name", "decision_id", "leg"),
    [("", "1", "entry"), ("bot", "", "entry"), ("bot", "1", "Entry"), ("bot", "1", "toolong")],
)
def test_bad_inputs_raise_a_clear_error(bot_name: str, decision_id: str, leg: str) -> None:
    with pytest.raises(ClientOrderIdError):
        client_order_id(bot_name=bot_name, decision_id=decision_id, leg=leg)
