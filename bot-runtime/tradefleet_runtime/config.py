"""The runtime's configuration: the JSON file the operator renders, parsed into frozen dataclasses.

``python -m tradefleet_runtime`` reads the file named by ``TRADEFLEET_CONFIG`` once at start
(:func:`load_runtime_config` for a bot, :func:`load_source_config` for a SignalSource workload)
and the bot's config watcher re-reads it on change. The contract is the operator's
``render_runtime_config`` / ``render_source_children``: camelCase keys, the TradingBot's
``spec.strategy`` and ``spec.risk`` verbatim. ``strategy`` is read through the model generated
from the CRD (:class:`tradefleet_api.models.StrategySpec`), so its defaults, bounds
and enums are the CRD's. Every problem raises :class:`ConfigError` naming the offending key,
so a bad revision exits with one clear log line (the operator's rollback then sees an
unhealthy pod) and a bad hot reload is refused with the reason.

Three optional blocks are the runtime's own (the operator does not render them, so production
uses their defaults): ``marketData`` (where ticks come from, how often the decision loop polls,
the tick validation bounds), ``venue`` (exchange timeout and ``recvWindow``) and ``paper`` (the
paper account's starting balance).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import ValidationError
from tradefleet_api import content_hash, describe_validation_error, validate
from tradefleet_api.base import ApiModel
from tradefleet_api.models import (
    FusionLearning,
    FusionWeights,
    RegimeParametersSet,
    SignalSourceSpec,
    SignalThresholds,
    StrategySpec,
)
from tradefleet_api.rules import strategy_breaches

from tradefleet_runtime.document import (
    ConfigError,
    check_kind,
    read_enum,
    read_flag,
    read_integer,
    read_number,
    read_object,
    read_optional_integer,
    read_optional_object,
    read_optional_text,
    read_text,
)
from tradefleet_runtime.risk import RiskConfigError, RiskLimits
from tradefleet_runtime.signals.regime_config import RegimeLabel, RegimeTradingParams

CONFIG_ENV = "TRADEFLEET_CONFIG"
# A signed request can execute until its recvWindow (plus the exchange's 1 s of skew) has passed,
# and the bot stops sending that long before its 10 s lease could lapse: a longer window would
# leave too little of the lease between two renewals (every 1 s) to send through a slow one.
RECV_WINDOW_MAX_MS = 5_000
TIMEFRAME_SECONDS: Mapping[str, int] = MappingProxyType(
    {"1m": 60, "5m": 300, "15m": 900, "1h": 3_600, "4h": 14_400, "1d": 86_400}
)
FUSION_COMPONENTS = ("regime", "ofi", "whale", "sentiment", "macro", "ml")
# The CRD has no block for the regime of a detector not yet warm: it trades cautiously.
_UNKNOWN_REGIME_PARAMS = RegimeTradingParams(
    position_size_multiplier=0.5, stop_loss_pct=2.0, take_profit_pct=3.0
)


_Model = TypeVar("_Model", bound=ApiModel)


class TradingMode(StrEnum):
    PAPER = "paper"
    TESTNET = "testnet"
    LIVE = "live"


class MarketKind(StrEnum):
    SPOT = "spot"
    FUTURES = "futures"


class MarketDataSource(StrEnum):
    """``exchange``: REST polling through the venue; ``replay``: a CSV/JSONL file of book ticks;
    ``synthetic``: the seeded generator of :mod:`tradefleet_runtime.marketdata.synthetic`;
    ``shared``: what a market-data publisher put in Redis
    (:mod:`tradefleet_runtime.marketdata.shared`)."""

    EXCHANGE = "exchange"
    REPLAY = "replay"
    SYNTHETIC = "synthetic"
    SHARED = "shared"


def read_config_document(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ConfigError when unreadable or not an object."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror or error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"config file {path} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return document


def config_path_from_env(environ: Mapping[str, str] | None = None) -> Path:
    value = (os.environ if environ is None else environ).get(CONFIG_ENV)
    if not value:
        raise ConfigError(f"environment variable {CONFIG_ENV} (path of the config file) is not set")
    return Path(value)


# ------------------------------------------------------------------------------ the bot


@dataclass(frozen=True, kw_only=True, slots=True)
class CredentialEnv:
    """Names of the environment variables holding the exchange credentials."""

    api_key_env: str
    api_secret_env: str
    passphrase_env: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ExchangeSettings:
    exchange: str
    market: MarketKind
    symbol: str
    mode: TradingMode
    live_trading_opt_in: bool
    base_url: str | None
    credentials: CredentialEnv | None
    # The least time between two exchange requests (a share of an ExchangeAccount's request
    # budget); None: the exchange client's own spacing.
    request_interval_ms: int | None = None
    # The least time between two orders (a share of an ExchangeAccount's orders per second);
    # None: orders are spaced only as requests are.
    order_interval_ms: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceRef:
    """A SignalSource the bot reads: its name, weight within its fusion input, and stream."""

    name: str
    weight: float
    redis_stream: str


# Share of the fused score a strategy plugin decides unless spec.strategy.strategyWeight says.
DEFAULT_STRATEGY_WEIGHT = StrategySpec().strategy_weight


@dataclass(frozen=True, kw_only=True, slots=True)
class StrategySettings:
    """``spec.strategy``: with a plugin (any name but ``fusion``), ``strategy_weight`` is its share
    of the fused score; the signal engines share the rest in their ``fusion_weights`` proportions."""

    name: str
    timeframe: str
    fusion_weights: Mapping[str, float]
    thresholds: SignalThresholds
    regime_params: Mapping[RegimeLabel, RegimeTradingParams]
    parameters: Mapping[str, Any]
    strategy_weight: float
    # How fusion weights adapt to each signal's realised information coefficient
    # (signals/learning.py), and how fast.
    fusion_learning: FusionLearning

    @property
    def bar_seconds(self) -> int:
        return TIMEFRAME_SECONDS[self.timeframe]


@dataclass(frozen=True, kw_only=True, slots=True)
class RedisSettings:
    url: str
    key_prefix: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiSettings:
    port: int
    control_token_env: str


@dataclass(frozen=True, kw_only=True, slots=True)
class MarketDataSettings:
    """Where ticks come from and how they are validated (the runtime's own block).

    ``poll_interval_ms`` is the decision loop's cadence: one book poll, validation and
    decision per interval. A tick older than ``max_tick_age_ms`` is stale; a mid price more
    than ``max_price_jump_pct`` away from the last accepted one is a price jump.
    """

    source: MarketDataSource = MarketDataSource.EXCHANGE
    poll_interval_ms: int = 1_000
    book_depth: int = 20
    history_bars: int = 1_200
    max_tick_age_ms: int = 10_000
    max_price_jump_pct: float = 10.0
    replay_path: str | None = None
    synthetic_seed: int = 0
    # The publisher's Redis key prefix (its config's redis.keyPrefix), for source shared.
    shared_key_prefix: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class VenueSettings:
    """How the runtime talks to the exchange (the runtime's own block): the HTTP timeout and
    the ``recvWindow`` of signed requests, which bounds how long a lost order can still execute."""

    timeout_ms: int = 5_000
    recv_window_ms: int = 5_000


@dataclass(frozen=True, kw_only=True, slots=True)
class PaperSettings:
    starting_balance: float = 10_000.0
    quote_currency: str = "USDT"


@dataclass(frozen=True, kw_only=True, slots=True)
class RuntimeConfig:
    """Everything one bot runtime is configured with (one revision of the rendered config)."""

    bot_name: str
    namespace: str
    exchange: ExchangeSettings
    strategy: StrategySettings
    risk: RiskLimits
    signal_sources: tuple[SourceRef, ...]
    redis: RedisSettings
    api: ApiSettings
    heartbeat_timeout_s: float
    market_data: MarketDataSettings
    venue: VenueSettings
    paper: PaperSettings
    config_hash: str
    document: Mapping[str, Any] = field(repr=False)


def _exchange(raw: Mapping[str, Any]) -> ExchangeSettings:
    path = "exchange"
    block = read_object(raw.get(path), path=path)
    credentials: CredentialEnv | None = None
    creds = block.get("credentials")
    if creds is not None:
        creds = read_object(creds, path="exchange.credentials")
        credentials = CredentialEnv(
            api_key_env=read_text(creds, "apiKeyEnv", path="exchange.credentials"),
            api_secret_env=read_text(creds, "apiSecretEnv", path="exchange.credentials"),
            passphrase_env=read_optional_text(creds, "passphraseEnv", path="exchange.credentials"),
        )
    settings = ExchangeSettings(
        exchange=read_text(block, "id", path=path),
        market=read_enum(block, "market", path=path, kind=MarketKind, default="spot"),
        symbol=read_text(block, "symbol", path=path),
        mode=read_enum(block, "mode", path=path, kind=TradingMode, default="paper"),
        live_trading_opt_in=read_flag(block, "liveTradingOptIn", path=path, default=False),
        base_url=read_optional_text(block, "baseUrl", path=path),
        credentials=credentials,
        request_interval_ms=read_optional_integer(
            block, "requestIntervalMs", path=path, low=1, high=3_600_000
        ),
        order_interval_ms=read_optional_integer(
            block, "orderIntervalMs", path=path, low=1, high=3_600_000
        ),
    )
    base, slash, quote = settings.symbol.partition("/")
    if not (base and slash and quote):
        raise ConfigError(f"exchange.symbol must look like BASE/QUOTE, got {settings.symbol!r}")
    if settings.mode is not TradingMode.PAPER and credentials is None:
        raise ConfigError(f"exchange.credentials are required in {settings.mode.value} mode")
    if settings.mode is TradingMode.LIVE and not settings.live_trading_opt_in:
        raise ConfigError("exchange.mode live needs exchange.liveTradingOptIn: true")
    return settings


def _validated(model: type[_Model], raw: Mapping[str, Any], key: str) -> _Model:
    """``raw[key]`` as the generated API ``model``: the CRD's defaults, bounds and enums."""
    try:
        return validate(model, read_optional_object(raw, key, path=""))
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, path=key)) from None


