"""What the operator and the runtime compute identically about a document.

``validate`` is how both read a document into a generated model. ``content_hash`` is called by the operator's renderers (the config hash of a revision) and by
the runtime's config loader (the hash it reports running); ``describe_validation_error`` by
the runtime when a rendered document fails a generated model; ``validation_problem`` by the
operator's spec parser, which reports the field and the message apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

_T = TypeVar("_T")


def canonical_json(document: Mapping[str, Any]) -> str:
    """``document`` as JSON with sorted keys and no spaces: equal content, equal text."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def content_hash(document: Mapping[str, Any]) -> str:
    """The first 10 hex digits of the sha256 of ``document``'s canonical JSON."""
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()[:10]


def validate(kind: type[_T], raw: object) -> _T:
    """``raw`` (a document as JSON has it) as an instance of ``kind``, a generated model or a
    tuple of them; ``pydantic.ValidationError`` when it does not fit.

    ``null`` counts as absent and ``5.0`` is an integer, as the apiserver reads them.
    Validation goes through JSON, so types are strict as the apiserver's are (``"1"`` is no
    number, ``true`` no integer) while an array still fills a tuple.
    """
    return _adapter(kind).validate_json(json.dumps(_as_apiserver_reads(raw)))


# One per kind: building one compiles a validator, which every operator pass would repeat.
_ADAPTERS: dict[object, TypeAdapter[Any]] = {}


def _adapter(kind: type[_T]) -> TypeAdapter[_T]:
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


def _as_apiserver_reads(raw: object) -> object:
    """``raw`` without null values, and with integral numbers as integers: the apiserver takes
    ``5.0`` for an integer field (a number field takes an integer)."""
    if isinstance(raw, Mapping):
        return {key: _as_apiserver_reads(value) for key, value in raw.items() if value is not None}
    if isinstance(raw, list | tuple):
        return [_as_apiserver_reads(item) for item in raw]
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return raw


# What a field the CRD fixes at maxLength 0 is for, and what to do instead.
INLINE_KEY_MESSAGE = "inline keys are not allowed: store them in a Secret and reference it"


def validation_problem(error: ValidationError, *, path: str) -> tuple[str, str]:
    """The first problem of ``error`` as (the field's path, what is wrong with it).

    ``path`` is where the validated object sits in its document ("spec", "strategy"); the
    field is spelled as the document spells it (``spec.notifications[0].secretRef``).
    """
    first = error.errors()[0]
    field = path + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
    )
    if first["type"] == "missing":
        return field, "is required"
    if first["type"] == "string_too_long" and first.get("ctx", {}).get("max_length") == 0:
        return field, INLINE_KEY_MESSAGE
    return field, f"{first['msg']}, got {first['input']!r}"


def describe_validation_error(error: ValidationError, *, path: str) -> str:
    """The first problem of ``error`` as one line: "path.field: what is wrong, got value"."""
    field, message = validation_problem(error, path=path)
    return f"{field}: {message}"
