"""The decision pipeline: a tick's order flow, fused and sized by the risk engine, into an order."""

from __future__ import annotations

import pytest
from tradefleet_api.models import SignalThresholds
from tradefleet_runtime.config import MarketKind
from tradefleet_runtime.execution.client_order_id import client_order_id
from tradefleet_runtime.execution.model import MarketInfo, OrderSide
from tradefleet_runtime.marketdata.ticks import BookTick
from tradefleet_runtime.persistence.records import PositionRecord, PositionSide
from tradefleet_runtime.risk import MarketRisk, PortfolioState, RiskEngine, RiskLimits, SymbolRisk
from tradefleet_runtime.service.pipeline import Decision, DecisionPipeline, TradeAction, round_down
from tradefleet_runtime.signals.fusion import AlphaFusion, FusionConfig
from tradefleet_runtime.signals.regime_config import RegimeTradingParams
from tradefleet_runtime.strategies.parameters import StrategyParameters

pytestmark = pytest.mark.unit

SYMBOL = "BTC/USDT:USDT"
T0 = 1_700_000_000_000
UNKNOWN_REGIME = RegimeTradingParams(
    position_size_multiplier=0.5, stop_loss_pct=2.0, take_profit_pct=3.0
)


def pipeline(*, kind: MarketKind = MarketKind.FUTURES) -> DecisionPipeline:
    weights = {"regime": 0.0, "ofi": 1.0, "whale": 0.0, "sentiment": 0.0, "macro": 0.0}
    return DecisionPipeline(
        bot_name="unitbot",
        exchange_id="binanceusdm",
        symbol=SYMBOL,
        market_kind=kind,
        market_info=MarketInfo(
            symbol=SYMBOL, amount_step=0.001, price_tick=0.1, min_amount=0.001, min_notional=5.0
        ),
        fusion=AlphaFusion(
            config=FusionConfig(weights=weights, buy_threshold=0.01, strong_threshold=0.5)
        ),
        thresholds=SignalThresholds(buy=0.01, strong_buy=0.5, sell=-0.01, strong_sell=-0.5),
        risk=RiskEngine(limits=RiskLimits()),
    )


def market() -> MarketRisk:
    returns = [0.001 if i % 2 else -0.001 for i in range(48)]
    risk = SymbolRisk(symbol=SYMBOL, atr=1.0, log_returns=returns, recent_bars=12)
    return MarketRisk(regime_label="unknown", momentum=0.0, bar_seconds=60, symbols={SYMBOL: risk})


def book(*, bid: float, bid_size: float, ask: float, ask_size: float, at: int) -> BookTick:
    return BookTick(
        symbol=SYMBOL,
        bid_price=bid,
        bid_size=bid_size,
        ask_price=ask,
        ask_size=ask_size,
        timestamp_ms=at,
    )


def decide(
    p: DecisionPipeline,
    tick: BookTick,
    *,
    position: PositionRecord | None = None,
    paused: bool = False,
) -> Decision:
    return p.decide(
        tick=tick,
        decision_id="e1-1",
        readings=[],
        regime_params=UNKNOWN_REGIME,
        position=position or PositionRecord(),
        portfolio=PortfolioState.opening(equity=10_000.0, now_ms=tick.timestamp_ms),
        market=market(),
        paused=paused,
    )


def test_buy_pressure_opens_a_long_sized_by_kelly() -> None:
    p = pipeline()
    p.observe(book(bid=100.0, bid_size=1.0, ask=101.0, ask_size=1.0, at=T0))
    up = book(bid=101.0, bid_size=2.0, ask=102.0, ask_size=1.0, at=T0 + 100)
    p.observe(up)
    decision = decide(p, up)
    # e = 2 (bid up, new size) + 1 (ask up, old size) = 3 of 3 gross: imbalance 1, coverage 1/60.
    assert decision.fused.score == pytest.approx(1 / 60)
    assert decision.action is TradeAction.OPEN_LONG
    request = decision.request
    assert request is not None
    # Kelly 0.5 - 0.5/1.5 = 1/6; × kellyFraction 0.25 × (regime 0.5 × weak signal 0.5) × 10 000
    # = 104.17 quote at the ask 102 → 1.02124 BTC, floored to the 0.001 lot.
    assert request.amount == pytest.approx(1.021)
    assert request.side is OrderSide.BUY
    assert request.client_order_id == client_order_id(
        exchange="binanceusdm", bot_name="unitbot", decision_id=decision.decision_id, leg="entry"
    )
    assert decision.risk is not None and decision.risk.stop_price == pytest.approx(102 - 2.04)