def _fusion_weights(spec: FusionWeights) -> Mapping[str, float]:
    weights = {name: float(getattr(spec, name)) for name in FUSION_COMPONENTS}
    # The ML input exists only when weighted: a bot without it fuses the five others as before.
    if weights["ml"] == 0.0:
        del weights["ml"]
    return MappingProxyType(weights)


def _regime_params(
    spec: RegimeParametersSet,
) -> Mapping[RegimeLabel, RegimeTradingParams]:
    params = {
        label: RegimeTradingParams(
            position_size_multiplier=block.size_multiplier,
            stop_loss_pct=block.stop_loss_pct,
            take_profit_pct=block.take_profit_pct,
        )
        for label, block in (
            (RegimeLabel.BULLISH_CALM, spec.bullish_calm),
            (RegimeLabel.BEARISH_VOLATILE, spec.bearish_volatile),
            (RegimeLabel.SQUEEZE, spec.squeeze),
        )
    }
    params[RegimeLabel.UNKNOWN] = _UNKNOWN_REGIME_PARAMS
    return MappingProxyType(params)


def _strategy(raw: Mapping[str, Any]) -> StrategySettings:
    spec = _validated(StrategySpec, raw, "strategy")
    # The rules between fields, as the operator applies them (a spec it accepts runs here).
    for breach in strategy_breaches(spec, path="strategy"):
        raise ConfigError(f"{breach.field}: {breach.message}")
    return StrategySettings(
        name=spec.name.value,
        timeframe=spec.timeframe.value,
        fusion_weights=_fusion_weights(spec.fusion_weights),
        thresholds=spec.thresholds,
        regime_params=_regime_params(spec.regime_parameters),
        # The parameters the user set, camelCase: StrategyParameters fills in the plugin's own.
        parameters=MappingProxyType(spec.parameters.model_dump(by_alias=True, exclude_unset=True)),
        strategy_weight=spec.strategy_weight,
        fusion_learning=spec.fusion_learning,
    )


