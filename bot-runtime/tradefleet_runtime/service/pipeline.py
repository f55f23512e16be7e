"""The decision pipeline: a validated tick → signals → fusion → risk → an order request.

Pure and synchronous (no I/O), so the benchmark times exactly what the live loop runs. The bot
service calls :meth:`DecisionPipeline.observe` with every validated tick (order-flow imbalance
from the book) and :meth:`DecisionPipeline.decide` once per decision with the other readings
(regime, SignalSources, strategy plugin), the position, the risk engine's portfolio and the
market statistics of the last closed bar.

Rules, with the TradingBot's thresholds ``strongSell < sell <= 0 <= buy < strongBuy``:

* flat, score >= buy → open long; score <= sell → open short (futures only); a score beyond
  the strong threshold trades the full risk size, otherwise half of it;
* long and score <= sell (short and score >= buy) → close; long at or above its target
  (short at or below) → close; stops rest on the exchange;
* paused → no new positions (closing still works); no market statistics yet → hold.

Sizes come from ``RiskEngine.evaluate`` (Kelly, ATR stop, the seven layers) and are rounded
down to the market's lot size; a size under the exchange minimum is not sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import NamedTuple

from tradefleet_api.models import SignalThresholds

from tradefleet_runtime.config import MarketKind
from tradefleet_runtime.execution.client_order_id import client_order_id
from tradefleet_runtime.execution.model import MarketInfo, OrderRequest, OrderSide, OrderType
from tradefleet_runtime.marketdata.ticks import BookTick
from tradefleet_runtime.persistence.records import PositionRecord, PositionSide
from tradefleet_runtime.risk import (
    MarketRisk,
    PortfolioState,
    RiskDecision,
    RiskEngine,
    Side,
    TradeIntent,
)
from tradefleet_runtime.signals.fusion import AlphaFusion, FusedSignal
from tradefleet_runtime.signals.ofi import OfiConfig, OfiSignal, StreamingOfi
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime_config import RegimeTradingParams
from tradefleet_runtime.strategies.parameters import StrategyParameters

WEAK_SIGNAL_SIZE = 0.5


class TradeAction(StrEnum):
    OPEN_LONG = "open_long"
    OPEN_SHORT = "open_short"
    CLOSE = "close"
    HOLD = "hold"


_ENTRIES = frozenset((TradeAction.OPEN_LONG, TradeAction.OPEN_SHORT))


class Decision(NamedTuple):
    """One pass of the pipeline; ``request`` is set when an order should go out.

    ``note`` says why for holds and closes. An entry's reason is its risk decision's, which
    is formatted only when read (API, events), after the order has gone out. A named
    tuple, not a frozen dataclass: one is built per tick, and a tuple is as immutable and
    about three times cheaper to build.
    """

    decision_id: str
    at_ms: int
    action: TradeAction
    fused: FusedSignal
    risk: RiskDecision | None
    request: OrderRequest | None
    leg: str
    note: str = ""

    @property
    def reason(self) -> str:
        """Why the pipeline chose this action, for people."""
        if self.action in _ENTRIES and self.risk is not None:
            return self.risk.reason
        return self.note

    @property
    def side_word(self) -> str:
        """The action as the operator's status shows it: buy, sell, close or hold."""
        if self.action is TradeAction.OPEN_LONG:
            return "buy"
        if self.action is TradeAction.OPEN_SHORT:
            return "sell"
        return self.action.value

    def to_dict(self) -> dict[str, object]:
        return {
            "decisionId": self.decision_id,
            "at_ms": self.at_ms,
            "action": self.action.value,
            "score": self.fused.score,
            "signal": self.fused.signal.value,
            "reason": self.reason,
            "risk": None
            if self.risk is None
            else {
                "approved": self.risk.approved,
                "quantity": self.risk.quantity,
                "stopPrice": self.risk.stop_price,
                "targetPrice": self.risk.target_price,
                "regime": self.risk.regime.value,
                "rejectedBy": self.risk.rejected_by.value if self.risk.rejected_by else None,
                "reason": self.risk.reason,
            },
            "clientOrderId": self.request.client_order_id if self.request else None,
            "componentScores": dict(self.fused.component_scores),
        }


