"""Market symbols in ccxt notation (``BTC/USDT``, ``BTC/USDT:USDT``).

Used by the spec parser (to refuse malformed symbols), the semantic validation (spot vs
futures notation) and the operator (matching a bot's symbol to a SignalSource's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tradefleet_operator.spec.errors import SpecError

# Same pattern as the CRDs' symbol fields.
SYMBOL_PATTERN = re.compile(r"^([A-Z0-9]{1,20})/([A-Z0-9]{1,20})(?::([A-Z0-9]{1,20}))?$")


@dataclass(frozen=True, kw_only=True, slots=True)
class SymbolParts:
    """The parts of a symbol: ``BTC/USDT:USDT`` is base BTC, quote USDT, settle USDT."""

    base: str
    quote: str
    settle: str | None

    @property
    def settlement(self) -> str:
        """The currency the symbol settles in, which its balance is held in (``USDT``)."""
        return self.settle or self.quote

    @property
    def spot_symbol(self) -> str:
        """The symbol without its settlement currency (``BTC/USDT``)."""
        return f"{self.base}/{self.quote}"


def split_symbol(*, symbol: str, field: str) -> SymbolParts:
    """Split ``symbol``; raise ``SpecError`` at ``field`` when it is not in ccxt notation."""
    match = SYMBOL_PATTERN.fullmatch(symbol)
    if match is None:
        raise SpecError(
            field=field,
            message=f"{symbol!r} is not a symbol in ccxt notation (BTC/USDT or BTC/USDT:USDT)",
        )
    base, quote, settle = match.groups()
    return SymbolParts(base=base, quote=quote, settle=settle)
