"""Issue 15, item 2: every exchange the CRD accepts is one ccxt knows, for every market it offers.

``exchange: gateio`` was accepted by the CRD while ccxt 4 calls the exchange ``gate``: the bot
crash-looped. The API's table of ccxt ids (:data:`CCXT_EXCHANGE_IDS`, used by validation) is
checked here against ccxt's own list and capabilities, and against the id the runtime connects
with, so the operator (which does not ship ccxt) never accepts a bot its runtime cannot run.
"""

from __future__ import annotations

import ccxt
import pytest
from tradefleet_operator.spec import Exchange, Market, parse_trading_bot_spec
from tradefleet_operator.spec.exchanges import CCXT_EXCHANGE_IDS, EXCHANGE_MARKETS
from tradefleet_operator.spec.validation import validate_trading_bot_spec
from tradefleet_runtime.execution.venue import ccxt_exchange_id

pytestmark = pytest.mark.unit

PAIRS = [(e, m) for e in Exchange for m in sorted(EXCHANGE_MARKETS[e])]


@pytest.mark.parametrize(("exchange", "market"), PAIRS, ids=[f"{e}-{m}" for e, m in PAIRS])
def test_each_exchange_and_market_has_a_ccxt_client_that_trades_it(
    exchange: Exchange, market: Market
) -> None:
    ccxt_id = CCXT_EXCHANGE_IDS[(exchange, market)]
    assert ccxt_id in ccxt.exchanges, f"ccxt {ccxt.__version__} has no exchange {ccxt_id!r}"
    assert ccxt_id == ccxt_exchange_id(exchange=str(exchange), market=str(market))
    has = getattr(ccxt, ccxt_id)().has
    assert has["swap" if market is Market.FUTURES else "spot"], f"{ccxt_id} has no {market}"


def test_gateio_is_ccxts_gate_and_validates() -> None:
    spec = parse_trading_bot_spec({"exchange": "gateio", "market": "spot", "symbol": "BTC/USDT"})
    assert CCXT_EXCHANGE_IDS[(Exchange.GATEIO, Market.SPOT)] == "gate"
    assert validate_trading_bot_spec(spec) == []
