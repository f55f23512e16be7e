"""Issue 15, item 9: one vocabulary between the runtime, the operator, the CRDs and the docs.

The operator reads the runtime's ``/status`` in the shape the runtime writes it (a SignalSource's
``lastValues`` is a mapping by symbol); a breaker's reason is the same word in
``status.circuitBreaker.reason``, in the ``CircuitBreakerOpen`` condition and in the CRD; and no
module of the operator spells a condition or event reason of its own outside
:mod:`tradefleet_operator.spec.vocabulary`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from tradefleet_operator.healing import breaker_condition, runtime_figures, source_figures
from tradefleet_runtime.risk.breakers import BreakerReason
from tradefleet_runtime.sources.stream import SourceReading

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
OPERATOR = REPO / "operator" / "tradefleet_operator"


def test_a_sources_last_values_are_read_as_the_runtime_writes_them() -> None:
    readings = [
        SourceReading(
            symbol="BTC/USDT",
            value=0.42,
            confidence=0.8,
            as_of_ms=1_795_000_000_000,
            kind="sentiment",
        ),
        SourceReading(
            symbol="ETH/USDT",
            value=-1.7,
            confidence=1.0,
            as_of_ms=1_795_000_000_000,
            kind="sentiment",
        ),
    ]
    # tradefleet_runtime.sources.service.SourceService.status(): {symbol: reading.to_dict()}
    status = {
        "lastPublished": 1_795_000_000.0,
        "lastValues": {r.symbol: r.to_dict() for r in readings},
    }
    figures = source_figures(status)
    assert figures["lastValues"] == [
        {"symbol": "BTC/USDT", "value": 0.42, "confidence": 0.8, "at": "2026-11-18T11:06:40Z"},
        {"symbol": "ETH/USDT", "value": -1.0, "confidence": 1.0, "at": "2026-11-18T11:06:40Z"},
    ]


@pytest.mark.parametrize("word", [r.value for r in BreakerReason])
def test_a_breakers_reason_is_one_word_in_the_status_the_condition_and_the_crd(word: str) -> None:
    runtime = {"circuitBreaker": {"state": "Open", "reason": word, "message": "tripped"}}
    shown = runtime_figures(runtime)["circuitBreaker"]["reason"]
    assert shown == breaker_condition(runtime, None).reason
    crd = yaml.safe_load((REPO / "crds" / "tradefleet.io_tradingbots.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    breaker = schema["properties"]["status"]["properties"]["circuitBreaker"]["properties"]
    assert shown in breaker["reason"]["enum"]
    from tradefleet_operator.spec.vocabulary import BREAKER_REASONS

    assert breaker["reason"]["enum"] == [str(r) for r in BREAKER_REASONS]


def test_no_operator_module_spells_a_reason_of_its_own() -> None:
    """Reasons are the vocabulary's members, never string literals scattered in the code."""
    offenders = []
    for path in sorted(OPERATOR.rglob("*.py")):
        if path.name in ("vocabulary.py", "kube.py") or "spec" in path.parts[-2:-1]:
            continue  # the vocabulary itself; HTTP reasons of the Kubernetes client
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            literal_keyword = (
                isinstance(node, ast.keyword)
                and node.arg == "reason"
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            )
            literal_constant = (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id.endswith("_REASON") for t in node.targets)
                and isinstance(node.value, ast.Constant)
            )
            if literal_keyword or literal_constant:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def test_every_validation_problem_says_what_it_means() -> None:
    from tradefleet_operator.spec import ProblemReason
    from tradefleet_operator.spec.reason_docs import documented

    for problem in ProblemReason:
        doc = documented(str(problem))
        assert doc is not None and "a rule the CRD schema cannot check" not in doc.meaning, problem
