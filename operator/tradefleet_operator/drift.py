"""Does an object in the cluster still hold what the operator rendered for it?

Pure comparison used by the reconciler before every write: only fields the operator sets are
compared, so server-side defaults and other controllers' fields never look like drift, and a
steady-state reconcile writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tradefleet_operator.spec import SpecError, parse_quantity


def covers(*, actual: Any, desired: Any) -> bool:
    """True when every field in ``desired`` has the same value in ``actual``."""
    if isinstance(desired, Mapping):
        if not isinstance(actual, Mapping):
            return False
        return all(
            key in actual and covers(actual=actual[key], desired=value)
            for key, value in desired.items()
        )
    if isinstance(desired, Sequence) and not isinstance(desired, str):
        if (
            not isinstance(actual, Sequence)
            or isinstance(actual, str)
            or len(actual) != len(desired)
        ):
            return False
        return all(covers(actual=a, desired=d) for a, d in zip(actual, desired, strict=True))
    if actual == desired:
        return True
    return _same_quantity(actual=actual, desired=desired)


def _same_quantity(*, actual: Any, desired: Any) -> bool:
    # The apiserver canonicalises resource quantities ("0.5" is stored as "500m").
    if not isinstance(desired, str | int | float) or not isinstance(actual, str | int | float):
        return False
    if isinstance(desired, bool) or isinstance(actual, bool):
        return False
    try:
        return parse_quantity(text=str(actual), field="") == parse_quantity(
            text=str(desired), field=""
        )
    except (SpecError, ValueError):
        return False


def object_in_sync(*, actual: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Compare a rendered object with the live one, metadata by labels and annotations only."""
    for key, value in desired.items():
        if key == "metadata":
            meta = actual.get("metadata", {})
            for field in ("labels", "annotations"):
                if field in value and not covers(actual=meta.get(field, {}), desired=value[field]):
                    return False
            continue
        if key in ("apiVersion", "kind"):
            continue
        if key not in actual or not covers(actual=actual[key], desired=value):
            return False
    return True
