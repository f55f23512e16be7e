"""Deterministic client order IDs: one decision leg, one ID, in the shape its exchange accepts.

The runtime derives the ID of every order from what decided it (bot name, decision id —
typically the bar timestamp — and the leg), so a retry after a lost response, or a restart
that replays the decision, sends the same ID; the executor finds the existing order by
that ID instead of placing a second one. Called by the decision pipeline and the bot service
(``tradefleet_runtime.service``) before handing an ``OrderRequest`` to the executor. ``owns``
tells whether an order on an account (which may also hold other bots' orders and manual ones)
is one of a given bot's.

Exchanges disagree on what a client ID may be (OKX: 32 alphanumerics; Gate: ``t-`` and at
most 28 characters; HTX contracts: a 64-bit integer…), so IDs follow a ``ClientIdScheme`` per
ccxt exchange id (``SCHEMES``); an exchange without one gets ``CONSERVATIVE_SCHEME``.

Format: ``<prefix><mark><tag><digest>``. ``prefix`` is what the exchange requires (Gate's
``t-``, usually nothing); ``mark`` is Tradefleet's (``tf``); ``tag`` is a hash of the full bot
name, the same on every ID of the bot, which is what ``owns`` recognises; ``digest`` is a hash
of the full bot name, decision id and leg, so every leg of every decision has its own ID. Tag
and digest are written in lowercase base 36 where the exchange takes letters (no exchange can
fold their case into a collision), in decimal where it takes digits only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

DIGITS = "0123456789"
LOWERCASE = "abcdefghijklmnopqrstuvwxyz"
ALPHANUMERIC = DIGITS + LOWERCASE + LOWERCASE.upper()
MARK = "tf"
# Base 36 where the exchange takes letters, else base 10: the first that fits an alphabet.
_ENCODINGS = (DIGITS + LOWERCASE, DIGITS)
# A digest of 16 base-36 characters is 82 bits; below 10 decimal digits (33 bits) two legs of
# one bot would collide too easily, so a scheme with less room than that is refused.
DIGEST_MAX_LENGTH = 16
DIGEST_MIN_LENGTH = 10
_LEG = re.compile(r"^[a-z0-9]{1,6}$")


class ClientOrderIdError(ValueError):
    """The inputs cannot form a client order ID."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ClientIdScheme:
    """The client order IDs one exchange accepts, and how much of them the bot's tag takes.

    ``max_length`` counts the whole ID as handed to ccxt (``prefix`` included); ``alphabet``
    is every character the exchange accepts; ``prefix`` is what every ID must start with;
    ``mark`` is written after it and must be in ``alphabet`` too.
    """

    max_length: int
    alphabet: str
    prefix: str = ""
    mark: str = MARK
    tag_length: int = 6

    def __post_init__(self) -> None:
        # Checked when the table is built: a scheme that cannot hold a safe ID is a bug.
        if not set(self.prefix + self.mark) <= set(self.alphabet):
            raise ValueError(f"prefix and mark must be in the alphabet: {self!r}")
        if not any(set(digits) <= set(self.alphabet) for digits in _ENCODINGS):
            raise ValueError(f"the alphabet must contain the decimal digits: {self!r}")
        if self.digest_length < DIGEST_MIN_LENGTH:
            raise ValueError(f"room for a {self.digest_length}-character digest only: {self!r}")

    @property
    def digits(self) -> str:
        """The characters the tag and the digest are written in."""
        return next(digits for digits in _ENCODINGS if set(digits) <= set(self.alphabet))

    @property
    def digest_length(self) -> int:
        room = self.max_length - len(self.prefix) - len(self.mark) - self.tag_length
        return min(DIGEST_MAX_LENGTH, room)


