"""Every manifest of the malformed corpus (tests/data/malformed/) is refused where it says.

``apiserver`` cases are checked against the CRD schema through the apiserver stand-in
(prune, default, validate, kube-apiserver wording); ``operator`` cases must pass the
schema and then fail the semantic validation with exactly the expected reason. The
integration suite applies the same files to a real kube-apiserver.
"""

from __future__ import annotations

import pytest
from api_malformed_corpus import MalformedCase, RefusedBy, load_malformed_corpus
from api_schema_proxy import apiserver_errors, stored_object
from tradefleet_operator.spec import (
    ProblemReason,
    parse_exchange_account_spec,
    parse_signal_source_spec,
    parse_trading_bot_spec,
    validate_exchange_account_spec,
    validate_resource_name,
    validate_signal_source_spec,
    validate_trading_bot_spec,
)

pytestmark = pytest.mark.unit

CORPUS = load_malformed_corpus()


def test_corpus_is_large_and_covers_both_layers_and_kinds() -> None:
    assert len(CORPUS) >= 25
    layers_and_kinds = {(case.refused_by, case.manifest["kind"]) for case in CORPUS}
    assert layers_and_kinds == {
        (layer, kind)
        for layer in RefusedBy
        for kind in ("TradingBot", "SignalSource", "ExchangeAccount")
    }


def test_every_operator_reason_is_exercised() -> None:
    reasons = {case.expectation for case in CORPUS if case.refused_by is RefusedBy.OPERATOR}
    # InvalidSpec and RegionUnresolved guard the operator against input the apiserver already
    # refuses or an operator map without the exchange; no accepted manifest can produce them.
    # ImageNotAllowed and HostNotAllowed depend on the operator's allowed image prefixes and
    # source hosts, not on the manifest alone (tests/unit/operator/test_image_allowlist.py,
    # tests/unit/api/test_source_hosts.py). SymbolTakenOnAccount needs another bot
    # (tests/unit/operator/test_symbol_taken_on_account.py, tests/e2e/accounts).
    unreachable = {
        ProblemReason.INVALID_SPEC.value,
        ProblemReason.REGION_UNRESOLVED.value,
        ProblemReason.IMAGE_NOT_ALLOWED.value,
        ProblemReason.HOST_NOT_ALLOWED.value,
        ProblemReason.SYMBOL_TAKEN_ON_ACCOUNT.value,
    }
    assert reasons == {reason.value for reason in ProblemReason} - unreachable


def test_every_case_can_be_applied_as_is() -> None:
    names = [case.manifest["metadata"]["name"] for case in CORPUS]
    assert names == [f"malformed-{case.name}" for case in CORPUS]
    assert all(case.manifest["apiVersion"] == "tradefleet.io/v1alpha1" for case in CORPUS)
    assert all("namespace" not in case.manifest["metadata"] for case in CORPUS)


@pytest.mark.parametrize(
    "case",
    [case for case in CORPUS if case.refused_by is RefusedBy.APISERVER],
    ids=lambda case: case.name,
)
def test_apiserver_refuses_with_the_expected_message(case: MalformedCase) -> None:
    errors = apiserver_errors(case.manifest)
    assert any(case.expectation in error for error in errors), errors


@pytest.mark.parametrize(
    "case",
    [case for case in CORPUS if case.refused_by is RefusedBy.OPERATOR],
    ids=lambda case: case.name,
)
def test_operator_refuses_with_the_expected_reason(case: MalformedCase) -> None:
    assert apiserver_errors(case.manifest) == []
    spec = stored_object(case.manifest)["spec"]
    # The name too: it is the value of the children's labels.
    problems = validate_resource_name(case.manifest["metadata"]["name"])
    if case.manifest["kind"] == "TradingBot":
        problems += validate_trading_bot_spec(parse_trading_bot_spec(spec))
    elif case.manifest["kind"] == "ExchangeAccount":
        problems = validate_exchange_account_spec(parse_exchange_account_spec(spec))
    else:
        problems += validate_signal_source_spec(parse_signal_source_spec(spec))
    assert [problem.reason for problem in problems] == [ProblemReason(case.expectation)]
    assert all(
        problem.field.startswith(("spec.", "metadata.name")) and problem.message
        for problem in problems
    )
