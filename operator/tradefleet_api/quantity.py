"""The type of a Kubernetes quantity field (``x-kubernetes-int-or-string``) in the API models.

Used by the generated :mod:`tradefleet_api.models` (``resources.requests.cpu`` and the like). A
quantity is kept as the text the user wrote (``250m``, ``512Mi``; an integer ``1`` as ``"1"``):
the operator checks its syntax and converts it (``parse_quantity``), with the message users see.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator


def _as_text(value: object) -> object:
    # bool is an int, and `true` is no quantity: it stays as it is, and the str check refuses it.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Quantity = Annotated[str, BeforeValidator(_as_text)]
