"""Closed sets of values of the Tradefleet API (the ``enum`` lists of the CRDs in ``crds/``).

Used by the spec models in this package, and by the operator when it writes status
(phases, circuit-breaker state, position side, signal action, revision source).
tests/unit/api checks every class here against the CRD enum it mirrors.
"""

from __future__ import annotations

from enum import StrEnum


class Exchange(StrEnum):
    """Exchange a TradingBot trades on (ccxt exchange id)."""

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
    """Market type: the asset itself or perpetual contracts."""

    SPOT = "spot"
    FUTURES = "futures"


class TradingMode(StrEnum):
    """Where orders go: simulated fills, the exchange's test network, or real money."""

    PAPER = "paper"
    TESTNET = "testnet"
    LIVE = "live"


class StrategyName(StrEnum):
    """Strategy plugin of a TradingBot."""

    FUSION = "fusion"
    EMA_RSI = "ema_rsi"
    MEAN_REVERSION = "mean_reversion"
    MOMENTUM_BREAKOUT = "momentum_breakout"
    REGIME_ADAPTIVE = "regime_adaptive"


class Timeframe(StrEnum):
    """Candle timeframe a strategy decides on."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"


class DeletionPolicy(StrEnum):
    """What deleting a TradingBot does to its open positions and orders."""

    FLATTEN = "Flatten"
    KEEP = "Keep"


class OptimizerObjective(StrEnum):
    """What one optimizer trial maximises."""

    SHARPE = "sharpe"
    PNL = "pnl"
    COMPOSITE = "composite"


class SignalSourceKind(StrEnum):
    """Kind of signal a SignalSource produces."""

    SENTIMENT = "sentiment"
    MACRO = "macro"
    WHALE = "whale"
    HTTP = "http"


class FusionInput(StrEnum):
    """Fusion input of the bots that an http SignalSource feeds."""

    SENTIMENT = "sentiment"
    MACRO = "macro"
    WHALE = "whale"


class BotPhase(StrEnum):
    """TradingBot ``status.phase``."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    RUNNING = "Running"
    HALTED = "Halted"
    PAUSED = "Paused"
    DEGRADED = "Degraded"
    FAILED = "Failed"
    NOT_OWNED = "NotOwned"
    INVALID = "Invalid"


class SignalSourcePhase(StrEnum):
    """SignalSource ``status.phase``."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    RUNNING = "Running"
    PAUSED = "Paused"
    DEGRADED = "Degraded"
    FAILED = "Failed"
    NOT_OWNED = "NotOwned"
    INVALID = "Invalid"


class ConditionStatus(StrEnum):
    """``status`` of a condition (metav1.Condition)."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class CircuitState(StrEnum):
    """TradingBot ``status.circuitBreaker.state``."""

    OPEN = "Open"
    CLOSED = "Closed"


class PositionSide(StrEnum):
    """TradingBot ``status.position.side``."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


class SignalAction(StrEnum):
    """TradingBot ``status.lastSignal.action``: the decision class of the fused score."""

    STRONG_BUY = "strong_buy"
    BUY = "buy"
    NEUTRAL = "neutral"
    SELL = "sell"
    STRONG_SELL = "strong_sell"


class RevisionSource(StrEnum):
    """TradingBot ``status.revisionHistory[].source``: who created a revision."""

    SPEC = "spec"
    OPTIMIZER = "optimizer"
    ROLLBACK = "rollback"


class NotificationType(StrEnum):
    """TradingBot ``spec.notifications[].type``: how a target is spoken to."""

    WEBHOOK = "webhook"
    SLACK = "slack"
    TELEGRAM = "telegram"


class NotificationEvent(StrEnum):
    """TradingBot ``spec.notifications[].events[]``: the kinds of event a target receives."""

    FILLS = "fills"
    BREAKER = "breaker"
    HALTS = "halts"
    ROLLBACKS = "rollbacks"
    DEGRADED = "degraded"
