"""Whale monitor: large transfers to and from exchange addresses, as a flow signal.

A :class:`WhaleMonitor` per bot pulls transfers from a pluggable :class:`WhaleSource`
(a JSON document from a file or HTTP feed, or a Redis stream that a ``SignalSource``
workload publishes to), keeps the whale-sized ones that touch a known exchange
address, and turns the net exchange flow of each coin into a signal. Coins flowing
onto exchanges (inflow) are read as selling pressure (bearish); coins leaving
exchanges (outflow) as accumulation (bullish). A net flow of at least
``strong_net_flow_usd`` (default $500k) is a strong signal.

Transfer JSON (one object per transfer; a document is a list or ``{"transfers": [...]}``)::

    {"tx_hash": "0x…", "coin": "BTC", "amount": 120.5, "usd_value": 7230000.0,
     "from": "bc1q…", "to": "34xp…", "timestamp_ms": 1700000000000}

or the answer of a whale-transaction API (``{"result": "success", "transactions": [...]}``,
an error being ``{"result": "error", "message": ...}``)::

    {"hash": "…", "symbol": "btc", "amount": 250, "amount_usd": 24250000, "timestamp": 1700000000,
     "from": {"address": "bc1q…", "owner_type": "unknown"},
     "to": {"address": "34xp…", "owner": "binance", "owner_type": "exchange"}}

where an ``owner_type`` of ``exchange`` marks an exchange address the configured lists may lack.
"""

from __future__ import annotations

import abc
import json
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tradefleet_runtime.signals.errors import SignalConfigError, SignalSourceError
from tradefleet_runtime.signals.feeds import FeedError, FeedProblem, read_document
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.validation import require_int_at_least, require_positive

SIGNAL_NAME = "whale"
REDIS_TRANSFER_FIELD = "transfer"
DAY_MS = 86_400_000


@dataclass(frozen=True, kw_only=True, slots=True)
class WhaleThreshold:
    """A transfer is whale-sized when it reaches either bound that is set."""

    min_amount: float | None = None
    min_usd: float | None = None

    def __post_init__(self) -> None:
        if self.min_amount is None and self.min_usd is None:
            raise SignalConfigError("a whale threshold needs min_amount or min_usd")
        if self.min_amount is not None:
            require_positive(name="min_amount", value=self.min_amount)
        if self.min_usd is not None:
            require_positive(name="min_usd", value=self.min_usd)

    def admits(self, *, amount: float, usd_value: float) -> bool:
        return (self.min_amount is not None and amount >= self.min_amount) or (
            self.min_usd is not None and usd_value >= self.min_usd
        )


def default_thresholds() -> dict[str, WhaleThreshold]:
    """BTC and stablecoins by USD value, ETH by coin count."""
    return {
        "BTC": WhaleThreshold(min_usd=1_000_000.0),
        "ETH": WhaleThreshold(min_amount=1_000.0),
        "USDT": WhaleThreshold(min_usd=100_000.0),
        "USDC": WhaleThreshold(min_usd=100_000.0),
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class WhaleConfig:
    """Thresholds per coin, known exchange addresses, and how flows become a signal.

    ``exchange_addresses`` maps address → exchange name; addresses compare
    case-insensitively. Coins without a threshold are ignored. Confidence grows with
    the number of whale transfers, reaching 1 at ``full_confidence_transfers``.
    """

    thresholds: Mapping[str, WhaleThreshold] = field(default_factory=default_thresholds)
    exchange_addresses: Mapping[str, str] = field(default_factory=dict)
    strong_net_flow_usd: float = 500_000.0
    lookback_ms: int = DAY_MS
    full_confidence_transfers: int = 5

    def __post_init__(self) -> None:
        require_positive(name="strong_net_flow_usd", value=self.strong_net_flow_usd)
        require_int_at_least(name="lookback_ms", value=self.lookback_ms, minimum=1)
        require_int_at_least(
            name="full_confidence_transfers", value=self.full_confidence_transfers, minimum=1
        )
        for coin in self.thresholds:
            if not coin or coin != coin.upper():
                raise SignalConfigError(f"threshold coin {coin!r} must be an upper-case symbol")


def _lowered(addresses: Mapping[str, str]) -> dict[str, str]:
    return {address.lower(): name for address, name in addresses.items()}


@dataclass(frozen=True, kw_only=True, slots=True)
class WhaleTransfer:
    tx_hash: str
    coin: str
    amount: float
    usd_value: float
    from_address: str
    to_address: str
    timestamp_ms: int
    # The feed itself says the address is an exchange's (a whale-transaction API's owner_type).
    from_exchange: bool = False
    to_exchange: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "tx_hash": self.tx_hash,
                "coin": self.coin,
                "amount": self.amount,
                "usd_value": self.usd_value,
                "from": self.from_address,
                "to": self.to_address,
                "timestamp_ms": self.timestamp_ms,
            }
        )


