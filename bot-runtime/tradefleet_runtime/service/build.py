"""What a bot runtime is built from: its venue, market feed, strategy plugin and fusion settings.

Pure construction from a :class:`~tradefleet_runtime.config.RuntimeConfig` and the pod's
environment, called by :class:`~tradefleet_runtime.service.bot.BotService` at start-up, on a
connection reset and on a hot reload. Nothing here talks to the exchange or Redis.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import redis.asyncio as aioredis

from tradefleet_runtime.config import (
    MarketDataSource,
    RuntimeConfig,
    TradingMode,
)
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.execution.errors import VenueConfigurationError
from tradefleet_runtime.execution.model import MarketInfo
from tradefleet_runtime.execution.paper import PaperAccount, PaperJournal, PaperVenue
from tradefleet_runtime.execution.request_meter import RequestMeter
from tradefleet_runtime.execution.signing import signed_request_lifetime_s
from tradefleet_runtime.execution.venue import (
    ApiCredentials,
    CcxtVenue,
    Venue,
    VenueMode,
    ccxt_exchange_id,
)
from tradefleet_runtime.marketdata.feeds import (
    FeedBookVenue,
    MarketFeed,
    ReplayMarketFeed,
    SyntheticMarketFeed,
    VenueMarketFeed,
)
from tradefleet_runtime.marketdata.shared import SharedBookVenue, SharedMarketFeed
from tradefleet_runtime.risk import RiskEngine
from tradefleet_runtime.service.pipeline import DecisionPipeline
from tradefleet_runtime.signals.fusion import (
    AlphaFusion,
    FusionConfig,
    bar_max_age_ms,
    default_max_age_ms,
)
from tradefleet_runtime.signals.regime import SIGNAL_NAME as REGIME_COMPONENT
from tradefleet_runtime.strategies import (
    FUSION_ONLY,
    STRATEGY_COMPONENT,
    Strategy,
    StrategyError,
    create_strategy,
)


class StartupError(Exception):
    """The runtime cannot start as configured (missing credentials, unusable venue)."""


def quote_currency(symbol: str) -> str:
    """The currency a symbol settles in ("BTC/USDT:USDT" → "USDT", "ETH/BTC" → "BTC")."""
    _, _, rest = symbol.partition("/")
    quote, _, settle = rest.partition(":")
    return settle or quote


def request_lifetime_s(config: RuntimeConfig) -> float | None:
    """How long the bot's signed exchange requests can still execute after they leave (None:
    a paper bot signs nothing, or its exchange bounds nothing); the lease's send margin."""
    exchange = config.exchange
    if exchange.mode is TradingMode.PAPER:
        return None
    return signed_request_lifetime_s(
        exchange_id=ccxt_exchange_id(exchange=exchange.exchange, market=exchange.market.value),
        recv_window_ms=config.venue.recv_window_ms,
    )


def fusion_weights_of(config: RuntimeConfig) -> dict[str, float]:
    """The configured weights; with a strategy plugin it takes ``spec.strategy.strategyWeight``
    of the total and the signal engines share the rest in their configured proportions."""
    weights = dict(config.strategy.fusion_weights)
    if config.strategy.name == FUSION_ONLY:
        return weights
    share = config.strategy.strategy_weight
    return {
        **{name: weight * (1.0 - share) for name, weight in weights.items()},
        STRATEGY_COMPONENT: share,
    }


def build_strategy(config: RuntimeConfig) -> Strategy | None:
    if config.strategy.name == FUSION_ONLY:
        return None
    try:
        return create_strategy(name=config.strategy.name, parameters=config.strategy.parameters)
    except StrategyError as error:
        raise ConfigError(str(error)) from None


def fusion_config_of(config: RuntimeConfig) -> FusionConfig:
    thresholds = config.strategy.thresholds
    buy = max(thresholds.buy, 1e-9)
    # The regime and the strategy plugin read closed bars: their readings age by the timeframe.
    bar_age_ms = bar_max_age_ms(bar_seconds=config.strategy.bar_seconds)
    return FusionConfig(
        weights=fusion_weights_of(config),
        max_age_ms={
            **default_max_age_ms(),
            REGIME_COMPONENT: bar_age_ms,
            STRATEGY_COMPONENT: bar_age_ms,
        },
        buy_threshold=buy,
        strong_threshold=max(thresholds.strong_buy, buy * 2),
    )


def credentials_from_env(
    *, config: RuntimeConfig, environ: Mapping[str, str]
) -> ApiCredentials | None:
    names = config.exchange.credentials
    if names is None:
        return None
    missing = [
        name
        for name in (names.api_key_env, names.api_secret_env, names.passphrase_env)
        if name is not None and not environ.get(name)
    ]
    if missing:
        raise StartupError(f"credential environment variable(s) not set: {', '.join(missing)}")
    return ApiCredentials(
        api_key=environ[names.api_key_env],
        api_secret=environ[names.api_secret_env],
        password=environ[names.passphrase_env] if names.passphrase_env else None,
    )


