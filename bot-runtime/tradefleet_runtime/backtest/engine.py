"""The event-driven backtester: bars (and L1 books) replayed through the live decision code.

The CLI, the reports and the tests call :func:`run_backtest`. Every bar goes, in time
order, through the same objects the bot runtime uses: the strategy plugin chosen by
name (:mod:`tradefleet_runtime.strategies`), optionally the regime detector, the
order-flow engine fed with the book snapshots up to the bar's close, the alpha fusion
and the risk engine. Nothing looks ahead: a decision on bar t's close uses bars 0..t only.

Per bar t (from ``start_index`` on; earlier bars only warm the indicators up):

1. a pending entry fills at bar t's open (slippage, fee, stop and target from the
   fill, see :mod:`tradefleet_runtime.backtest.fills`); otherwise an open position is
   checked against bar t (gap through stop/target at the open, then stop before target
   within the bar) or, after a circuit-breaker trip with ``flattenOnTrip``, closed at
   the open; the last bar closes whatever is still open at its close;
2. equity is marked at the close;
3. the signal engines see bar t; when flat (and not on the last bar) a BUY/SELL signal
   — the strategy's own, or fusion's decision when fusion is configured — becomes an
   entry for bar t+1, sized by risk per trade (notional = equity · risk / stop
   distance, capped at ``max_leverage`` × equity) or by the risk engine when one is given.

With ``FusionSetup.learning`` each bar's fused readings and close go through the live bot's
learner (:func:`tradefleet_runtime.signals.learning.step`); decisions use the learned weights.

One position at a time; signals while a position is open are ignored. On futures
(``BacktestConfig.market``) a position open when a bar opens pays funding for each funding
time inside that bar, before step 1 (:mod:`tradefleet_runtime.backtest.funding`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm import tqdm

from tradefleet_runtime.backtest.data import BarSeries, BookSeries
from tradefleet_runtime.backtest.errors import BacktestConfigError
from tradefleet_runtime.backtest.fills import (
    EXIT_CIRCUIT_BREAKER,
    EXIT_END_OF_DATA,
    EXIT_NONE,
    entry_fill_price,
    exit_trigger,
    fee,
    mark_to_market,
    risk_sized_quantity,
    settle_exit,
    stop_price,
    target_price,
)
from tradefleet_runtime.backtest.funding import funding_times_per_bar
from tradefleet_runtime.backtest.metrics import BacktestMetrics, curve_summary
from tradefleet_runtime.backtest.model import (
    DEFAULT_CONFIG,
    EXIT_REASON_BY_CODE,
    BacktestConfig,
    BacktestResult,
    Trade,
)
from tradefleet_runtime.backtest.risk_feed import EntryOrder, RiskFeed, RiskSetup
from tradefleet_runtime.risk.portfolio import RiskPosition
from tradefleet_runtime.signals.fusion import AlphaFusion, FusedAction
from tradefleet_runtime.signals.learning import LearnerState, LearningConfig, step
from tradefleet_runtime.signals.ofi import OfiConfig, StreamingOfi
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime import RegimeDetector, RegimeState
from tradefleet_runtime.signals.regime_config import RegimeConfig, RegimeTradingParams
from tradefleet_runtime.sources.recording import SignalRecording
from tradefleet_runtime.strategies.base import STRATEGY_COMPONENT, Bar, StrategySignal
from tradefleet_runtime.strategies.parameters import StrategyParameters
from tradefleet_runtime.strategies.registry import create_strategy

_FUSED_DIRECTION = {
    FusedAction.STRONG_BUY: 1,
    FusedAction.BUY: 1,
    FusedAction.NEUTRAL: 0,
    FusedAction.SELL: -1,
    FusedAction.STRONG_SELL: -1,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class FusionSetup:
    """Fusion in the loop: the strategy's reading joins as ``component``.

    With books, the order-flow engine (``ofi``) adds the ``ofi`` reading; with a regime
    detector, the ``regime`` reading and the regime's size multiplier. With ``signals`` (a
    recording of the bot's SignalSources), the ``whale``, ``sentiment`` and ``macro`` readings the
    bot would have read at each bar's close.
    """

    fusion: AlphaFusion
    component: str = STRATEGY_COMPONENT
    ofi: OfiConfig = field(default_factory=OfiConfig)
    learning: LearningConfig | None = None
    signals: SignalRecording | None = None

    def __post_init__(self) -> None:
        if self.learning is not None and dict(self.learning.base_weights) != dict(
            self.fusion.config.weights
        ):
            raise BacktestConfigError("fusion learning must start from the fusion's weights")
        if self.component not in self.fusion.config.weights:
            raise BacktestConfigError(
                f"fusion weights have no entry for the strategy component {self.component!r}; "
                f"weighted components: {', '.join(self.fusion.config.weights)}"
            )


@dataclass(slots=True)
class _Position:
    direction: int
    quantity: float
    entry_price: float
    entry_fee: float
    stop: float
    target: float
    entry_index: int
    reason: str
    funding: float = 0.0


class _Replay:
    """State of one run; ``run`` walks the bars once."""

    def __init__(
        self,
        *,
        bars: BarSeries,
        strategy_name: str,
        parameters: StrategyParameters,
        config: BacktestConfig,
        start_index: int,
        regime: RegimeConfig | None,
        fusion: FusionSetup | None,
        risk: RiskSetup | None,
        books: BookSeries | None,
    ) -> None:
        self.bars = bars
        self.parameters = parameters
        self.config = config
        self.start = start_index
        self.strategy = create_strategy(name=strategy_name, parameters=parameters)
        self.detector = (
            RegimeDetector(symbol=config.symbol, config=regime) if regime is not None else None
        )
        self.fusion = fusion
        # The fusion deciding now: the setup's, or with the weights learned so far.
        self.current_fusion = fusion.fusion if fusion is not None else None
        learning = fusion.learning if fusion is not None else None
        self.learner = LearnerState.initial(learning) if learning is not None else None
        self.books = books
        self.ofi = (
            StreamingOfi(symbol=config.symbol, config=fusion.ofi)
            if fusion is not None and books is not None
            else None
        )
        self.next_snapshot = 0
        self.risk = (
            RiskFeed(
                setup=risk,
                initial_equity=config.initial_equity,
                first_ms=int(bars.timestamp_ms[0]),
            )
            if risk is not None
            else None
        )
        self.cash = config.initial_equity
        self.funding_times = (
            funding_times_per_bar(timestamp_ms=bars.timestamp_ms, bar_seconds=bars.bar_seconds)
            if config.funding_rate
            else None
        )
        self.funding_paid = 0.0
        self.position: _Position | None = None
        self.pending: EntryOrder | None = None
        self.flatten_requested = False
        self.trades: list[Trade] = []
        self.equity = np.empty(len(bars) - start_index)
        self.rejected: Counter[str] = Counter()
        self.wins = self.losses = self.exposure_bars = 0
        self.gross_profit = self.gross_loss = 0.0

    def run(self, *, progress: bool) -> BacktestResult:
        bars = self.bars
        last = len(bars) - 1
        for index in tqdm(range(len(bars)), disable=not progress, desc="backtest", unit="bar"):
            bar = bars.bar(index)
            if index >= self.start:
                self._fill_and_exit(index=index, bar=bar, last=last)
                self.equity[index - self.start] = self._marked_equity(bar.close)
            regime = self._update_regime(bar)
            if regime is not None:
                bar = replace(bar, regime=regime.regime.value)
            signal = self.strategy.on_bar(bar)
            self._learn(bar=bar, signal=signal, regime=regime)
            self._after_signal(index=index, bar=bar, signal=signal, regime=regime, last=last)
        return self._result()

    def _after_signal(
        self,
        *,
        index: int,
        bar: Bar,
        signal: StrategySignal,
        regime: RegimeState | None,
        last: int,
    ) -> None:
        risk = self.risk
        now_ms = bar.timestamp_ms
        if risk is not None:
            risk.see_bar(bar)
            if index >= self.start and risk.mark(
                equity=float(self.equity[index - self.start]),
                position=self._risk_position(bar.close),
                now_ms=now_ms,
            ):
                self.flatten_requested = self.position is not None
        if index < self.start or index == last or self.position is not None:
            return
        if self.cash <= 0.0:
            return
        self.pending = self._decide(bar=bar, signal=signal, regime=regime)

    def _learn(self, *, bar: Bar, signal: StrategySignal, regime: RegimeState | None) -> None:
        """Fusion learning at this bar's close, on the readings fusion uses there."""
        fusion, learner, current = self.fusion, self.learner, self.current_fusion
        if fusion is None or fusion.learning is None or learner is None or current is None:
            return
        close_ms = bar.timestamp_ms + 1000 * self.bars.bar_seconds
        fused = current.fuse(
            symbol=self.config.symbol,
            readings=self._readings(fusion=fusion, bar=bar, signal=signal, regime=regime),
            regime_params=self._regime_params(regime),
            now_ms=close_ms,
        )
        self.learner = step(
            config=fusion.learning,
            state=learner,
            close_ms=close_ms,
            price=bar.close,
            signals={reading.name: reading.value * reading.confidence for reading in fused.used},
        )
        if self.learner.weights != learner.weights:
            weights = {**fusion.fusion.config.weights, **self.learner.weights}
            self.current_fusion = AlphaFusion(config=replace(fusion.fusion.config, weights=weights))

    def _update_regime(self, bar: Bar) -> RegimeState | None:
        detector = self.detector
        if detector is None:
            return None
        # As of the bar's close, as the live bot stamps it.
        state = detector.update(
            close=bar.close, timestamp_ms=bar.timestamp_ms + 1000 * self.bars.bar_seconds
        )
        if detector.refit_due:
            detector.refit()
        return state

    def _fill_and_exit(self, *, index: int, bar: Bar, last: int) -> None:
        config = self.config
        reason = EXIT_NONE
        trigger = 0.0
        position = self.position
        if position is not None and self.funding_times is not None:
            self._pay_funding(position=position, times=int(self.funding_times[index]), bar=bar)
        if self.pending is not None:
            self._open(index=index, bar=bar, order=self.pending)
            self.pending = None
        elif position is not None:
            if self.flatten_requested:
                reason, trigger = EXIT_CIRCUIT_BREAKER, bar.open
            else:
                reason, trigger = exit_trigger(
                    position.direction, bar.open, bar.high, bar.low, position.stop, position.target
                )
        self.flatten_requested = False
        if self.position is not None and reason == EXIT_NONE and index == last:
            reason, trigger = EXIT_END_OF_DATA, bar.close
        position = self.position
        if reason == EXIT_NONE or position is None:
            return
        exit_price, exit_fee, pnl, self.cash = settle_exit(
            self.cash,
            position.direction,
            position.quantity,
            position.entry_price,
            position.entry_fee,
            trigger,
            config.slippage_rate,
            config.fee_rate,
        )
        pnl -= position.funding
        if pnl > 0.0:
            self.wins += 1
            self.gross_profit += pnl
        elif pnl < 0.0:
            self.losses += 1
            self.gross_loss -= pnl
        self.exposure_bars += index - position.entry_index + 1
        bars = self.bars
        trade = Trade(
            direction=position.direction,
            entry_index=position.entry_index,
            exit_index=index,
            entry_time_ms=int(bars.timestamp_ms[position.entry_index]),
            exit_time_ms=bar.timestamp_ms,
            entry_price=position.entry_price,
            exit_price=exit_price,
            quantity=position.quantity,
            stop_price=position.stop,
            target_price=position.target,
            fees=position.entry_fee + exit_fee,
            pnl=pnl,
            exit_reason=EXIT_REASON_BY_CODE[reason],
            entry_reason=position.reason,
            funding=position.funding,
        )
        self.trades.append(trade)
        self.position = None
        if self.risk is not None:
            notional = position.quantity * position.entry_price
            self.risk.trade_closed(trade_return=pnl / notional, now_ms=bar.timestamp_ms)

    def _pay_funding(self, *, position: _Position, times: int, bar: Bar) -> None:
        """Funding for ``times`` funding times inside ``bar``, at its open, from the cash."""
        if times == 0:
            return
        payment = (
            times * self.config.funding_rate * position.direction * position.quantity * bar.open
        )
        position.funding += payment
        self.funding_paid += payment
        self.cash -= payment

    def _open(self, *, index: int, bar: Bar, order: EntryOrder) -> None:
        config = self.config
        direction = order.direction
        entry = entry_fill_price(bar.open, direction, config.slippage_rate)
        quantity = (
            risk_sized_quantity(
                self.cash, order.risk_fraction, order.stop_fraction, config.max_leverage, entry
            )
            if order.quantity is None
            else order.quantity
        )
        entry_fee = fee(quantity, entry, config.fee_rate)
        self.cash -= entry_fee
        self.position = _Position(
            direction=direction,
            quantity=quantity,
            entry_price=entry,
            entry_fee=entry_fee,
            stop=stop_price(entry, direction, order.stop_fraction),
            target=target_price(entry, direction, order.target_fraction),
            entry_index=index,
            reason=order.reason,
        )

    def _marked_equity(self, close: float) -> float:
        position = self.position
        if position is None:
            return self.cash
        return mark_to_market(
            self.cash, position.direction, position.quantity, position.entry_price, close
        )

    def _risk_position(self, close: float) -> RiskPosition | None:
        position = self.position
        if position is None:
            return None
        return RiskPosition(
            symbol=self.config.symbol,
            quantity=position.direction * position.quantity,
            entry_price=position.entry_price,
            mark_price=close,
        )

    def _decide(
        self, *, bar: Bar, signal: StrategySignal, regime: RegimeState | None
    ) -> EntryOrder | None:
        params = self.parameters
        direction = signal.direction
        size_multiplier = 1.0
        stop_pct = params.stop_loss_pct
        target_pct = params.take_profit_pct
        reason = signal.reason
        fusion, current = self.fusion, self.current_fusion
        if fusion is not None and current is not None:
            fused = current.fuse(
                symbol=self.config.symbol,
                readings=self._readings(fusion=fusion, bar=bar, signal=signal, regime=regime),
                regime_params=self._regime_params(regime),
                now_ms=bar.timestamp_ms + 1000 * self.bars.bar_seconds,
            )
            # As the live bot decides: fusion sets direction and size; the plugin (which every
            # backtest runs) its stop, target and risk per trade.
            direction = _FUSED_DIRECTION[fused.signal]
            size_multiplier = fused.position_size_multiplier
            reason = f"fusion {fused.signal.value} (score {fused.score:+.2f}): " + "; ".join(
                fused.reasoning
            )
        if direction == 0:
            return None
        if direction < 0 and not self.config.allow_short:
            self.rejected["short_disabled"] += 1
            return None
        if self.risk is not None:
            order, cause = self.risk.size(
                symbol=self.config.symbol,
                direction=direction,
                price=bar.close,
                regime=regime,
                size_multiplier=size_multiplier,
                stop_pct=stop_pct,
                target_pct=target_pct,
                risk_per_trade_pct=params.risk_per_trade_pct,
                bar_seconds=self.bars.bar_seconds,
                now_ms=bar.timestamp_ms,
                reason=reason,
            )
            if order is None:
                self.rejected[cause] += 1
            return order
        return EntryOrder(
            direction=direction,
            risk_fraction=params.risk_per_trade_pct / 100.0 * size_multiplier,
            stop_fraction=stop_pct / 100.0,
            target_fraction=target_pct / 100.0,
            quantity=None,
            reason=reason,
        )

    def _readings(
        self,
        *,
        fusion: FusionSetup,
        bar: Bar,
        signal: StrategySignal,
        regime: RegimeState | None,
    ) -> list[SignalReading]:
        readings = [
            signal.as_reading(
                name=fusion.component, as_of_ms=bar.timestamp_ms + 1000 * self.bars.bar_seconds
            )
        ]
        if regime is not None:
            regime_reading = regime.as_reading()
            if regime_reading is not None:
                readings.append(regime_reading)
        ofi_reading = self._ofi_reading(bar)
        if ofi_reading is not None:
            readings.append(ofi_reading)
        if fusion.signals is not None:
            readings.extend(
                fusion.signals.readings(
                    symbol=self.config.symbol,
                    now_ms=bar.timestamp_ms + 1000 * self.bars.bar_seconds,
                    max_age_ms=fusion.fusion.config.max_age_ms,
                )
            )
        return readings

    def _ofi_reading(self, bar: Bar) -> SignalReading | None:
        """Feed the snapshots up to this bar's close to the order-flow engine."""
        ofi = self.ofi
        books = self.books
        if ofi is None or books is None:
            return None
        close_ms = bar.timestamp_ms + 1000 * self.bars.bar_seconds
        stamps = books.timestamp_ms
        index = self.next_snapshot
        stop = int(np.searchsorted(stamps, close_ms, side="left"))
        for row in range(index, stop):
            ofi.update(
                bid_price=float(books.bid_price[row]),
                bid_size=float(books.bid_size[row]),
                ask_price=float(books.ask_price[row]),
                ask_size=float(books.ask_size[row]),
                timestamp_ms=int(stamps[row]),
            )
        self.next_snapshot = max(index, stop)
        state = ofi.signal()
        return state.as_reading() if state is not None else None

    def _regime_params(self, regime: RegimeState | None) -> RegimeTradingParams:
        if regime is not None:
            return regime.trading_params
        # Without a detector the strategy's own exits apply, at full size.
        return RegimeTradingParams(
            position_size_multiplier=1.0,
            stop_loss_pct=self.parameters.stop_loss_pct,
            take_profit_pct=self.parameters.take_profit_pct,
        )

    def _result(self) -> BacktestResult:
        config = self.config
        sharpe, sortino, max_drawdown = curve_summary(
            self.equity, config.initial_equity, self.bars.periods_per_year
        )
        metrics = BacktestMetrics.from_totals(
            bars=len(self.equity),
            initial_equity=config.initial_equity,
            final_equity=self.cash,
            trades=len(self.trades),
            wins=self.wins,
            losses=self.losses,
            gross_profit=self.gross_profit,
            gross_loss=self.gross_loss,
            max_drawdown=max_drawdown,
            sharpe=sharpe,
            sortino=sortino,
            exposure_bars=self.exposure_bars,
        )
        return BacktestResult(
            strategy=self.strategy.name,
            parameters=self.parameters,
            config=config,
            metrics=metrics,
            trades=tuple(self.trades),
            timestamp_ms=self.bars.timestamp_ms[self.start :],
            equity=self.equity,
            start_index=self.start,
            rejected_entries=dict(self.rejected),
            funding_paid=self.funding_paid,
            fusion_learning=self.learner,
        )