def test_reasons_and_the_order_flow_signal_are_built_when_read() -> None:
    p = pipeline()
    assert p.last_ofi is None
    p.observe(book(bid=100.0, bid_size=1.0, ask=101.0, ask_size=1.0, at=T0))
    up = book(bid=101.0, bid_size=2.0, ask=102.0, ask_size=1.0, at=T0 + 100)
    p.observe(up)
    signal = p.last_ofi
    assert signal is not None and signal == p.ofi.signal()
    assert (signal.imbalance, signal.snapshot_count, signal.as_of_ms) == (1.0, 2, T0 + 100)
    entry = decide(p, up)
    assert entry.risk is not None
    assert entry.reason == entry.risk.reason
    assert entry.reason.startswith("buy 1.02124 BTC/USDT:USDT (104.17 notional, sized by kelly")
    assert entry.to_dict()["reason"] == entry.reason
    assert [reading.name for reading in entry.fused.used] == ["ofi"]
    held = decide(p, up, paused=True)
    assert held.reason == "paused: not opening (buy signal +0.017)"


def test_sell_pressure_closes_a_long_and_pause_blocks_only_new_positions() -> None:
    p = pipeline()
    p.observe(book(bid=101.0, bid_size=1.0, ask=102.0, ask_size=1.0, at=T0))
    down = book(bid=100.0, bid_size=1.0, ask=101.0, ask_size=2.0, at=T0 + 100)
    p.observe(down)
    long = PositionRecord(side=PositionSide.LONG, size=0.5, entry_price=101.0)
    closing = decide(p, down, position=long, paused=True)
    assert closing.action is TradeAction.CLOSE
    assert closing.request is not None and closing.request.reduce_only
    assert (closing.request.side, closing.request.amount) == (OrderSide.SELL, 0.5)
    assert decide(p, down, paused=True).action is TradeAction.HOLD
    assert decide(p, down).action is TradeAction.OPEN_SHORT


def test_a_spot_bot_never_opens_a_short() -> None:
    p = pipeline(kind=MarketKind.SPOT)
    p.observe(book(bid=101.0, bid_size=1.0, ask=102.0, ask_size=1.0, at=T0))
    down = book(bid=100.0, bid_size=1.0, ask=101.0, ask_size=2.0, at=T0 + 100)
    p.observe(down)
    decision = decide(p, down)
    assert decision.action is TradeAction.HOLD
    assert "does not short" in decision.reason


def test_round_down_floors_to_the_lot() -> None:
    assert round_down(1.0219, 0.001) == 1.021
    assert round_down(0.3, 0.1) == 0.3
    assert round_down(5.5, None) == 5.5


def test_a_plugin_bots_entry_takes_the_plugins_stop_target_and_risk_per_trade() -> None:
    p = pipeline()
    p.observe(book(bid=100.0, bid_size=1.0, ask=101.0, ask_size=1.0, at=T0))
    up = book(bid=101.0, bid_size=2.0, ask=102.0, ask_size=1.0, at=T0 + 100)
    p.observe(up)
    fusion_only = decide(p, up)
    plugin = StrategyParameters(stop_loss_pct=4.0, take_profit_pct=7.0, risk_per_trade_pct=0.1)
    entry = p.decide(
        tick=up,
        decision_id="e1-2",
        readings=[],
        regime_params=UNKNOWN_REGIME,
        position=PositionRecord(),
        portfolio=PortfolioState.opening(equity=10_000.0, now_ms=up.timestamp_ms),
        market=market(),
        paused=False,
        plugin=plugin,
    )
    assert entry.action is TradeAction.OPEN_LONG and entry.risk is not None
    # The plugin's 4 % stop and 7 % target, not the regime's 2 % and 3 %.
    assert entry.risk.stop_price == pytest.approx(102 * 0.96)
    assert entry.risk.target_price == pytest.approx(102 * 1.07)
    # 0.1 % of equity at risk (× the regime's 0.5 and the weak signal's 0.5) is 2.5 quote lost
    # at the 4.08 stop distance: 62.5 notional, 0.6127 BTC at 102, below Kelly's 1.021.
    assert "sized by risk_per_trade" in entry.reason
    assert entry.request is not None and entry.request.amount == pytest.approx(0.612)
    assert fusion_only.request is not None and fusion_only.request.amount == pytest.approx(1.021)
