"""What the API knows about each exchange: its region, markets, testnet and passphrase.

``resolve_region`` is called by the operator to pin a bot to a region (and to decide
whether this regional operator owns it); the capability tables feed the semantic
validation. The tables follow ccxt 4.5 (``has['spot']``/``has['swap']``, ``urls['test']``,
``requiredCredentials['password']``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from tradefleet_api.models import Exchange, Market, TradingBotSpec

from tradefleet_operator.spec.errors import RegionUnresolvedError

AUTO_REGION: Final = "auto"

# Region (topology.kubernetes.io/region) nearest each exchange's matching engine; the Helm
# values may override entries.
DEFAULT_EXCHANGE_REGIONS: Final[Mapping[Exchange, str]] = MappingProxyType(
    {
        Exchange.BINANCE: "ap-northeast-1",
        Exchange.BINANCEUSDM: "ap-northeast-1",
        Exchange.OKX: "ap-southeast-1",
        Exchange.BYBIT: "ap-southeast-1",
        Exchange.BITGET: "ap-southeast-1",
        Exchange.KUCOIN: "ap-southeast-1",
        Exchange.GATEIO: "ap-southeast-1",
        Exchange.HTX: "ap-southeast-1",
        Exchange.KRAKEN: "eu-central-1",
        Exchange.DERIBIT: "eu-west-1",
        Exchange.COINBASE: "us-east-1",
    }
)

_SPOT_AND_FUTURES: Final = frozenset({Market.SPOT, Market.FUTURES})

# Markets each exchange id offers: binanceusdm is the USD-M futures venue, kraken spot only.
EXCHANGE_MARKETS: Final[Mapping[Exchange, frozenset[Market]]] = MappingProxyType(
    {
        Exchange.BINANCE: _SPOT_AND_FUTURES,
        Exchange.BINANCEUSDM: frozenset({Market.FUTURES}),
        Exchange.OKX: _SPOT_AND_FUTURES,
        Exchange.BYBIT: _SPOT_AND_FUTURES,
        Exchange.KRAKEN: frozenset({Market.SPOT}),
        Exchange.COINBASE: _SPOT_AND_FUTURES,
        Exchange.BITGET: _SPOT_AND_FUTURES,
        Exchange.KUCOIN: _SPOT_AND_FUTURES,
        Exchange.GATEIO: _SPOT_AND_FUTURES,
        Exchange.HTX: _SPOT_AND_FUTURES,
        Exchange.DERIBIT: _SPOT_AND_FUTURES,
    }
)

# The ccxt id the runtime connects with, for each exchange and market it offers (ccxt 4.5's
# ``ccxt.exchanges``): binance's USD-M futures are their own ccxt exchange, and ccxt 4 calls gateio
# gate. tests/unit/api checks every entry against ccxt and the runtime's own mapping.
_CCXT_RENAMED: Final[Mapping[tuple[Exchange, Market], str]] = MappingProxyType(
    {
        (Exchange.BINANCE, Market.FUTURES): "binanceusdm",
        (Exchange.GATEIO, Market.SPOT): "gate",
        (Exchange.GATEIO, Market.FUTURES): "gate",
    }
)
CCXT_EXCHANGE_IDS: Final[Mapping[tuple[Exchange, Market], str]] = MappingProxyType(
    {
        (exchange, market): _CCXT_RENAMED.get((exchange, market), str(exchange))
        for exchange, markets in EXCHANGE_MARKETS.items()
        for market in sorted(markets)
    }
)

# Exchanges with a test network ccxt can switch to (mode: testnet).
TESTNET_EXCHANGES: Final = frozenset(
    {
        Exchange.BINANCE,
        Exchange.BINANCEUSDM,
        Exchange.OKX,
        Exchange.BYBIT,
        Exchange.BITGET,
        Exchange.GATEIO,
        Exchange.DERIBIT,
    }
)

# Exchanges whose API keys come with a passphrase.
PASSPHRASE_EXCHANGES: Final = frozenset({Exchange.OKX, Exchange.BITGET, Exchange.KUCOIN})


def resolve_region(*, spec: TradingBotSpec, exchange_region_map: Mapping[str, str]) -> str:
    """The region ``spec`` runs in: its explicit ``region``, or for ``auto`` its exchange's.

    ``exchange_region_map`` is keyed by exchange id (``DEFAULT_EXCHANGE_REGIONS`` merged
    with the Helm overrides); raises ``RegionUnresolvedError`` when ``auto`` meets an
    exchange the map lacks.
    """
    if spec.region != AUTO_REGION:
        return spec.region
    try:
        return exchange_region_map[spec.exchange]
    except KeyError:
        raise RegionUnresolvedError(exchange=spec.exchange) from None
