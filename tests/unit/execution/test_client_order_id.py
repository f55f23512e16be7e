"""Deterministic client order ids: same decision leg → same id, within the rules of its exchange.

Every exchange a TradingBot may name (the ``exchange`` enum of the CRD in crds/, read here, not
copied) is checked in both markets, through ``ccxt_exchange_id`` as the runtime resolves it. The
exchanges' rules are written down below independently of the schemes in
``tradefleet_runtime.execution.client_order_id``, so a wrong scheme cannot pass its own check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ccxt
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from tradefleet_runtime.execution.client_order_id import (
    CONSERVATIVE_SCHEME,
    SCHEMES,
    ClientOrderIdError,
    client_order_id,
    owns,
)
from tradefleet_runtime.execution.venue import ccxt_exchange_id

pytestmark = pytest.mark.unit

TRADING_BOT_CRD = Path(__file__).resolve().parents[3] / "crds" / "tradefleet.io_tradingbots.yaml"
MARKETS = ("spot", "futures")
LEGS = ("entry", "exit", "sl", "tp", "leg6ch")
INT64_MAX = 2**63 - 1


@dataclass(frozen=True, kw_only=True)
class ExchangeRule:
    """What an exchange's order API accepts as a client order id, and where that is written."""

    pattern: str
    source: str
    integer: bool = False

    def breaks(self, client_id: str) -> bool:
        if not re.fullmatch(self.pattern, client_id):
            return True
        return self.integer and not 1 <= int(client_id) <= INT64_MAX


BINANCE = ExchangeRule(
    pattern=r"[.A-Z:/a-z0-9_-]{1,36}",
    source="Binance newClientOrderId/clientAlgoId: ^[\\.A-Z\\:/a-z0-9_-]{1,36}$",
)
KUCOIN = ExchangeRule(
    pattern=r"[A-Za-z0-9_-]{1,40}",
    source="KuCoin clientOid: letters, digits, '_' and '-', at most 40 characters",
)
GATE = ExchangeRule(
    pattern=r"t-[0-9A-Za-z_.-]{1,26}",
    source="Gate text: starts with 't-', [0-9A-Za-z_.-]; ccxt gate refuses more than 28 characters",
)
# Keyed by ccxt exchange id. A new exchange in the CRD fails the test below until its rule is here.
EXCHANGE_RULES: dict[str, ExchangeRule] = {
    "binance": BINANCE,
    "binanceusdm": BINANCE,
    "okx": ExchangeRule(
        pattern=r"[A-Za-z0-9]{1,32}",
        source="OKX clOrdId: case-sensitive alphanumerics, at most 32 characters",
    ),
    "bybit": ExchangeRule(
        pattern=r"[A-Za-z0-9_-]{1,36}",
        source="Bybit orderLinkId: letters, digits, '-' and '_', at most 36 characters",
    ),
    "kraken": ExchangeRule(
        pattern=r"[!-~]{1,18}|[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        source="Kraken cl_ord_id: free text of at most 18 ASCII characters, or a UUID",
    ),
    "krakenfutures": ExchangeRule(
        pattern=r"[!-~]{1,100}", source="Kraken Futures cliOrdId: at most 100 characters"
    ),
    "coinbase": ExchangeRule(
        pattern=r"[A-Za-z0-9-]{1,41}",
        source="Coinbase client_order_id: no documented limit; ccxt sends 'ccxt-' + a UUID",
    ),
    "bitget": ExchangeRule(
        pattern=r"[A-Za-z0-9_]{1,32}",
        source="Bitget clientOid: letters, digits and '_', at most 32 characters (43011)",
    ),
    "kucoin": KUCOIN,
    "kucoinfutures": KUCOIN,
    "gate": GATE,
    "gateio": GATE,
    "htx": ExchangeRule(
        pattern=r"[1-9][0-9]{0,18}",
        source="HTX contract client_order_id: an integer in [1, 2^63-1] (ccxt drops other values)",
        integer=True,
    ),
    "deribit": ExchangeRule(pattern=r"[!-~]{1,64}", source="Deribit label: at most 64 characters"),
}
SAMPLE_INPUTS = (
    ("btc-momentum", "1700000060000"),
    ("b", "1"),
    ("Ünïcode bot with spaces and a very long name " * 4, "lzx7k2q9-123456789012345"),
)
# Client ids people and other software put on orders of the same account.
MANUAL_IDS = (
    "",
    "tf",
    "web_f3a9c1d2e4b5a6978",
    "and_0c1d2e3f4a5b6c7d8e9f",
    "x-xcKtGhcu0c1d2e3f4a5b6c7d8e9f0a",
    "e847386590ce4dBC0b9993fe642d8f62",
    "t-0123456789abcdef",
    "d15708c1-dbb6-465d-b77d-47258319cc90",
    "1513828877079584768",
    "tf-btcmomen-0123456789abcdef-entry",
)


