"""Every malformed manifest in tests/data/malformed is refused with a clear message, by the real
apiserver (schema) or by the operator (a condition with the reason), and nothing crashes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from support.k8s import condition, wait_for
from tradefleet_devtools.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[2] / "data" / "malformed"
EXPECT = re.compile(r"^# expect: (apiserver|operator): (.+)$", re.MULTILINE)
PLURALS = {
    "TradingBot": "tradingbots",
    "SignalSource": "signalsources",
    "ExchangeAccount": "exchangeaccounts",
}


def _cases() -> list[Any]:
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        text = path.read_text()
        match = EXPECT.search(text)
        assert match, f"{path.name} has no '# expect:' header"
        cases.append(pytest.param(path, match.group(1), match.group(2).strip(), id=path.stem))
    return cases


def test_corpus_is_large_enough() -> None:
    assert len(_cases()) >= 25


@pytest.mark.parametrize(("path", "where", "expected"), _cases())
def test_malformed_manifest_is_refused_clearly(
    path: Path,
    where: str,
    expected: str,
    namespace: str,
    tokyo_operator: OperatorProcess,
    api_client: client.ApiClient,
) -> None:
    custom = client.CustomObjectsApi(api_client)
    manifest = yaml.safe_load(path.read_text())
    plural = PLURALS[manifest["kind"]]
    name = manifest["metadata"]["name"]
    if where == "apiserver":
        with pytest.raises(ApiException) as refused:
            custom.create_namespaced_custom_object(
                "tradefleet.io", "v1alpha1", namespace, plural, manifest
            )
        assert refused.value.status == 422
        assert expected in json.loads(refused.value.body)["message"]
        return

    custom.create_namespaced_custom_object("tradefleet.io", "v1alpha1", namespace, plural, manifest)

    def refused_by_operator() -> dict[str, Any] | None:
        obj = custom.get_namespaced_custom_object(
            "tradefleet.io", "v1alpha1", namespace, plural, name
        )
        ready = condition(obj, "Ready")
        return obj if ready and ready["reason"] == expected else None

    obj = wait_for(refused_by_operator, timeout_s=30, what=f"condition reason {expected}")
    assert obj["status"]["phase"] == "Invalid"
    ready = condition(obj, "Ready")
    # The message names the field: one of the spec's, or the name.
    assert ready is not None and ready["status"] == "False"
    assert ready["message"].startswith(("spec.", "metadata.name:"))
    if manifest["kind"] == "TradingBot":
        deployments = client.AppsV1Api(api_client).list_namespaced_deployment(namespace).items
        assert deployments == [], "an invalid bot gets no workload"
