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
import math
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

from tradefleet_runtime.risk import RiskConfigError, RiskLimits
from tradefleet_runtime.signals.regime_config import RegimeLabel, RegimeTradingParams

API_VERSION = "tradefleet.io/v1alpha1"
CONFIG_ENV = "TRADEFLEET_CONFIG"
TIMEFRAME_SECONDS: Mapping[str, int] = MappingProxyType(
    {"1m": 60, "5m": 300, "15m": 900, "1h": 3_600, "4h": 14_400, "1d": 86_400}
)
FUSION_COMPONENTS = ("regime", "ofi", "whale", "sentiment", "macro", "ml")
# The CRD has no block for the regime of a detector not yet warm: it trades cautiously.
_UNKNOWN_REGIME_PARAMS = RegimeTradingParams(
    position_size_multiplier=0.5, stop_loss_pct=2.0, take_profit_pct=3.0
)


_Model = TypeVar("_Model", bound=ApiModel)


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; the message names the key."""


class TradingMode(StrEnum):
    PAPER = "paper"
    TESTNET = "testnet"
    LIVE = "live"


class MarketKind(StrEnum):
    SPOT = "spot"
    FUTURES = "futures"


class MarketDataSource(StrEnum):
    """``exchange``: REST polling through the venue; ``replay``: a CSV/JSONL file of book ticks;
    ``synthetic``: the seeded generator of :mod:`tradefleet_runtime.marketdata.synthetic`."""

    EXCHANGE = "exchange"
    REPLAY = "replay"
    SYNTHETIC = "synthetic"


# ------------------------------------------------------------------------------- readers


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _object(raw: object, *, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path} must be an object, got {type(raw).__name__}")
    return raw


def _optional_object(raw: Mapping[str, Any], key: str, *, path: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return {} if value is None else _object(value, path=_where(path, key))


def _text(raw: Mapping[str, Any], key: str, *, path: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{_where(path, key)} must be a non-empty string, got {value!r}")
    return value


def _optional_text(raw: Mapping[str, Any], key: str, *, path: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    return _text(raw, key, path=path)


def _number(
    raw: Mapping[str, Any],
    key: str,
    *,
    path: str,
    default: float,
    low: float | None = None,
    high: float | None = None,
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{_where(path, key)} must be a finite number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{_where(path, key)} must be within [{low}, {high}], got {value!r}")
    return float(value)


def _integer(
    raw: Mapping[str, Any], key: str, *, path: str, default: int, low: int, high: int
) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{_where(path, key)} must be an integer in [{low}, {high}], got {value!r}"
        )
    return value


def _flag(raw: Mapping[str, Any], key: str, *, path: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{_where(path, key)} must be true or false, got {value!r}")
    return value


def _enum(raw: Mapping[str, Any], key: str, *, path: str, kind: type[StrEnum], default: str) -> Any:
    value = raw.get(key, default)
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ConfigError(f"{_where(path, key)} must be one of {allowed}, got {value!r}") from None


def _check_kind(raw: Mapping[str, Any], *, kind: str) -> None:
    if raw.get("apiVersion") != API_VERSION or raw.get("kind") != kind:
        raise ConfigError(
            f"expected apiVersion {API_VERSION} kind {kind}, got "
            f"{raw.get('apiVersion')!r} {raw.get('kind')!r}"
        )


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
    block = _object(raw.get(path), path=path)
    credentials: CredentialEnv | None = None
    creds = block.get("credentials")
    if creds is not None:
        creds = _object(creds, path="exchange.credentials")
        credentials = CredentialEnv(
            api_key_env=_text(creds, "apiKeyEnv", path="exchange.credentials"),
            api_secret_env=_text(creds, "apiSecretEnv", path="exchange.credentials"),
            passphrase_env=_optional_text(creds, "passphraseEnv", path="exchange.credentials"),
        )
    settings = ExchangeSettings(
        exchange=_text(block, "id", path=path),
        market=_enum(block, "market", path=path, kind=MarketKind, default="spot"),
        symbol=_text(block, "symbol", path=path),
        mode=_enum(block, "mode", path=path, kind=TradingMode, default="paper"),
        live_trading_opt_in=_flag(block, "liveTradingOptIn", path=path, default=False),
        base_url=_optional_text(block, "baseUrl", path=path),
        credentials=credentials,
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
        return validate(model, _optional_object(raw, key, path=""))
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
        entry = _object(item, path=where)
        refs.append(
            SourceRef(
                name=_text(entry, "name", path=where),
                weight=_number(entry, "weight", path=where, default=1.0, low=0.0, high=1.0),
                redis_stream=_text(entry, "redisStream", path=where),
            )
        )
    names = [ref.name for ref in refs]
    if len(set(names)) != len(names):
        raise ConfigError(f"signalSources names must be unique, got {names}")
    return tuple(refs)


def _redis(raw: Mapping[str, Any], *, with_prefix: bool) -> RedisSettings:
    block = _object(raw.get("redis"), path="redis")
    url = _text(block, "url", path="redis")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"redis.url must be a redis:// URL, got {url!r}")
    prefix = _text(block, "keyPrefix" if with_prefix else "stream", path="redis")
    return RedisSettings(url=url, key_prefix=prefix)


def _market_data(raw: Mapping[str, Any]) -> MarketDataSettings:
    path = "marketData"
    block = _optional_object(raw, path, path="")
    settings = MarketDataSettings(
        source=_enum(block, "source", path=path, kind=MarketDataSource, default="exchange"),
        poll_interval_ms=_integer(
            block, "pollIntervalMs", path=path, default=1_000, low=10, high=3_600_000
        ),
        book_depth=_integer(block, "bookDepth", path=path, default=20, low=5, high=1_000),
        history_bars=_integer(block, "historyBars", path=path, default=1_200, low=30, high=1_500),
        max_tick_age_ms=_integer(
            block, "maxTickAgeMs", path=path, default=10_000, low=100, high=86_400_000
        ),
        max_price_jump_pct=_number(
            block, "maxPriceJumpPct", path=path, default=10.0, low=0.01, high=100.0
        ),
        replay_path=_optional_text(block, "replayPath", path=path),
        synthetic_seed=_integer(block, "syntheticSeed", path=path, default=0, low=0, high=2**31),
    )
    if settings.source is MarketDataSource.REPLAY and settings.replay_path is None:
        raise ConfigError("marketData.replayPath is required when marketData.source is replay")
    return settings


def _venue(raw: Mapping[str, Any]) -> VenueSettings:
    block = _optional_object(raw, "venue", path="")
    return VenueSettings(
        timeout_ms=_integer(block, "timeoutMs", path="venue", default=5_000, low=100, high=120_000),
        recv_window_ms=_integer(
            block, "recvWindowMs", path="venue", default=5_000, low=100, high=60_000
        ),
    )


def _paper(raw: Mapping[str, Any]) -> PaperSettings:
    block = _optional_object(raw, "paper", path="")
    return PaperSettings(
        starting_balance=_number(
            block, "startingBalance", path="paper", default=10_000.0, low=1.0, high=1e12
        ),
        quote_currency=_text(block, "quoteCurrency", path="paper", default="USDT"),
    )


def parse_runtime_config(document: Mapping[str, Any]) -> RuntimeConfig:
    """A bot's RuntimeConfig document → :class:`RuntimeConfig`; ConfigError naming the key."""
    raw = _object(document, path="config")
    _check_kind(raw, kind="RuntimeConfig")
    bot = _object(raw.get("bot"), path="bot")
    api = _object(raw.get("api"), path="api")
    risk_spec = _optional_object(raw, "risk", path="")
    try:
        risk = RiskLimits.from_spec(risk_spec)
    except RiskConfigError as error:
        raise ConfigError(str(error)) from None
    return RuntimeConfig(
        bot_name=_text(bot, "name", path="bot"),
        namespace=_text(bot, "namespace", path="bot"),
        exchange=_exchange(raw),
        strategy=_strategy(raw),
        risk=risk,
        signal_sources=_sources(raw),
        redis=_redis(raw, with_prefix=True),
        api=ApiSettings(
            port=_integer(api, "port", path="api", default=8080, low=0, high=65_535),
            control_token_env=_text(
                api, "controlTokenEnv", path="api", default="TRADEFLEET_CONTROL_TOKEN"
            ),
        ),
        heartbeat_timeout_s=_number(
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
    raw = _object(document, path="config")
    _check_kind(raw, kind="SignalSourceConfig")
    source = _object(raw.get("source"), path="source")
    spec = _validated(SignalSourceSpec, raw, "spec")
    kind = spec.kind.value
    if getattr(spec, kind) is None and kind != "whale":
        raise ConfigError(f"spec.{kind} is required for a {kind} source")
    for symbol in spec.symbols:
        if "/" not in symbol:
            raise ConfigError(f"spec.symbols must be BASE/QUOTE symbols, got {symbol!r}")
    redis = _redis(raw, with_prefix=False)
    api = _object(raw.get("api"), path="api")
    return SourceConfig(
        name=_text(source, "name", path="source"),
        namespace=_text(source, "namespace", path="source"),
        kind=kind,
        symbols=spec.symbols,
        interval_s=spec.interval_seconds,
        paused=spec.paused,
        # The kind's block as written: the source's readers take what they need from it.
        spec=MappingProxyType(dict(raw["spec"])),
        redis_url=redis.url,
        stream=redis.key_prefix,
        port=_integer(api, "port", path="api", default=8080, low=0, high=65_535),
        config_hash=content_hash(raw),
    )


def load_source_config(path: Path) -> SourceConfig:
    return parse_source_config(read_config_document(path))
