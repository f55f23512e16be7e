"""docs/crd-reference.md is the current rendering of crds/.

When this fails, regenerate it:
    python -m tradefleet_operator.spec.reference > docs/crd-reference.md
"""

from __future__ import annotations

import pytest
from api_schema_proxy import CRD_DIRECTORY, REPO_ROOT
from tradefleet_operator.spec.reference import load_crds, render_reference

pytestmark = pytest.mark.unit

REFERENCE = REPO_ROOT / "docs" / "crd-reference.md"


def test_checked_in_reference_is_current() -> None:
    assert REFERENCE.read_text() == render_reference(load_crds(CRD_DIRECTORY)), (
        "docs/crd-reference.md is stale: run "
        "`python -m tradefleet_operator.spec.reference > docs/crd-reference.md`"
    )


def test_reference_lists_every_field_with_its_default_and_bounds() -> None:
    text = REFERENCE.read_text()
    assert (
        "| `spec.risk.kellyFraction` | number | `0.25` | > 0; <= 1 | Fraction of the "
        "Kelly-optimal size the bot trades (0.25 = quarter Kelly). |"
    ) in text
    assert "| `spec.strategy.signalSources[].weight` | number | `1` | >= 0; <= 1 |" in text
    assert "| `spec.credentials.apiKey` | string |  | forbidden (must be empty) |" in text
    assert (
        "| `status.conditions[].status` | string |  | required; one of `True`, `False`, `Unknown` |"
        in text
    )
