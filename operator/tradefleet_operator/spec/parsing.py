"""Build the typed spec models from the ``spec`` dict of a TradingBot or SignalSource.

Called by the operator's handlers with the ``spec`` Kopf hands them (camelCase keys,
defaults already applied by the apiserver). Absent keys take the same defaults the CRD
declares, so raw dicts (tests, tools) parse the same way. The apiserver prunes unknown
fields, so unknown keys are ignored here too; ``null`` counts as absent. Only input the
apiserver would have refused (a wrong type, an enum value it does not know, a missing
required field, a malformed symbol or quantity, a non-empty inline key) raises
``SpecError``; bounds and patterns are the apiserver's job.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin, get_type_hints

from tradefleet_operator.spec.errors import SpecError
from tradefleet_operator.spec.models import NotificationTarget, SignalSourceSpec, TradingBotSpec
from tradefleet_operator.spec.quantity import parse_quantity
from tradefleet_operator.spec.symbols import split_symbol

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Model = TypeVar("_Model", bound="DataclassInstance")


def parse_trading_bot_spec(spec: Mapping[str, object]) -> TradingBotSpec:
    """The ``TradingBotSpec`` of a TradingBot's ``spec`` dict; ``SpecError`` if malformed."""
    parsed = _parse_object(model=TradingBotSpec, raw=spec, path="spec", base=None)
    split_symbol(symbol=parsed.symbol, field="spec.symbol")
    return parsed


def parse_signal_source_spec(spec: Mapping[str, object]) -> SignalSourceSpec:
    """The ``SignalSourceSpec`` of a SignalSource's ``spec`` dict; ``SpecError`` if malformed."""
    parsed = _parse_object(model=SignalSourceSpec, raw=spec, path="spec", base=None)
    for index, symbol in enumerate(parsed.symbols):
        split_symbol(symbol=symbol, field=f"spec.symbols[{index}]")
    return parsed


def parse_notification_targets(spec: Mapping[str, object]) -> tuple[NotificationTarget, ...]:
    """``spec.notifications`` of a TradingBot's ``spec`` dict alone (the notifier reads nothing
    else of it); ``SpecError`` if malformed."""
    raw = spec.get("notifications")
    if raw is None:
        return ()
    parsed = _parse_value(
        annotation=tuple[NotificationTarget, ...],
        raw=raw,
        path="spec.notifications",
        base=None,
        is_quantity=False,
    )
    return (
        tuple(t for t in parsed if isinstance(t, NotificationTarget))
        if isinstance(parsed, tuple)
        else ()
    )


def property_name(field_name: str) -> str:
    """The CRD property of a model field: ``max_daily_var_pct`` -> ``maxDailyVarPct``."""
    first, *rest = field_name.split("_")
    return first + "".join(part.capitalize() for part in rest)


@functools.cache
def _field_types(model: type) -> Mapping[str, Any]:
    return types.MappingProxyType(get_type_hints(model))


def _parse_object(*, model: type[_Model], raw: object, path: str, base: object) -> _Model:
    """Parse ``raw`` into ``model``; absent keys come from ``base`` when given, else defaults.

    ``base`` is the parent's default instance of this object: it carries per-field defaults
    that differ from the class's (each regime of ``RegimeParametersSet``).
    """
    if not isinstance(raw, Mapping):
        raise SpecError(field=path, message=f"must be an object, not {type(raw).__name__}")
    for inline_key in getattr(model, "INLINE_SECRET_FIELDS", ()):
        if raw.get(inline_key):
            raise SpecError(
                field=f"{path}.{inline_key}",
                message="inline keys are not allowed: store them in a Secret and reference it",
            )
    field_types = _field_types(model)
    values: dict[str, object] = {}
    for model_field in dataclasses.fields(model):
        key = property_name(model_field.name)
        key_path = f"{path}.{key}"
        value = raw.get(key)
        default = model_field.default
        if value is None:
            if base is not None:
                values[model_field.name] = getattr(base, model_field.name)
            elif default is dataclasses.MISSING:
                raise SpecError(field=key_path, message="is required")
            continue
        nested_base = (
            getattr(base, model_field.name)
            if base is not None
            else (None if default is dataclasses.MISSING else default)
        )
        values[model_field.name] = _parse_value(
            annotation=field_types[model_field.name],
            raw=value,
            path=key_path,
            base=nested_base,
            is_quantity=bool(model_field.metadata.get("quantity", False)),
        )
    return model(**values)


def _boolean(raw: object, path: str) -> bool:
    if not isinstance(raw, bool):
        raise SpecError(field=path, message=f"must be a boolean, not {raw!r}")
    return raw


def _integer(raw: object, path: str) -> int:
    # The apiserver accepts 5.0 for an integer field.
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise SpecError(field=path, message=f"must be an integer, not {raw!r}")
    return raw


def _number(raw: object, path: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise SpecError(field=path, message=f"must be a number, not {raw!r}")
    return float(raw)


def _string(*, raw: object, path: str, is_quantity: bool) -> str:
    if is_quantity and isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise SpecError(field=path, message=f"must be a string, not {raw!r}")
    if is_quantity:
        parse_quantity(text=raw, field=path)
    return raw


# The parsers of the models' scalar annotations (strings take the quantity flag too).
_SCALARS: Mapping[object, Callable[[object, str], object]] = {
    bool: _boolean,
    int: _integer,
    float: _number,
}


def _parse_value(
    *, annotation: Any, raw: object, path: str, base: object, is_quantity: bool
) -> object:
    if get_origin(annotation) in (types.UnionType, Union):
        # Only ``X | None`` is used in the models; null was already treated as absent.
        (annotation,) = (arg for arg in get_args(annotation) if arg is not type(None))
    if get_origin(annotation) is tuple:
        item_annotation = get_args(annotation)[0]
        if not isinstance(raw, list | tuple):
            raise SpecError(field=path, message=f"must be a list, not {type(raw).__name__}")
        return tuple(
            _parse_value(
                annotation=item_annotation,
                raw=item,
                path=f"{path}[{index}]",
                base=None,
                is_quantity=False,
            )
            for index, item in enumerate(raw)
        )
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _parse_object(model=annotation, raw=raw, path=path, base=base)
    if issubclass(annotation, StrEnum):
        allowed = [member.value for member in annotation]
        if not isinstance(raw, str) or raw not in allowed:
            raise SpecError(field=path, message=f"{raw!r} is not one of {', '.join(allowed)}")
        return annotation(raw)
    scalar = _SCALARS.get(annotation)
    if scalar is not None:
        return scalar(raw, path)
    if annotation is str:
        return _string(raw=raw, path=path, is_quantity=is_quantity)
    raise TypeError(f"model annotation {annotation!r} at {path} has no parser")
