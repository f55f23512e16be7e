"""Kubernetes resource quantities (``250m``, ``1.5``, ``512Mi``, ``1e3``) as exact decimals.

Used by the spec parser (to refuse malformed quantities) and the semantic validation
(a request above its limit).
"""

from __future__ import annotations

import re
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from tradefleet_operator.spec.errors import SpecError

_QUANTITY_PATTERN: Final = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?$"
)

_SUFFIX_FACTORS: Final = MappingProxyType(
    {
        "n": Decimal("1e-9"),
        "u": Decimal("1e-6"),
        "m": Decimal("1e-3"),
        "k": Decimal("1e3"),
        "M": Decimal("1e6"),
        "G": Decimal("1e9"),
        "T": Decimal("1e12"),
        "P": Decimal("1e15"),
        "E": Decimal("1e18"),
        "Ki": Decimal(2**10),
        "Mi": Decimal(2**20),
        "Gi": Decimal(2**30),
        "Ti": Decimal(2**40),
        "Pi": Decimal(2**50),
        "Ei": Decimal(2**60),
    }
)


def parse_quantity(*, text: str, field: str) -> Decimal:
    """The value of quantity ``text``; raise ``SpecError`` at ``field`` when malformed."""
    match = _QUANTITY_PATTERN.fullmatch(text)
    if match is None:
        raise SpecError(field=field, message=f"{text!r} is not a Kubernetes quantity")
    number = Decimal(match["number"])
    if match["suffix"] is not None:
        return number * _SUFFIX_FACTORS[match["suffix"]]
    if match["exponent"] is not None:
        return number.scaleb(int(match["exponent"]))
    return number
