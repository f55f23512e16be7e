"""Typed field readers for restoring persisted risk state (breaker, portfolio, trade stats).

Used by the ``from_dict`` constructors in this package; every failure is a ``RiskStateError``
naming the field, so a corrupt Redis value is reported instead of crashing the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping

from tradefleet_runtime.risk.errors import RiskStateError


def as_object(data: object, *, what: str) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        raise RiskStateError(f"{what} must be an object, got {data!r}")
    return data


def _field(fields: Mapping[str, object], key: str) -> object:
    try:
        return fields[key]
    except KeyError:
        raise RiskStateError(f"field {key!r} is missing") from None


def as_int(fields: Mapping[str, object], key: str) -> int:
    value = _field(fields, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RiskStateError(f"field {key!r} must be an integer, got {value!r}")
    return value


def as_float(fields: Mapping[str, object], key: str) -> float:
    value = _field(fields, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RiskStateError(f"field {key!r} must be a number, got {value!r}")
    return float(value)


def as_str(fields: Mapping[str, object], key: str) -> str:
    value = _field(fields, key)
    if not isinstance(value, str):
        raise RiskStateError(f"field {key!r} must be a string, got {value!r}")
    return value
