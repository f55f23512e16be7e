# Generated from crds/ by `python -m tradefleet_devtools.api_models`: do not edit.
# The CRDs are the API's one definition; change them there and regenerate.

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field
from typing_extensions import TypeAliasType

from tradefleet_api.base import ApiModel
from tradefleet_api.quantity import Quantity


class Exchange(StrEnum):
    BINANCE = "binance"
    BINANCEUSDM = "binanceusdm"
    OKX = "okx"
    BYBIT = "bybit"
    KRAKEN = "kraken"
    COINBASE = "coinbase"
    BITGET = "bitget"
    KUCOIN = "kucoin"
    GATEIO = "gateio"
    HTX = "htx"
    DERIBIT = "deribit"


class Market(StrEnum):
    SPOT = "spot"
    FUTURES = "futures"


class TradingMode(StrEnum):
    PAPER = "paper"
    TESTNET = "testnet"
    LIVE = "live"


class CredentialsRef(ApiModel):
    name: Annotated[
        str,
        Field(
            max_length=253,
            min_length=1,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ]
    api_key_key: Annotated[str, Field(alias="apiKeyKey", max_length=253, min_length=1)] = "apiKey"
    api_secret_key: Annotated[str, Field(alias="apiSecretKey", max_length=253, min_length=1)] = (
        "apiSecret"
    )
    passphrase_key: Annotated[
        str | None, Field(alias="passphraseKey", max_length=253, min_length=1)
    ] = None


class CredentialsSpec(ApiModel):
    secret_ref: Annotated[CredentialsRef, Field(alias="secretRef", title="CredentialsRef")]
    api_key: Annotated[str | None, Field(alias="apiKey", max_length=0)] = None
    api_secret: Annotated[str | None, Field(alias="apiSecret", max_length=0)] = None
    passphrase: Annotated[str | None, Field(max_length=0)] = None


class AccountRef(ApiModel):
    name: Annotated[
        str,
        Field(
            max_length=253,
            min_length=1,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ]


class StrategyName(StrEnum):
    FUSION = "fusion"
    EMA_RSI = "ema_rsi"
    MEAN_REVERSION = "mean_reversion"
    MOMENTUM_BREAKOUT = "momentum_breakout"
    REGIME_ADAPTIVE = "regime_adaptive"


class Timeframe(StrEnum):
    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"


class FusionWeights(ApiModel):
    regime: Annotated[float, Field(ge=0.0, le=1.0)] = 0.25
    ofi: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    whale: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    sentiment: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    macro: Annotated[float, Field(ge=0.0, le=1.0)] = 0.15
    ml: Annotated[float, Field(ge=0.0, le=1.0)] = 0


class SignalThresholds(ApiModel):
    buy: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    strong_buy: Annotated[float, Field(alias="strongBuy", ge=0.0, le=1.0)] = 0.5
    sell: Annotated[float, Field(ge=-1.0, le=0.0)] = -0.2
    strong_sell: Annotated[float, Field(alias="strongSell", ge=-1.0, le=0.0)] = -0.5


class SignalSourceRef(ApiModel):
    name: Annotated[
        str,
        Field(
            max_length=253,
            min_length=1,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ]
    weight: Annotated[float, Field(ge=0.0, le=1.0)] = 1


class BullishCalmParameters(ApiModel):
    size_multiplier: Annotated[float, Field(alias="sizeMultiplier", gt=0.0, le=5.0)] = 1.2
    stop_loss_pct: Annotated[float, Field(alias="stopLossPct", gt=0.0, le=50.0)] = 2
    take_profit_pct: Annotated[float, Field(alias="takeProfitPct", gt=0.0, le=100.0)] = 5


class BearishVolatileParameters(ApiModel):
    size_multiplier: Annotated[float, Field(alias="sizeMultiplier", gt=0.0, le=5.0)] = 0.5
    stop_loss_pct: Annotated[float, Field(alias="stopLossPct", gt=0.0, le=50.0)] = 3
    take_profit_pct: Annotated[float, Field(alias="takeProfitPct", gt=0.0, le=100.0)] = 3


class SqueezeParameters(ApiModel):
    size_multiplier: Annotated[float, Field(alias="sizeMultiplier", gt=0.0, le=5.0)] = 0.7
    stop_loss_pct: Annotated[float, Field(alias="stopLossPct", gt=0.0, le=50.0)] = 1.5
    take_profit_pct: Annotated[float, Field(alias="takeProfitPct", gt=0.0, le=100.0)] = 2.5


class RegimeParametersSet(ApiModel):
    bullish_calm: Annotated[
        BullishCalmParameters,
        Field(alias="bullishCalm", title="BullishCalmParameters", validate_default=True),
    ] = Field(default_factory=BullishCalmParameters)
    bearish_volatile: Annotated[
        BearishVolatileParameters,
        Field(
            alias="bearishVolatile",
            title="BearishVolatileParameters",
            validate_default=True,
        ),
    ] = Field(default_factory=BearishVolatileParameters)
    squeeze: Annotated[
        SqueezeParameters, Field(title="SqueezeParameters", validate_default=True)
    ] = Field(default_factory=SqueezeParameters)


class FusionLearning(ApiModel):
    enabled: bool = False
    half_life_bars: Annotated[int, Field(alias="halfLifeBars", ge=1, le=10000)] = 48
    max_step_per_update: Annotated[float, Field(alias="maxStepPerUpdate", ge=0.0001, le=0.5)] = 0.02
    floor: Annotated[float, Field(ge=0.001, le=0.16)] = 0.02
    horizon_bars: Annotated[int, Field(alias="horizonBars", ge=1, le=100)] = 1


class StrategyParameters(ApiModel):
    ema_fast: Annotated[int, Field(alias="emaFast", ge=2, le=500)] = 12
    ema_slow: Annotated[int, Field(alias="emaSlow", ge=3, le=1000)] = 26
    rsi_period: Annotated[int, Field(alias="rsiPeriod", ge=2, le=200)] = 14
    rsi_overbought: Annotated[float, Field(alias="rsiOverbought", ge=50.0, le=100.0)] = 70
    rsi_oversold: Annotated[float, Field(alias="rsiOversold", ge=0.0, le=50.0)] = 30
    stop_loss_pct: Annotated[float, Field(alias="stopLossPct", gt=0.0, le=50.0)] = 1
    take_profit_pct: Annotated[float, Field(alias="takeProfitPct", gt=0.0, le=100.0)] = 2
    risk_per_trade_pct: Annotated[float, Field(alias="riskPerTradePct", gt=0.0, le=10.0)] = 0.5
    bollinger_period: Annotated[int, Field(alias="bollingerPeriod", ge=2, le=1000)] = 20
    bollinger_std_dev: Annotated[float, Field(alias="bollingerStdDev", gt=0.0, le=10.0)] = 2
    breakout_lookback: Annotated[int, Field(alias="breakoutLookback", ge=2, le=1000)] = 20
    volume_window: Annotated[int, Field(alias="volumeWindow", ge=2, le=1000)] = 20
    volume_spike_multiplier: Annotated[
        float, Field(alias="volumeSpikeMultiplier", ge=1.0, le=20.0)
    ] = 1.5


class StrategySpec(ApiModel):
    name: Annotated[StrategyName, Field(title="StrategyName")] = StrategyName.FUSION
    timeframe: Annotated[Timeframe, Field(title="Timeframe")] = Timeframe.M1
    fusion_weights: Annotated[
        FusionWeights,
        Field(alias="fusionWeights", title="FusionWeights", validate_default=True),
    ] = Field(default_factory=FusionWeights)
    thresholds: Annotated[
        SignalThresholds, Field(title="SignalThresholds", validate_default=True)
    ] = Field(default_factory=SignalThresholds)
    signal_sources: Annotated[
        tuple[SignalSourceRef, ...],
        Field(alias="signalSources", max_length=16, validate_default=True),
    ] = ()
    regime_parameters: Annotated[
        RegimeParametersSet,
        Field(alias="regimeParameters", title="RegimeParametersSet", validate_default=True),
    ] = Field(default_factory=RegimeParametersSet)
    fusion_learning: Annotated[
        FusionLearning,
        Field(alias="fusionLearning", title="FusionLearning", validate_default=True),
    ] = Field(default_factory=FusionLearning)
    strategy_weight: Annotated[float, Field(alias="strategyWeight", ge=0.0, le=1.0)] = 0.5
    parameters: Annotated[
        StrategyParameters, Field(title="StrategyParameters", validate_default=True)
    ] = Field(default_factory=StrategyParameters)


class RiskSpec(ApiModel):
    kelly_fraction: Annotated[float, Field(alias="kellyFraction", gt=0.0, le=1.0)] = 0.25
    max_position_pct: Annotated[float, Field(alias="maxPositionPct", gt=0.0, le=100.0)] = 10
    max_leverage: Annotated[float, Field(alias="maxLeverage", ge=1.0, le=125.0)] = 1
    atr_stop_multiplier: Annotated[float, Field(alias="atrStopMultiplier", gt=0.0, le=20.0)] = 2
    atr_take_profit_multiplier: Annotated[
        float, Field(alias="atrTakeProfitMultiplier", gt=0.0, le=50.0)
    ] = 3
    max_drawdown_pct: Annotated[float, Field(alias="maxDrawdownPct", gt=0.0, le=100.0)] = 20
    max_daily_loss_pct: Annotated[float, Field(alias="maxDailyLossPct", gt=0.0, le=100.0)] = 10
    max_consecutive_losses: Annotated[int, Field(alias="maxConsecutiveLosses", ge=1, le=100)] = 5
    atr_circuit_breaker_multiplier: Annotated[
        float, Field(alias="atrCircuitBreakerMultiplier", gt=0.0, le=50.0)
    ] = 3
    max_total_exposure_pct: Annotated[
        float, Field(alias="maxTotalExposurePct", gt=0.0, le=12500.0)
    ] = 100
    max_single_asset_exposure_pct: Annotated[
        float, Field(alias="maxSingleAssetExposurePct", gt=0.0, le=12500.0)
    ] = 50
    max_daily_var_pct: Annotated[float, Field(alias="maxDailyVarPct", gt=0.0, le=100.0)] = 5
    max_correlation: Annotated[float, Field(alias="maxCorrelation", ge=0.0, le=1.0)] = 0.8
    breaker_cooldown_seconds: Annotated[
        int, Field(alias="breakerCooldownSeconds", ge=0, le=604800)
    ] = 0
    flatten_on_trip: Annotated[bool, Field(alias="flattenOnTrip")] = False
    capital: Annotated[float | None, Field(gt=0.0)] = None


class SelfHealingSpec(ApiModel):
    max_restarts: Annotated[int, Field(alias="maxRestarts", ge=0, le=1000)] = 5
    restart_window_seconds: Annotated[int, Field(alias="restartWindowSeconds", ge=1, le=86400)] = (
        600
    )
    backoff_seconds: Annotated[int, Field(alias="backoffSeconds", ge=1, le=3600)] = 5
    max_backoff_seconds: Annotated[int, Field(alias="maxBackoffSeconds", ge=1, le=86400)] = 300
    progress_deadline_seconds: Annotated[
        int, Field(alias="progressDeadlineSeconds", ge=10, le=3600)
    ] = 120
    heartbeat_timeout_seconds: Annotated[
        int, Field(alias="heartbeatTimeoutSeconds", ge=5, le=3600)
    ] = 30
    rollback_on_failure: Annotated[bool, Field(alias="rollbackOnFailure")] = True


class DeletionPolicy(StrEnum):
    FLATTEN = "Flatten"
    KEEP = "Keep"


class ResourceQuantities(ApiModel):
    model_config = ConfigDict(
        arbitrary_types_allowed=True,
    )
    cpu: Quantity | None = None
    memory: Quantity | None = None


class ResourceRequirements(ApiModel):
    requests: Annotated[ResourceQuantities | None, Field(title="ResourceQuantities")] = None
    limits: Annotated[ResourceQuantities | None, Field(title="ResourceQuantities")] = None


class OptimizerObjective(StrEnum):
    SHARPE = "sharpe"
    PNL = "pnl"
    COMPOSITE = "composite"


class OptimizerSpec(ApiModel):
    enabled: bool = False
    schedule: Annotated[
        str,
        Field(
            max_length=128,
            pattern="^(@(hourly|daily|weekly|monthly)|[0-9*/,-]+( +[0-9*/,-]+){4})$",
        ),
    ] = "0 */6 * * *"
    lookback_bars: Annotated[int, Field(alias="lookbackBars", ge=100, le=100000)] = 2000
    objective: Annotated[OptimizerObjective, Field(title="OptimizerObjective")] = (
        OptimizerObjective.SHARPE
    )
    trials: Annotated[int, Field(ge=1, le=10000)] = 60
    drawdown_penalty: Annotated[float, Field(alias="drawdownPenalty", ge=0.0, le=10.0)] = 0.5
    min_trades: Annotated[int, Field(alias="minTrades", ge=0, le=10000)] = 5
    seed: Annotated[int | None, Field(ge=0, le=2147483647)] = None


class NotificationType(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    TELEGRAM = "telegram"


class NotificationSecretRef(ApiModel):
    name: Annotated[
        str,
        Field(
            max_length=253,
            min_length=1,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ]
    key: Annotated[str, Field(max_length=253, min_length=1)]


class TelegramTarget(ApiModel):
    chat_id: Annotated[
        str,
        Field(
            alias="chatId",
            max_length=64,
            min_length=1,
            pattern="^(-?[0-9]+|@[A-Za-z0-9_]{5,32})$",
        ),
    ]
    api_url: Annotated[str, Field(alias="apiUrl", max_length=2048, pattern="^https?://\\S+$")] = (
        "https://api.telegram.org"
    )


class NotificationEvent(StrEnum):
    FILLS = "fills"
    BREAKER = "breaker"
    HALTS = "halts"
    ROLLBACKS = "rollbacks"
    DEGRADED = "degraded"


class NotificationTarget(ApiModel):
    name: Annotated[
        str,
        Field(max_length=63, min_length=1, pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
    ]
    type: Annotated[NotificationType, Field(title="NotificationType")]
    secret_ref: Annotated[
        NotificationSecretRef, Field(alias="secretRef", title="NotificationSecretRef")
    ]
    telegram: Annotated[TelegramTarget | None, Field(title="TelegramTarget")] = None
    events: Annotated[tuple[NotificationEvent, ...], Field(max_length=5, min_length=1)] = ()


class TradingBotSpec(ApiModel):
    exchange: Annotated[Exchange, Field(title="Exchange")]
    market: Annotated[Market, Field(title="Market")] = Market.SPOT
    symbol: Annotated[
        str,
        Field(max_length=64, pattern="^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$"),
    ]
    mode: Annotated[TradingMode, Field(title="TradingMode")] = TradingMode.PAPER
    live_trading_opt_in: Annotated[bool, Field(alias="liveTradingOptIn")] = False
    credentials: Annotated[CredentialsSpec | None, Field(title="CredentialsSpec")] = None
    account_ref: Annotated[AccountRef | None, Field(alias="accountRef", title="AccountRef")] = None
    api_key: Annotated[str | None, Field(alias="apiKey", max_length=0)] = None
    api_secret: Annotated[str | None, Field(alias="apiSecret", max_length=0)] = None
    region: Annotated[str, Field(max_length=63, pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] = "auto"
    strategy: Annotated[StrategySpec, Field(title="StrategySpec", validate_default=True)] = Field(
        default_factory=StrategySpec
    )
    risk: Annotated[RiskSpec, Field(title="RiskSpec", validate_default=True)] = Field(
        default_factory=RiskSpec
    )
    self_healing: Annotated[
        SelfHealingSpec,
        Field(alias="selfHealing", title="SelfHealingSpec", validate_default=True),
    ] = Field(default_factory=SelfHealingSpec)
    paused: bool = False
    deletion_policy: Annotated[
        DeletionPolicy, Field(alias="deletionPolicy", title="DeletionPolicy")
    ] = DeletionPolicy.FLATTEN
    image: Annotated[str | None, Field(max_length=512, min_length=1)] = None
    resources: Annotated[ResourceRequirements | None, Field(title="ResourceRequirements")] = None
    optimizer: Annotated[OptimizerSpec, Field(title="OptimizerSpec", validate_default=True)] = (
        Field(default_factory=OptimizerSpec)
    )
    notifications: Annotated[
        tuple[NotificationTarget, ...], Field(max_length=8, validate_default=True)
    ] = ()


class SignalSourceKind(StrEnum):
    SENTIMENT = "sentiment"
    MACRO = "macro"
    WHALE = "whale"
    HTTP = "http"


class SentimentFeed(ApiModel):
    url: Annotated[str, Field(max_length=2048, pattern="^https?://\\S+$")]
    credibility: Annotated[float, Field(ge=0.0, le=1.0)] = 1


class SentimentKeywords(ApiModel):
    bullish: Annotated[tuple[str, ...], Field(max_length=256)] = ()
    bearish: Annotated[tuple[str, ...], Field(max_length=256)] = ()


class SecretKeyRef(ApiModel):
    name: Annotated[
        str,
        Field(
            max_length=253,
            min_length=1,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ]
    key: Annotated[str, Field(max_length=253, min_length=1)] = "apiKey"


class LlmScoring(ApiModel):
    enabled: bool = False
    endpoint: Annotated[str | None, Field(max_length=2048, pattern="^https?://\\S+$")] = None
    model: Annotated[str | None, Field(max_length=256)] = None
    api_key_secret_ref: Annotated[
        SecretKeyRef | None, Field(alias="apiKeySecretRef", title="SecretKeyRef")
    ] = None
    api_key: Annotated[str | None, Field(alias="apiKey", max_length=0)] = None


class SentimentConfig(ApiModel):
    feeds: Annotated[tuple[SentimentFeed, ...], Field(max_length=32, min_length=1)]
    keywords: Annotated[SentimentKeywords | None, Field(title="SentimentKeywords")] = None
    llm: Annotated[LlmScoring, Field(title="LlmScoring", validate_default=True)] = Field(
        default_factory=LlmScoring
    )


class AssetBias(ApiModel):
    asset: Annotated[str, Field(max_length=20, pattern="^[A-Z0-9]{1,20}$")]
    bias: Annotated[float, Field(ge=-1.0, le=1.0)]


class MacroConfig(ApiModel):
    events_config_map: Annotated[
        str | None,
        Field(
            alias="eventsConfigMap",
            max_length=253,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ] = None
    feeds: Annotated[tuple[str, ...], Field(max_length=32)] = ()
    asset_biases: Annotated[
        tuple[AssetBias, ...],
        Field(alias="assetBiases", max_length=64, validate_default=True),
    ] = ()


class SecretRef(AccountRef):
    pass


class ExchangeAddresses(ApiModel):
    exchange: Annotated[str, Field(max_length=64, pattern="^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$")]
    addresses: Annotated[tuple[str, ...], Field(max_length=1024, min_length=1)]


class WhaleThreshold(ApiModel):
    asset: Annotated[str, Field(max_length=20, pattern="^[A-Z0-9]{1,20}$")]
    min_usd: Annotated[float, Field(alias="minUsd", gt=0.0)]


class WhaleConfig(ApiModel):
    feed_url: Annotated[
        str | None, Field(alias="feedUrl", max_length=2048, pattern="^https?://\\S+$")
    ] = None
    redis_stream: Annotated[
        str | None,
        Field(alias="redisStream", max_length=256, pattern="^[A-Za-z0-9:_.-]+$"),
    ] = None
    headers_secret_ref: Annotated[
        SecretRef | None, Field(alias="headersSecretRef", title="SecretRef")
    ] = None
    exchange_addresses: Annotated[
        tuple[ExchangeAddresses, ...],
        Field(alias="exchangeAddresses", max_length=64, validate_default=True),
    ] = ()
    thresholds: Annotated[
        tuple[WhaleThreshold, ...], Field(max_length=64, validate_default=True)
    ] = ()


class FusionInput(StrEnum):
    SENTIMENT = "sentiment"
    MACRO = "macro"
    WHALE = "whale"


class HttpSourceConfig(ApiModel):
    url: Annotated[str, Field(max_length=2048, pattern="^https?://\\S+$")]
    json_path: Annotated[
        str,
        Field(
            alias="jsonPath",
            max_length=512,
            pattern="^\\$(\\.[A-Za-z_][A-Za-z0-9_-]*|\\[[0-9]+\\])+$",
        ),
    ]
    fusion_input: Annotated[FusionInput, Field(alias="fusionInput", title="FusionInput")] = (
        FusionInput.SENTIMENT
    )
    headers_secret_ref: Annotated[
        SecretRef | None, Field(alias="headersSecretRef", title="SecretRef")
    ] = None
    timeout_seconds: Annotated[int, Field(alias="timeoutSeconds", ge=1, le=60)] = 10


class SignalSourceSpec(ApiModel):
    kind: Annotated[SignalSourceKind, Field(title="SignalSourceKind")]
    symbols: Annotated[tuple[str, ...], Field(max_length=64, min_length=1)]
    interval_seconds: Annotated[int, Field(alias="intervalSeconds", ge=1, le=86400)] = 60
    paused: bool = False
    image: Annotated[str | None, Field(max_length=512, min_length=1)] = None
    region: Annotated[
        str | None,
        Field(max_length=63, min_length=1, pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
    ] = None
    resources: Annotated[ResourceRequirements | None, Field(title="ResourceRequirements")] = None
    sentiment: Annotated[SentimentConfig | None, Field(title="SentimentConfig")] = None
    macro: Annotated[MacroConfig | None, Field(title="MacroConfig")] = None
    whale: Annotated[WhaleConfig | None, Field(title="WhaleConfig")] = None
    http: Annotated[HttpSourceConfig | None, Field(title="HttpSourceConfig")] = None


class AccountCredentials(ApiModel):
    secret_ref: Annotated[CredentialsRef, Field(alias="secretRef", title="CredentialsRef")]


class RateLimitBudget(ApiModel):
    requests_per_minute: Annotated[int, Field(alias="requestsPerMinute", ge=1, le=1000000)] = 1200
    orders_per_second: Annotated[
        float | None, Field(alias="ordersPerSecond", gt=0.0, le=10000.0)
    ] = None


class AllocationPolicy(StrEnum):
    EQUAL = "equal"
    FIXED = "fixed"
    WEIGHTED = "weighted"
    RISK_PARITY = "riskParity"
    SHARPE = "sharpe"


AmountsAdditionalProperty = TypeAliasType(
    "AmountsAdditionalProperty", Annotated[float, Field(ge=0.0)]
)


WeightsAdditionalProperty = TypeAliasType("WeightsAdditionalProperty", AmountsAdditionalProperty)


class AllocationSpec(ApiModel):
    capital: Annotated[float, Field(gt=0.0)]
    policy: Annotated[AllocationPolicy, Field(title="AllocationPolicy")] = AllocationPolicy.EQUAL
    amounts: Annotated[Mapping[str, AmountsAdditionalProperty] | None, Field(max_length=1000)] = (
        None
    )
    weights: Annotated[Mapping[str, WeightsAdditionalProperty] | None, Field(max_length=1000)] = (
        None
    )
    rebalance_schedule: Annotated[
        str,
        Field(
            alias="rebalanceSchedule",
            max_length=128,
            pattern="^(@(hourly|daily|weekly|monthly)|[0-9*/,-]+( [0-9*/,-]+){4})$",
        ),
    ] = "@daily"
    lookback: Annotated[int, Field(ge=3, le=365)] = 30


class AccountMarketData(ApiModel):
    shared: bool = False
    poll_interval_ms: Annotated[int, Field(alias="pollIntervalMs", ge=100, le=60000)] = 1000


class AccountRiskSpec(ApiModel):
    max_drawdown_pct: Annotated[float | None, Field(alias="maxDrawdownPct", gt=0.0, le=100.0)] = (
        None
    )
    max_gross_exposure: Annotated[float | None, Field(alias="maxGrossExposure", gt=0.0)] = None


class ExchangeAccountSpec(ApiModel):
    exchange: Annotated[Exchange, Field(title="Exchange")]
    mode: Annotated[TradingMode, Field(title="TradingMode")] = TradingMode.PAPER
    credentials: Annotated[AccountCredentials | None, Field(title="AccountCredentials")] = None
    rate_limit: Annotated[
        RateLimitBudget,
        Field(alias="rateLimit", title="RateLimitBudget", validate_default=True),
    ] = Field(default_factory=RateLimitBudget)
    allocation: Annotated[AllocationSpec, Field(title="AllocationSpec")]
    market_data: Annotated[
        AccountMarketData,
        Field(alias="marketData", title="AccountMarketData", validate_default=True),
    ] = Field(default_factory=AccountMarketData)
    risk: Annotated[AccountRiskSpec, Field(title="AccountRiskSpec", validate_default=True)] = Field(
        default_factory=AccountRiskSpec
    )