def round_down(amount: float, step: float | None) -> float:
    """``amount`` floored to a multiple of ``step`` (tolerant of binary rounding)."""
    if step is None or step <= 0:
        return amount
    return round(math.floor(amount / step + 1e-9) * step, 12)


class DecisionPipeline:
    """Order-flow state plus the per-decision arithmetic of one bot and symbol."""

    def __init__(
        self,
        *,
        bot_name: str,
        exchange_id: str,
        symbol: str,
        market_kind: MarketKind,
        market_info: MarketInfo,
        fusion: AlphaFusion,
        thresholds: SignalThresholds,
        risk: RiskEngine,
        ofi_config: OfiConfig | None = None,
    ) -> None:
        self.bot_name = bot_name
        # The ccxt exchange id (``ccxt_exchange_id``): client order ids take its shape.
        self.exchange_id = exchange_id
        self.symbol = symbol
        self.market_kind = market_kind
        self.market_info = market_info
        self.fusion = fusion
        self.thresholds = thresholds
        self.risk = risk
        self.ofi_config = ofi_config or OfiConfig()
        self.ofi = StreamingOfi(symbol=symbol, config=self.ofi_config)

    @property
    def last_ofi(self) -> OfiSignal | None:
        """The order-flow signal as of the latest observed tick (built when read, e.g. by the API)."""
        return self.ofi.signal()

    def reconfigure(
        self, *, fusion: AlphaFusion, thresholds: SignalThresholds, risk: RiskEngine
    ) -> None:
        """A hot-reloaded strategy/risk config; order-flow state carries over."""
        self.fusion = fusion
        self.thresholds = thresholds
        self.risk = risk

    def _order_id(self, *, decision_id: str, leg: str) -> str:
        return client_order_id(
            exchange=self.exchange_id, bot_name=self.bot_name, decision_id=decision_id, leg=leg
        )

    def observe(self, tick: BookTick) -> None:
        self.ofi.update(
            bid_price=tick.bid_price,
            bid_size=tick.bid_size,
            ask_price=tick.ask_price,
            ask_size=tick.ask_size,
            timestamp_ms=tick.timestamp_ms,
        )

    def decide(
        self,
        *,
        tick: BookTick,
        decision_id: str,
        readings: Sequence[SignalReading],
        regime_params: RegimeTradingParams,
        position: PositionRecord,
        portfolio: PortfolioState,
        market: MarketRisk | None,
        paused: bool,
        plugin: StrategyParameters | None = None,
    ) -> Decision:
        """Fuse, then close or hold an open position, or size and vet an entry.

        ``plugin``: the parameters of the strategy plugin the bot runs (None for a fusion bot).
        Its entries take the plugin's stop, target and risk per trade (the risk engine still
        widens a stop narrower than its ATR stop); a fusion bot's take the regime's.
        """
        draft = _Draft(
            decision_id=decision_id,
            at_ms=tick.timestamp_ms,
            fused=self._fuse(tick=tick, readings=readings, regime_params=regime_params),
        )
        if not position.is_flat:
            return self._exit(draft=draft, tick=tick, position=position)
        score = draft.fused.score
        entry = self._entry_side(score=score)
        if isinstance(entry, str):
            return draft.hold(entry)
        side, strong = entry
        if paused:
            return draft.hold(f"paused: not opening ({side.value} signal {score:+.3f})")
        if market is None:
            return draft.hold("waiting for enough closed bars for ATR and volatility")
        price = tick.ask_price if side is Side.BUY else tick.bid_price
        risk = self.risk.evaluate(
            intent=TradeIntent(
                symbol=self.symbol,
                side=side,
                price=price,
                size_multiplier=draft.fused.position_size_multiplier
                * (1.0 if strong else WEAK_SIGNAL_SIZE),
                stop_pct=draft.fused.stop_loss_pct if plugin is None else plugin.stop_loss_pct,
                target_pct=draft.fused.take_profit_pct
                if plugin is None
                else plugin.take_profit_pct,
                risk_per_trade_pct=None if plugin is None else plugin.risk_per_trade_pct,
            ),
            portfolio=portfolio,
            market=market,
            now_ms=draft.at_ms,
        )
        if not risk.approved:
            return draft.hold(f"risk refused: {risk.reason}", risk)
        return self._entry(draft=draft, side=side, price=price, risk=risk)

    def _fuse(
        self,
        *,
        tick: BookTick,
        readings: Sequence[SignalReading],
        regime_params: RegimeTradingParams,
    ) -> FusedSignal:
        """The fused signal of the given readings and the order flow up to ``tick``."""
        ofi = self.ofi.reading()
        all_readings = [*readings, ofi] if ofi is not None else list(readings)
        return self.fusion.fuse(
            symbol=self.symbol,
            readings=all_readings,
            regime_params=regime_params,
            now_ms=tick.timestamp_ms,
        )

    def _exit(self, *, draft: _Draft, tick: BookTick, position: PositionRecord) -> Decision:
        """Close a position the score turned against or whose target was reached; else hold."""
        score, t = draft.fused.score, self.thresholds
        long = position.side is PositionSide.LONG
        exit_reason = ""
        if (long and score <= t.sell) or (not long and score >= t.buy):
            exit_reason = f"score {score:+.3f} turned against the {position.side.value}"
        elif position.target_price is not None and (
            tick.bid_price >= position.target_price
            if long
            else tick.ask_price <= position.target_price
        ):
            exit_reason = f"target {position.target_price:g} reached"
        if not exit_reason:
            return draft.hold(f"holding {position.side.value}: score {score:+.3f}")
        request = OrderRequest(
            symbol=self.symbol,
            side=OrderSide.SELL if long else OrderSide.BUY,
            order_type=OrderType.MARKET,
            client_order_id=self._order_id(decision_id=draft.decision_id, leg="exit"),
            amount=position.size,
            reduce_only=self.market_kind is MarketKind.FUTURES,
        )
        return draft.order(
            action=TradeAction.CLOSE,
            risk=None,
            request=request,
            leg="exit",
            note=f"close {position.side.value}: {exit_reason}",
        )

    def _entry_side(self, *, score: float) -> tuple[Side, bool] | str:
        """The side a flat bot would open and whether the signal is strong; or why it holds."""
        t = self.thresholds
        if score >= t.buy and score > 0.0:
            return Side.BUY, score >= t.strong_buy
        if score <= t.sell and score < 0.0:
            if self.market_kind is MarketKind.SPOT:
                return f"score {score:+.3f} says sell, but a spot bot does not short"
            return Side.SELL, score <= t.strong_sell
        return f"score {score:+.3f} is between the thresholds"

    def _entry(self, *, draft: _Draft, side: Side, price: float, risk: RiskDecision) -> Decision:
        """The approved size rounded to the market's lot; held when under its minimums."""
        info = self.market_info
        amount = round_down(risk.quantity, info.amount_step)
        if amount <= 0 or (info.min_amount is not None and amount < info.min_amount):
            return draft.hold(
                f"size {risk.quantity:g} is below the exchange minimum "
                f"{info.min_amount or info.amount_step}",
                risk,
            )
        if info.min_notional is not None and amount * price < info.min_notional:
            return draft.hold(
                f"notional {amount * price:.2f} is below the exchange minimum {info.min_notional}",
                risk,
            )
        request = OrderRequest(
            symbol=self.symbol,
            side=OrderSide.BUY if side is Side.BUY else OrderSide.SELL,
            order_type=OrderType.MARKET,
            client_order_id=self._order_id(decision_id=draft.decision_id, leg="entry"),
            amount=amount,
        )
        return draft.order(
            action=TradeAction.OPEN_LONG if side is Side.BUY else TradeAction.OPEN_SHORT,
            risk=risk,
            request=request,
            leg="entry",
        )


class _Draft(NamedTuple):
    """What every outcome of one decision carries: its id, its time and the fused signal."""

    decision_id: str
    at_ms: int
    fused: FusedSignal

    def hold(self, note: str, risk: RiskDecision | None = None) -> Decision:
        return self.order(action=TradeAction.HOLD, risk=risk, request=None, leg="", note=note)

    def order(
        self,
        *,
        action: TradeAction,
        risk: RiskDecision | None,
        request: OrderRequest | None,
        leg: str,
        note: str = "",
    ) -> Decision:
        return Decision(
            decision_id=self.decision_id,
            at_ms=self.at_ms,
            action=action,
            fused=self.fused,
            risk=risk,
            request=request,
            leg=leg,
            note=note,
        )
