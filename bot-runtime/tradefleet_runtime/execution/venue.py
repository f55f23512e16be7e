"""Where orders go: the ``Venue`` interface and its ccxt implementation.

The executor (``tradefleet_runtime.execution.executor``) and the runtime talk to a ``Venue``;
``CcxtVenue`` speaks to a real exchange through ccxt (``testnet`` or ``live``, or public
market data only), ``PaperVenue`` (``tradefleet_runtime.execution.paper``) simulates fills
against a ``CcxtVenue``'s live book. ccxt exceptions are translated once, here, into
``tradefleet_runtime.execution.errors``; API keys never reach logs or messages. ccxt is loaded
by the first ``CcxtVenue`` built, not by this module: a process with no exchange client (a paper
bot on shared market data) must not pay its ~67 MB for the ``Venue`` interface.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from tradefleet_runtime.execution.ccxt_clients import (
    STREAMED_BOOK_LEVELS,
    client_classes,
    rebase_urls,
)
from tradefleet_runtime.execution.errors import (
    InvalidOrderError,
    TimestampRefused,
    VenueConfigurationError,
    redact,
    translate_ccxt_error,
)
from tradefleet_runtime.execution.model import (
    Balance,
    BookLevel,
    Candle,
    MarketInfo,
    Order,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Ticker,
    VenuePosition,
    VenuePositionSide,
)
from tradefleet_runtime.execution.request_meter import RequestMeter
from tradefleet_runtime.execution.signing import (
    RECEIVE_WINDOWS,
    SendGate,
    gate_signing,
    sending_under,
    submission_window_s,
)

if TYPE_CHECKING:
    import ccxt.async_support as ccxt

T = TypeVar("T")
CCXT_LOGGER_NAME = "tradefleet_runtime.execution.ccxt"
LOG = logging.getLogger("tradefleet_runtime.execution.venue")
_CCXT_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "canceling": OrderStatus.OPEN,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
# (exchange, market) as a TradingBot names them → ccxt exchange id.
_CCXT_IDS = {
    ("binance", "futures"): "binanceusdm",
    ("binance", "spot"): "binance",
    ("kraken", "futures"): "krakenfutures",
    # ccxt renamed gateio to gate (4.x has no gateio); the CRD keeps the name users know.
    ("gateio", "spot"): "gate",
    ("gateio", "futures"): "gate",
}
# Per-exchange ccxt options: binance's fetchCurrencies calls the spot wallet API (sapi),
# which a futures-only key may not reach and which the bot never needs.
_EXCHANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "binanceusdm": {"fetchCurrencies": False},
    "binance": {"fetchCurrencies": False},
}


class VenueMode(StrEnum):
    """``market_data``: public endpoints only; ``testnet``: the exchange's test environment;
    ``live``: real money, only with explicit opt-in."""

    MARKET_DATA = "market_data"
    TESTNET = "testnet"
    LIVE = "live"


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiCredentials:
    """Exchange API credentials; never shown by ``repr``."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.api_key, self.api_secret, self.password) if s)


def ccxt_exchange_id(*, exchange: str, market: str) -> str:
    """The ccxt id of a TradingBot's ``exchange`` and ``market`` (``spot`` | ``futures``)."""
    return _CCXT_IDS.get((exchange, market), exchange)


def check_order_request(request: OrderRequest) -> None:
    """Raise ``InvalidOrderError`` unless ``request`` is complete for its order type."""
    if request.order_type is OrderType.LIMIT and not (request.price and request.price > 0):
        raise InvalidOrderError(f"{request.client_order_id}: a limit order needs a price > 0")
    if request.order_type.is_conditional:
        if not (request.trigger_price and request.trigger_price > 0):
            raise InvalidOrderError(
                f"{request.client_order_id}: a conditional order needs a trigger price > 0"
            )
    elif request.close_position:
        raise InvalidOrderError(
            f"{request.client_order_id}: close_position applies to conditional orders only"
        )
    if request.amount is None:
        if not request.close_position:
            raise InvalidOrderError(
                f"{request.client_order_id}: amount may be omitted only with close_position"
            )
    elif not request.amount > 0:
        raise InvalidOrderError(f"{request.client_order_id}: amount must be > 0")


