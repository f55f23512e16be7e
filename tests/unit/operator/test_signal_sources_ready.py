"""SignalSourcesReady means "publishing, for this bot's symbol, with confidence above 0" (issue 18, item 1).

From a SignalSource object as the operator's index sees it (its Ready condition and the
``lastValues`` the runtime reported) to the bot's condition and ``status.signalSources`` rows.
A futures bot (``BTC/USDT:USDT``) is covered by a value published for its spot pair (``BTC/USDT``),
as the runtime's reader reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from tradefleet_operator import bot_status as bs
from tradefleet_operator.handlers import sources_index
from tradefleet_operator.spec import parse_trading_bot_spec

pytestmark = pytest.mark.unit


def _source(*, ready: bool, values: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "news", "namespace": "ns"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "lastPublished": "2026-12-05T01:00:00Z",
            "lastValues": list(values),
        },
    }


async def _condition(*, symbol: str, source: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    market = "futures" if ":" in symbol else "spot"
    spec = parse_trading_bot_spec(
        {
            "exchange": "binance",
            "market": market,
            "symbol": symbol,
            "strategy": {"signalSources": [{"name": "news", "weight": 0.5}]},
        }
    )
    index = await sources_index(body=source, namespace="ns", name="news")
    sources = {name: state for (_, name), state in index.items()}
    rows, condition = bs.signal_sources(spec=spec, sources=sources)
    assert condition is not None
    return condition, rows


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
async def test_a_confident_value_for_the_pair_makes_the_sources_ready(symbol: str) -> None:
    source = _source(ready=True, values=[{"symbol": "BTC/USDT", "value": 0.3, "confidence": 0.6}])
    condition, rows = await _condition(symbol=symbol, source=source)
    assert (condition.status, condition.reason) == (True, "AllSourcesReady")
    assert rows == [{"name": "news", "found": True, "ready": True, "weightApplied": 0.5}]


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ([{"symbol": "BTC/USDT", "value": 0.0, "confidence": 0.0}], "confidence"),
        ([{"symbol": "BTC/USDT", "value": 0.2}], "confidence"),
        ([{"symbol": "ETH/USDT", "value": 0.4, "confidence": 0.9}], "BTC/USDT:USDT"),
        ([], "BTC/USDT:USDT"),
    ],
)
async def test_publishing_nothing_confident_for_the_symbol_is_not_ready(
    values: list[dict[str, Any]], why: str
) -> None:
    condition, rows = await _condition(
        symbol="BTC/USDT:USDT", source=_source(ready=True, values=values)
    )
    assert (condition.status, condition.reason) == (False, "SignalSourceNotReady")
    assert "news" in condition.message and why in condition.message
    assert rows == [{"name": "news", "found": True, "ready": False, "weightApplied": 0.0}]


async def test_a_source_that_does_not_publish_is_not_ready_whatever_it_last_said() -> None:
    source = _source(ready=False, values=[{"symbol": "BTC/USDT", "value": 0.3, "confidence": 0.6}])
    condition, _ = await _condition(symbol="BTC/USDT", source=source)
    assert (condition.status, condition.reason) == (False, "SignalSourceNotReady")
