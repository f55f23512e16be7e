"""Generate the API's Python models (``tradefleet_api``) from the CRDs in ``crds/``.

``python -m tradefleet_devtools.api_models`` rewrites ``operator/tradefleet_api/tradingbot.py``
and ``signalsource.py`` after a change to ``crds/``; ``--check`` exits 1 and names the stale
files instead (CI runs it through tests/unit/api/test_api_models_generated.py). The models are
pydantic v2 classes written by datamodel-code-generator from each CRD's ``spec`` schema, so the
defaults, bounds, patterns and enums the apiserver enforces are the ones the operator and the
runtime parse with, written once.

Before generation the schema is prepared, for reasons the generator cannot know:
- descriptions are dropped (they are the CRD's user documentation, rendered to
  docs/crd-reference.md; in the models they would only double the files' size);
- every object gets a title naming its class after its path (``strategy.fusionWeights`` →
  ``StrategyFusionWeights``; an array's items take the singular: ``signalSources`` →
  ``StrategySignalSource``), so the names are stable and say where a class sits;
- an int-or-string quantity becomes ``int | str``: its syntax is checked by the operator's
  ``parse_quantity`` with the message users see, not by a pattern;
- an array's scalar items keep their type and lose their bounds: with bounds the generator
  makes each item a one-field model; the apiserver has checked them before anything reads them.

After generation a nested object's default ``{}`` becomes ``Field(default_factory=Model)``:
the model with its own defaults, as pydantic made from ``{}``, without the shared mutable
default of the wrong type that type checkers and ruff refuse.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tradefleet_devtools.crds import CRD_DIR, REPO

# A field "name: Annotated[Model, Field(...)] = {}" as the raw output spells it, within one
# field (the match never crosses the start of the next, "\n    name:").
_NESTED_DEFAULT = re.compile(
    r"Annotated\[(\s*)(\w+),((?:(?!\n    \w+:).)*?)\] = \{\}$", flags=re.MULTILINE | re.DOTALL
)
OUTPUT_DIR = REPO / "operator" / "tradefleet_api"
HEADER = (
    "# Generated from crds/{crd} by `python -m tradefleet_devtools.api_models`: do not edit.\n"
    "# The CRD is the API's one definition; change it there and regenerate."
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """One CRD and the module its ``spec`` models are written to."""

    crd: str
    module: str
    root: str


TARGETS = (
    Target(crd="tradefleet.io_tradingbots.yaml", module="tradingbot.py", root="TradingBotSpec"),
    Target(
        crd="tradefleet.io_signalsources.yaml", module="signalsource.py", root="SignalSourceSpec"
    ),
)


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _singular(name: str) -> str:
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


def _prepare(node: Any, *, title: str) -> Any:
    """The schema node with descriptions dropped, objects titled and quantities widened."""
    if not isinstance(node, Mapping):
        return node
    if node.get("x-kubernetes-int-or-string"):
        return {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    prepared = {key: value for key, value in node.items() if key != "description"}
    if prepared.get("type") == "object" and "properties" in prepared:
        prepared["title"] = title
        # Below the root, names drop its "Spec": TradingBotStrategy, not TradingBotSpecStrategy.
        prefix = title.removesuffix("Spec")
        prepared["properties"] = {
            key: _prepare(value, title=f"{prefix}{_pascal(key)}")
            for key, value in prepared["properties"].items()
        }
    if prepared.get("type") == "array" and "items" in prepared:
        items = prepared["items"]
        if items.get("type") in {"string", "integer", "number", "boolean"}:
            prepared["items"] = {"type": items["type"]}
        else:
            prepared["items"] = _prepare(items, title=_singular(title))
    return prepared


def _spec_schema(*, crd_path: Path, root: str) -> dict[str, Any]:
    document = yaml.safe_load(crd_path.read_text())
    (version,) = [v for v in document["spec"]["versions"] if v.get("storage")]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    schema: dict[str, Any] = _prepare(spec, title=root)
    return schema


def render(target: Target, *, crd_dir: Path = CRD_DIR) -> str:
    """The module datamodel-code-generator writes for ``target``'s CRD."""
    schema = _spec_schema(crd_path=crd_dir / target.crd, root=target.root)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "schema.json"
        output = Path(scratch) / target.module
        source.write_text(json.dumps(schema, indent=1))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "datamodel_code_generator",
                "--input",
                str(source),
                "--input-file-type",
                "jsonschema",
                "--output",
                str(output),
                "--output-model-type",
                "pydantic_v2.BaseModel",
                "--base-class",
                "tradefleet_api.base.ApiModel",
                "--class-name",
                target.root,
                "--use-title-as-name",
                "--snake-case-field",
                "--use-annotated",
                "--field-constraints",
                "--strict-nullable",
                "--use-default",
                "--use-generic-container-types",
                "--use-union-operator",
                "--enum-field-as-literal",
                "all",
                "--target-python-version",
                "3.11",
                "--disable-timestamp",
                "--custom-file-header",
                HEADER.format(crd=target.crd),
                "--formatters",
                "ruff-check",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        text = _NESTED_DEFAULT.sub(
            r"Annotated[\1\2,\3] = Field(default_factory=\2)", output.read_text()
        )
        return _house_style(text, module=target.module)


def _house_style(text: str, *, module: str) -> str:
    """``text`` formatted with the repo's ruff settings, as ``ruff format --check`` wants it."""
    for command in (("check", "--fix", "--exit-zero", "--quiet"), ("format",)):
        text = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--stdin-filename", f"{OUTPUT_DIR / module}"],
            input=text,
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return text


def stale_modules(*, output_dir: Path = OUTPUT_DIR) -> list[str]:
    """The generated modules that differ from what the CRDs generate now."""
    return [
        target.module
        for target in TARGETS
        if not (output_dir / target.module).is_file()
        or (output_dir / target.module).read_text() != render(target)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a generated module is stale; write nothing"
    )
    arguments = parser.parse_args(argv)
    if arguments.check:
        stale = stale_modules()
        for module in stale:
            print(
                f"operator/tradefleet_api/{module} is stale: "
                "run python -m tradefleet_devtools.api_models"
            )
        return 1 if stale else 0
    for target in TARGETS:
        (OUTPUT_DIR / target.module).write_text(render(target))
        print(f"wrote operator/tradefleet_api/{target.module} from crds/{target.crd}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
