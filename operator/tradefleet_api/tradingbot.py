# Generated from crds/tradefleet.io_tradingbots.yaml by `python -m tradefleet_devtools.api_models`: do not edit.
# The CRD is the API's one definition; change it there and regenerate.

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field

from tradefleet_api.base import ApiModel


class TradingBotCredentialsSecretRef(ApiModel):
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


class TradingBotCredentials(ApiModel):
    secret_ref: Annotated[
        TradingBotCredentialsSecretRef,
        Field(alias="secretRef", title="TradingBotCredentialsSecretRef"),
    ]
    api_key: Annotated[str | None, Field(alias="apiKey", max_length=0)] = None
    api_secret: Annotated[str | None, Field(alias="apiSecret", max_length=0)] = None
    passphrase: Annotated[str | None, Field(max_length=0)] = None


class TradingBotStrategyFusionWeights(ApiModel):
    regime: Annotated[float, Field(ge=0.0, le=1.0)] = 0.25
    ofi: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    whale: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    sentiment: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    macro: Annotated[float, Field(ge=0.0, le=1.0)] = 0.15
    ml: Annotated[float, Field(ge=0.0, le=1.0)] = 0


class TradingBotStrategyThresholds(ApiModel):
    buy: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    strong_buy: Annotated[float, Field(alias="strongBuy", ge=0.0, le=1.0)] = 0.5
    sell: Annotated[float, Field(ge=-1.0, le=0.0)] = -0.2
    strong_sell: Annotated[float, Field(alias="strongSell", ge=-1.0, le=0.0)] = -0.5


