"""Deterministic client order IDs: one decision leg, one ID, however often it is sent.

The runtime derives the ID of every order from what decided it (bot name, decision id —
typically the bar timestamp — and the leg), so a retry after a lost response, or a restart
that replays the decision, sends the same ID; the executor finds the existing order by
that ID instead of placing a second one. Called by the runtime before handing an
``OrderRequest`` to the executor.

Format: ``tf-<bot>-<digest>-<leg>``, within Binance's 36-character limit and charset
``[A-Za-z0-9._:/-]``. ``<bot>`` is a readable slug (at most 8 characters); the 16-hex-digit
digest covers the full bot name, decision id and leg, so slugs that collide still give
different IDs.
"""

from __future__ import annotations

import hashlib
import re

_LEG = re.compile(r"^[a-z0-9]{1,6}$")
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]")
PREFIX = "tf"
SLUG_LENGTH = 8
DIGEST_HEX = 16


class ClientOrderIdError(ValueError):
    """The inputs cannot form a client order ID."""


def client_order_id(*, bot_name: str, decision_id: str, leg: str) -> str:
    """The client order ID of one leg (``entry``, ``exit``, ``sl``, ``tp``…) of one decision."""
    if not bot_name:
        raise ClientOrderIdError("bot_name must not be empty")
    if not decision_id:
        raise ClientOrderIdError("decision_id must not be empty")
    if not _LEG.match(leg):
        raise ClientOrderIdError(f"leg must be 1-6 lowercase letters or digits, got {leg!r}")
    slug = _SLUG_UNSAFE.sub("", bot_name.lower())[:SLUG_LENGTH] or "bot"
    digest = hashlib.blake2b(
        "\x1f".join((bot_name, decision_id, leg)).encode(), digest_size=DIGEST_HEX // 2
    ).hexdigest()
    return f"{PREFIX}-{slug}-{digest}-{leg}"
