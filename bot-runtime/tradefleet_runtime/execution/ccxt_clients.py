"""Which ccxt client a venue builds and where it points: ccxt's REST client or ccxt.pro's
streaming one, with every URL moved onto an override host (the local exchange in tests).

Used by :class:`~tradefleet_runtime.execution.venue.CcxtVenue` only. ccxt is imported by these
functions, not by this module, for the reason the venue module gives: a process with no exchange
client must not pay for it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tradefleet_runtime.execution.errors import VenueConfigurationError

# Exchanges whose streams a host override can serve: the local exchange speaks Binance USDⓈ-M's
# stream dialect only. Elsewhere ccxt.pro may read the dialect from the real host's name (Binance
# spot's "stream." host), which an override loses, so an overridden venue does not stream there.
STREAMS_UNDER_OVERRIDE = frozenset({"binanceusdm"})


# The depth of a streamed book's REST snapshot, which ccxt.pro then keeps (its option for
# Binance; Binance USDⓈ-M weighs it 10, 1000 levels 20). A diff names only the levels that
# changed, so a level deeper than the snapshot that never changes stays unknown to the book
# (Binance's own caveat): the snapshot is deep, not the 20 levels a bot reads.
STREAMED_BOOK_LEVELS = 500


def client_classes(*, exchange_id: str, streaming: bool, overridden: bool) -> Any:
    """The module whose ``exchange_id`` class the venue builds: ccxt's async clients, or
    ccxt.pro's (they add the ``watch_*`` streams to the same REST methods; ccxt.pro costs another
    ~33 MB, so it is loaded only for a streaming venue). VenueConfigurationError when the
    exchange cannot stream here."""
    if not streaming:
        import ccxt.async_support as ccxt  # noqa: PLC0415 - see the module docstring

        return ccxt
    if overridden and exchange_id not in STREAMS_UNDER_OVERRIDE:
        raise VenueConfigurationError(
            f"{exchange_id}: no streams through a base URL override (only "
            f"{', '.join(sorted(STREAMS_UNDER_OVERRIDE))})"
        )
    import ccxt.pro  # noqa: PLC0415 - see the module docstring

    if exchange_id not in ccxt.pro.exchanges:
        raise VenueConfigurationError(f"ccxt.pro has no streams for {exchange_id!r}")
    return ccxt.pro


def rebase_urls(urls: Any, *, base_url: str, origins: dict[str, str]) -> Any:
    """``urls`` (ccxt's ``urls['api']``: a URL or nested dicts of them) moved onto ``base_url``:
    REST URLs keep their path, stream URLs (``ws``/``wss``) become ``ws`` ones on the same host.

    ``origins`` receives local REST URL → original URL, to map error responses back.
    """
    if isinstance(urls, str):
        parts = urlsplit(urls)
        if parts.scheme.startswith("ws"):
            return "ws" + base_url.rstrip("/").removeprefix("http") + parts.path
        if not parts.scheme.startswith("http"):
            return urls
        rebased = base_url.rstrip("/") + parts.path
        origins[rebased] = urls
        return rebased
    if isinstance(urls, dict):
        return {k: rebase_urls(v, base_url=base_url, origins=origins) for k, v in urls.items()}
    return urls