class Venue(abc.ABC):
    """An account on one exchange (real, test or simulated) for one bot."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """A short label for logs and metrics (exchange id and mode)."""

    @property
    @abc.abstractmethod
    def supports_exchange_stops(self) -> bool:
        """Whether stop orders rest on the venue itself (and survive the bot's restarts)."""

    @property
    @abc.abstractmethod
    def submission_window_s(self) -> float:
        """Seconds after which a sent but unanswered order request can no longer execute."""

    @abc.abstractmethod
    async def load_markets(self) -> dict[str, MarketInfo]: ...

    @abc.abstractmethod
    async def fetch_order_book(self, *, symbol: str, depth: int = 20) -> OrderBook: ...

    @abc.abstractmethod
    async def fetch_ticker(self, *, symbol: str) -> Ticker: ...

    @abc.abstractmethod
    async def fetch_ohlcv(
        self, *, symbol: str, timeframe: str = "1m", limit: int = 100
    ) -> list[Candle]: ...

    @abc.abstractmethod
    async def set_leverage(self, *, symbol: str, leverage: int) -> None: ...

    @abc.abstractmethod
    async def create_order(
        self, request: OrderRequest, *, may_send: SendGate | None = None
    ) -> Order:
        """Place ``request``; ``may_send`` is asked as the request leaves (``SendRefused``)."""

    @abc.abstractmethod
    async def fetch_order(
        self, *, symbol: str, client_order_id: str, conditional: bool = False
    ) -> Order:
        """The order with this client order id; ``OrderNotFound`` if there is none."""

    @abc.abstractmethod
    async def cancel_order(
        self,
        *,
        symbol: str,
        client_order_id: str,
        conditional: bool = False,
        may_send: SendGate | None = None,
    ) -> Order:
        """Cancel an order; ``may_send`` is asked as the request leaves (``SendRefused``)."""

    @abc.abstractmethod
    async def fetch_open_orders(self, *, symbol: str) -> list[Order]:
        """Open regular and conditional orders of ``symbol``."""

    async def fetch_order_fee(self, *, symbol: str, exchange_order_id: str) -> float | None:
        """The fees of an ended order's fills in the quote currency, for venues that report
        them on trades only; None when they cannot be known (a venue that reports fees on its
        orders never needs this)."""
        return None

    @abc.abstractmethod
    async def fetch_positions(self, *, symbols: Sequence[str]) -> list[VenuePosition]:
        """Non-empty positions of ``symbols``."""

    @abc.abstractmethod
    async def fetch_balances(self) -> dict[str, Balance]: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class _SecretRedactingFilter(logging.Filter):
    """Rewrites every record of the ccxt logger with known secrets replaced by ``***``."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secrets: Sequence[str]) -> None:
        self._secrets.update(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = redact(record.getMessage(), secrets=self._secrets)
            record.args = None
        return True


_REDACTOR = _SecretRedactingFilter()
logging.getLogger(CCXT_LOGGER_NAME).addFilter(_REDACTOR)


class CcxtVenue(Venue):
    """An exchange account through ccxt's async client.

    ``base_url_override`` points every REST endpoint of ccxt at another host (the local
    exchange in tests), keeping paths, signing and error mapping as they are for the real
    host. ``testnet`` uses the exchange's demo-trading environment where ccxt has one
    (Binance replaced its futures testnet with demo trading), else ccxt's sandbox mode.
    ``recv_window_ms`` is sent to exchanges in ``RECEIVE_WINDOWS`` only; the others have none,
    and ``submission_window_s`` follows ``timeout_s`` there instead. ``streaming`` builds
    ccxt.pro's client, for :meth:`watch_order_book` (its websocket URLs follow the override).
    """

    # Over the complexity limit on purpose: one guard clause per refused venue setting.
    def __init__(  # noqa: C901
        self,
        *,
        exchange_id: str,
        mode: VenueMode,
        credentials: ApiCredentials | None = None,
        allow_live: bool = False,
        base_url_override: str | None = None,
        timeout_s: float = 10.0,
        recv_window_ms: int = 5_000,
        options: Mapping[str, Any] | None = None,
        request_interval_ms: int | None = None,
        request_meter: RequestMeter | None = None,
        streaming: bool = False,
    ) -> None:
        import ccxt.async_support as ccxt  # noqa: PLC0415 - see the module docstring

        if exchange_id not in ccxt.exchanges:
            raise VenueConfigurationError(f"ccxt has no exchange {exchange_id!r}")
        classes = client_classes(
            exchange_id=exchange_id, streaming=streaming, overridden=base_url_override is not None
        )
        if mode is VenueMode.LIVE and not allow_live:
            raise VenueConfigurationError(
                f"{exchange_id}: live trading needs an explicit opt-in (allow_live=True)"
            )
        if mode is not VenueMode.MARKET_DATA and credentials is None:
            raise VenueConfigurationError(f"{exchange_id}: {mode.value} mode needs API credentials")
        if not timeout_s > 0 or recv_window_ms <= 0:
            raise VenueConfigurationError("timeout_s and recv_window_ms must be positive")
        self._mode = mode
        self._secrets = credentials.secrets if credentials else ()
        _REDACTOR.add(self._secrets)
        # recvWindow only where the exchange enforces it: elsewhere it bounds nothing.
        receive_window = {"recvWindow": recv_window_ms} if exchange_id in RECEIVE_WINDOWS else {}
        config: dict[str, Any] = {
            "enableRateLimit": True,
            # ccxt's throttle spaces requests by this (times an endpoint's weight).
            **({"rateLimit": request_interval_ms} if request_interval_ms else {}),
            "timeout": int(timeout_s * 1000),
            "logger": logging.getLogger(CCXT_LOGGER_NAME),
            "options": {
                **receive_window,
                **({"watchOrderBookLimit": STREAMED_BOOK_LEVELS} if streaming else {}),
                **_EXCHANGE_OPTIONS.get(exchange_id, {}),
                **(options or {}),
            },
        }
        if credentials is not None and mode is not VenueMode.MARKET_DATA:
            config["apiKey"] = credentials.api_key
            config["secret"] = credentials.api_secret
            if credentials.password:
                config["password"] = credentials.password
        exchange: ccxt.Exchange = getattr(classes, exchange_id)(config)
        if mode is VenueMode.TESTNET:
            if "demo" in exchange.urls:
                exchange.enable_demo_trading(True)
            elif "test" in exchange.urls:
                exchange.set_sandbox_mode(True)
            else:
                raise VenueConfigurationError(f"{exchange_id} has no test environment in ccxt")
        self._origins: dict[str, str] = {}
        if base_url_override is not None:
            exchange.urls["api"] = rebase_urls(
                exchange.urls["api"], base_url=base_url_override, origins=self._origins
            )
            self._keep_error_mapping_of_real_hosts(exchange)
        if request_meter is not None:
            request_meter.count(exchange)
        gate_signing(exchange)
        self._ccxt = ccxt
        self._exchange = exchange
        self._exchange_id = exchange_id
        # The recvWindow ccxt signs with: ``options`` may have replaced recv_window_ms.
        self._submission_window_s = submission_window_s(
            exchange_id=exchange_id,
            recv_window_ms=int(exchange.options.get("recvWindow", recv_window_ms)),
            timeout_s=timeout_s,
        )

    def _keep_error_mapping_of_real_hosts(self, exchange: ccxt.Exchange) -> None:
        # ccxt's binance picks its error-code table from the request URL's host
        # (fapi.binance.com → the USDⓈ-M table); map rebased URLs back to the real host
        # so an overridden venue classifies errors exactly as the real one does.
        lookup = getattr(exchange, "get_exceptions_by_url", None)
        if lookup is None:
            return
        origins = self._origins

        def by_original_url(url: str | None, exact_or_broad: str) -> Any:
            for local, original in origins.items():
                if url is not None and url.startswith(local):
                    return lookup(original + url[len(local) :], exact_or_broad)
            return lookup(url, exact_or_broad)

        exchange.get_exceptions_by_url = by_original_url

    @property
    def name(self) -> str:
        return f"{self._exchange_id}:{self._mode.value}"

    @property
    def supports_exchange_stops(self) -> bool:
        has = self._exchange.has
        return bool(has.get("createStopLossOrder") or has.get("createStopMarketOrder"))

    @property
    def submission_window_s(self) -> float:
        return self._submission_window_s

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except self._ccxt.InvalidNonce as error:
            # The exchange refused our timestamp (Binance -1021): its clock and ours disagree.
            # Measure the difference now so the retry is signed with the exchange's time.
            await self._resync_clock()
            raise TimestampRefused(redact(str(error), secrets=self._secrets)) from None
        except self._ccxt.BaseError as error:
            raise translate_ccxt_error(error, secrets=self._secrets) from None

    async def _resync_clock(self) -> None:
        try:
            # Ungated: the exchange's time is a public read, and it must be measured even when
            # the order that was refused for its timestamp may not be sent again.
            with sending_under(None, what="the exchange's time"):
                difference = await self._exchange.load_time_difference()
        except (self._ccxt.BaseError, NotImplementedError) as error:
            LOG.warning("%s: clock difference could not be measured: %s", self.name, error)
            return
        LOG.warning(
            "%s refused a request's timestamp: its clock is %d ms behind ours; signing with "
            "its time from now on",
            self.name,
            difference,
        )

    def _require_private(self) -> None:
        if self._mode is VenueMode.MARKET_DATA:
            raise VenueConfigurationError(f"{self.name}: market-data venues cannot trade")

    async def load_markets(self) -> dict[str, MarketInfo]:
        markets = await self._call(self._exchange.load_markets)
        tick_mode = self._exchange.precisionMode == self._ccxt.TICK_SIZE
        result: dict[str, MarketInfo] = {}
        for symbol, market in markets.items():
            precision = market.get("precision") or {}
            limits = market.get("limits") or {}
            result[symbol] = MarketInfo(
                symbol=symbol,
                amount_step=_increment(precision.get("amount"), tick_mode=tick_mode),
                price_tick=_increment(precision.get("price"), tick_mode=tick_mode),
                min_amount=(limits.get("amount") or {}).get("min"),
                min_notional=(limits.get("cost") or {}).get("min"),
            )
        return result

    async def fetch_order_book(self, *, symbol: str, depth: int = 20) -> OrderBook:
        raw = await self._call(lambda: self._exchange.fetch_order_book(symbol, depth))
        return _order_book(symbol=symbol, raw=raw, depth=depth)

    async def watch_order_book(self, *, symbol: str, depth: int = 20) -> OrderBook:
        """The book once the exchange's stream has changed it (a venue built with
        ``streaming``): ccxt.pro subscribes, takes a REST snapshot and applies the diffs. ccxt
        keeps :data:`STREAMED_BOOK_LEVELS` levels, not ``depth``: a diff names only the levels
        that changed, so a book kept at ``depth`` would miss a resting level moving into it."""
        try:
            raw = await self._exchange.watch_order_book(symbol)
        except self._ccxt.BaseError as error:
            # Not ``_call``: a gap in the stream is ccxt's ChecksumError, a kind of InvalidNonce,
            # which says nothing about our clock. The next watch resubscribes.
            raise translate_ccxt_error(error, secrets=self._secrets) from None
        return _order_book(symbol=symbol, raw=raw, depth=depth)

    async def fetch_ticker(self, *, symbol: str) -> Ticker:
        raw = await self._call(lambda: self._exchange.fetch_ticker(symbol))
        return Ticker(
            symbol=symbol,
            last=raw.get("last"),
            bid=raw.get("bid"),
            ask=raw.get("ask"),
            timestamp_ms=raw.get("timestamp"),
        )

    async def fetch_ohlcv(
        self, *, symbol: str, timeframe: str = "1m", limit: int = 100
    ) -> list[Candle]:
        # Exchanges cap one kline request (Binance: 1000 through ccxt); older pages are fetched
        # by start time until ``limit`` candles are in hand or the exchange has no more.
        rows: list[list[Any]] = await self._call(
            lambda: self._exchange.fetch_ohlcv(symbol, timeframe, limit=limit)
        )
        step_ms = int(self._exchange.parse_timeframe(timeframe) * 1000)
        while rows and len(rows) < limit:
            missing = limit - len(rows)
            older = await self._older_candles(
                symbol=symbol,
                timeframe=timeframe,
                since=int(rows[0][0]) - missing * step_ms,
                limit=missing,
            )
            older = [row for row in older if int(row[0]) < int(rows[0][0])]
            if not older:
                break
            rows = older + rows
        return [
            Candle(timestamp_ms=int(t), open=o, high=h, low=lo, close=c, volume=v or 0.0)
            for t, o, h, lo, c, v in rows[-limit:]
        ]

    def timeframe_ms(self, timeframe: str) -> int:
        """Length of one ``timeframe`` candle in ms; refused unless the exchange offers it."""
        offered = self._exchange.timeframes or {}
        if timeframe not in offered:
            raise VenueConfigurationError(
                f"{self._exchange_id} has no {timeframe!r} candles; it offers "
                f"{', '.join(offered) or 'none'}"
            )
        return int(self._exchange.parse_timeframe(timeframe) * 1000)

    async def fetch_ohlcv_since(
        self, *, symbol: str, timeframe: str, since_ms: int, limit: int
    ) -> list[Candle]:
        """One page of candles opening at or after ``since_ms``, oldest first (the exchange's
        own cap on ``limit`` applies); the last may still be forming."""
        rows = await self._older_candles(
            symbol=symbol, timeframe=timeframe, since=since_ms, limit=limit
        )
        return [
            Candle(timestamp_ms=int(t), open=o, high=h, low=lo, close=c, volume=v or 0.0)
            for t, o, h, lo, c, v in rows
        ]

    async def _older_candles(
        self, *, symbol: str, timeframe: str, since: int, limit: int
    ) -> list[list[Any]]:
        rows: list[list[Any]] = await self._call(
            lambda: self._exchange.fetch_ohlcv(symbol, timeframe, since=since, limit=limit)
        )
        return rows

    async def set_leverage(self, *, symbol: str, leverage: int) -> None:
        self._require_private()
        await self._call(lambda: self._exchange.set_leverage(leverage, symbol))

    async def create_order(
        self, request: OrderRequest, *, may_send: SendGate | None = None
    ) -> Order:
        self._require_private()
        check_order_request(request)
        params: dict[str, Any] = {"clientOrderId": request.client_order_id}
        if request.reduce_only and not request.close_position:
            params["reduceOnly"] = True
        if request.close_position:
            params["closePosition"] = True
        if request.order_type is OrderType.STOP_MARKET:
            params["stopLossPrice"] = request.trigger_price
        elif request.order_type is OrderType.TAKE_PROFIT_MARKET:
            params["takeProfitPrice"] = request.trigger_price
        ccxt_type = "limit" if request.order_type is OrderType.LIMIT else "market"
        with sending_under(may_send, what=f"order {request.client_order_id}"):
            raw = await self._call(
                lambda: self._exchange.create_order(
                    request.symbol,
                    ccxt_type,
                    request.side.value,
                    request.amount,
                    request.price,
                    params,
                )
            )
        return _order_from_ccxt(raw, symbol=request.symbol)

    async def fetch_order(
        self, *, symbol: str, client_order_id: str, conditional: bool = False
    ) -> Order:
        self._require_private()
        params: dict[str, Any] = {"clientOrderId": client_order_id}
        if conditional:
            params["trigger"] = True
        raw = await self._call(lambda: self._exchange.fetch_order(None, symbol, params))
        return _order_from_ccxt(raw, symbol=symbol)

    async def cancel_order(
        self,
        *,
        symbol: str,
        client_order_id: str,
        conditional: bool = False,
        may_send: SendGate | None = None,
    ) -> Order:
        self._require_private()
        params: dict[str, Any] = {"clientOrderId": client_order_id}
        if conditional:
            params["trigger"] = True
        with sending_under(may_send, what=f"cancel of {client_order_id}"):
            raw = await self._call(lambda: self._exchange.cancel_order(None, symbol, params))
        if raw.get("status") is None:
            # Some venues (Binance's algo API) answer a cancel with an acknowledgement only.
            return await self.fetch_order(
                symbol=symbol, client_order_id=client_order_id, conditional=conditional
            )
        return _order_from_ccxt(raw, symbol=symbol)

    async def fetch_open_orders(self, *, symbol: str) -> list[Order]:
        self._require_private()
        regular = await self._call(lambda: self._exchange.fetch_open_orders(symbol))
        conditional = await self._call(
            lambda: self._exchange.fetch_open_orders(symbol, None, None, {"trigger": True})
        )
        return [_order_from_ccxt(raw, symbol=symbol) for raw in [*regular, *conditional]]

    async def fetch_order_fee(self, *, symbol: str, exchange_order_id: str) -> float | None:
        self._require_private()
        trades = await self._call(
            lambda: self._exchange.fetch_my_trades(
                symbol, None, None, {"orderId": exchange_order_id}
            )
        )
        fees = [
            _fee_in_quote(trade.get("fee") or {}, symbol=symbol, price=trade.get("price"))
            for trade in trades
            if str(trade.get("order")) == exchange_order_id
        ]
        if not fees or any(fee is None for fee in fees):
            return None
        return sum(fee for fee in fees if fee is not None)

    async def fetch_positions(self, *, symbols: Sequence[str]) -> list[VenuePosition]:
        self._require_private()
        rows = await self._call(lambda: self._exchange.fetch_positions(list(symbols)))
        positions = []
        for raw in rows:
            contracts = raw.get("contracts") or 0.0
            if raw.get("symbol") not in symbols or not contracts or raw.get("side") is None:
                continue
            positions.append(
                VenuePosition(
                    symbol=raw["symbol"],
                    side=VenuePositionSide(raw["side"]),
                    contracts=float(contracts) * float(raw.get("contractSize") or 1.0),
                    entry_price=float(raw.get("entryPrice") or 0.0),
                    mark_price=raw.get("markPrice"),
                    unrealized_pnl=float(raw.get("unrealizedPnl") or 0.0),
                    leverage=raw.get("leverage"),
                )
            )
        return positions

    async def fetch_balances(self) -> dict[str, Balance]:
        self._require_private()
        raw = await self._call(self._exchange.fetch_balance)
        balances = {}
        for currency, total in (raw.get("total") or {}).items():
            if total is None:
                continue
            balances[currency] = Balance(
                currency=currency,
                free=float(raw["free"].get(currency) or 0.0),
                used=float(raw["used"].get(currency) or 0.0),
                total=float(total),
            )
        return balances

    async def close(self) -> None:
        await self._exchange.close()


def _order_book(*, symbol: str, raw: Mapping[str, Any], depth: int) -> OrderBook:
    def levels(side: str) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(price=float(p), amount=float(a)) for p, a, *_ in raw[side][:depth])

    return OrderBook(
        symbol=symbol, bids=levels("bids"), asks=levels("asks"), timestamp_ms=raw.get("timestamp")
    )


def _increment(precision: float | None, *, tick_mode: bool) -> float | None:
    if precision is None:
        return None
    return float(precision) if tick_mode else 10.0 ** -float(precision)


def _fee_in_quote(fee: Mapping[str, Any], *, symbol: str, price: float | None) -> float | None:
    """An order's fee in the quote currency: a fee in the base currency (a spot buy on most
    venues) at the order's average price; a fee in any other currency (BNB…) is unknown here."""
    if fee.get("cost") is None:
        return None
    cost = float(fee["cost"])
    currency = fee.get("currency")
    base, _, rest = symbol.partition("/")
    quote = rest.split(":")[0]
    if currency is None or currency == quote:
        return cost
    if currency == base and price:
        return cost * float(price)
    return None


