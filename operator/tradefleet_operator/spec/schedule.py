"""Range checks of five-field cron expressions (``spec.optimizer.schedule``).

The CRD pattern admits any digits, ``*``, ``/``, ``,`` and ``-`` in five fields (or an
``@hourly``-style macro); the semantic validation calls ``cron_expression_error`` to refuse
values out of range (minute 75, ``*/0``, ``5-2``) before the optimizer would.
"""

from __future__ import annotations

import re
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
