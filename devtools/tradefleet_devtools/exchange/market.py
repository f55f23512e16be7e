"""One simulated market of the local exchange: contract spec, price path, quoted book, candles.

Dev/test tooling only. ``SimulatedMarket`` is owned by the matching engine
(``tradefleet_devtools.exchange.engine``): it keeps the mid price (moved by a ``PriceSource``
or by the admin endpoint), quotes a deterministic ladder of bids and asks around it, walks
that ladder to fill taker orders, and aggregates the recorded path into klines.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from tradefleet_devtools.exchange.prices import PriceSource

DEFAULT_START_PRICES: dict[str, float] = {"BTC": 30_000.0, "ETH": 2_000.0}
FALLBACK_START_PRICE = 100.0
HISTORY_LIMIT = 500_000


class SymbolError(ValueError):
    """A symbol could not be parsed or is not listed on the local exchange."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SymbolSpec:
    """Contract specification of one USDⓈ-M perpetual, as exchangeInfo reports it."""

    unified: str
    exchange_id: str
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal

    @classmethod
    def for_perpetual(cls, *, unified: str, reference_price: float) -> SymbolSpec:
        """Spec of ``BASE/QUOTE:QUOTE`` with tick and lot sizes scaled to the price level."""
        base, sep, rest = unified.partition("/")
        quote, colon, settle = rest.partition(":")
        if not (sep and colon and base and quote) or settle != quote:
            raise SymbolError(f"expected a linear perpetual like BTC/USDT:USDT, got {unified!r}")
        magnitude = math.floor(math.log10(reference_price))
        tick = Decimal(1).scaleb(magnitude - 5)
        step = Decimal(1).scaleb(min(0, 1 - magnitude))
        return cls(
            unified=unified,
            exchange_id=f"{base}{quote}",
            base=base,
            quote=quote,
            tick_size=tick,
            step_size=step,
            min_qty=step,
            max_qty=Decimal(1_000_000) * step,
            min_notional=Decimal(5),
        )

    @property
    def price_precision(self) -> int:
        return _decimal_places(self.tick_size)

    @property
    def quantity_precision(self) -> int:
        return _decimal_places(self.step_size)

    def round_price(self, price: Decimal, *, up: bool) -> Decimal:
        rounding = ROUND_CEILING if up else ROUND_FLOOR
        return (price / self.tick_size).to_integral_value(rounding=rounding) * self.tick_size

    def format_price(self, price: Decimal) -> str:
        return f"{price:.{self.price_precision}f}"

    def format_qty(self, qty: Decimal) -> str:
        return f"{qty:.{self.quantity_precision}f}"


def _decimal_places(increment: Decimal) -> int:
    exponent = increment.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def default_start_price(unified: str) -> float:
    return DEFAULT_START_PRICES.get(unified.partition("/")[0], FALLBACK_START_PRICE)


@dataclass(frozen=True, kw_only=True, slots=True)
class BookShape:
    """How the simulated market maker quotes around the mid price.

    Level ``i`` (0-based) sits ``half_spread + i * level_spacing`` away from the mid, both in
    basis points of the mid, and shows ``level_notional * (1 + i * level_growth)`` of quote
    currency (rounded down to the lot size). The ladder is unbounded: a taker order walks as
    deep as it needs, so large orders slip.
    """

    spread_bps: float = 2.0
    level_spacing_bps: float = 1.0
    level_notional: float = 20_000.0
    level_growth: float = 0.5


@dataclass(frozen=True, kw_only=True, slots=True)
class BookLevel:
    price: Decimal
    qty: Decimal


@dataclass(frozen=True, kw_only=True, slots=True)
class Kline:
    open_time_ms: int
    close_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int