def crd_exchanges() -> list[str]:
    crd: dict[str, Any] = yaml.safe_load(TRADING_BOT_CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    exchanges: list[str] = spec["properties"]["exchange"]["enum"]
    return exchanges


def crd_ccxt_ids() -> list[tuple[str, str, str]]:
    """(exchange, market, ccxt id) for every exchange of the CRD in both markets."""
    return [
        (exchange, market, ccxt_exchange_id(exchange=exchange, market=market))
        for exchange in crd_exchanges()
        for market in MARKETS
    ]


def test_the_crd_names_exchanges() -> None:
    assert len(crd_exchanges()) >= 11


def test_every_crd_exchange_resolves_to_a_ccxt_exchange() -> None:
    unknown = [f"{e}/{m} -> {i}" for e, m, i in crd_ccxt_ids() if i not in ccxt.exchanges]
    assert not unknown, f"ccxt {ccxt.__version__} has no exchange for: {unknown}"


def test_every_crd_exchange_in_both_markets_gets_ids_its_api_accepts() -> None:
    violations = []
    for exchange, market, ccxt_id in crd_ccxt_ids():
        rule = EXCHANGE_RULES.get(ccxt_id)
        if rule is None:
            violations.append(f"{exchange}/{market} -> {ccxt_id}: no rule written down here")
            continue
        for bot_name, decision_id in SAMPLE_INPUTS:
            for leg in LEGS:
                client_id = client_order_id(
                    exchange=ccxt_id, bot_name=bot_name, decision_id=decision_id, leg=leg
                )
                if rule.breaks(client_id):
                    violations.append(
                        f"{exchange}/{market} -> {ccxt_id}: {client_id!r} "
                        f"({len(client_id)} chars) breaks {rule.source}"
                    )
    assert not violations, "\n".join(violations)


@given(
    exchange=st.sampled_from(sorted(EXCHANGE_RULES)),
    bot_name=st.text(min_size=1, max_size=200),
    decision_id=st.text(min_size=1, max_size=200),
    leg=st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True),
)
def test_ids_always_fit_their_exchange(
    exchange: str, bot_name: str, decision_id: str, leg: str
) -> None:
    client_id = client_order_id(
        exchange=exchange, bot_name=bot_name, decision_id=decision_id, leg=leg
    )
    assert not EXCHANGE_RULES[exchange].breaks(client_id), client_id
    assert owns(exchange=exchange, bot_name=bot_name, client_order_id=client_id)


def test_every_exchange_rule_has_a_scheme() -> None:
    assert set(EXCHANGE_RULES) <= set(SCHEMES)


@pytest.mark.parametrize("exchange", sorted(EXCHANGE_RULES))
def test_the_same_decision_leg_always_gives_the_same_id(exchange: str) -> None:
    inputs = {"exchange": exchange, "bot_name": "btc-momentum", "decision_id": "1700000060000"}
    first = client_order_id(**inputs, leg="entry")
    assert client_order_id(**inputs, leg="entry") == first


@pytest.mark.parametrize("exchange", [*sorted(EXCHANGE_RULES), "someexchange"])
def test_every_input_changes_the_id(exchange: str) -> None:
    base = {
        "exchange": exchange,
        "bot_name": "btc-momentum",
        "decision_id": "1700000060000",
        "leg": "entry",
    }
    variants = [
        *({**base, "leg": leg} for leg in LEGS if leg != "entry"),
        {**base, "decision_id": "1700000120000"},
        # A bot whose name starts like another's: the digest covers the full name.
        {**base, "bot_name": "btc-momentum-eu"},
        {**base, "bot_name": "btc-momentum", "decision_id": "1700000060000\x1fentry"},
    ]
    ids = {client_order_id(**base), *(client_order_id(**v) for v in variants)}
    assert len(ids) == 1 + len(variants)


@pytest.mark.parametrize("exchange", [*sorted(EXCHANGE_RULES), "someexchange"])
def test_a_bot_owns_its_ids_and_nothing_else(exchange: str) -> None:
    mine = [
        client_order_id(exchange=exchange, bot_name="btc-momentum", decision_id=d, leg=leg)
        for d in ("1", "lzx7k2q9-42")
        for leg in LEGS
    ]
    theirs = [
        client_order_id(exchange=exchange, bot_name=name, decision_id="1", leg="entry")
        for name in ("btc-momentum-eu", "btc-momentu", "eth-momentum")
    ]
    assert all(owns(exchange=exchange, bot_name="btc-momentum", client_order_id=i) for i in mine)
    assert not any(
        owns(exchange=exchange, bot_name="btc-momentum", client_order_id=i)
        for i in [*theirs, *MANUAL_IDS]
    )


def test_unknown_exchanges_get_short_alphanumeric_ids_never_binance_shaped_ones() -> None:
    client_id = client_order_id(
        exchange="someexchange", bot_name="btc-momentum", decision_id="1", leg="entry"
    )
    assert re.fullmatch(r"[A-Za-z0-9]{1,20}", client_id), client_id
    assert CONSERVATIVE_SCHEME.max_length == 20


@pytest.mark.parametrize(
    ("bot_name", "decision_id", "leg"),
    [("", "1", "entry"), ("bot", "", "entry"), ("bot", "1", "Entry"), ("bot", "1", "toolong")],
)
def test_bad_inputs_raise_a_clear_error(bot_name: str, decision_id: str, leg: str) -> None:
    with pytest.raises(ClientOrderIdError):
        client_order_id(exchange="okx", bot_name=bot_name, decision_id=decision_id, leg=leg)