class TradingBotStrategySignalSource(ApiModel):
    name: Annotated[
        str,
        Field(
            max_length=253,
            min_length=1,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ]
    weight: Annotated[float, Field(ge=0.0, le=1.0)] = 1


class TradingBotStrategyRegimeParametersBullishCalm(ApiModel):
    size_multiplier: Annotated[float, Field(alias="sizeMultiplier", gt=0.0, le=5.0)] = 1.2
    stop_loss_pct: Annotated[float, Field(alias="stopLossPct", gt=0.0, le=50.0)] = 2
    take_profit_pct: Annotated[float, Field(alias="takeProfitPct", gt=0.0, le=100.0)] = 5


class TradingBotStrategyRegimeParametersBearishVolatile(ApiModel):
    size_multiplier: Annotated[float, Field(alias="sizeMultiplier", gt=0.0, le=5.0)] = 0.5
    stop_loss_pct: Annotated[float, Field(alias="stopLossPct", gt=0.0, le=50.0)] = 3
    take_profit_pct: Annotated[float, Field(alias="takeProfitPct", gt=0.0, le=100.0)] = 3


class TradingBotStrategyRegimeParametersSqueeze(ApiModel):
    size_multiplier: Annotated[float, Field(alias="sizeMultiplier", gt=0.0, le=5.0)] = 0.7
    stop_loss_pct: Annotated[float, Field(alias="stopLossPct", gt=0.0, le=50.0)] = 1.5
    take_profit_pct: Annotated[float, Field(alias="takeProfitPct", gt=0.0, le=100.0)] = 2.5


class TradingBotStrategyRegimeParameters(ApiModel):
    bullish_calm: Annotated[
        TradingBotStrategyRegimeParametersBullishCalm,
        Field(
            alias="bullishCalm",
            title="TradingBotStrategyRegimeParametersBullishCalm",
            validate_default=True,
        ),
    ] = Field(default_factory=TradingBotStrategyRegimeParametersBullishCalm)
    bearish_volatile: Annotated[
        TradingBotStrategyRegimeParametersBearishVolatile,
        Field(
            alias="bearishVolatile",
            title="TradingBotStrategyRegimeParametersBearishVolatile",
            validate_default=True,
        ),
    ] = Field(default_factory=TradingBotStrategyRegimeParametersBearishVolatile)
    squeeze: Annotated[
        TradingBotStrategyRegimeParametersSqueeze,
        Field(title="TradingBotStrategyRegimeParametersSqueeze", validate_default=True),
    ] = Field(default_factory=TradingBotStrategyRegimeParametersSqueeze)


class TradingBotStrategyFusionLearning(ApiModel):
    enabled: bool = False
    half_life_bars: Annotated[int, Field(alias="halfLifeBars", ge=1, le=10000)] = 48
    max_step_per_update: Annotated[float, Field(alias="maxStepPerUpdate", ge=0.0001, le=0.5)] = 0.02
    floor: Annotated[float, Field(ge=0.001, le=0.16)] = 0.02
    horizon_bars: Annotated[int, Field(alias="horizonBars", ge=1, le=100)] = 1


class TradingBotStrategyParameters(ApiModel):
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


class TradingBotStrategy(ApiModel):
    name: Literal["fusion", "ema_rsi", "mean_reversion", "momentum_breakout", "regime_adaptive"] = (
        "fusion"
    )
    timeframe: Literal["1m", "5m", "15m", "1h", "4h", "1d"] = "1m"
    fusion_weights: Annotated[
        TradingBotStrategyFusionWeights,
        Field(
            alias="fusionWeights", title="TradingBotStrategyFusionWeights", validate_default=True
        ),
    ] = Field(default_factory=TradingBotStrategyFusionWeights)
    thresholds: Annotated[
        TradingBotStrategyThresholds,
        Field(title="TradingBotStrategyThresholds", validate_default=True),
    ] = Field(default_factory=TradingBotStrategyThresholds)
    signal_sources: Annotated[
        Sequence[TradingBotStrategySignalSource] | None, Field(alias="signalSources", max_length=16)
    ] = None
    regime_parameters: Annotated[
        TradingBotStrategyRegimeParameters,
        Field(
            alias="regimeParameters",
            title="TradingBotStrategyRegimeParameters",
            validate_default=True,
        ),
    ] = Field(default_factory=TradingBotStrategyRegimeParameters)
    fusion_learning: Annotated[
        TradingBotStrategyFusionLearning,
        Field(
            alias="fusionLearning", title="TradingBotStrategyFusionLearning", validate_default=True
        ),
    ] = Field(default_factory=TradingBotStrategyFusionLearning)
    strategy_weight: Annotated[float, Field(alias="strategyWeight", ge=0.0, le=1.0)] = 0.5
    parameters: Annotated[
        TradingBotStrategyParameters,
        Field(title="TradingBotStrategyParameters", validate_default=True),
    ] = Field(default_factory=TradingBotStrategyParameters)


class TradingBotRisk(ApiModel):
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


class TradingBotSelfHealing(ApiModel):
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


class TradingBotResourcesRequests(ApiModel):
    cpu: int | str | None = None
    memory: int | str | None = None


class TradingBotResourcesLimits(ApiModel):
    cpu: int | str | None = None
    memory: int | str | None = None


class TradingBotResources(ApiModel):
    requests: Annotated[
        TradingBotResourcesRequests | None, Field(title="TradingBotResourcesRequests")
    ] = None
    limits: Annotated[
        TradingBotResourcesLimits | None, Field(title="TradingBotResourcesLimits")
    ] = None


class TradingBotOptimizer(ApiModel):
    enabled: bool = False
    schedule: Annotated[
        str,
        Field(
            max_length=128, pattern="^(@(hourly|daily|weekly|monthly)|[0-9*/,-]+( +[0-9*/,-]+){4})$"
        ),
    ] = "0 */6 * * *"
    lookback_bars: Annotated[int, Field(alias="lookbackBars", ge=100, le=100000)] = 2000
    objective: Literal["sharpe", "pnl", "composite"] = "sharpe"
    trials: Annotated[int, Field(ge=1, le=10000)] = 60
    drawdown_penalty: Annotated[float, Field(alias="drawdownPenalty", ge=0.0, le=10.0)] = 0.5
    min_trades: Annotated[int, Field(alias="minTrades", ge=0, le=10000)] = 5
    seed: Annotated[int | None, Field(ge=0, le=2147483647)] = None


class TradingBotNotificationSecretRef(ApiModel):
    name: Annotated[
        str,
        Field(
            max_length=253,
            min_length=1,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ]
    key: Annotated[str, Field(max_length=253, min_length=1)]


class TradingBotNotificationTelegram(ApiModel):
    chat_id: Annotated[
        str,
        Field(
            alias="chatId", max_length=64, min_length=1, pattern="^(-?[0-9]+|@[A-Za-z0-9_]{5,32})$"
        ),
    ]
    api_url: Annotated[str, Field(alias="apiUrl", max_length=2048, pattern="^https?://\\S+$")] = (
        "https://api.telegram.org"
    )


class TradingBotNotification(ApiModel):
    name: Annotated[
        str, Field(max_length=63, min_length=1, pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    ]
    type: Literal["webhook", "slack", "telegram"]
    secret_ref: Annotated[
        TradingBotNotificationSecretRef,
        Field(alias="secretRef", title="TradingBotNotificationSecretRef"),
    ]
    telegram: Annotated[
        TradingBotNotificationTelegram | None, Field(title="TradingBotNotificationTelegram")
    ] = None
    events: Annotated[Sequence[str] | None, Field(max_length=5, min_length=1)] = None


class TradingBotSpec(ApiModel):
    exchange: Literal[
        "binance",
        "binanceusdm",
        "okx",
        "bybit",
        "kraken",
        "coinbase",
        "bitget",
        "kucoin",
        "gateio",
        "htx",
        "deribit",
    ]
    market: Literal["spot", "futures"] = "spot"
    symbol: Annotated[
        str, Field(max_length=64, pattern="^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$")
    ]
    mode: Literal["paper", "testnet", "live"] = "paper"
    live_trading_opt_in: Annotated[bool, Field(alias="liveTradingOptIn")] = False
    credentials: Annotated[TradingBotCredentials | None, Field(title="TradingBotCredentials")] = (
        None
    )
    api_key: Annotated[str | None, Field(alias="apiKey", max_length=0)] = None
    api_secret: Annotated[str | None, Field(alias="apiSecret", max_length=0)] = None
    region: Annotated[str, Field(max_length=63, pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")] = "auto"
    strategy: Annotated[
        TradingBotStrategy, Field(title="TradingBotStrategy", validate_default=True)
    ] = Field(default_factory=TradingBotStrategy)
    risk: Annotated[TradingBotRisk, Field(title="TradingBotRisk", validate_default=True)] = Field(
        default_factory=TradingBotRisk
    )
    self_healing: Annotated[
        TradingBotSelfHealing,
        Field(alias="selfHealing", title="TradingBotSelfHealing", validate_default=True),
    ] = Field(default_factory=TradingBotSelfHealing)
    paused: bool = False
    deletion_policy: Annotated[Literal["Flatten", "Keep"], Field(alias="deletionPolicy")] = (
        "Flatten"
    )
    image: Annotated[str | None, Field(max_length=512, min_length=1)] = None
    resources: Annotated[TradingBotResources | None, Field(title="TradingBotResources")] = None
    optimizer: Annotated[
        TradingBotOptimizer, Field(title="TradingBotOptimizer", validate_default=True)
    ] = Field(default_factory=TradingBotOptimizer)
    notifications: Annotated[Sequence[TradingBotNotification] | None, Field(max_length=8)] = None
