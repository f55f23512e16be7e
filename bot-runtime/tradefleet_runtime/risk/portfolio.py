"""The bot's account as the risk engine sees it: equity watermarks, open positions, track record.

``PortfolioState.opening`` creates one for a new bot; ``RiskEngine.on_mark``,
``on_trade_closed`` and ``reset`` return its successors. The bot runtime keeps the latest one,
passes it to ``evaluate`` and persists it with ``to_dict``/``from_dict`` next to the breaker
state, so the drawdown and daily-loss baselines survive restarts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tradefleet_runtime.risk._codec import as_float, as_int, as_object, as_str
from tradefleet_runtime.risk.errors import RiskInputError, RiskStateError
from tradefleet_runtime.risk.kelly import TradeStats
from tradefleet_runtime.risk.market import base_asset

MILLISECONDS_PER_DAY = 86_400_000


def utc_day(now_ms: int) -> int:
    """Days since the Unix epoch in UTC; the daily-loss breaker's day."""
    return now_ms // MILLISECONDS_PER_DAY


@dataclass(frozen=True, kw_only=True, slots=True)
class RiskPosition:
    """One open position, netted per symbol; ``quantity`` is signed (short < 0) in base units."""

    symbol: str
    quantity: float
    entry_price: float
    mark_price: float
    asset: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "asset", base_asset(self.symbol))
        if not (math.isfinite(self.quantity) and self.quantity != 0.0):
            raise RiskInputError(f"{self.symbol}: quantity must be finite and non-zero")
        for name, price in (("entry", self.entry_price), ("mark", self.mark_price)):
            if not (math.isfinite(price) and price > 0.0):
                raise RiskInputError(f"{self.symbol}: {name} price must be > 0, got {price!r}")

    @property
    def signed_notional(self) -> float:
        return self.quantity * self.mark_price

    @property
    def unrealised_pnl(self) -> float:
        return self.quantity * (self.mark_price - self.entry_price)

    def to_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "quantity": self.quantity,
            "entryPrice": self.entry_price,
            "markPrice": self.mark_price,
        }

    @classmethod
    def from_dict(cls, data: object) -> RiskPosition:
        fields = as_object(data, what="position")
        return cls(
            symbol=as_str(fields, "symbol"),
            quantity=as_float(fields, "quantity"),
            entry_price=as_float(fields, "entryPrice"),
            mark_price=as_float(fields, "markPrice"),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class PortfolioState:
    """Equity with its high-water mark and UTC day-start, open positions and trade history.

    ``peak_equity`` and ``day_start_equity`` are the risk baselines: a breaker reset re-bases
    them to the current equity, so they can differ from the account's all-time figures.
    """

    equity: float
    peak_equity: float
    day_start_equity: float
    utc_day: int
    positions: tuple[RiskPosition, ...] = ()
    trades: TradeStats = field(default_factory=TradeStats)

    def __post_init__(self) -> None:
        if not math.isfinite(self.equity):
            raise RiskInputError(f"equity must be finite, got {self.equity!r}")
        for name in ("peak_equity", "day_start_equity"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise RiskInputError(f"{name} must be finite and > 0, got {value!r}")
        if self.equity > self.peak_equity:
            raise RiskInputError(
                f"equity {self.equity!r} is above the high-water mark {self.peak_equity!r}"
            )
        symbols = [position.symbol for position in self.positions]
        if len(set(symbols)) != len(symbols):
            raise RiskInputError(f"positions must be netted per symbol, got {symbols}")

    @classmethod
    def opening(cls, *, equity: float, now_ms: int) -> PortfolioState:
        """A bot's first state: flat, no history, baselines at the starting equity."""
        if not (math.isfinite(equity) and equity > 0.0):
            raise RiskInputError(f"starting equity must be finite and > 0, got {equity!r}")
        return cls(
            equity=equity, peak_equity=equity, day_start_equity=equity, utc_day=utc_day(now_ms)
        )

    @property
    def drawdown_pct(self) -> float:
        return 100.0 * (self.peak_equity - self.equity) / self.peak_equity

    @property
    def daily_loss_pct(self) -> float:
        return 100.0 * (self.day_start_equity - self.equity) / self.day_start_equity

    def to_dict(self) -> dict[str, object]:
        return {
            "equity": self.equity,
            "peakEquity": self.peak_equity,
            "dayStartEquity": self.day_start_equity,
            "utcDay": self.utc_day,
            "positions": [position.to_dict() for position in self.positions],
            "trades": self.trades.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: object) -> PortfolioState:
        fields = as_object(data, what="portfolio state")
        positions = fields.get("positions")
        if not isinstance(positions, list):
            raise RiskStateError(f"field 'positions' must be a list, got {positions!r}")
        try:
            return cls(
                equity=as_float(fields, "equity"),
                peak_equity=as_float(fields, "peakEquity"),
                day_start_equity=as_float(fields, "dayStartEquity"),
                utc_day=as_int(fields, "utcDay"),
                positions=tuple(RiskPosition.from_dict(item) for item in positions),
                trades=TradeStats.from_dict(fields.get("trades")),
            )
        except RiskInputError as error:
            raise RiskStateError(f"bad portfolio state: {error}") from None
