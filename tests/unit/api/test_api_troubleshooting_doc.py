"""docs/troubleshooting.md is the current rendering of the operator's vocabulary, and a user who
sees a condition in trouble finds every reason it can carry there, with what to do.

When this fails, regenerate it:
    python -m tradefleet_operator.spec.troubleshooting > docs/troubleshooting.md
"""

from __future__ import annotations

import pytest
from api_schema_proxy import REPO_ROOT
from tradefleet_operator.spec.reason_docs import PROBLEM_REASONS, REASONS
from tradefleet_operator.spec.troubleshooting import render_troubleshooting
from tradefleet_operator.spec.vocabulary import TROUBLE_STATUS

pytestmark = pytest.mark.unit

PAGE = REPO_ROOT / "docs" / "troubleshooting.md"


def test_checked_in_page_is_current() -> None:
    assert PAGE.read_text() == render_troubleshooting(), (
        "docs/troubleshooting.md is stale: run "
        "`python -m tradefleet_operator.spec.troubleshooting > docs/troubleshooting.md`"
    )


def test_every_reason_that_asks_for_action_is_under_a_symptom() -> None:
    text = PAGE.read_text()
    for doc in (*REASONS, *PROBLEM_REASONS):
        if doc.action != "nothing":
            assert f"| `{doc.reason}` |" in text, doc.reason
    for condition, status in TROUBLE_STATUS.items():
        if any(condition in d.used_on and d.action != "nothing" for d in REASONS):
            assert f"### `{condition}` is `{status}`" in text
    assert "### `Progressing` does not end" in text


def test_a_halted_bots_symptoms_lead_to_the_kill_switch_and_the_breaker() -> None:
    text = PAGE.read_text()
    ready = text[text.index("### `Ready` is `False`") :]
    assert "| `CredentialsMissing` |" in ready.split("### ")[1]
    assert "### `CircuitBreakerOpen` is `True`" in text