def parse_transfer(record: object) -> WhaleTransfer:
    """One transfer from its JSON object; SignalSourceError naming the bad field."""
    if not isinstance(record, Mapping):
        raise SignalSourceError(f"a transfer must be a JSON object, got {type(record).__name__}")

    def text(key: str) -> str:
        value = record.get(key)
        if not isinstance(value, str) or not value:
            raise SignalSourceError(f"transfer field {key!r} must be a non-empty string")
        return value

    def number(key: str) -> float:
        value = record.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise SignalSourceError(f"transfer field {key!r} must be a finite number")
        if value < 0:
            raise SignalSourceError(f"transfer field {key!r} must be >= 0")
        return float(value)

    def integer(key: str) -> int:
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SignalSourceError(f"transfer field {key!r} must be an integer")
        return value

    return WhaleTransfer(
        tx_hash=text("tx_hash"),
        coin=text("coin").upper(),
        amount=number("amount"),
        usd_value=number("usd_value"),
        from_address=text("from"),
        to_address=text("to"),
        timestamp_ms=integer("timestamp_ms"),
    )


def parse_api_transaction(record: object) -> WhaleTransfer:
    """One transaction of a whale-transaction API answer (see the module docstring)."""
    if not isinstance(record, Mapping):
        raise SignalSourceError(f"a transaction must be a JSON object, got {type(record).__name__}")
    ends = record.get("from"), record.get("to")
    if not all(isinstance(end, Mapping) for end in ends):
        raise SignalSourceError("transaction fields 'from' and 'to' must be objects")
    source, target = (end for end in ends if isinstance(end, Mapping))
    timestamp = record.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise SignalSourceError("transaction field 'timestamp' must be an integer (seconds)")
    transfer = parse_transfer(
        {
            "tx_hash": record.get("hash"),
            "coin": record.get("symbol"),
            "amount": record.get("amount"),
            "usd_value": record.get("amount_usd"),
            "from": source.get("address"),
            "to": target.get("address"),
            "timestamp_ms": timestamp * 1000,
        }
    )
    return replace(
        transfer,
        from_exchange=source.get("owner_type") == "exchange",
        to_exchange=target.get("owner_type") == "exchange",
    )


def parse_transfer_document(payload: bytes) -> list[WhaleTransfer]:
    """A JSON document: a list of transfers, an object with a ``transfers`` list, or a
    whale-transaction API answer; FeedError (malformed, error answer) otherwise."""
    try:
        document = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FeedError(FeedProblem.MALFORMED, f"not valid JSON: {error}") from error
    if isinstance(document, dict) and "result" in document:
        if document.get("result") != "success":
            raise FeedError(FeedProblem.ERROR_ANSWER, str(document.get("message", document)))
        transactions = document.get("transactions") or []
        if not isinstance(transactions, list):
            raise FeedError(FeedProblem.MALFORMED, "'transactions' must be a list")
        try:
            return [parse_api_transaction(record) for record in transactions]
        except SignalSourceError as error:
            raise FeedError(FeedProblem.MALFORMED, str(error)) from error
    records = document.get("transfers") if isinstance(document, dict) else document
    if not isinstance(records, list):
        raise SignalSourceError("whale feed must be a list of transfers or {'transfers': [...]}")
    return [parse_transfer(record) for record in records]


class WhaleSource(abc.ABC):
    """Where transfers come from. ``fetch`` may repeat transfers; the monitor de-duplicates."""

    @abc.abstractmethod
    async def fetch(self) -> list[WhaleTransfer]:
        """Transfers available now; SignalSourceError when the source cannot be read."""


