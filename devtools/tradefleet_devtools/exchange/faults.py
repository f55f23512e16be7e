"""Fault injection rules of the local exchange (dev/test tooling only).

Tests and the chaos soak harness post a JSON list of rules to ``POST /_admin/faults``
(``ExchangeAdminClient.add_faults``); this module parses and validates them and keeps the
live ones. It is pure bookkeeping: the fault layer (``tradefleet_devtools.exchange.chaos``)
asks it, for each API request, which rule applies and does what the rule says.

Every rule has ``kind``, ``path`` and ``method`` (``None`` matches every API request) and
``times`` (how many uses it has), plus the fields of its kind. Per-request kinds apply to
one matching request per use, the first live rule winning:

- ``http_429``: HTTP 429 with Binance's ``-1003`` body and ``Retry-After: 1``; not executed.
- ``http_5xx`` (``status``, default 503): that status with an empty body; not executed.
- ``timeout`` (``hold_seconds``): the response is held ``hold_seconds`` (past the client's
  timeout), then the request is executed as the exchange would: a request older than its
  ``recvWindow`` by then is rejected (``-1021``), so a retried order is never executed twice.
- ``drop_after_accept``: the request is executed (an order is booked and matched) and the
  connection is closed without a response.
- ``accept_then_timeout`` (``hold_seconds``): executed at once; the reply is held
  ``hold_seconds``, then sent, or the connection closed if the client has gone.
- ``accept_then_5xx`` (``status``, default 503): executed at once; the reply is that
  status with an empty body.
- ``partial_fill`` (``fill_ratio``): an order's immediate execution stops after
  ``fill_ratio`` of its quantity (a market order's remainder expires, a limit order's rests).
- ``slow_fill`` (``fill_seconds``, ``fill_steps``): an order that crosses fills in
  ``fill_steps`` lots, the first at once (the reply says ``PARTIALLY_FILLED``), the others
  evenly until ``fill_seconds`` later; queries, userTrades and the position follow each lot.
- ``late_execution`` (``hold_seconds``): an order is accepted but waits in the matching
  queue: queries answer ``-2013`` for ``hold_seconds``, the connection is then closed without
  a reply and the order is booked and matched, if that is still within the request's
  ``recvWindow`` counted from its ``timestamp`` (else it is dropped, never executed).
- ``auth_failure``: HTTP 401 with Binance's ``-2015`` body (a revoked or rotated key).

``partial_fill``, ``slow_fill`` and ``late_execution`` are only used up by requests placing a
regular order (``POST /fapi/v1/order``). Window kinds open a window on the first matching
request (one use per window) that lasts ``hold_seconds`` and affects every API request:

- ``clock_skew`` (``skew_ms``, ``hold_seconds``): the exchange's clock (``serverTime`` and
  the ``timestamp``/``recvWindow`` check) runs ``skew_ms`` ahead (positive) or behind.
- ``unreachable`` (``hold_seconds``): every API request's connection is closed at once,
  without a response; admin endpoints stay reachable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

MAX_HOLD_SECONDS = 60.0
MAX_FILL_STEPS = 100
MAX_SKEW_MS = 3_600_000
METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})


class FaultKind(StrEnum):
    HTTP_429 = "http_429"
    HTTP_5XX = "http_5xx"
    TIMEOUT = "timeout"
    DROP_AFTER_ACCEPT = "drop_after_accept"
    ACCEPT_THEN_TIMEOUT = "accept_then_timeout"
    ACCEPT_THEN_5XX = "accept_then_5xx"
    PARTIAL_FILL = "partial_fill"
    SLOW_FILL = "slow_fill"
    LATE_EXECUTION = "late_execution"
    AUTH_FAILURE = "auth_failure"
    CLOCK_SKEW = "clock_skew"
    UNREACHABLE = "unreachable"

    @property
    def opens_window(self) -> bool:
        """Whether a use of the rule is a span of time rather than one request."""
        return self in (FaultKind.CLOCK_SKEW, FaultKind.UNREACHABLE)

    @property
    def places_orders_only(self) -> bool:
        """Whether only requests placing a regular order use the rule up."""
        return self in (FaultKind.PARTIAL_FILL, FaultKind.SLOW_FILL, FaultKind.LATE_EXECUTION)

    @property
    def fields(self) -> tuple[str, ...]:
        """The rule fields this kind reads, besides kind, path, method and times."""
        return _KIND_FIELDS[self]


_COMMON_FIELDS = ("kind", "path", "method", "times")
_KIND_FIELDS: dict[FaultKind, tuple[str, ...]] = {
    FaultKind.HTTP_429: (),
    FaultKind.HTTP_5XX: ("status",),
    FaultKind.TIMEOUT: ("hold_seconds",),
    FaultKind.DROP_AFTER_ACCEPT: (),
    FaultKind.ACCEPT_THEN_TIMEOUT: ("hold_seconds",),
    FaultKind.ACCEPT_THEN_5XX: ("status",),
    FaultKind.PARTIAL_FILL: ("fill_ratio",),
    FaultKind.SLOW_FILL: ("fill_seconds", "fill_steps"),
    FaultKind.LATE_EXECUTION: ("hold_seconds",),
    FaultKind.AUTH_FAILURE: (),
    FaultKind.CLOCK_SKEW: ("skew_ms", "hold_seconds"),
    FaultKind.UNREACHABLE: ("hold_seconds",),
}
_ALL_FIELDS = frozenset(_COMMON_FIELDS).union(*_KIND_FIELDS.values())
_INTEGER_FIELDS = frozenset({"times", "status", "fill_steps", "skew_ms"})


class FaultRuleError(ValueError):
    """A posted fault rule is malformed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class FaultRule:
    """One injected fault; fields that the kind does not read keep their defaults."""

    kind: FaultKind
    path: str | None = None
    method: str | None = None
    times: int = 1
    status: int = 503
    hold_seconds: float = 2.0
    fill_ratio: float = 0.5
    fill_seconds: float = 3.0
    fill_steps: int = 3
    skew_ms: int = 0

    # Over the complexity limit on purpose: one guard clause per field of a fault rule.
    def __post_init__(self) -> None:  # noqa: C901
        # Rules built in Python are checked here too, so a bad rule fails where it is
        # written rather than as a 400 from the exchange.
        if self.path is not None and not self.path.startswith("/"):
            raise FaultRuleError(f"path must start with '/', got {self.path!r}")
        if self.method is not None and self.method not in METHODS:
            raise FaultRuleError(f"method must be one of {sorted(METHODS)}, got {self.method!r}")
        if self.times < 1:
            raise FaultRuleError("times must be >= 1")
        if not 500 <= self.status <= 599:
            raise FaultRuleError(f"status must be a 5xx code, got {self.status}")
        if not 0 < self.fill_ratio < 1:
            raise FaultRuleError("fill_ratio must be strictly between 0 and 1")
        for name in ("hold_seconds", "fill_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= MAX_HOLD_SECONDS):
                raise FaultRuleError(f"{name} must be in (0, {MAX_HOLD_SECONDS:g}]")
        if not 2 <= self.fill_steps <= MAX_FILL_STEPS:
            raise FaultRuleError(f"fill_steps must be in [2, {MAX_FILL_STEPS}]")
        if abs(self.skew_ms) > MAX_SKEW_MS:
            raise FaultRuleError(f"skew_ms must be within ±{MAX_SKEW_MS}")
        if self.kind is FaultKind.CLOCK_SKEW and self.skew_ms == 0:
            raise FaultRuleError("clock_skew needs a non-zero skew_ms (ms ahead, or behind if <0)")

    @classmethod
    def from_json(cls, raw: object) -> FaultRule:
        if not isinstance(raw, dict):
            raise FaultRuleError(f"a fault rule must be a JSON object, got {raw!r}")
        unknown = set(raw) - _ALL_FIELDS
        if unknown:
            raise FaultRuleError(
                f"unknown fault rule fields: {sorted(unknown)} (known: {sorted(_ALL_FIELDS)})"
            )
        try:
            kind = FaultKind(str(raw.get("kind")))
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            raise FaultRuleError(
                f"fault kind must be one of {kinds}, got {raw.get('kind')!r}"
            ) from None
        foreign = set(raw) - set(_COMMON_FIELDS) - set(kind.fields)
        if foreign:
            raise FaultRuleError(
                f"{sorted(foreign)} do not apply to {kind.value}, whose fields are "
                f"{list(_COMMON_FIELDS + kind.fields)}"
            )
        values: dict[str, Any] = {name: _number(raw, name) for name in kind.fields}
        method = _optional_str(raw, "method")
        return cls(
            kind=kind,
            path=_optional_str(raw, "path"),
            method=method.upper() if method else None,
            times=_number(raw, "times") if "times" in raw else 1,
            **{name: value for name, value in values.items() if value is not None},
        )

    def matches(self, *, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path == path
        )

    def to_json(self) -> dict[str, Any]:
        """The rule as ``from_json`` reads it: common fields and those of its kind."""
        rule: dict[str, Any] = {
            "kind": self.kind.value,
            "path": self.path,
            "method": self.method,
            "times": self.times,
        }
        rule.update({name: getattr(self, name) for name in self.kind.fields})
        return rule


def _optional_str(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise FaultRuleError(f"{key} must be a string, got {value!r}")
    return value


def _number(raw: dict[str, Any], key: str) -> Any:
    """``raw[key]`` as an int or float as the field needs; ``None`` if absent."""
    if key not in raw:
        return None
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultRuleError(f"{key} must be a number, got {value!r}")
    if key in _INTEGER_FIELDS:
        if not float(value).is_integer():
            raise FaultRuleError(f"{key} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class FaultWindow:
    """A window rule in effect from ``opened_s`` until ``until_s`` (monotonic seconds)."""

    rule: FaultRule
    opened_s: float
    until_s: float


class FaultInjector:
    """The live fault rules, consumed in the order they were posted, and open windows.

    Times are passed in (monotonic seconds) rather than read, so the bookkeeping stays
    deterministic and testable without sleeping.
    """

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._windows: list[FaultWindow] = []

    def add(self, rules: list[FaultRule]) -> None:
        self._rules.extend(rules)

    def clear(self) -> None:
        """Forget every rule and close every open window (the exchange recovers at once)."""
        self._rules.clear()
        self._windows.clear()

    def _use(self, index: int) -> FaultRule:
        rule = self._rules[index]
        if rule.times == 1:
            del self._rules[index]
        else:
            self._rules[index] = replace(rule, times=rule.times - 1)
        return rule

    def take(self, *, method: str, path: str, places_order: bool) -> FaultRule | None:
        """The first per-request rule matching this request, with one of its uses consumed.

        Rules of ``FaultKind.places_orders_only`` kinds are only consumed by requests that
        place a regular order; window kinds never are (see ``open_windows``).
        """
        for index, rule in enumerate(self._rules):
            if rule.kind.opens_window or (rule.kind.places_orders_only and not places_order):
                continue
            if rule.matches(method=method, path=path):
                return self._use(index)
        return None

    def open_windows(self, *, method: str, path: str, now_s: float) -> list[FaultRule]:
        """Open a window for each window kind with none open and a rule matching this
        request (using one of its uses); the rules whose windows were opened."""
        self._windows = [w for w in self._windows if w.until_s > now_s]
        opened: list[FaultRule] = []
        index = 0
        while index < len(self._rules):
            rule = self._rules[index]
            if (
                rule.kind.opens_window
                and self.active(kind=rule.kind, now_s=now_s) is None
                and rule.matches(method=method, path=path)
            ):
                times_before = len(self._rules)
                self._use(index)
                self._windows.append(
                    FaultWindow(rule=rule, opened_s=now_s, until_s=now_s + rule.hold_seconds)
                )
                opened.append(rule)
                if len(self._rules) < times_before:
                    continue
            index += 1
        return opened

    def active(self, *, kind: FaultKind, now_s: float) -> FaultRule | None:
        """The rule of the open window of ``kind`` at ``now_s``, if any."""
        for window in self._windows:
            if window.rule.kind is kind and window.opened_s <= now_s < window.until_s:
                return window.rule
        return None

    def pending(self) -> list[FaultRule]:
        return list(self._rules)

    def windows(self, *, now_s: float) -> list[FaultWindow]:
        return [w for w in self._windows if w.until_s > now_s]