def _sources(raw: Mapping[str, Any]) -> tuple[SourceRef, ...]:
    items = raw.get("signalSources") or []
    if not isinstance(items, list):
        raise ConfigError("signalSources must be a list")
    refs = []
    for index, item in enumerate(items):
        where = f"signalSources[{index}]"
        entry = read_object(item, path=where)
        refs.append(
            SourceRef(
                name=read_text(entry, "name", path=where),
                weight=read_number(entry, "weight", path=where, default=1.0, low=0.0, high=1.0),
                redis_stream=read_text(entry, "redisStream", path=where),
            )
        )
    names = [ref.name for ref in refs]
    if len(set(names)) != len(names):
        raise ConfigError(f"signalSources names must be unique, got {names}")
    return tuple(refs)


def redis_settings(raw: Mapping[str, Any], *, with_prefix: bool) -> RedisSettings:
    block = read_object(raw.get("redis"), path="redis")
    url = read_text(block, "url", path="redis")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"redis.url must be a redis:// URL, got {url!r}")
    prefix = read_text(block, "keyPrefix" if with_prefix else "stream", path="redis")
    return RedisSettings(url=url, key_prefix=prefix)


def _market_data(raw: Mapping[str, Any]) -> MarketDataSettings:
    path = "marketData"
    block = read_optional_object(raw, path, path="")
    settings = MarketDataSettings(
        source=read_enum(block, "source", path=path, kind=MarketDataSource, default="exchange"),
        poll_interval_ms=read_integer(
            block, "pollIntervalMs", path=path, default=1_000, low=10, high=3_600_000
        ),
        book_depth=read_integer(block, "bookDepth", path=path, default=20, low=5, high=1_000),
        history_bars=read_integer(
            block, "historyBars", path=path, default=1_200, low=30, high=1_500
        ),
        max_tick_age_ms=read_integer(
            block, "maxTickAgeMs", path=path, default=10_000, low=100, high=86_400_000
        ),
        max_price_jump_pct=read_number(
            block, "maxPriceJumpPct", path=path, default=10.0, low=0.01, high=100.0
        ),
        replay_path=read_optional_text(block, "replayPath", path=path),
        synthetic_seed=read_integer(
            block, "syntheticSeed", path=path, default=0, low=0, high=2**31
        ),
        shared_key_prefix=read_optional_text(block, "sharedKeyPrefix", path=path),
    )
    if settings.source is MarketDataSource.REPLAY and settings.replay_path is None:
        raise ConfigError("marketData.replayPath is required when marketData.source is replay")
    if settings.source is MarketDataSource.SHARED and settings.shared_key_prefix is None:
        raise ConfigError("marketData.sharedKeyPrefix is required when marketData.source is shared")
    return settings