class JsonFeedWhaleSource(WhaleSource):
    """A JSON document at a file path or an http(s) URL, re-read on every fetch."""

    def __init__(
        self,
        *,
        location: str,
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
        headers: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        require_positive(name="timeout_s", value=timeout_s)
        self._location = location
        self._timeout_s = timeout_s
        self._client = client
        # Asked on every fetch, so a rotated API key is sent at once.
        self._headers = headers

    async def fetch(self) -> list[WhaleTransfer]:
        payload = await read_document(
            location=self._location,
            timeout_s=self._timeout_s,
            client=self._client,
            headers=self._headers() if self._headers is not None else None,
        )
        return parse_transfer_document(payload)


class RedisStreamWhaleSource(WhaleSource):
    """New entries of a Redis stream; each entry's ``transfer`` field holds one transfer's JSON.

    Remembers the last entry id it read, so each fetch returns only newer entries
    (at most ``batch_size`` per round trip, as many round trips as needed). A malformed
    entry is skipped rather than blocking the stream; the latest reasons are kept in
    :attr:`rejected_entries`.
    """

    max_rejected_kept = 100

    def __init__(self, *, redis: aioredis.Redis, stream: str, batch_size: int = 500) -> None:
        require_int_at_least(name="batch_size", value=batch_size, minimum=1)
        if not stream:
            raise SignalConfigError("stream name must not be empty")
        self._redis = redis
        self._stream = stream
        self._batch_size = batch_size
        self._last_id: str | None = None
        self._rejected: deque[str] = deque(maxlen=self.max_rejected_kept)

    @property
    def rejected_entries(self) -> list[str]:
        """``"<entry id>: <reason>"`` for the most recent malformed entries."""
        return list(self._rejected)

    async def fetch(self) -> list[WhaleTransfer]:
        transfers: list[WhaleTransfer] = []
        while True:
            lower = "-" if self._last_id is None else f"({self._last_id}"
            try:
                entries = await self._redis.xrange(
                    self._stream, min=lower, max="+", count=self._batch_size
                )
            except RedisError as error:
                raise SignalSourceError(
                    f"cannot read whale stream {self._stream!r}: {error}"
                ) from error
            entries = entries or []
            for entry_id, fields in entries:
                if entry_id is None:
                    continue
                self._last_id = _text(entry_id)
                try:
                    transfers.append(_transfer_from_entry(fields))
                except SignalSourceError as error:
                    self._rejected.append(f"{self._last_id}: {error}")
            if len(entries) < self._batch_size:
                return transfers


def _transfer_from_entry(fields: Mapping[bytes | str, bytes | str] | None) -> WhaleTransfer:
    payload = {_text(key): value for key, value in (fields or {}).items()}.get(REDIS_TRANSFER_FIELD)
    if payload is None:
        raise SignalSourceError(f"entry has no {REDIS_TRANSFER_FIELD!r} field")
    try:
        record = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SignalSourceError(f"entry is not valid JSON: {error}") from error
    return parse_transfer(record)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def publish_transfer(*, redis: aioredis.Redis, stream: str, transfer: WhaleTransfer) -> str:
    """Append a transfer to a stream in the form RedisStreamWhaleSource reads."""
    try:
        entry_id = await redis.xadd(stream, {REDIS_TRANSFER_FIELD: transfer.to_json()})
    except RedisError as error:
        raise SignalSourceError(f"cannot publish to whale stream {stream!r}: {error}") from error
    return _text(entry_id)


class FlowDirection(StrEnum):
    BULLISH = "bullish"
    BEARISH = "bearish"
    NEUTRAL = "neutral"


@dataclass(frozen=True, kw_only=True, slots=True)
class WhaleSignal:
    """Exchange flow of one coin over the lookback.

    ``net_flow_usd`` = inflows − outflows; ``strength`` = tanh(|net| / strong threshold)
    (0.76 at the threshold); ``strong`` when |net| >= the threshold.
    """

    coin: str
    signal: FlowDirection
    strength: float
    strong: bool
    reason: str
    inflow_usd: float
    outflow_usd: float
    net_flow_usd: float
    transfer_count: int
    confidence: float
    as_of_ms: int

    def to_dict(self) -> dict[str, object]:
        return {
            "coin": self.coin,
            "signal": self.signal.value,
            "strength": self.strength,
            "strong": self.strong,
            "reason": self.reason,
            "confidence": self.confidence,
            "metrics": {
                "net_flow": self.net_flow_usd,
                "inflows": self.inflow_usd,
                "outflows": self.outflow_usd,
                "transfers": self.transfer_count,
            },
            "as_of_ms": self.as_of_ms,
        }

    def as_reading(self) -> SignalReading:
        value = -self.strength if self.signal is FlowDirection.BEARISH else self.strength
        return SignalReading(
            name=SIGNAL_NAME,
            value=value if self.signal is not FlowDirection.NEUTRAL else 0.0,
            confidence=self.confidence,
            as_of_ms=self.as_of_ms,
            detail=f"whale activity {self.signal.value}: {self.reason}",
        )


class WhaleMonitor:
    """Whale transfers touching exchanges, per coin, over a sliding lookback."""

    def __init__(self, *, config: WhaleConfig, source: WhaleSource) -> None:
        self._config = config
        self._source = source
        self._exchanges = _lowered(config.exchange_addresses)
        self._transfers: dict[tuple[str, str], WhaleTransfer] = {}

    async def refresh(self) -> int:
        """Pull from the source; returns how many new whale transfers were kept."""
        return self.ingest(await self._source.fetch())

    def ingest(self, transfers: Iterable[WhaleTransfer]) -> int:
        """Keep whale-sized transfers that move coins onto or off an exchange.

        Returns how many new transfers were kept; those already older than the lookback
        (measured from the newest transfer held) are dropped and not counted.
        """
        new_keys: set[tuple[str, str]] = set()
        for transfer in transfers:
            threshold = self._config.thresholds.get(transfer.coin)
            if threshold is None or not threshold.admits(
                amount=transfer.amount, usd_value=transfer.usd_value
            ):
                continue
            if self._direction(transfer) == 0:
                continue
            key = (transfer.tx_hash, transfer.coin)
            if key not in self._transfers:
                self._transfers[key] = transfer
                new_keys.add(key)
        if self._transfers:
            newest = max(t.timestamp_ms for t in self._transfers.values())
            cutoff = newest - self._config.lookback_ms
            self._transfers = {
                key: t for key, t in self._transfers.items() if t.timestamp_ms > cutoff
            }
        return len(new_keys & self._transfers.keys())

    def _direction(self, transfer: WhaleTransfer) -> int:
        """+1 onto an exchange, -1 off an exchange, 0 otherwise (incl. exchange to exchange)."""
        from_exchange = transfer.from_exchange or transfer.from_address.lower() in self._exchanges
        to_exchange = transfer.to_exchange or transfer.to_address.lower() in self._exchanges
        return int(to_exchange) - int(from_exchange)

    def coins(self) -> list[str]:
        return sorted({t.coin for t in self._transfers.values()})

    def signal(self, *, coin: str, now_ms: int) -> WhaleSignal:
        config = self._config
        coin = coin.upper()
        cutoff = now_ms - config.lookback_ms
        inflow = outflow = 0.0
        count = 0
        for transfer in self._transfers.values():
            if transfer.coin != coin or not cutoff < transfer.timestamp_ms <= now_ms:
                continue
            count += 1
            if self._direction(transfer) > 0:
                inflow += transfer.usd_value
            else:
                outflow += transfer.usd_value
        net = inflow - outflow
        strong = abs(net) >= config.strong_net_flow_usd
        if net > 0:
            direction = FlowDirection.BEARISH
        elif net < 0:
            direction = FlowDirection.BULLISH
        else:
            direction = FlowDirection.NEUTRAL
        return WhaleSignal(
            coin=coin,
            signal=direction,
            strength=math.tanh(abs(net) / config.strong_net_flow_usd),
            strong=strong,
            reason=_reason(
                net=net,
                strong=strong,
                count=count,
                threshold=config.strong_net_flow_usd,
                lookback_ms=config.lookback_ms,
            ),
            inflow_usd=inflow,
            outflow_usd=outflow,
            net_flow_usd=net,
            transfer_count=count,
            confidence=min(1.0, count / config.full_confidence_transfers),
            as_of_ms=now_ms,
        )

    def summary(self, *, now_ms: int) -> Sequence[WhaleSignal]:
        return [self.signal(coin=coin, now_ms=now_ms) for coin in self.coins()]


def _reason(*, net: float, strong: bool, count: int, threshold: float, lookback_ms: int) -> str:
    if count == 0:
        return f"No whale transfers to or from exchanges in the last {lookback_ms / 3_600_000:g}h"
    if strong and net < 0:
        return f"Large exchange outflows: ${-net:,.0f} net (accumulation)"
    if strong:
        return f"Large exchange inflows: ${net:,.0f} net (distribution)"
    if net == 0:
        return f"Exchange inflows and outflows balance across {count} whale transfers"
    side = "outflow" if net < 0 else "inflow"
    return (
        f"Net exchange {side} ${abs(net):,.0f} is below the "
        f"${threshold:,.0f} strong-signal threshold"
    )
