"""A stand-in for what kube-apiserver 1.20 does to a custom resource, for the unit tests.

Applies the same steps as the apiserver, in the same order: prune unknown fields, apply
the schema defaults (the structural defaulting algorithm), validate against the CRD's
openAPIV3Schema (jsonschema's Draft 4 validator, which OpenAPI v3 schemas follow, plus
x-kubernetes-list-type uniqueness), and renders each error the way the apiserver does
(k8s.io/apiextensions-apiserver validation + kube-openapi messages), so the substrings the
malformed corpus expects are the ones the real apiserver prints (every case was checked
against a real kube-apiserver 1.20, as are the defaults of the examples). The integration
tests check the same corpus against a real kube-apiserver.

Used by the tests in tests/unit/api only.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError

REPO_ROOT = Path(__file__).resolve().parents[3]
CRD_DIRECTORY = REPO_ROOT / "crds"
CRD_FILES = {
    "TradingBot": CRD_DIRECTORY / "tradefleet.io_tradingbots.yaml",
    "SignalSource": CRD_DIRECTORY / "tradefleet.io_signalsources.yaml",
    "ExchangeAccount": CRD_DIRECTORY / "tradefleet.io_exchangeaccounts.yaml",
}


@functools.cache
def load_crd(kind: str) -> dict[str, Any]:
    """The CustomResourceDefinition of ``kind`` (a key of :data:`CRD_FILES`); do not mutate."""
    crd: dict[str, Any] = yaml.load(CRD_FILES[kind].read_text(), Loader=yaml.CSafeLoader)
    return crd


def openapi_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of ``kind``'s only version."""
    (version,) = load_crd(kind)["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def pruned_paths(*, value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Paths of the fields the apiserver would silently drop from ``value``."""
    dropped: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else key
            if key in schema["properties"]:
                dropped += pruned_paths(
                    value=child, schema=schema["properties"][key], path=child_path
                )
            else:
                dropped.append(child_path)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            dropped += pruned_paths(value=item, schema=schema["items"], path=f"{path}[{index}]")
    return dropped


def prune(*, value: Any, schema: Mapping[str, Any]) -> Any:
    """A copy of ``value`` without the fields the schema does not declare."""
    if isinstance(value, dict) and "properties" in schema:
        return {
            key: prune(value=child, schema=schema["properties"][key])
            for key, child in value.items()
            if key in schema["properties"]
        }
    if isinstance(value, list) and "items" in schema:
        return [prune(value=item, schema=schema["items"]) for item in value]
    return value


def apply_defaults(*, value: Any, schema: Mapping[str, Any]) -> Any:
    """A copy of ``value`` defaulted like the apiserver (defaults of new objects cascade)."""
    value = copy.deepcopy(value)
    _default_in_place(value=value, schema=schema)
    return value


def _default_in_place(*, value: Any, schema: Mapping[str, Any]) -> None:
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, child_schema in properties.items():
            if "default" in child_schema and value.get(key) is None:
                value[key] = copy.deepcopy(child_schema["default"])
        for key, child in value.items():
            if key in properties:
                _default_in_place(value=child, schema=properties[key])
    if isinstance(value, list) and "items" in schema:
        for item in value:
            _default_in_place(value=item, schema=schema["items"])


def stored_object(manifest: Mapping[str, Any]) -> Any:
    """What the apiserver stores for ``manifest`` if it is valid: pruned, then defaulted."""
    schema = openapi_schema(manifest["kind"])
    return apply_defaults(value=prune(value=manifest, schema=schema), schema=schema)


def apiserver_errors(manifest: Mapping[str, Any]) -> list[str]:
    """The validation errors the apiserver would answer ``manifest`` with, as it words them."""
    schema = openapi_schema(manifest["kind"])
    validator = _VALIDATOR_CLASS(schema)
    return sorted(_render(error) for error in validator.iter_errors(stored_object(manifest)))


def _required(
    validator: Any, required: list[str], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, dict):
        for name in required:
            if name not in instance:
                yield ValidationError(f"{name} is required", path=[name])


def _list_type(
    validator: Any, list_type: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, list):
        return
    if list_type == "set":
        keys = [json.dumps(item, sort_keys=True) for item in instance]
    elif list_type == "map":
        key_names = schema["x-kubernetes-list-map-keys"]
        keys = [
            json.dumps([item.get(name) for name in key_names])
            for item in instance
            if isinstance(item, dict)
        ]
    else:
        return
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            yield ValidationError("Duplicate value", path=[index])
        seen.add(key)


_VALIDATOR_CLASS = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    validators={"required": _required, "x-kubernetes-list-type": _list_type},
)

_JSON_TYPE_NAMES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def _json_type(value: Any) -> str:
    return next(name for python_type, name in _JSON_TYPE_NAMES if isinstance(value, python_type))


def _go_value(value: Any) -> str:
    """``value`` as Go's field errors print it (%q for strings, %v for numbers)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_number(value)
    return str(value)


def _go_number(number: float) -> str:
    """A float as Go's %v prints it (shortest form, exponent from 1e+06 on, like %g)."""
    short = f"{float(number):g}"
    return short if float(short) == number else repr(float(number))


def _render(error: ValidationError) -> str:
    # kube-openapi in 1.20 names a list item's field without its index (spec.feeds.url).
    openapi_path = ".".join(part for part in error.absolute_path if isinstance(part, str))
    keyword = error.validator
    if keyword == "required":
        return f"{openapi_path}: Required value"
    if keyword == "x-kubernetes-list-type":
        *parent, index = error.absolute_path
        return f"{'.'.join(str(part) for part in parent)}[{index}]: Duplicate value"
    if keyword == "enum":
        supported = ", ".join(json.dumps(str(value)) for value in error.validator_value)
        return (
            f"{openapi_path}: Unsupported value: {_go_value(error.instance)}: "
            f"supported values: {supported}"
        )
    detail = _openapi_detail(error=error, path=openapi_path)
    return f"{openapi_path}: Invalid value: {_go_value(error.instance)}: {detail}"


def _openapi_detail(*, error: ValidationError, path: str) -> str:
    keyword, bound, schema = error.validator, error.validator_value, error.schema
    assert isinstance(schema, Mapping)
    if keyword == "type":
        return f'{path} in body must be of type {bound}: "{_json_type(error.instance)}"'
    if keyword == "maximum":
        strict = "" if schema.get("exclusiveMaximum") else " or equal to"
        return f"{path} in body should be less than{strict} {_go_number(bound)}"
    if keyword == "minimum":
        strict = "" if schema.get("exclusiveMinimum") else " or equal to"
        return f"{path} in body should be greater than{strict} {_go_number(bound)}"
    if keyword == "maxLength":
        return f"{path} in body should be at most {bound} chars long"
    if keyword == "minLength":
        return f"{path} in body should be at least {bound} chars long"
    if keyword == "pattern":
        return f"{path} in body should match '{bound}'"
    if keyword == "maxItems":
        return f"{path} in body should have at most {bound} items"
    if keyword == "minItems":
        return f"{path} in body should have at least {bound} items"
    return f"{path}: {keyword} failed: {error.message}"
