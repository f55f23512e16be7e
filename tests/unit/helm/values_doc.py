"""docs/helm-values.md and the chart's README from values.yaml and its ``# --`` comments
(helm-docs style).

A comment block starting with ``# --`` documents the key below it; ``# -- (type)`` overrides the
type shown. Keys without one are parents whose children are documented. Used by
tests/unit/helm/test_chart_sources.py (the page must be current, every value documented) and by
scripts/render-manifests.sh, which rewrites the page: ``python tests/unit/helm/values_doc.py``.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
VALUES = REPO / "helm" / "tradefleet" / "values.yaml"
PAGE = REPO / "docs" / "helm-values.md"
# The chart's own README (what `helm show readme` and chart registries show): the same table.
CHART_README = REPO / "helm" / "tradefleet" / "README.md"

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?:\s|$)")
_DOC_START = re.compile(r"^ *# -- ?(?:\((?P<type>[^)]+)\) ?)?(?P<text>.*)$")
_DOC_MORE = re.compile(r"^ *# ?(?P<text>.*)$")

INTRO = """# Helm values

Every value of the `helm/tradefleet` chart, generated from the `# --` comments in
`helm/tradefleet/values.yaml` by `scripts/render-manifests.sh` (do not edit by hand). The chart is
installed once per region; see [quickstart](quickstart.md) and [operations](operations.md).
`values.schema.json` rejects values of the wrong type or shape before anything is installed.

Values for the local development cluster (the dev node agent runs pods as local processes, without
images): pin the operator to an agent node (`operator.nodeSelector`), use the local redis-server
(`redis.external.url`), give the operator free ports (`operator.metricsPort`,
`operator.healthPort`, `operator.webhookPort`: pods share the host's network), and, for bots
against the local exchange server, `runtime.exchangeUrls`. `tests/integration/helm/test_chart_install.py` installs the chart
that way.

"""


@dataclass(frozen=True, kw_only=True, slots=True)
class ValueDoc:
    """One documented value: its dotted key, type, default (JSON) and description."""

    key: str
    type: str
    default: str
    description: str


def _lookup(values: Any, path: list[str]) -> Any:
    for part in path:
        values = values[part]
    return values


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def documented_values(text: str) -> list[ValueDoc]:
    """The ``# --`` documented keys of a values file, in file order."""
    values = yaml.safe_load(text)
    found: list[ValueDoc] = []
    parents: list[tuple[int, str]] = []
    pending: list[str] | None = None
    pending_type: str | None = None
    for line in text.splitlines():
        start = _DOC_START.match(line)
        if start:
            pending, pending_type = [start.group("text").strip()], start.group("type")
            continue
        more = _DOC_MORE.match(line) if pending is not None else None
        if more and line.lstrip().startswith("#"):
            assert pending is not None
            pending.append(more.group("text").strip())
            continue
        key = _KEY.match(line)
        if key is None:
            if not line.strip():
                continue
            pending = None
            continue
        indent = len(key.group("indent"))
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = [name for _, name in parents] + [key.group("key")]
        if pending is not None:
            value = _lookup(values, path)
            found.append(
                ValueDoc(
                    key=".".join(path),
                    type=pending_type or _type_of(value),
                    default=json.dumps(value, separators=(", ", ": ")),
                    description=" ".join(part for part in pending if part),
                )
            )
            pending = pending_type = None
        parents.append((indent, key.group("key")))
    return found


def undocumented_leaves(text: str) -> list[str]:
    """Keys holding a value (not a section of documented keys) that have no ``# --`` comment."""
    documented = {doc.key for doc in documented_values(text)}
    missing: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for name, value in node.items():
            key = f"{prefix}{name}"
            if key in documented:
                continue
            if isinstance(value, dict) and value:
                walk(value, f"{key}.")
            else:
                missing.append(key)

    walk(yaml.safe_load(text), "")
    return missing


README_INTRO = """# Tradefleet

Declarative trading bots on Kubernetes: `TradingBot` and `SignalSource` resources, reconciled by
an operator into bot-runtime pods pinned to the region nearest their exchange. Install the chart
once per region:

```bash
helm install tradefleet-tokyo helm/tradefleet -n tradefleet-system --create-namespace \\
  --set region=ap-northeast-1
```

The project's README, [quickstart](../../docs/quickstart.md) and
[operations](../../docs/operations.md) say how to run bots; what each status and reason means is in
[troubleshooting](../../docs/troubleshooting.md). Generated from the `# --` comments in
`values.yaml` by `scripts/render-manifests.sh` (do not edit by hand).

## Values

"""


def _table(text: str) -> str:
    rows = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for doc in documented_values(text):
        default = doc.default.replace("|", "\\|")
        description = doc.description.replace("|", "\\|")
        rows.append(f"| `{doc.key}` | {doc.type} | `{default}` | {description} |")
    return "\n".join(rows) + "\n"


def render_page(text: str) -> str:
    return INTRO + _table(text)


def render_readme(text: str) -> str:
    return README_INTRO + _table(text)


if __name__ == "__main__":
    values = VALUES.read_text()
    PAGE.write_text(render_page(values))
    CHART_README.write_text(render_readme(values))
    sys.stdout.write(f"wrote {PAGE} and {CHART_README}\n")
