"""Metric names in PromQL expressions, and the names docs/metrics.md documents.

Used by the alert-rule and dashboard tests in this folder to check that both use only documented
metrics. A small tokenizer rather than a PromQL parser: it drops strings, label matchers, range
and subquery brackets, grouping clauses and Grafana variables, then keeps the identifiers that are
not functions, keywords or numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
METRICS_DOC = REPO / "docs" / "metrics.md"

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_VARIABLES = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "e",
    }
)
# A table row of docs/metrics.md: | `name` | type | ...
_DOC_ROW = re.compile(r"^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(counter|gauge|histogram|summary)\s*\|")
_SUFFIXES = {
    "counter": ("",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}


def metric_names(expression: str) -> set[str]:
    """The metric names an expression selects (``label_values(metric, label)`` included)."""
    text = _STRINGS.sub(" ", expression)
    text = _VARIABLES.sub(" ", text)
    previous = None
    while previous != text:  # nested brackets and matchers, innermost first
        previous = text
        text = _MATCHERS.sub(" ", text)
        text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    # label_values(metric, label): the second argument is a label, not a metric.
    for match in re.finditer(r"label_values\(\s*[a-zA-Z_:][\w:]*\s*,\s*(\w+)\s*\)", text):
        names.discard(match.group(1))
    return names


def documented_metrics(path: Path = METRICS_DOC) -> set[str]:
    """Every series name docs/metrics.md allows, histogram series included."""
    names: set[str] = set()
    for line in path.read_text().splitlines():
        row = _DOC_ROW.match(line)
        if row:
            names.update(row.group(1) + suffix for suffix in _SUFFIXES[row.group(2)])
    return names