_BINANCE = ClientIdScheme(max_length=36, alphabet=ALPHANUMERIC + "._:/-")
_KUCOIN = ClientIdScheme(max_length=40, alphabet=ALPHANUMERIC + "_-")
_GATE = ClientIdScheme(max_length=28, alphabet=ALPHANUMERIC + "_.-", prefix="t-")
# Keyed by ccxt exchange id (``tradefleet_runtime.execution.venue.ccxt_exchange_id``).
SCHEMES: Mapping[str, ClientIdScheme] = MappingProxyType(
    {
        # Binance spot and USDⓈ-M API docs: newClientOrderId (and clientAlgoId) ^[\.A-Z\:/a-z0-9_-]{1,36}$.
        "binance": _BINANCE,
        "binanceusdm": _BINANCE,
        # OKX API v5 place order: clOrdId is case-sensitive alphanumerics, up to 32 characters.
        "okx": ClientIdScheme(max_length=32, alphabet=ALPHANUMERIC),
        # Bybit v5 create order: orderLinkId at most 36 characters of letters, digits, '-' and '_'.
        "bybit": ClientIdScheme(max_length=36, alphabet=ALPHANUMERIC + "-_"),
        # Kraken spot AddOrder: cl_ord_id is a UUID or free text of at most 18 ASCII characters.
        "kraken": ClientIdScheme(max_length=18, alphabet=ALPHANUMERIC),
        # Kraken Futures sendorder: cliOrdId at most 100 characters (ccxt: clientOrderIdTooLong).
        "krakenfutures": ClientIdScheme(max_length=100, alphabet=ALPHANUMERIC + "-_"),
        # Coinbase Advanced: client_order_id has no documented limit; ccxt sends 'ccxt-' + UUID.
        "coinbase": ClientIdScheme(max_length=41, alphabet=ALPHANUMERIC + "-"),
        # Bitget v2: clientOid is refused (43011) beyond 32 letters, digits and '_'.
        "bitget": ClientIdScheme(max_length=32, alphabet=ALPHANUMERIC + "_"),
        # KuCoin spot and futures: clientOid at most 40 letters, digits, '_' and '-'.
        "kucoin": _KUCOIN,
        "kucoinfutures": _KUCOIN,
        # Gate APIv4 text: 't-' then [0-9A-Za-z_.-]; ccxt gate.create_order refuses over 28 in all.
        "gate": _GATE,
        "gateio": _GATE,
        # HTX contracts: client_order_id is an integer in [1, 2^63-1], and ccxt htx reads it with
        # safe_integer, dropping anything else; spot takes 64 characters, so digits fit both.
        # A leading 8 keeps 19 digits below 2^63-1 (9.22e18) and never a leading zero.
        "htx": ClientIdScheme(max_length=19, alphabet=DIGITS, mark="8", tag_length=7),
        # Deribit private/buy and private/sell: label, at most 64 characters.
        "deribit": ClientIdScheme(max_length=64, alphabet=ALPHANUMERIC + "-_"),
    }
)
# For an exchange without a scheme: short and alphanumeric, which every exchange above accepts
# (an integer-only exchange like HTX still would not: give it a scheme).
CONSERVATIVE_SCHEME = ClientIdScheme(max_length=20, alphabet=ALPHANUMERIC)


def scheme_for(exchange: str) -> ClientIdScheme:
    """The client ID scheme of a ccxt exchange id; ``CONSERVATIVE_SCHEME`` if it has none."""
    return SCHEMES.get(exchange, CONSERVATIVE_SCHEME)


def client_order_id(*, exchange: str, bot_name: str, decision_id: str, leg: str) -> str:
    """The client order ID of one leg (``entry``, ``exit``, ``sl``, ``tp``…) of one decision.

    ``exchange`` is the ccxt exchange id the order goes to (``binanceusdm``, ``okx``…).
    """
    if not bot_name:
        raise ClientOrderIdError("bot_name must not be empty")
    if not decision_id:
        raise ClientOrderIdError("decision_id must not be empty")
    if not _LEG.match(leg):
        raise ClientOrderIdError(f"leg must be 1-6 lowercase letters or digits, got {leg!r}")
    scheme = scheme_for(exchange)
    digest = _hash(b"tf-order-id", bot_name, decision_id, leg)
    return _head(scheme, bot_name) + _encode(
        digest, digits=scheme.digits, length=scheme.digest_length
    )


def owns(*, exchange: str, bot_name: str, client_order_id: str) -> bool:
    """Whether ``client_order_id`` has the shape of ``bot_name``'s IDs on ``exchange``.

    True for every ID ``client_order_id`` makes for this bot, false for other bots' (unless
    their tags collide: one in 2^31 per pair of bots, 10^7 on HTX) and for IDs not made here.
    """
    if not bot_name:
        return False
    scheme = scheme_for(exchange)
    head = _head(scheme, bot_name)
    body = client_order_id[len(head) :]
    return (
        client_order_id.startswith(head)
        and len(body) == scheme.digest_length
        and set(body) <= set(scheme.digits)
    )


def _head(scheme: ClientIdScheme, bot_name: str) -> str:
    tag = _encode(_hash(b"tf-bot-tag", bot_name), digits=scheme.digits, length=scheme.tag_length)
    return scheme.prefix + scheme.mark + tag


def _hash(domain: bytes, *parts: str) -> bytes:
    # Each part is length-prefixed, so no choice of bot name, decision id and leg can pass for
    # another (a separator character could appear inside a decision id).
    h = hashlib.blake2b(digest_size=32, person=domain)
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.digest()


def _encode(data: bytes, *, digits: str, length: int) -> str:
    # 256 bits reduced to at most 16 base-36 characters (83 bits): the reduction's bias is nil.
    value = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        value, index = divmod(value, len(digits))
        chars.append(digits[index])
    return "".join(chars)
