"""Semantic validation of TradingBot and SignalSource specs: the rules OpenAPI cannot express.

The apiserver has already checked types, enums, bounds and patterns (the CRD schemas);
these rules relate fields to each other (weights that sum to 1, a stop inside its
take-profit, live mode with keys and consent, ...). Called by the operator's handlers on
every spec change; each ``ValidationProblem.reason`` is a CamelCase word the operator uses
as the condition reason when it marks the resource Invalid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from urllib.parse import urlsplit

from tradefleet_api.models import (
    Market,
    ResourceRequirements,
    SelfHealingSpec,
    SignalSourceKind,
    SignalSourceSpec,
    TradingBotSpec,
    TradingMode,
)
from tradefleet_api.rules import Breach, Rule, risk_breaches, stop_breaches, strategy_breaches

from tradefleet_operator.spec.exchanges import (
    CCXT_EXCHANGE_IDS,
    EXCHANGE_MARKETS,
    PASSPHRASE_EXCHANGES,
    TESTNET_EXCHANGES,
)
from tradefleet_operator.spec.quantity import parse_quantity
from tradefleet_operator.spec.schedule import cron_expression_error
from tradefleet_operator.spec.symbols import split_symbol


class ProblemReason(StrEnum):
    """Why a spec is invalid; usable as a Kubernetes condition reason."""

    # The rules between fields shared with the runtime (tradefleet_api.rules.Rule).
    FUSION_WEIGHTS_INVALID = Rule.FUSION_WEIGHTS_INVALID.value
    THRESHOLDS_INVALID = Rule.THRESHOLDS_INVALID.value
    STOP_ABOVE_TAKE_PROFIT = Rule.STOP_ABOVE_TAKE_PROFIT.value
    EMA_PERIODS_INVALID = Rule.EMA_PERIODS_INVALID.value
    RSI_LEVELS_INVALID = Rule.RSI_LEVELS_INVALID.value
    LIVE_MODE_NOT_OPTED_IN = "LiveModeNotOptedIn"
    LIVE_MODE_NEEDS_CREDENTIALS = "LiveModeNeedsCredentials"
    TESTNET_MODE_NEEDS_CREDENTIALS = "TestnetModeNeedsCredentials"
    TESTNET_NOT_SUPPORTED = "TestnetNotSupported"
    PASSPHRASE_REQUIRED = "PassphraseRequired"
    MARKET_NOT_SUPPORTED = "MarketNotSupported"
    SYMBOL_MARKET_MISMATCH = "SymbolMarketMismatch"
    LEVERAGE_NOT_ALLOWED_ON_SPOT = "LeverageNotAllowedOnSpot"
    EXPOSURE_LIMITS_INVALID = Rule.EXPOSURE_LIMITS_INVALID.value
    BACKOFF_INVALID = "BackoffInvalid"
    SCHEDULE_INVALID = "ScheduleInvalid"
    RESOURCES_INVALID = "ResourcesInvalid"
    SOURCE_CONFIG_MISSING = "SourceConfigMissing"
    SOURCE_CONFIG_FOR_OTHER_KIND = "SourceConfigForOtherKind"
    SOURCE_CONFIG_INVALID = "SourceConfigInvalid"
    NAME_TOO_LONG = "NameTooLong"
    IMAGE_NOT_ALLOWED = "ImageNotAllowed"
    HOST_NOT_ALLOWED = "HostNotAllowed"
    SYMBOL_TAKEN_ON_ACCOUNT = "SymbolTakenOnAccount"
    ACCOUNT_CONFLICT = "AccountConflict"
    ALLOCATION_INVALID = "AllocationInvalid"
    # Raised by the operator around validation: a spec the parser refuses, an exchange without a region.
    INVALID_SPEC = "InvalidSpec"
    REGION_UNRESOLVED = "RegionUnresolved"


_P = ProblemReason
# What each validation problem means (phase Invalid; the message names the field): the rules the
# CRD schema cannot express.
PROBLEM_MEANINGS: Mapping[ProblemReason, str] = MappingProxyType(
    {
        _P.FUSION_WEIGHTS_INVALID: "spec.strategy.fusionWeights do not sum to 1",
        _P.THRESHOLDS_INVALID: "spec.strategy.thresholds are not ordered strongSell < sell < buy < strongBuy",
        _P.STOP_ABOVE_TAKE_PROFIT: "a stop loss is not below its take profit",
        _P.EMA_PERIODS_INVALID: "the fast EMA period is not below the slow one",
        _P.RSI_LEVELS_INVALID: "the RSI oversold level is not below the overbought one",
        _P.LIVE_MODE_NOT_OPTED_IN: "mode live without spec.liveTradingOptIn: true",
        _P.LIVE_MODE_NEEDS_CREDENTIALS: "mode live without spec.credentials",
        _P.TESTNET_MODE_NEEDS_CREDENTIALS: "mode testnet without spec.credentials",
        _P.TESTNET_NOT_SUPPORTED: "the exchange has no test network",
        _P.PASSPHRASE_REQUIRED: "the exchange's keys need a passphrase and secretRef names none",
        _P.MARKET_NOT_SUPPORTED: "the exchange has no such market (or the runtime no client for it)",
        _P.SYMBOL_MARKET_MISMATCH: "a futures symbol without its settlement currency, or a spot one with it",
        _P.LEVERAGE_NOT_ALLOWED_ON_SPOT: "leverage above 1 on a spot market",
        _P.EXPOSURE_LIMITS_INVALID: "the exposure limits are out of order (a position above a "
        "single asset, a single asset above the total) or the total needs more than maxLeverage",
        _P.BACKOFF_INVALID: "selfHealing.backoffSeconds above maxBackoffSeconds",
        _P.SCHEDULE_INVALID: "spec.optimizer.schedule is no valid cron expression",
        _P.RESOURCES_INVALID: "a resource request above its limit",
        _P.SOURCE_CONFIG_MISSING: "(SignalSource) no configuration block for its kind",
        _P.SOURCE_CONFIG_FOR_OTHER_KIND: "(SignalSource) a configuration block of another kind",
        _P.SOURCE_CONFIG_INVALID: "(SignalSource) its configuration is inconsistent",
        _P.NAME_TOO_LONG: "metadata.name is longer than a label value (63 characters)",
        _P.INVALID_SPEC: "the spec cannot be read (the apiserver normally refuses it first)",
        _P.REGION_UNRESOLVED: "spec.region auto, and the operator's map has no region for the exchange",
        _P.IMAGE_NOT_ALLOWED: "spec.image is under none of the operator's allowed image prefixes "
        "(its own images, and the Helm value runtime.allowedImagePrefixes)",
        _P.HOST_NOT_ALLOWED: "(SignalSource) a feed, URL or endpoint on a host outside the "
        "operator's allow-list (the Helm value runtime.sourceAllowedHosts)",
        _P.SYMBOL_TAKEN_ON_ACCOUNT: "another bot, created earlier, trades this symbol on the "
        "same exchange account (exchange, mode and credentials Secret)",
        _P.ACCOUNT_CONFLICT: "a bot with spec.accountRef names its own keys or capital, or an "
        "exchange or mode other than its ExchangeAccount's",
        _P.ALLOCATION_INVALID: "(ExchangeAccount) spec.allocation.amounts add up to more than "
        "spec.allocation.capital",
    }
)
# What to do about a validation problem, where it is more than fixing the field named.
PROBLEM_FIXES: Mapping[ProblemReason, str] = MappingProxyType(
    {
        _P.NAME_TOO_LONG: "recreate it under a shorter name",
        _P.REGION_UNRESOLVED: "set spec.region, or add the exchange to the operator's exchangeRegions",
        _P.IMAGE_NOT_ALLOWED: "unset spec.image, use an allowed image, or have the administrator "
        "allow its prefix",
        _P.HOST_NOT_ALLOWED: "fetch from an allowed host, or have the administrator allow it",
        _P.SYMBOL_TAKEN_ON_ACCOUNT: "give the bot another symbol or its own account's keys, or "
        "delete the other bot",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ValidationProblem:
    """One broken rule: the field it is about (``spec.risk.maxLeverage``), why, and a message."""

    field: str
    reason: ProblemReason
    message: str


def validate_trading_bot_spec(spec: TradingBotSpec) -> list[ValidationProblem]:
    """Every semantic problem of a TradingBot spec; empty when the spec is valid."""
    return [
        *_mode_problems(spec),
        *_market_problems(spec),
        *_rule_problems(strategy_breaches(spec.strategy)),
        *_rule_problems(risk_breaches(spec.risk)),
        *_rule_problems(stop_breaches(spec.strategy, spec.risk)),
        *_self_healing_problems(spec.self_healing),
        *_resource_problems(spec.resources),
        *_schedule_problems(spec.optimizer.schedule),
        *_account_ref_problems(spec),
    ]


def _account_ref_problems(spec: TradingBotSpec) -> list[ValidationProblem]:
    """A bot on an ExchangeAccount takes its keys and its capital from the account."""
    if spec.account_ref is None:
        return []
    account = spec.account_ref.name
    own = [
        ("spec.credentials", spec.credentials is not None, "keys"),
        ("spec.risk.capital", spec.risk.capital is not None, "capital (its allocation)"),
    ]
    return [
        ValidationProblem(
            field=field,
            reason=ProblemReason.ACCOUNT_CONFLICT,
            message=f"the bot trades on ExchangeAccount {account}, which gives it its {what}: "
            f"remove {field}",
        )
        for field, present, what in own
        if present
    ]


# A resource's name is the value of its children's labels, which hold at most 63 characters.
MAX_RESOURCE_NAME = 63


def validate_resource_name(name: str) -> list[ValidationProblem]:
    """Problems of a TradingBot's or SignalSource's ``metadata.name`` (the apiserver allows 253
    characters; its children's label values, 63)."""
    if len(name) <= MAX_RESOURCE_NAME:
        return []
    return [
        ValidationProblem(
            field="metadata.name",
            reason=ProblemReason.NAME_TOO_LONG,
            message=f"{len(name)} characters; the name is the value of its children's labels, "
            f"which hold at most {MAX_RESOURCE_NAME}: recreate it under a shorter name",
        )
    ]


# Where an allowed prefix may end inside an image reference: a path segment, a tag or a digest.
_IMAGE_NAME_BOUNDARIES = ("/", ":", "@")


def _under_prefix(*, image: str, prefix: str) -> bool:
    if not prefix or not image.startswith(prefix):
        return False
    rest = image[len(prefix) :]
    return not rest or prefix.endswith(_IMAGE_NAME_BOUNDARIES) or rest[0] in _IMAGE_NAME_BOUNDARIES


def validate_image(
    *, field: str, image: str | None, allowed_prefixes: Sequence[str]
) -> list[ValidationProblem]:
    """Problems of an image a TradingBot or SignalSource names: it must lie under one of the
    operator's allowed prefixes. A prefix ends at a name boundary (``ghcr.io/x/runtime`` admits
    ``ghcr.io/x/runtime:1``, ``...@sha256:...`` and ``ghcr.io/x/runtime/debug``, never
    ``ghcr.io/x/runtime-evil``), unless it ends with ``/``, ``:`` or ``@`` itself. Unset: the
    operator's own image, always allowed."""
    if image is None or any(_under_prefix(image=image, prefix=p) for p in allowed_prefixes):
        return []
    return [
        ValidationProblem(
            field=field,
            reason=ProblemReason.IMAGE_NOT_ALLOWED,
            message=f"{image!r} is not under an allowed image prefix "
            f"({', '.join(allowed_prefixes)}): unset it to run the operator's image, use an image "
            "under one of them, or have the operator's administrator add its prefix (Helm value "
            "runtime.allowedImagePrefixes)",
        )
    ]


def source_locations(spec: SignalSourceSpec) -> list[tuple[str, str]]:
    """(field, URL or path) of everything a source fetches: its feeds, its http URL, its
    language model's endpoint."""
    found: list[tuple[str, str]] = []
    if spec.sentiment is not None:
        found.extend(
            (f"spec.sentiment.feeds[{i}].url", feed.url)
            for i, feed in enumerate(spec.sentiment.feeds)
        )
        if spec.sentiment.llm.endpoint:
            found.append(("spec.sentiment.llm.endpoint", spec.sentiment.llm.endpoint))
    if spec.macro is not None:
        found.extend((f"spec.macro.feeds[{i}]", url) for i, url in enumerate(spec.macro.feeds))
    if spec.whale is not None and spec.whale.feed_url:
        found.append(("spec.whale.feedUrl", spec.whale.feed_url))
    if spec.http is not None:
        found.append(("spec.http.url", spec.http.url))
    return found


def _host_allowed(*, host: str, allowed: Sequence[str]) -> bool:
    """``host`` is an allowed host or a subdomain of one (``example.com`` admits
    ``news.example.com``, never ``badexample.com``)."""
    host = host.lower().rstrip(".")
    return any(
        host == entry or host.endswith(f".{entry}")
        for entry in (a.lower().strip(".") for a in allowed)
    )


def validate_source_hosts(
    *, spec: SignalSourceSpec, allowed_hosts: Sequence[str]
) -> list[ValidationProblem]:
    """Problems of a source that would fetch from a host outside the operator's allow-list
    (none when the list is empty: any host). Files and paths have no host and are allowed."""
    if not allowed_hosts:
        return []
    problems: list[ValidationProblem] = []
    for field, location in source_locations(spec):
        host = urlsplit(location).hostname
        if host is None or _host_allowed(host=host, allowed=allowed_hosts):
            continue
        problems.append(
            ValidationProblem(
                field=field,
                reason=ProblemReason.HOST_NOT_ALLOWED,
                message=f"{host!r} is not among the hosts signal sources may fetch from "
                f"({', '.join(allowed_hosts)}): use an allowed host, or have the operator's "
                "administrator add it (Helm value runtime.sourceAllowedHosts)",
            )
        )
    return problems


# Keys of bots' state and of sources' readings: no source may read them as its input.
TRADEFLEET_KEY_PREFIXES = ("tradefleet:bot:", "tradefleet:signals:", "tradefleet:source:")


def validate_signal_source_spec(spec: SignalSourceSpec) -> list[ValidationProblem]:
    """Every semantic problem of a SignalSource spec; empty when the spec is valid."""
    return [*_source_config_problems(spec), *_resource_problems(spec.resources)]


def source_covers_symbol(*, source: SignalSourceSpec, symbol: str) -> bool:
    """Whether ``source`` publishes a value a bot trading ``symbol`` reads.

    A futures bot (``BTC/USDT:USDT``) also reads the value of its spot symbol (``BTC/USDT``).
    """
    parts = split_symbol(symbol=symbol, field="symbol")
    return symbol in source.symbols or parts.spot_symbol in source.symbols


def _mode_problems(spec: TradingBotSpec) -> list[ValidationProblem]:
    problems: list[ValidationProblem] = []
    if spec.mode is TradingMode.LIVE:
        if not spec.live_trading_opt_in:
            problems.append(
                ValidationProblem(
                    field="spec.liveTradingOptIn",
                    reason=ProblemReason.LIVE_MODE_NOT_OPTED_IN,
                    message="mode live trades real money: set liveTradingOptIn: true to consent",
                )
            )
        if spec.credentials is None and spec.account_ref is None:
            problems.append(
                ValidationProblem(
                    field="spec.credentials",
                    reason=ProblemReason.LIVE_MODE_NEEDS_CREDENTIALS,
                    message="mode live needs credentials.secretRef naming a Secret with API keys",
                )
            )
    if spec.mode is TradingMode.TESTNET:
        if spec.exchange not in TESTNET_EXCHANGES:
            problems.append(
                ValidationProblem(
                    field="spec.mode",
                    reason=ProblemReason.TESTNET_NOT_SUPPORTED,
                    message=f"{spec.exchange} has no test network; use mode paper",
                )
            )
        if spec.credentials is None and spec.account_ref is None:
            problems.append(
                ValidationProblem(
                    field="spec.credentials",
                    reason=ProblemReason.TESTNET_MODE_NEEDS_CREDENTIALS,
                    message="mode testnet needs credentials.secretRef naming a Secret with "
                    "testnet API keys",
                )
            )
    if (
        spec.credentials is not None
        and spec.exchange in PASSPHRASE_EXCHANGES
        and spec.credentials.secret_ref.passphrase_key is None
    ):
        problems.append(
            ValidationProblem(
                field="spec.credentials.secretRef.passphraseKey",
                reason=ProblemReason.PASSPHRASE_REQUIRED,
                message=f"{spec.exchange} API keys come with a passphrase: set passphraseKey "
                "to the Secret's data key holding it",
            )
        )
    return problems


def _market_problems(spec: TradingBotSpec) -> list[ValidationProblem]:
    problems: list[ValidationProblem] = []
    if spec.market not in EXCHANGE_MARKETS[spec.exchange]:
        problems.append(
            ValidationProblem(
                field="spec.market",
                reason=ProblemReason.MARKET_NOT_SUPPORTED,
                message=f"{spec.exchange} has no {spec.market} market",
            )
        )
    elif (spec.exchange, spec.market) not in CCXT_EXCHANGE_IDS:
        problems.append(
            ValidationProblem(
                field="spec.exchange",
                reason=ProblemReason.MARKET_NOT_SUPPORTED,
                message=f"the runtime has no exchange client for {spec.exchange} {spec.market}",
            )
        )
    parts = split_symbol(symbol=spec.symbol, field="spec.symbol")
    if spec.market is Market.FUTURES and parts.settle is None:
        problems.append(
            ValidationProblem(
                field="spec.symbol",
                reason=ProblemReason.SYMBOL_MARKET_MISMATCH,
                message=f"a futures symbol names its settlement currency: "
                f"{parts.spot_symbol}:{parts.quote}, not {spec.symbol}",
            )
        )
    if spec.market is Market.SPOT and parts.settle is not None:
        problems.append(
            ValidationProblem(
                field="spec.symbol",
                reason=ProblemReason.SYMBOL_MARKET_MISMATCH,
                message=f"{spec.symbol} is a futures symbol: use {parts.spot_symbol} for spot, "
                "or market: futures",
            )
        )
    if spec.market is Market.SPOT and spec.risk.max_leverage > 1:
        problems.append(
            ValidationProblem(
                field="spec.risk.maxLeverage",
                reason=ProblemReason.LEVERAGE_NOT_ALLOWED_ON_SPOT,
                message=f"spot trading has no leverage: maxLeverage must be 1, "
                f"not {spec.risk.max_leverage:g}",
            )
        )
    return problems


def _rule_problems(breaches: list[Breach]) -> list[ValidationProblem]:
    # The rules between fields the runtime enforces too (tradefleet_api.rules): same messages.
    return [
        ValidationProblem(
            field=breach.field, reason=ProblemReason(breach.rule), message=breach.message
        )
        for breach in breaches
    ]


def _self_healing_problems(policy: SelfHealingSpec) -> list[ValidationProblem]:
    if policy.backoff_seconds <= policy.max_backoff_seconds:
        return []
    return [
        ValidationProblem(
            field="spec.selfHealing.backoffSeconds",
            reason=ProblemReason.BACKOFF_INVALID,
            message=f"backoffSeconds ({policy.backoff_seconds}) is above maxBackoffSeconds "
            f"({policy.max_backoff_seconds})",
        )
    ]


def _resource_problems(resources: ResourceRequirements | None) -> list[ValidationProblem]:
    if resources is None or resources.requests is None or resources.limits is None:
        return []
    problems: list[ValidationProblem] = []
    for name, request, limit in (
        ("cpu", resources.requests.cpu, resources.limits.cpu),
        ("memory", resources.requests.memory, resources.limits.memory),
    ):
        if request is None or limit is None:
            continue
        request_path = f"spec.resources.requests.{name}"
        request_value = parse_quantity(text=request, field=request_path)
        limit_value = parse_quantity(text=limit, field=f"spec.resources.limits.{name}")
        if request_value > limit_value:
            problems.append(
                ValidationProblem(
                    field=request_path,
                    reason=ProblemReason.RESOURCES_INVALID,
                    message=f"{name} request {request} is above its limit {limit}",
                )
            )
    return problems


def _schedule_problems(schedule: str) -> list[ValidationProblem]:
    error = cron_expression_error(schedule)
    if error is None:
        return []
    return [
        ValidationProblem(
            field="spec.optimizer.schedule",
            reason=ProblemReason.SCHEDULE_INVALID,
            message=error,
        )
    ]


def _source_config_problems(spec: SignalSourceSpec) -> list[ValidationProblem]:
    blocks = {
        SignalSourceKind.SENTIMENT: spec.sentiment,
        SignalSourceKind.MACRO: spec.macro,
        SignalSourceKind.WHALE: spec.whale,
        SignalSourceKind.HTTP: spec.http,
    }
    problems = [
        ValidationProblem(
            field=f"spec.{kind}",
            reason=ProblemReason.SOURCE_CONFIG_FOR_OTHER_KIND,
            message=f"a {spec.kind} source takes only the {spec.kind} block; remove {kind}",
        )
        for kind, block in blocks.items()
        if kind is not spec.kind and block is not None
    ]
    if blocks[spec.kind] is None:
        problems.append(
            ValidationProblem(
                field=f"spec.{spec.kind}",
                reason=ProblemReason.SOURCE_CONFIG_MISSING,
                message=f"a {spec.kind} source needs its {spec.kind} block",
            )
        )
    if spec.kind is SignalSourceKind.SENTIMENT and spec.sentiment is not None:
        llm = spec.sentiment.llm
        if llm.enabled and (llm.endpoint is None or llm.model is None):
            problems.append(
                ValidationProblem(
                    field="spec.sentiment.llm",
                    reason=ProblemReason.SOURCE_CONFIG_INVALID,
                    message="llm.enabled needs both llm.endpoint and llm.model",
                )
            )
    if (
        spec.kind is SignalSourceKind.MACRO
        and spec.macro is not None
        and spec.macro.events_config_map is None
        and not spec.macro.feeds
    ):
        problems.append(
            ValidationProblem(
                field="spec.macro",
                reason=ProblemReason.SOURCE_CONFIG_MISSING,
                message="a macro source needs eventsConfigMap, feeds, or both",
            )
        )
    if spec.kind is SignalSourceKind.WHALE and spec.whale is not None:
        has_feed = spec.whale.feed_url is not None
        has_stream = spec.whale.redis_stream is not None
        if has_feed and has_stream:
            problems.append(
                ValidationProblem(
                    field="spec.whale",
                    reason=ProblemReason.SOURCE_CONFIG_INVALID,
                    message="set feedUrl or redisStream, not both",
                )
            )
        if not has_feed and not has_stream:
            problems.append(
                ValidationProblem(
                    field="spec.whale",
                    reason=ProblemReason.SOURCE_CONFIG_MISSING,
                    message="a whale source needs feedUrl or redisStream",
                )
            )
        stream = spec.whale.redis_stream or ""
        if stream.startswith(TRADEFLEET_KEY_PREFIXES):
            problems.append(
                ValidationProblem(
                    field="spec.whale.redisStream",
                    reason=ProblemReason.SOURCE_CONFIG_INVALID,
                    message=f"{stream!r} is one of Tradefleet's own keys (a bot's state or a "
                    "source's readings); name the stream your transfer service writes",
                )
            )
    return problems
