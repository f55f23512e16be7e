"""Fault injection rules of the local exchange (dev/test tooling only).

Tests post a JSON list of rules to ``POST /_admin/faults``; the HTTP layer asks the
``FaultInjector`` before serving each API request and applies the first live rule that
matches the request's method and path, consuming one of its ``times``.

Kinds and what the client sees:

- ``http_429``: HTTP 429 with Binance's ``-1003`` body; the request is not executed.
- ``http_5xx``: HTTP ``status`` (default 503) with an empty body; not executed.
- ``timeout``: the response is held ``hold_seconds`` (past the client's timeout), then the
  request is executed as the exchange would: a request older than its ``recvWindow`` by
  then is rejected (``-1021``), so a retried order is never executed twice.
- ``drop_after_accept``: the request is executed (an order is booked and matched) and the
  connection is closed without a response.
- ``partial_fill``: an order's immediate execution stops after ``fill_ratio`` of its
  quantity (a market order's remainder expires, a limit order's remainder rests).
- ``auth_failure``: HTTP 401 with Binance's ``-2015`` body (a revoked or rotated key).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    HTTP_429 = "http_429"
    HTTP_5XX = "http_5xx"
    TIMEOUT = "timeout"
    DROP_AFTER_ACCEPT = "drop_after_accept"
    PARTIAL_FILL = "partial_fill"
    AUTH_FAILURE = "auth_failure"


class FaultRuleError(ValueError):
    """A posted fault rule is malformed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class FaultRule:
    """One injected fault; ``path`` and ``method`` of ``None`` match every API request."""

    kind: FaultKind
    path: str | None = None
    method: str | None = None
    times: int = 1
    status: int = 503
    hold_seconds: float = 2.0
    fill_ratio: float = 0.5

    @classmethod
    def from_json(cls, raw: object) -> FaultRule:
        if not isinstance(raw, dict):
            raise FaultRuleError(f"a fault rule must be a JSON object, got {raw!r}")
        unknown = set(raw) - {
            "kind",
            "path",
            "method",
            "times",
            "status",
            "hold_seconds",
            "fill_ratio",
        }
        if unknown:
            raise FaultRuleError(f"unknown fault rule fields: {sorted(unknown)}")
        try:
            kind = FaultKind(str(raw.get("kind")))
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            raise FaultRuleError(
                f"fault kind must be one of {kinds}, got {raw.get('kind')!r}"
            ) from None
        rule = cls(
            kind=kind,
            path=_optional_str(raw, "path"),
            method=(_optional_str(raw, "method") or "").upper() or None,
            times=_number(raw, "times", default=1, cast=int),
            status=_number(raw, "status", default=503, cast=int),
            hold_seconds=_number(raw, "hold_seconds", default=2.0, cast=float),
            fill_ratio=_number(raw, "fill_ratio", default=0.5, cast=float),
        )
        if rule.times < 1:
            raise FaultRuleError("times must be >= 1")
        if not 500 <= rule.status <= 599:
            raise FaultRuleError("status must be a 5xx code")
        if not (0 < rule.fill_ratio < 1):
            raise FaultRuleError("fill_ratio must be strictly between 0 and 1")
        if not (0 < rule.hold_seconds <= 60 and math.isfinite(rule.hold_seconds)):
            raise FaultRuleError("hold_seconds must be in (0, 60]")
        return rule

    def matches(self, *, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path == path
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "path": self.path,
            "method": self.method,
            "times": self.times,
            "status": self.status,
            "hold_seconds": self.hold_seconds,
            "fill_ratio": self.fill_ratio,
        }


def _optional_str(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise FaultRuleError(f"{key} must be a string")
    return value


def _number(raw: dict[str, Any], key: str, *, default: float, cast: type[Any]) -> Any:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultRuleError(f"{key} must be a number")
    return cast(value)


class FaultInjector:
    """The live fault rules, consumed in the order they were posted."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []

    def add(self, rules: list[FaultRule]) -> None:
        self._rules.extend(rules)

    def clear(self) -> None:
        self._rules.clear()

    def take(self, *, method: str, path: str, places_order: bool) -> FaultRule | None:
        """The first rule matching this request, with one of its uses consumed.

        ``partial_fill`` rules are only consumed by requests that place an order.
        """
        for index, rule in enumerate(self._rules):
            if rule.kind is FaultKind.PARTIAL_FILL and not places_order:
                continue
            if rule.matches(method=method, path=path):
                if rule.times == 1:
                    del self._rules[index]
                else:
                    self._rules[index] = replace(rule, times=rule.times - 1)
                return rule
        return None

    def pending(self) -> list[FaultRule]:
        return list(self._rules)