def _tick_stream_feed(config: RuntimeConfig) -> ReplayMarketFeed | SyntheticMarketFeed:
    """The replay or synthetic feed of ``marketData``."""
    data = config.market_data
    if data.source is MarketDataSource.REPLAY:
        assert data.replay_path is not None
        return ReplayMarketFeed(
            path=Path(data.replay_path),
            symbol=config.exchange.symbol,
            bar_seconds=config.strategy.bar_seconds,
        )
    return SyntheticMarketFeed(
        symbol=config.exchange.symbol,
        bar_seconds=config.strategy.bar_seconds,
        seed=data.synthetic_seed,
        snapshot_ms=data.poll_interval_ms,
    )


def build_venue_and_feed(
    *,
    config: RuntimeConfig,
    credentials: ApiCredentials | None,
    starting_balance: float,
    paper_account: PaperAccount | None,
    paper_journal: PaperJournal | None,
    redis: aioredis.Redis,
    request_meter: RequestMeter | None = None,
) -> tuple[Venue, MarketFeed]:
    """The trading venue and the market feed for the configured mode and data source; a paper
    venue continues ``paper_account`` (if any) and saves through ``paper_journal``. An exchange
    client spaces its requests by ``exchange.requestIntervalMs`` and records them in
    ``request_meter``; a shared feed reads through ``redis`` (the bot's own client)."""
    exchange = config.exchange
    data = config.market_data

    def paper(market_data: Venue, *, clock: Callable[[], float] = time.time) -> Venue:
        return PaperVenue(
            market_data=market_data,
            starting_balance=starting_balance,
            quote_currency=quote_currency(exchange.symbol),
            clock=clock,
            account=paper_account,
            journal=paper_journal,
        )

    if data.source in (MarketDataSource.REPLAY, MarketDataSource.SYNTHETIC):
        if exchange.mode is not TradingMode.PAPER:
            raise StartupError(f"marketData.source {data.source.value} needs exchange.mode paper")
        stream = _tick_stream_feed(config)
        return paper(FeedBookVenue(feed=stream), clock=lambda: stream.now_ms() / 1000.0), stream
    shared: SharedMarketFeed | None = None
    if data.source is MarketDataSource.SHARED:
        assert data.shared_key_prefix is not None
        shared = SharedMarketFeed(
            redis=redis,
            key_prefix=data.shared_key_prefix,
            symbol=exchange.symbol,
            max_tick_age_ms=data.max_tick_age_ms,
        )
        if exchange.mode is TradingMode.PAPER:
            # No exchange client at all: the paper account fills against the published book.
            return paper(SharedBookVenue(feed=shared)), shared
    exchange_id = ccxt_exchange_id(exchange=exchange.exchange, market=exchange.market.value)
    try:
        if exchange.mode is TradingMode.PAPER:
            venue = paper(
                CcxtVenue(
                    exchange_id=exchange_id,
                    mode=VenueMode.MARKET_DATA,
                    base_url_override=exchange.base_url,
                    timeout_s=config.venue.timeout_ms / 1000.0,
                    request_interval_ms=exchange.request_interval_ms,
                    request_meter=request_meter,
                )
            )
        else:
            venue = CcxtVenue(
                exchange_id=exchange_id,
                mode=VenueMode(exchange.mode.value),
                credentials=credentials,
                allow_live=exchange.live_trading_opt_in,
                base_url_override=exchange.base_url,
                timeout_s=config.venue.timeout_ms / 1000.0,
                recv_window_ms=config.venue.recv_window_ms,
                request_interval_ms=exchange.request_interval_ms,
                request_meter=request_meter,
            )
    except VenueConfigurationError as error:
        raise StartupError(str(error)) from None
    if shared is not None:
        return venue, shared
    return venue, VenueMarketFeed(venue=venue, symbol=exchange.symbol, depth=data.book_depth)


def decision_pipeline(
    *, config: RuntimeConfig, fusion: AlphaFusion, risk: RiskEngine
) -> DecisionPipeline:
    """The bot's decision pipeline; its market's lot sizes come later, from the venue."""
    symbol = config.exchange.symbol
    return DecisionPipeline(
        bot_name=config.bot_name,
        exchange_id=ccxt_exchange_id(
            exchange=config.exchange.exchange, market=config.exchange.market.value
        ),
        symbol=symbol,
        market_kind=config.exchange.market,
        market_info=MarketInfo(
            symbol=symbol,
            amount_step=None,
            price_tick=None,
            min_amount=None,
            min_notional=None,
        ),
        fusion=fusion,
        thresholds=config.strategy.thresholds,
        risk=risk,
    )