class SimulatedMarket:
    """Mid price, quoted ladder and recorded path of one symbol."""

    def __init__(
        self,
        *,
        spec: SymbolSpec,
        source: PriceSource,
        shape: BookShape,
        start_ms: int,
    ) -> None:
        self.spec = spec
        self._source = source
        self._shape = shape
        self._mid = source.start_price
        self._last_source_price = source.start_price
        self._path: deque[tuple[int, float, float]] = deque(maxlen=HISTORY_LIMIT)
        self._path.append((start_ms, self._mid, 0.0))

    @property
    def mid(self) -> Decimal:
        return self.spec.round_price(Decimal(repr(self._mid)), up=False)

    def step(self, *, at_ms: int) -> None:
        """Advance the path by one point of the source, applied as a relative move."""
        point = self._source.next_point()
        self._mid *= point.price / self._last_source_price
        self._last_source_price = point.price
        self._path.append((at_ms, self._mid, point.volume))

    def set_mid(self, *, price: float, at_ms: int) -> None:
        """Move the mid to ``price`` (admin override); the path continues from there."""
        self._mid = price
        self._path.append((at_ms, self._mid, 0.0))

    def record_trade(self, *, at_ms: int, qty: Decimal) -> None:
        self._path.append((at_ms, self._mid, float(qty)))

    def level(self, *, side: str, index: int) -> BookLevel:
        """Level ``index`` of the ask ladder (``side='ask'``) or the bid ladder."""
        mid = self.mid
        offset = Decimal(repr(self._shape.spread_bps / 2 + index * self._shape.level_spacing_bps))
        sign = 1 if side == "ask" else -1
        price = self.spec.round_price(mid * (1 + sign * offset / 10_000), up=side == "ask")
        notional = Decimal(
            repr(self._shape.level_notional * (1 + index * self._shape.level_growth))
        )
        lots = (notional / mid / self.spec.step_size).to_integral_value(rounding=ROUND_FLOOR)
        return BookLevel(price=price, qty=max(Decimal(1), lots) * self.spec.step_size)

    def ladder(self, *, side: str, depth: int) -> list[BookLevel]:
        return [self.level(side=side, index=i) for i in range(depth)]

    def best_bid(self) -> Decimal:
        return self.level(side="bid", index=0).price

    def best_ask(self) -> Decimal:
        return self.level(side="ask", index=0).price

    def walk(
        self, *, taker_side: str, qty: Decimal, limit_price: Decimal | None
    ) -> list[BookLevel]:
        """Fills of a taker order walking the ladder, stopping at ``limit_price`` if given."""
        book_side = "ask" if taker_side == "BUY" else "bid"
        fills: list[BookLevel] = []
        remaining = qty
        index = 0
        while remaining > 0:
            level = self.level(side=book_side, index=index)
            if limit_price is not None and (
                level.price > limit_price if taker_side == "BUY" else level.price < limit_price
            ):
                break
            take = min(remaining, level.qty)
            fills.append(BookLevel(price=level.price, qty=take))
            remaining -= take
            index += 1
        return fills

    def klines(
        self, *, interval_ms: int, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[Kline]:
        """Candles of the recorded path, oldest first, at most ``limit`` of the latest ones."""
        candles: dict[int, list[float]] = {}
        for at_ms, price, volume in self._path:
            if (start_ms is not None and at_ms < start_ms) or (
                end_ms is not None and at_ms > end_ms
            ):
                continue
            bucket = at_ms - at_ms % interval_ms
            candle = candles.get(bucket)
            if candle is None:
                candles[bucket] = [price, price, price, price, volume, 1.0]
            else:
                candle[1] = max(candle[1], price)
                candle[2] = min(candle[2], price)
                candle[3] = price
                candle[4] += volume
                candle[5] += 1.0
        ordered = sorted(candles.items())
        chosen = ordered[:limit] if start_ms is not None else ordered[-limit:]
        return [
            Kline(
                open_time_ms=bucket,
                close_time_ms=bucket + interval_ms - 1,
                open=values[0],
                high=values[1],
                low=values[2],
                close=values[3],
                volume=values[4],
                trades=int(values[5]),
            )
            for bucket, values in chosen
        ]
