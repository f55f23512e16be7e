"""Build the API models (``tradefleet_api.models``) from the ``spec`` dict of a TradingBot,
SignalSource or ExchangeAccount.

Called by the operator's handlers with the ``spec`` Kopf hands them (camelCase keys, defaults
already applied by the apiserver). The models are generated from ``crds/``: absent keys take
the CRD's defaults, so raw dicts (tests, tools) parse the same way, and input the apiserver
would have refused (a wrong type, an enum value it does not know, a missing required field,
a value out of bounds, a non-empty inline key) raises ``SpecError`` naming the field. The
apiserver prunes unknown fields, so unknown keys are ignored here too; ``null`` counts as
absent. Two checks the schema cannot make are added: a symbol's parts and a quantity's syntax.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import ValidationError
from tradefleet_api import validate, validation_problem
from tradefleet_api.base import ApiModel
from tradefleet_api.models import (
    ExchangeAccountSpec,
    NotificationTarget,
    ResourceRequirements,
    SignalSourceSpec,
    TradingBotSpec,
)

from tradefleet_operator.spec.errors import SpecError
from tradefleet_operator.spec.quantity import parse_quantity
from tradefleet_operator.spec.symbols import split_symbol

_Model = TypeVar("_Model", bound=ApiModel)


def parse_trading_bot_spec(spec: Mapping[str, object]) -> TradingBotSpec:
    """The ``TradingBotSpec`` of a TradingBot's ``spec`` dict; ``SpecError`` if malformed."""
    parsed = _parse(model=TradingBotSpec, raw=spec)
    split_symbol(symbol=parsed.symbol, field="spec.symbol")
    _check_quantities(parsed.resources)
    return parsed


def parse_exchange_account_spec(spec: Mapping[str, object]) -> ExchangeAccountSpec:
    """The ``ExchangeAccountSpec`` of an ExchangeAccount's ``spec`` dict; ``SpecError`` if
    malformed."""
    return _parse(model=ExchangeAccountSpec, raw=spec)


def parse_signal_source_spec(spec: Mapping[str, object]) -> SignalSourceSpec:
    """The ``SignalSourceSpec`` of a SignalSource's ``spec`` dict; ``SpecError`` if malformed."""
    parsed = _parse(model=SignalSourceSpec, raw=spec)
    for index, symbol in enumerate(parsed.symbols):
        split_symbol(symbol=symbol, field=f"spec.symbols[{index}]")
    _check_quantities(parsed.resources)
    return parsed


def parse_notification_targets(spec: Mapping[str, object]) -> tuple[NotificationTarget, ...]:
    """``spec.notifications`` of a TradingBot's ``spec`` dict alone (the notifier reads nothing
    else of it); ``SpecError`` if malformed."""
    raw = spec.get("notifications")
    if raw is None:
        return ()
    try:
        return validate(tuple[NotificationTarget, ...], raw)
    except ValidationError as error:
        raise _spec_error(error, path="spec.notifications") from None


def property_name(field_name: str) -> str:
    """The CRD property of a model field: ``max_daily_var_pct`` -> ``maxDailyVarPct``."""
    first, *rest = field_name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def _parse(*, model: type[_Model], raw: object) -> _Model:
    if not isinstance(raw, Mapping):
        raise SpecError(field="spec", message=f"must be an object, not {type(raw).__name__}")
    try:
        return validate(model, raw)
    except ValidationError as error:
        raise _spec_error(error, path="spec") from None
    except TypeError as error:  # not JSON: a set, a date, an object
        raise SpecError(field="spec", message=f"is not a JSON document: {error}") from None


def _spec_error(error: ValidationError, *, path: str) -> SpecError:
    field, message = validation_problem(error, path=path)
    return SpecError(field=field, message=message)


def _check_quantities(resources: ResourceRequirements | None) -> None:
    if resources is None:
        return
    for block_name, block in (("requests", resources.requests), ("limits", resources.limits)):
        if block is None:
            continue
        for name, text in (("cpu", block.cpu), ("memory", block.memory)):
            if text is not None:
                parse_quantity(text=text, field=f"spec.resources.{block_name}.{name}")