def _order_from_ccxt(raw: Mapping[str, Any], *, symbol: str) -> Order:
    info = raw.get("info") or {}
    trigger = raw.get("triggerPrice")
    if trigger is None:
        order_type = OrderType.LIMIT if raw.get("type") == "limit" else OrderType.MARKET
    elif raw.get("takeProfitPrice") is not None:
        order_type = OrderType.TAKE_PROFIT_MARKET
    else:
        order_type = OrderType.STOP_MARKET
    fee = raw.get("fee") or {}
    amount = raw.get("amount")
    close_position = str(info.get("closePosition", "")).lower() == "true"
    triggered = info.get("actualOrderId")
    return Order(
        symbol=raw.get("symbol") or symbol,
        side=OrderSide(raw["side"]),
        order_type=order_type,
        status=_CCXT_STATUS.get(raw.get("status") or "", OrderStatus.OPEN),
        exchange_order_id=str(raw.get("id")),
        client_order_id=str(raw.get("clientOrderId")),
        amount=None if close_position or amount is None else float(amount),
        filled=float(raw.get("filled") or 0.0),
        average_price=raw.get("average"),
        price=raw.get("price") or None,
        trigger_price=trigger,
        reduce_only=bool(raw.get("reduceOnly")) or close_position,
        fee_cost=_fee_in_quote(fee, symbol=raw.get("symbol") or symbol, price=raw.get("average")),
        timestamp_ms=raw.get("timestamp"),
        triggered_order_id=str(triggered) if triggered else None,
    )
