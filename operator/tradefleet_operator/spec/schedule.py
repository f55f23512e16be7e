"""Range checks of five-field cron expressions (``spec.optimizer.schedule``).

The CRD pattern admits any digits, ``*``, ``/``, ``,`` and ``-`` in five fields (or an
``@hourly``-style macro); the semantic validation calls ``cron_expression_error`` to refuse
values out of range (minute 75, ``*/0``, ``5-2``) before the optimizer would.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

CRON_MACROS: Final = frozenset({"@hourly", "@daily", "@weekly", "@monthly"})

# (name, lowest, highest) of the five fields; day-of-week 7 is Sunday, like 0.
_CRON_FIELDS: Final = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)

_CRON_ITEM: Final = re.compile(
    r"^(?:(?P<star>\*)|(?P<low>\d+)(?:-(?P<high>\d+))?)(?:/(?P<step>\d+))?$"
)


def cron_expression_error(expression: str) -> str | None:
    """Why ``expression`` is not a valid cron schedule, or ``None`` when it is valid."""
    if expression in CRON_MACROS:
        return None
    fields = expression.split()
    if len(fields) != len(_CRON_FIELDS):
        return f"a cron schedule has {len(_CRON_FIELDS)} fields, {expression!r} has {len(fields)}"
    for text, (name, lowest, highest) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            error = _cron_item_error(item=item, name=name, lowest=lowest, highest=highest)
            if error is not None:
                return error
    return None


def _cron_item_error(*, item: str, name: str, lowest: int, highest: int) -> str | None:
    match = _CRON_ITEM.fullmatch(item)
    if match is None:
        return f"{name} item {item!r} is not N, N-M, * or one of them followed by /STEP"
    if match["step"] is not None and int(match["step"]) == 0:
        return f"{name} item {item!r} has a step of 0"
    if match["star"] is not None:
        return None
    low = int(match["low"])
    high = int(match["high"]) if match["high"] is not None else low
    for value in (low, high):
        if not lowest <= value <= highest:
            return f"{name} {value} is outside {lowest}-{highest}"
    if low > high:
        return f"{name} range {item!r} runs backwards"
    return None


_MACRO_EXPRESSIONS: Final = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
}


def _expand(*, text: str, lowest: int, highest: int) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        match = _CRON_ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"invalid cron item {item!r}")
        if match["star"] is not None:
            low, high = lowest, highest
        else:
            low = int(match["low"])
            high = int(match["high"]) if match["high"] is not None else low
            if match["step"] is not None and match["high"] is None:
                high = highest  # "5/15" means from 5 to the end in steps of 15
        values.update(range(low, high + 1, int(match["step"] or 1)))
    return frozenset(values)


def next_fire_time(*, expression: str, after: datetime) -> datetime:
    """The first minute strictly after ``after`` (UTC) that the cron ``expression`` selects.

    Standard cron semantics: when both day-of-month and day-of-week are restricted, a day matching
    either one fires. Raises ``ValueError`` for an invalid expression (validated specs never are).
    """
    error = cron_expression_error(expression)
    if error is not None:
        raise ValueError(error)
    fields = _MACRO_EXPRESSIONS.get(expression, expression).split()
    minutes, hours, days, months, weekdays = (
        _expand(text=text, lowest=lowest, highest=highest)
        for text, (_, lowest, highest) in zip(fields, _CRON_FIELDS, strict=True)
    )
    weekdays = frozenset(d % 7 for d in weekdays)
    any_day, any_weekday = fields[2] == "*", fields[4] == "*"
    start = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(366 * 5):
        weekday = (day.weekday() + 1) % 7  # cron counts Sunday as 0
        day_ok = (
            day.day in days and weekday in weekdays
            if any_day or any_weekday
            else day.day in days or weekday in weekdays
        )
        if day.month in months and day_ok:
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    moment = day.replace(hour=hour, minute=minute)
                    if moment >= start:
                        return moment
        day += timedelta(days=1)
    raise ValueError(f"cron schedule {expression!r} never fires")
