"""Typed, immutable mirror of the ``spec`` of the TradingBot and SignalSource CRDs.

Built by ``tradefleet_operator.spec.parsing`` from the dict the apiserver returns and read
by the operator (rendering, region pinning, self-healing policy) and the semantic
validation in ``tradefleet_operator.spec.validation``.

Mapping rules, checked against ``crds/`` by tests/unit/api/test_api_drift.py:
- a field ``snake_case`` is the schema property ``camelCase``;
- a field default is the schema default (nested objects with ``default: {}`` default to the
  instance with all their own defaults);
- an optional property without a schema default is ``None`` (an array: ``()``);
- int-or-string resource quantities are kept as their string form;
- properties the schema forbids with ``maxLength: 0`` (inline keys) are listed in the
  class's ``INLINE_SECRET_FIELDS`` and have no field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Final

from tradefleet_operator.spec.enums import (
    DeletionPolicy,
    Exchange,
    FusionInput,
    Market,
    NotificationEvent,
    NotificationType,
    OptimizerObjective,
    SignalSourceKind,
    StrategyName,
    Timeframe,
    TradingMode,
)

# Field metadata marking an int-or-string Kubernetes quantity (kept as text, checked on parse).
QUANTITY_METADATA: Final = MappingProxyType({"quantity": True})


@dataclass(frozen=True, kw_only=True, slots=True)
class CredentialsRef:
    """``spec.credentials.secretRef``: the Secret holding the exchange keys, and its data keys."""

    name: str
    api_key_key: str = "apiKey"
    api_secret_key: str = "apiSecret"
    passphrase_key: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CredentialsSpec:
    """``spec.credentials``: exchange keys by reference only."""

    INLINE_SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("apiKey", "apiSecret", "passphrase")

    secret_ref: CredentialsRef


@dataclass(frozen=True, kw_only=True, slots=True)
class FusionWeights:
    """``spec.strategy.fusionWeights``: weight of each fusion input; they must sum to 1."""

    regime: float = 0.25
    ofi: float = 0.2
    whale: float = 0.2
    sentiment: float = 0.2
    macro: float = 0.15
    ml: float = 0.0

    def total(self) -> float:
        """Sum of the weights."""
        return self.regime + self.ofi + self.whale + self.sentiment + self.macro + self.ml

    def weighted_inputs(self) -> int:
        """How many inputs fusion weighs (the ML input only with a weight)."""
        return 5 + (1 if self.ml > 0 else 0)


@dataclass(frozen=True, kw_only=True, slots=True)
class FusionLearning:
    """``spec.strategy.fusionLearning``: fusion weights that adapt to each signal's realised
    information coefficient (the runtime's signals/learning.py); off unless enabled."""

    enabled: bool = False
    half_life_bars: int = 48
    max_step_per_update: float = 0.02
    floor: float = 0.02
    horizon_bars: int = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalThresholds:
    """``spec.strategy.thresholds``: fused-score levels of the five decision classes."""

    buy: float = 0.2
    strong_buy: float = 0.5
    sell: float = -0.2
    strong_sell: float = -0.5


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalSourceRef:
    """One entry of ``spec.strategy.signalSources``: a SignalSource by name, with a weight."""

    name: str
    weight: float = 1.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeParameters:
    """Sizing and exits for one market regime (defaults differ per regime, see the set)."""

    size_multiplier: float
    stop_loss_pct: float
    take_profit_pct: float


@dataclass(frozen=True, kw_only=True, slots=True)
class RegimeParametersSet:
    """``spec.strategy.regimeParameters``: one ``RegimeParameters`` per regime."""

    bullish_calm: RegimeParameters = RegimeParameters(
        size_multiplier=1.2, stop_loss_pct=2.0, take_profit_pct=5.0
    )
    bearish_volatile: RegimeParameters = RegimeParameters(
        size_multiplier=0.5, stop_loss_pct=3.0, take_profit_pct=3.0
    )
    squeeze: RegimeParameters = RegimeParameters(
        size_multiplier=0.7, stop_loss_pct=1.5, take_profit_pct=2.5
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class StrategyParameters:
    """``spec.strategy.parameters``: parameters of the indicator strategies (percent units)."""

    ema_fast: int = 12
    ema_slow: int = 26
    rsi_period: int = 14
    rsi_overbought: float = 70.0
    rsi_oversold: float = 30.0
    stop_loss_pct: float = 1.0
    take_profit_pct: float = 2.0
    risk_per_trade_pct: float = 0.5
    bollinger_period: int = 20
    bollinger_std_dev: float = 2.0
    breakout_lookback: int = 20
    volume_window: int = 20
    volume_spike_multiplier: float = 1.5


@dataclass(frozen=True, kw_only=True, slots=True)
class StrategySpec:
    """``spec.strategy``: the strategy plugin and its inputs."""

    name: StrategyName = StrategyName.FUSION
    timeframe: Timeframe = Timeframe.M1
    fusion_weights: FusionWeights = FusionWeights()
    fusion_learning: FusionLearning = FusionLearning()
    thresholds: SignalThresholds = SignalThresholds()
    signal_sources: tuple[SignalSourceRef, ...] = ()
    regime_parameters: RegimeParametersSet = RegimeParametersSet()
    strategy_weight: float = 0.5
    parameters: StrategyParameters = StrategyParameters()


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskSpec:
    """``spec.risk``: sizing limits and circuit-breaker rules (percent of equity unless noted)."""

    kelly_fraction: float = 0.25
    max_position_pct: float = 10.0
    max_leverage: float = 1.0
    atr_stop_multiplier: float = 2.0
    atr_take_profit_multiplier: float = 3.0
    max_drawdown_pct: float = 20.0
    max_daily_loss_pct: float = 10.0
    max_consecutive_losses: int = 5
    atr_circuit_breaker_multiplier: float = 3.0
    max_total_exposure_pct: float = 100.0
    max_single_asset_exposure_pct: float = 50.0
    max_daily_var_pct: float = 5.0
    max_correlation: float = 0.8
    breaker_cooldown_seconds: int = 0
    flatten_on_trip: bool = False
    capital: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SelfHealingSpec:
    """``spec.selfHealing``: restart budget, backoff, health deadlines and rollback policy."""

    max_restarts: int = 5
    restart_window_seconds: int = 600
    backoff_seconds: int = 5
    max_backoff_seconds: int = 300
    progress_deadline_seconds: int = 120
    heartbeat_timeout_seconds: int = 30
    rollback_on_failure: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class ResourceQuantities:
    """CPU and memory quantities (``250m``, ``512Mi``); ``None`` = the operator's default."""

    cpu: str | None = field(default=None, metadata=QUANTITY_METADATA)
    memory: str | None = field(default=None, metadata=QUANTITY_METADATA)


@dataclass(frozen=True, kw_only=True, slots=True)
class ResourceRequirements:
    """``spec.resources``: container requests and limits."""

    requests: ResourceQuantities | None = None
    limits: ResourceQuantities | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OptimizerSpec:
    """``spec.optimizer``: scheduled parameter optimization."""

    enabled: bool = False
    schedule: str = "0 */6 * * *"
    lookback_bars: int = 2000
    objective: OptimizerObjective = OptimizerObjective.SHARPE
    trials: int = 60
    drawdown_penalty: float = 0.5
    min_trades: int = 5
    seed: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class NotificationSecretRef:
    """``spec.notifications[].secretRef``: the Secret key holding a target's URL or token."""

    name: str
    key: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TelegramTarget:
    """``spec.notifications[].telegram``: the chat, and the Bot API's base URL."""

    chat_id: str
    api_url: str = "https://api.telegram.org"


@dataclass(frozen=True, kw_only=True, slots=True)
class NotificationTarget:
    """One entry of ``spec.notifications``; ``events`` empty means every event."""

    name: str
    type: NotificationType
    secret_ref: NotificationSecretRef
    telegram: TelegramTarget | None = None
    events: tuple[NotificationEvent, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class TradingBotSpec:
    """``spec`` of a TradingBot."""

    INLINE_SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("apiKey", "apiSecret")

    exchange: Exchange
    market: Market = Market.SPOT
    symbol: str
    mode: TradingMode = TradingMode.PAPER
    live_trading_opt_in: bool = False
    credentials: CredentialsSpec | None = None
    region: str = "auto"
    strategy: StrategySpec = StrategySpec()
    risk: RiskSpec = RiskSpec()
    self_healing: SelfHealingSpec = SelfHealingSpec()
    paused: bool = False
    deletion_policy: DeletionPolicy = DeletionPolicy.FLATTEN
    image: str | None = None
    resources: ResourceRequirements | None = None
    optimizer: OptimizerSpec = OptimizerSpec()
    notifications: tuple[NotificationTarget, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class SentimentFeed:
    """One news or social feed of a sentiment source."""

    url: str
    credibility: float = 1.0


@dataclass(frozen=True, kw_only=True, slots=True)
class SentimentKeywords:
    """Keyword lists of the keyword scorer; an empty list means the built-in one."""

    bullish: tuple[str, ...] = ()
    bearish: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class SecretKeyRef:
    """One data key of a Secret in the resource's namespace."""

    name: str
    key: str = "apiKey"


@dataclass(frozen=True, kw_only=True, slots=True)
class LlmScoring:
    """``spec.sentiment.llm``: optional language-model scoring."""

    INLINE_SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("apiKey",)

    enabled: bool = False
    endpoint: str | None = None
    model: str | None = None
    api_key_secret_ref: SecretKeyRef | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SentimentConfig:
    """``spec.sentiment``: configuration of a sentiment source."""

    feeds: tuple[SentimentFeed, ...]
    keywords: SentimentKeywords | None = None
    llm: LlmScoring = LlmScoring()


@dataclass(frozen=True, kw_only=True, slots=True)
class AssetBias:
    """How strongly one asset follows the macro risk-on/risk-off score."""

    asset: str
    bias: float


@dataclass(frozen=True, kw_only=True, slots=True)
class MacroConfig:
    """``spec.macro``: configuration of a macro source."""

    events_config_map: str | None = None
    feeds: tuple[str, ...] = ()
    asset_biases: tuple[AssetBias, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class WhaleThreshold:
    """Smallest transfer, in USD, that counts as a whale move for one asset."""

    asset: str
    min_usd: float


@dataclass(frozen=True, kw_only=True, slots=True)
class SecretRef:
    """A whole Secret in the resource's namespace."""

    name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ExchangeAddresses:
    """The known wallets of one exchange, for telling exchange inflows from outflows."""

    exchange: str
    addresses: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class WhaleConfig:
    """``spec.whale``: configuration of a whale source (feedUrl or redisStream)."""

    feed_url: str | None = None
    redis_stream: str | None = None
    headers_secret_ref: SecretRef | None = None
    exchange_addresses: tuple[ExchangeAddresses, ...] = ()
    thresholds: tuple[WhaleThreshold, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpSourceConfig:
    """``spec.http``: configuration of an http source."""

    url: str
    json_path: str
    fusion_input: FusionInput = FusionInput.SENTIMENT
    headers_secret_ref: SecretRef | None = None
    timeout_seconds: int = 10


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalSourceSpec:
    """``spec`` of a SignalSource."""

    kind: SignalSourceKind
    symbols: tuple[str, ...]
    interval_seconds: int = 60
    paused: bool = False
    image: str | None = None
    # The region whose operator runs the source; unset: the first operator to see it claims it.
    region: str | None = None
    resources: ResourceRequirements | None = None
    sentiment: SentimentConfig | None = None
    macro: MacroConfig | None = None
    whale: WhaleConfig | None = None
    http: HttpSourceConfig | None = None
