"""What the bot knows of its market: the latest valid tick, closed bars and the regime, and the
readings of its SignalSources.

Built and owned by :class:`~tradefleet_runtime.service.bot.BotService`; its decision loop polls
through :meth:`MarketView.poll`, its start-up warms the bars up through :meth:`MarketView.warm_up`,
and the HTTP API (:mod:`tradefleet_runtime.service.api`) reads the figures kept here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Sequence

import redis.asyncio as aioredis

from tradefleet_runtime.config import RuntimeConfig
from tradefleet_runtime.execution.errors import ExchangeError
from tradefleet_runtime.execution.model import Candle
from tradefleet_runtime.marketdata.feeds import MarketDataError, MarketFeed
from tradefleet_runtime.marketdata.shared import SharedMarketFeed
from tradefleet_runtime.marketdata.ticks import BookTick, TickRejection, TickValidator
from tradefleet_runtime.persistence.ml_models import MlModelStore
from tradefleet_runtime.service.bars import BarState
from tradefleet_runtime.service.build import build_strategy
from tradefleet_runtime.service.error_policy import ErrorPolicy
from tradefleet_runtime.service.healing import HealingAction, HealingCause, HealingLog
from tradefleet_runtime.service.metrics import BotMetrics
from tradefleet_runtime.service.ml_signal import FEATURE_WINDOW_BARS, MlSignal
from tradefleet_runtime.signals.fusion import default_max_age_ms
from tradefleet_runtime.signals.ml_ensemble import SIGNAL_NAME as ML_COMPONENT
from tradefleet_runtime.signals.ml_ensemble import MlConfig
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime_config import RegimeConfig, RegimeLabel, RegimeTradingParams
from tradefleet_runtime.sources.reader import SourceReader

LOG = logging.getLogger("tradefleet_runtime.bot")
RECENT_DROPS_KEPT = 50


class MarketView:
    """Ticks, bars, regime and source readings of the bot's one symbol."""

    def __init__(
        self,
        *,
        config: RuntimeConfig,
        redis: aioredis.Redis,
        errors: ErrorPolicy,
        healing: HealingLog,
        metrics: BotMetrics,
    ) -> None:
        self.config = config
        self.symbol = config.exchange.symbol
        self.feed: MarketFeed | None = None
        self.last_tick: BookTick | None = None
        self.last_tick_at: float | None = None
        self.recent_drops: deque[dict[str, object]] = deque(maxlen=RECENT_DROPS_KEPT)
        self.drop_counts: Counter[str] = Counter()
        self.bars = BarState(
            symbol=self.symbol,
            bar_seconds=config.strategy.bar_seconds,
            regime=RegimeConfig(trading_params=dict(config.strategy.regime_params)),
            limits=config.risk,
            strategy=build_strategy(config),
        )
        self.validator = TickValidator(
            max_age_ms=config.market_data.max_tick_age_ms,
            max_jump_pct=config.market_data.max_price_jump_pct,
        )
        self._redis = redis
        # The latest closed bars the ML input predicts from (one switched on by a reload too).
        self._recent_bars: deque[Candle] = deque(maxlen=FEATURE_WINDOW_BARS)
        self.ml = self._ml_signal(config)
        self.sources = SourceReader.of_redis(
            redis=redis,
            refs=config.signal_sources,
            symbol=self.symbol,
            max_age_ms=default_max_age_ms(),
        )
        self._errors = errors
        self._healing = healing
        self._metrics = metrics

    def _ml_signal(self, config: RuntimeConfig) -> MlSignal | None:
        """The ``ml`` input when it has a weight; None leaves it out of fusion altogether."""
        if config.strategy.fusion_weights.get(ML_COMPONENT, 0.0) <= 0.0:
            return None
        return MlSignal(
            store=MlModelStore(redis=self._redis, prefix=config.redis.key_prefix),
            bar_seconds=config.strategy.bar_seconds,
            config=MlConfig(),
            bars=self._recent_bars,
        )

    def reconfigure(self, config: RuntimeConfig) -> None:
        """A hot-reloaded config: new limits, tick checks and sources; bars and regime stay
        (and the ML input, unless its weight came or went)."""
        if (self.ml is None) != (config.strategy.fusion_weights.get(ML_COMPONENT, 0.0) <= 0.0):
            self.ml = self._ml_signal(config)
        self.config = config
        self.bars.set_limits(config.risk)
        self.validator.reconfigure(
            max_age_ms=config.market_data.max_tick_age_ms,
            max_jump_pct=config.market_data.max_price_jump_pct,
        )
        self.sources.reconfigure(refs=config.signal_sources, max_age_ms=default_max_age_ms())

    @property
    def mark_price(self) -> float | None:
        return self.last_tick.mid if self.last_tick else None

    def flowing(self, *, poll_slowdown: float) -> bool:
        """A valid tick came recently enough for the polling interval in force."""
        if self.last_tick_at is None:
            return False
        interval_s = self.config.market_data.poll_interval_ms * poll_slowdown / 1000
        return time.time() - self.last_tick_at <= max(5.0, 5 * interval_s)

    def readings(self, now_ms: int) -> list[SignalReading]:
        readings = self.sources.readings(now_ms=now_ms)
        ml = self.ml.reading() if self.ml is not None else None
        for reading in (self.bars.regime_reading(), self.bars.strategy_reading(), ml):
            if reading is not None:
                readings.append(reading)
        return readings

    def regime_params(self) -> RegimeTradingParams:
        state = self.bars.regime
        label = state.regime if state is not None else RegimeLabel.UNKNOWN
        return self.config.strategy.regime_params[label]

    async def poll(self) -> BookTick | None:
        """The next book from the feed if it passes validation (None: nothing usable)."""
        feed = self.feed
        if feed is None:
            # Halted before the venue was built (an unusable paper account).
            return None
        try:
            tick = await feed.next_book()
        except ExchangeError as error:
            await self._errors.handle(error, component="market_data")
            return None
        except MarketDataError as error:
            self._healing.record(
                error_class=HealingCause.MARKET_DATA,
                action=HealingAction.RETRY,
                component="market_data",
                message=str(error),
            )
            return None
        self._errors.succeeded()
        self._errors.note_executor_errors(component="market_data")
        rejection = self.validator.check(tick, now_ms=feed.now_ms())
        if rejection is not None:
            self._drop(rejection)
            return None
        return tick

    def accept(self, tick: BookTick) -> None:
        self.last_tick, self.last_tick_at = tick, time.time()
        self._healing.set_component(component="market_data", healthy=True, detail="ticks flowing")

    def _drop(self, rejection: TickRejection) -> None:
        self._metrics.tick_dropped(rejection.reason.value)
        self.drop_counts[rejection.reason.value] += 1
        self.recent_drops.append(
            {"at": time.time(), "reason": rejection.reason.value, "message": rejection.message}
        )
        LOG.warning("tick dropped (%s): %s", rejection.reason.value, rejection.message)

    async def close_bars(self, *, now_ms: int) -> None:
        bar_seconds = self.config.strategy.bar_seconds
        bar_ms = bar_seconds * 1000
        last = self.bars.last_bar_ms
        if last is not None and now_ms < last + 2 * bar_ms:
            return
        feed = self.feed
        assert feed is not None
        try:
            bars = await feed.closed_bars(
                bar_seconds=bar_seconds,
                after_ms=last if last is not None else now_ms - 2 * bar_ms,
            )
        except ExchangeError as error:
            await self._errors.handle(error, component="market_data")
            return
        except MarketDataError as error:
            LOG.warning("bars unavailable: %s", error)
            return
        await self.add_bars(bars)

    async def add_bars(self, bars: Sequence[Candle]) -> None:
        """Fold in closed bars (the warm-up history, or the bars that closed since the last),
        then refit the regime if due and look for a newly trained ML model."""
        for bar in bars:
            self.bars.add(bar)
            recent = self._recent_bars
            if not recent or bar.timestamp_ms > recent[-1].timestamp_ms:
                recent.append(bar)
        if not bars:
            return
        await self.refit_regime_if_due()
        if self.ml is not None:
            await self.ml.refresh()
            self.ml.predict()

    async def refit_regime_if_due(self) -> None:
        """Refit the regime model when due; on shared market data, run the model the
        market-data workload fitted instead (the same symbol's same bars), once it has one."""
        detector = self.bars.detector
        if isinstance(self.feed, SharedMarketFeed):
            await self._adopt_published_regime(self.feed)
            return
        if detector.refit_due:
            outcome = await asyncio.to_thread(detector.refit)
            LOG.info("regime refit: %s", outcome.reason)

    async def _adopt_published_regime(self, feed: SharedMarketFeed) -> None:
        detector = self.bars.detector
        try:
            published = await feed.regime(bar_seconds=self.config.strategy.bar_seconds)
        except MarketDataError as error:
            LOG.warning("regime model unavailable: %s", error)
            return
        if published is None:
            detector.wait_for_model("waiting for the market-data workload's regime model")
            return
        if published.fitted_at_ms != detector.status.fitted_at_ms:
            detector.adopt(
                model=published.model,
                fitted_at_ms=published.fitted_at_ms,
                fitted_by="the market-data workload",
            )
            LOG.info("regime model of the market-data workload adopted: %s", detector.status.reason)