def run_backtest(
    *,
    bars: BarSeries,
    strategy_name: str,
    parameters: StrategyParameters,
    config: BacktestConfig = DEFAULT_CONFIG,
    start_index: int = 0,
    regime: RegimeConfig | None = None,
    fusion: FusionSetup | None = None,
    risk: RiskSetup | None = None,
    books: BookSeries | None = None,
    progress: bool = False,
) -> BacktestResult:
    """Replay ``bars`` through a fresh ``strategy_name`` plugin (module docstring for the rules).

    ``start_index``: bars before it only warm the indicators up (walk-forward tests use
    it to trade a test window with the train window as history). ``regime``: run a
    regime detector (labels for ``regime_adaptive``, the regime reading and exits for
    fusion); without it the series' own regime labels, if any, reach the strategy.
    ``books``: L1 snapshots for the order-flow reading (used with ``fusion``).
    """
    bars.check_start_index(start_index)
    if books is not None and fusion is None:
        raise BacktestConfigError("books feed the order-flow reading of fusion; configure fusion")
    replay = _Replay(
        bars=bars,
        strategy_name=strategy_name,
        parameters=parameters,
        config=config,
        start_index=start_index,
        regime=regime,
        fusion=fusion,
        risk=risk,
        books=books,
    )
    return replay.run(progress=progress)
