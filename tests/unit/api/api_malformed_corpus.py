"""Loader of the malformed-manifest corpus in tests/data/malformed/.

Each ``NN-name.yaml`` there is one TradingBot or SignalSource that must be refused, and
its first line says where:

    # expect: apiserver: <substring of the kube-apiserver's error message>
    # expect: operator: <condition reason the operator's validation reports>

Used by tests/unit/api/test_api_malformed.py (schema proxy and semantic validation) and
meant for the integration test that applies the same files to a real kube-apiserver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

CORPUS_DIRECTORY = Path(__file__).resolve().parents[2] / "data" / "malformed"

_EXPECT_LINE = re.compile(r"^# expect: (?P<layer>apiserver|operator): (?P<expectation>.+)$")


class RefusedBy(StrEnum):
    """The layer that must refuse a malformed manifest."""

    APISERVER = "apiserver"
    OPERATOR = "operator"


@dataclass(frozen=True, kw_only=True, slots=True)
class MalformedCase:
    """One manifest of the corpus and the refusal it must get."""

    name: str
    path: Path
    refused_by: RefusedBy
    # apiserver: a substring of the error message; operator: the condition reason.
    expectation: str
    manifest: dict[str, Any]


def load_malformed_corpus(directory: Path = CORPUS_DIRECTORY) -> list[MalformedCase]:
    """Every case of the corpus, in file-name order."""
    cases = []
    for path in sorted(directory.glob("*.yaml")):
        text = path.read_text()
        match = _EXPECT_LINE.match(text.splitlines()[0])
        if match is None:
            raise ValueError(f"{path}: the first line must be '# expect: <layer>: <what>'")
        cases.append(
            MalformedCase(
                name=path.stem,
                path=path,
                refused_by=RefusedBy(match["layer"]),
                expectation=match["expectation"].strip(),
                manifest=yaml.safe_load(text),
            )
        )
    return cases
