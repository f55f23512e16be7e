"""The rules between fields are written once (tradefleet_api.rules): a TradingBot the operator
accepts is one its runtime runs, and one the operator refuses is refused by the runtime with
the same words.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runtime_document import RENDERED
from tradefleet_operator.spec import (
    ProblemReason,
    parse_trading_bot_spec,
    validate_trading_bot_spec,
)
from tradefleet_runtime.config import parse_runtime_config
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.risk import RiskConfigError, RiskLimits

pytestmark = pytest.mark.unit

BOT: dict[str, Any] = {"exchange": "binance", "symbol": "BTC/USDT"}
# The rules a running configuration must keep; a stop beyond its take profit is the operator's
# alone (the optimizer may choose one).
SHARED = {
    ProblemReason.FUSION_WEIGHTS_INVALID,
    ProblemReason.THRESHOLDS_INVALID,
    ProblemReason.EMA_PERIODS_INVALID,
    ProblemReason.RSI_LEVELS_INVALID,
    ProblemReason.EXPOSURE_LIMITS_INVALID,
}


def _runtime_refusal(*, strategy: dict[str, Any], risk: dict[str, Any]) -> str | None:
    document = copy.deepcopy(RENDERED)
    document["strategy"], document["risk"] = strategy, risk
    try:
        parse_runtime_config(document)
    except ConfigError as error:
        return str(error)
    return None


def test_exposure_beyond_the_leverage_is_refused_by_the_operator_not_only_by_the_runtime() -> None:
    # Before, the operator reported this bot valid and its runtime exited at start, in a loop:
    # "spec.risk.maxTotalExposurePct must be ≤ 100 × maxLeverage = 100, got 200".
    spec = {**BOT, "risk": {"maxTotalExposurePct": 200}}
    problems = validate_trading_bot_spec(parse_trading_bot_spec(spec))
    assert [(p.field, p.reason) for p in problems] == [
        ("spec.risk.maxTotalExposurePct", ProblemReason.EXPOSURE_LIMITS_INVALID)
    ]
    with pytest.raises(RiskConfigError) as refused:
        RiskLimits.from_spec(spec["risk"])
    assert str(refused.value) == f"{problems[0].field}: {problems[0].message}"


@settings(max_examples=300, deadline=None)
@given(
    weights=st.lists(st.sampled_from([0.0, 0.1, 0.15, 0.2, 0.25, 0.3]), min_size=6, max_size=6),
    buy=st.sampled_from([0.0, 0.2, 0.5]),
    strong_buy=st.sampled_from([0.2, 0.5, 0.9]),
    ema=st.tuples(st.integers(2, 40), st.integers(3, 60)),
    rsi=st.tuples(st.sampled_from([50.0, 70.0]), st.sampled_from([30.0, 50.0])),
    exposure=st.tuples(
        st.sampled_from([5.0, 10.0, 60.0]),
        st.sampled_from([20.0, 50.0, 150.0]),
        st.sampled_from([40.0, 100.0, 300.0]),
        st.sampled_from([1.0, 2.0]),
    ),
)
def test_the_operator_accepts_exactly_what_the_runtime_runs(
    weights: list[float],
    buy: float,
    strong_buy: float,
    ema: tuple[int, int],
    rsi: tuple[float, float],
    exposure: tuple[float, float, float, float],
) -> None:
    names = ("regime", "ofi", "whale", "sentiment", "macro", "ml")
    strategy = {
        "fusionWeights": dict(zip(names, weights, strict=True)),
        "thresholds": {"buy": buy, "strongBuy": strong_buy},
        "parameters": {
            "emaFast": ema[0],
            "emaSlow": ema[1],
            "rsiOverbought": rsi[0],
            "rsiOversold": rsi[1],
        },
    }
    position, single, total, leverage = exposure
    risk = {
        "maxPositionPct": position,
        "maxSingleAssetExposurePct": single,
        "maxTotalExposurePct": total,
        "maxLeverage": leverage,
    }
    spec = {
        **BOT,
        "market": "futures",
        "symbol": "BTC/USDT:USDT",
        "strategy": strategy,
        "risk": risk,
    }
    problems = [
        p for p in validate_trading_bot_spec(parse_trading_bot_spec(spec)) if p.reason in SHARED
    ]
    refusal = _runtime_refusal(strategy=strategy, risk=risk)
    if problems:
        # The runtime stops at the first rule it checks, in its own order, with its words.
        assert refusal is not None
        assert any(refusal.endswith(f"{p.field.split('.')[-1]}: {p.message}") for p in problems)
    else:
        assert refusal is None
