"""Generate the API's Python models (``tradefleet_api.models``) from the CRDs in ``crds/``.

``python -m tradefleet_devtools.api_models`` rewrites ``operator/tradefleet_api/models.py``
after a change to ``crds/``; ``--check`` exits 1 when it is stale instead (CI runs that check
through tests/unit/api/test_api_generated_models.py). The models are pydantic v2 classes and
StrEnums written by datamodel-code-generator from the ``spec`` schemas of the CRDs, so the
defaults, bounds, patterns and enums the apiserver enforces are the ones the operator and the
runtime parse with, written once. A shape the CRDs share (``resources``, ``credentials.secretRef``)
is one class.

Before generation the schema is prepared, for reasons the generator cannot know:
- every object and enum is named from :data:`NAMES` (a name says what the thing is, not
  where it sits); a new object in a CRD without a name there is an error that says so;
- descriptions are dropped: they are the CRD's user documentation, rendered to
  docs/crd-reference.md;
- an int-or-string quantity becomes :data:`tradefleet_api.quantity.Quantity` (text; its
  syntax is checked by the operator's ``parse_quantity`` with the message users see);
- an array's scalar items keep their type and lose their bounds (with bounds the generator
  makes each item a one-field model; the apiserver has checked them before anything reads
  them), and an optional array defaults to empty.

After generation arrays become tuples (immutable, like the rest of a frozen model) and a nested
object's default ``{}`` becomes ``Field(default_factory=Model)``: the model with its own
defaults, without a shared mutable default of the wrong type.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tradefleet_devtools.crds import CRD_DIR, REPO

OUTPUT = REPO / "operator" / "tradefleet_api" / "models.py"
CRDS = {
    "TradingBotSpec": "tradefleet.io_tradingbots.yaml",
    "SignalSourceSpec": "tradefleet.io_signalsources.yaml",
    "ExchangeAccountSpec": "tradefleet.io_exchangeaccounts.yaml",
}
HEADER = (
    "# Generated from crds/ by `python -m tradefleet_devtools.api_models`: do not edit.\n"
    "# The CRDs are the API's one definition; change them there and regenerate."
)
QUANTITY_TYPE = "tradefleet_api.quantity.Quantity"
# The class of every object and enum of each CRD's spec, by path ("[]": an array's items).
NAMES: Mapping[str, Mapping[str, str]] = {
    "TradingBotSpec": {
        "": "TradingBotSpec",
        "exchange": "Exchange",
        "market": "Market",
        "mode": "TradingMode",
        "credentials": "CredentialsSpec",
        "credentials.secretRef": "CredentialsRef",
        "accountRef": "AccountRef",
        "strategy": "StrategySpec",
        "strategy.name": "StrategyName",
        "strategy.timeframe": "Timeframe",
        "strategy.fusionWeights": "FusionWeights",
        "strategy.thresholds": "SignalThresholds",
        "strategy.signalSources[]": "SignalSourceRef",
        "strategy.regimeParameters": "RegimeParametersSet",
        "strategy.regimeParameters.bullishCalm": "BullishCalmParameters",
        "strategy.regimeParameters.bearishVolatile": "BearishVolatileParameters",
        "strategy.regimeParameters.squeeze": "SqueezeParameters",
        "strategy.fusionLearning": "FusionLearning",
        "strategy.parameters": "StrategyParameters",
        "risk": "RiskSpec",
        "selfHealing": "SelfHealingSpec",
        "deletionPolicy": "DeletionPolicy",
        "resources": "ResourceRequirements",
        "resources.requests": "ResourceQuantities",
        "resources.limits": "ResourceQuantities",
        "optimizer": "OptimizerSpec",
        "optimizer.objective": "OptimizerObjective",
        "notifications[]": "NotificationTarget",
        "notifications[].type": "NotificationType",
        "notifications[].secretRef": "NotificationSecretRef",
        "notifications[].telegram": "TelegramTarget",
        "notifications[].events[]": "NotificationEvent",
    },
    "SignalSourceSpec": {
        "": "SignalSourceSpec",
        "kind": "SignalSourceKind",
        "resources": "ResourceRequirements",
        "resources.requests": "ResourceQuantities",
        "resources.limits": "ResourceQuantities",
        "sentiment": "SentimentConfig",
        "sentiment.feeds[]": "SentimentFeed",
        "sentiment.keywords": "SentimentKeywords",
        "sentiment.llm": "LlmScoring",
        "sentiment.llm.apiKeySecretRef": "SecretKeyRef",
        "macro": "MacroConfig",
        "macro.assetBiases[]": "AssetBias",
        "whale": "WhaleConfig",
        "whale.headersSecretRef": "SecretRef",
        "whale.exchangeAddresses[]": "ExchangeAddresses",
        "whale.thresholds[]": "WhaleThreshold",
        "http": "HttpSourceConfig",
        "http.headersSecretRef": "SecretRef",
        "http.fusionInput": "FusionInput",
    },
    "ExchangeAccountSpec": {
        "": "ExchangeAccountSpec",
        "exchange": "Exchange",
        "mode": "TradingMode",
        "credentials": "AccountCredentials",
        "credentials.secretRef": "CredentialsRef",
        "rateLimit": "RateLimitBudget",
        "allocation": "AllocationSpec",
        "allocation.policy": "AllocationPolicy",
        "marketData": "AccountMarketData",
        "risk": "AccountRiskSpec",
    },
}
# Enum members whose values are no Python names.
ENUM_MEMBERS: Mapping[str, tuple[str, ...]] = {"Timeframe": ("M1", "M5", "M15", "H1", "H4", "D1")}
_SCALARS = frozenset({"string", "integer", "number", "boolean"})
# A field "name: Annotated[Model, Field(...)] = {}" as the raw output spells it, within one
# field (the match never crosses the start of the next, "\n    name:").
_NESTED_DEFAULT = re.compile(
    r"Annotated\[(\s*)(\w+),((?:(?!\n    \w+:).)*?)\] = \{\}$", flags=re.MULTILINE | re.DOTALL
)
_EMPTY_ARRAY_DEFAULT = re.compile(r"= \[\]$", flags=re.MULTILINE)
# The generator's model of the document root, which has only definitions: nothing uses it.
_ROOT_MODEL = "class Model(RootModel[Any]):\n    root: Any\n"
# A model the reuse of equal models writes as a subclass of its twin ("ResourceRequirements1").
_TWIN = re.compile(r"^class (\w+?)\d+\(\1\):\n    pass\n", flags=re.MULTILINE)


class UnnamedSchemaError(ValueError):
    """An object or enum of a CRD has no class name in :data:`NAMES`."""


def _name(*, names: Mapping[str, str], path: str, root: str) -> str:
    try:
        return names[path]
    except KeyError:
        raise UnnamedSchemaError(
            f"{root}: the {'object' if path else 'root'} at {path or 'spec'} has no class name: "
            "add it to NAMES in tradefleet_devtools/api_models.py"
        ) from None


def _prepare(node: Any, *, path: str, names: Mapping[str, str], root: str) -> Any:
    """``node`` named, without descriptions, with quantities and arrays as the models want."""
    if not isinstance(node, Mapping):
        return node
    if node.get("x-kubernetes-int-or-string"):
        return {"customTypePath": QUANTITY_TYPE}
    prepared = {key: value for key, value in node.items() if key != "description"}
    if "enum" in prepared:
        prepared["title"] = _name(names=names, path=path, root=root)
        if prepared["title"] in ENUM_MEMBERS:
            prepared["x-enum-varnames"] = list(ENUM_MEMBERS[prepared["title"]])
    if prepared.get("type") == "object" and "properties" in prepared:
        prepared["title"] = _name(names=names, path=path, root=root)
        required = set(prepared.get("required", ()))
        properties = {}
        for key, value in prepared["properties"].items():
            child = _prepare(value, path=f"{path}.{key}" if path else key, names=names, root=root)
            if child.get("type") == "array" and key not in required and "default" not in child:
                child["default"] = []
            properties[key] = child
        prepared["properties"] = properties
    if prepared.get("type") == "array" and "items" in prepared:
        items = prepared["items"]
        if items.get("type") in _SCALARS and "enum" not in items:
            prepared["items"] = {"type": items["type"]}
        else:
            prepared["items"] = _prepare(items, path=f"{path}[]", names=names, root=root)
    return prepared


def api_schema(*, crd_dir: Path = CRD_DIR) -> dict[str, Any]:
    """One JSON schema whose definitions are the prepared ``spec`` of each CRD."""
    definitions = {}
    for root, crd in CRDS.items():
        document = yaml.safe_load((crd_dir / crd).read_text())
        (version,) = [v for v in document["spec"]["versions"] if v.get("storage")]
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        definitions[root] = _prepare(spec, path="", names=NAMES[root], root=root)
    return {"$defs": definitions}


def _tuples(text: str) -> str:
    """Every ``Sequence[X]`` of ``text`` as ``tuple[X, ...]``."""
    out = []
    rest = text
    while (start := rest.find("Sequence[")) >= 0:
        depth = 0
        for index in range(start + len("Sequence"), len(rest)):
            depth += {"[": 1, "]": -1}.get(rest[index], 0)
            if depth == 0:
                break
        inner = rest[start + len("Sequence[") : index]
        out.append(f"{rest[:start]}tuple[{_tuples(inner)}, ...]")
        rest = rest[index + 1 :]
    out.append(rest)
    return "".join(out).replace("from collections.abc import Sequence\n", "")


def render(*, crd_dir: Path = CRD_DIR) -> str:
    """The ``tradefleet_api.models`` module the CRDs in ``crd_dir`` generate."""
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "api.json"
        output = Path(scratch) / "models.py"
        source.write_text(json.dumps(api_schema(crd_dir=crd_dir), indent=1))
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
                "--use-title-as-name",
                "--reuse-model",
                "--snake-case-field",
                "--use-annotated",
                "--field-constraints",
                "--strict-nullable",
                "--use-default",
                "--set-default-enum-member",
                "--use-specialized-enum",
                "--capitalise-enum-members",
                "--use-generic-container-types",
                "--use-union-operator",
                "--target-python-version",
                "3.11",
                "--disable-timestamp",
                "--custom-file-header",
                HEADER,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        text = _NESTED_DEFAULT.sub(
            r"Annotated[\1\2,\3] = Field(default_factory=\2)", output.read_text()
        )
        return _house_style(_EMPTY_ARRAY_DEFAULT.sub("= ()", _tuples(_one_of_each(text))))


def _one_of_each(text: str) -> str:
    """``text`` without the unused root model, and with one class for each pair of twins."""
    text = text.replace(_ROOT_MODEL, "")
    for twin in _TWIN.finditer(text):
        name = twin.group(0).split("(")[0].removeprefix("class ")
        text = re.sub(rf"\b{name}\b", twin.group(1), text.replace(twin.group(0), ""))
    return text


def _house_style(text: str) -> str:
    """``text`` fixed and formatted with the repo's ruff settings, as CI checks it."""
    for command in (("check", "--fix", "--exit-zero", "--quiet"), ("format",)):
        text = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--stdin-filename", str(OUTPUT)],
            input=text,
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return text


def is_stale() -> bool:
    """Whether ``tradefleet_api/models.py`` differs from what the CRDs generate now."""
    return not OUTPUT.is_file() or OUTPUT.read_text() != render()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if the generated module is stale; write nothing",
    )
    arguments = parser.parse_args(argv)
    relative = OUTPUT.relative_to(REPO)
    if arguments.check:
        if is_stale():
            print(f"{relative} is stale: run python -m tradefleet_devtools.api_models")
            return 1
        return 0
    OUTPUT.write_text(render())
    print(f"wrote {relative} from crds/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