def _venue(raw: Mapping[str, Any]) -> VenueSettings:
    block = read_optional_object(raw, "venue", path="")
    return VenueSettings(
        timeout_ms=read_integer(
            block, "timeoutMs", path="venue", default=5_000, low=100, high=120_000
        ),
        recv_window_ms=read_integer(
            block, "recvWindowMs", path="venue", default=5_000, low=100, high=RECV_WINDOW_MAX_MS
        ),
    )


def _paper(raw: Mapping[str, Any]) -> PaperSettings:
    block = read_optional_object(raw, "paper", path="")
    return PaperSettings(
        starting_balance=read_number(
            block, "startingBalance", path="paper", default=10_000.0, low=1.0, high=1e12
        ),
        quote_currency=read_text(block, "quoteCurrency", path="paper", default="USDT"),
    )


def parse_runtime_config(document: Mapping[str, Any]) -> RuntimeConfig:
    """A bot's RuntimeConfig document → :class:`RuntimeConfig`; ConfigError naming the key."""
    raw = read_object(document, path="config")
    check_kind(raw, kind="RuntimeConfig")
    bot = read_object(raw.get("bot"), path="bot")
    api = read_object(raw.get("api"), path="api")
    risk_spec = read_optional_object(raw, "risk", path="")
    try:
        risk = RiskLimits.from_spec(risk_spec)
    except RiskConfigError as error:
        raise ConfigError(str(error)) from None
    return RuntimeConfig(
        bot_name=read_text(bot, "name", path="bot"),
        namespace=read_text(bot, "namespace", path="bot"),
        exchange=_exchange(raw),
        strategy=_strategy(raw),
        risk=risk,
        signal_sources=_sources(raw),
        redis=redis_settings(raw, with_prefix=True),
        api=ApiSettings(
            port=read_integer(api, "port", path="api", default=8080, low=0, high=65_535),
            control_token_env=read_text(
                api, "controlTokenEnv", path="api", default="TRADEFLEET_CONTROL_TOKEN"
            ),
        ),
        heartbeat_timeout_s=read_number(
            raw, "heartbeatTimeoutSeconds", path="", default=30.0, low=1.0, high=3_600.0
        ),
        market_data=_market_data(raw),
        venue=_venue(raw),
        paper=_paper(raw),
        config_hash=content_hash(raw),
        document=MappingProxyType(dict(raw)),
    )


