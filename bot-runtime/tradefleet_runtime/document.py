"""Readers of a JSON configuration document: each returns the value at one key, or raises
:class:`ConfigError` naming the key (``exchange.symbol must be a non-empty string, got ''``).

Used by the bot's configuration (:mod:`tradefleet_runtime.config`) and the market-data
workload's (:mod:`tradefleet_runtime.publisher.config`), so both refuse a bad file alike: exit
code 2 and one line that names the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

# The apiVersion of every document the operator renders for the runtime.
API_VERSION = "tradefleet.io/v1alpha1"


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; the message names the key."""


def key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def read_object(raw: object, *, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path} must be an object, got {type(raw).__name__}")
    return raw


def read_optional_object(raw: Mapping[str, Any], key: str, *, path: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return {} if value is None else read_object(value, path=key_path(path, key))


def read_text(raw: Mapping[str, Any], key: str, *, path: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key_path(path, key)} must be a non-empty string, got {value!r}")
    return value


def read_optional_text(raw: Mapping[str, Any], key: str, *, path: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    return read_text(raw, key, path=path)


def read_number(
    raw: Mapping[str, Any],
    key: str,
    *,
    path: str,
    default: float,
    low: float | None = None,
    high: float | None = None,
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key_path(path, key)} must be a finite number, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{key_path(path, key)} must be within [{low}, {high}], got {value!r}")
    return float(value)


def read_integer(
    raw: Mapping[str, Any], key: str, *, path: str, default: int, low: int, high: int
) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{key_path(path, key)} must be an integer in [{low}, {high}], got {value!r}"
        )
    return value


def read_optional_integer(
    raw: Mapping[str, Any], key: str, *, path: str, low: int, high: int
) -> int | None:
    if raw.get(key) is None:
        return None
    return read_integer(raw, key, path=path, default=low, low=low, high=high)


def read_flag(raw: Mapping[str, Any], key: str, *, path: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key_path(path, key)} must be true or false, got {value!r}")
    return value


def read_enum(
    raw: Mapping[str, Any], key: str, *, path: str, kind: type[StrEnum], default: str
) -> Any:
    value = raw.get(key, default)
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ConfigError(
            f"{key_path(path, key)} must be one of {allowed}, got {value!r}"
        ) from None


def check_kind(raw: Mapping[str, Any], *, kind: str) -> None:
    if raw.get("apiVersion") != API_VERSION or raw.get("kind") != kind:
        raise ConfigError(
            f"expected apiVersion {API_VERSION} kind {kind}, got "
            f"{raw.get('apiVersion')!r} {raw.get('kind')!r}"
        )