# Blocks a running bot cannot take over without a restart (connections, venue, port).
RESTART_ONLY_KEYS = ("bot", "exchange", "redis", "api", "paper", "venue")


def restart_only_changes(*, old: RuntimeConfig, new: RuntimeConfig) -> list[str]:
    """Top-level keys whose change a hot reload cannot apply."""
    return [key for key in RESTART_ONLY_KEYS if old.document.get(key) != new.document.get(key)]


def load_runtime_config(path: Path) -> RuntimeConfig:
    return parse_runtime_config(read_config_document(path))


# ------------------------------------------------------------------- the SignalSource


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceConfig:
    """A SignalSource workload's configuration; ``spec`` keeps the kind-specific block."""

    name: str
    namespace: str
    kind: str
    symbols: tuple[str, ...]
    interval_s: int
    paused: bool
    spec: Mapping[str, Any] = field(repr=False)
    redis_url: str
    stream: str
    port: int
    config_hash: str


def parse_source_config(document: Mapping[str, Any]) -> SourceConfig:
    """A SignalSourceConfig document → :class:`SourceConfig`; ConfigError naming the key."""
    raw = read_object(document, path="config")
    check_kind(raw, kind="SignalSourceConfig")
    source = read_object(raw.get("source"), path="source")
    spec = _validated(SignalSourceSpec, raw, "spec")
    kind = spec.kind.value
    if getattr(spec, kind) is None and kind != "whale":
        raise ConfigError(f"spec.{kind} is required for a {kind} source")
    for symbol in spec.symbols:
        if "/" not in symbol:
            raise ConfigError(f"spec.symbols must be BASE/QUOTE symbols, got {symbol!r}")
    redis = redis_settings(raw, with_prefix=False)
    api = read_object(raw.get("api"), path="api")
    return SourceConfig(
        name=read_text(source, "name", path="source"),
        namespace=read_text(source, "namespace", path="source"),
        kind=kind,
        symbols=spec.symbols,
        interval_s=spec.interval_seconds,
        paused=spec.paused,
        # The kind's block as written: the source's readers take what they need from it.
        spec=MappingProxyType(dict(raw["spec"])),
        redis_url=redis.url,
        stream=redis.key_prefix,
        port=read_integer(api, "port", path="api", default=8080, low=0, high=65_535),
        config_hash=content_hash(raw),
    )


def load_source_config(path: Path) -> SourceConfig:
    return parse_source_config(read_config_document(path))
