"""What the operator reads of the apiserver's refusals: a namespace being deleted is told apart
from a refusal to retry (it refuses every new object in it, for good)."""

from __future__ import annotations

import json

import pytest
from tradefleet_operator.kube import _api_error

pytestmark = pytest.mark.unit

# The apiserver's answer to a create in a namespace being deleted (NamespaceLifecycle admission).
TERMINATING = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": 'configmaps "alpha-config" is forbidden: unable to create new content in namespace'
    " desk because it is being terminated",
    "reason": "Forbidden",
    "details": {
        "name": "alpha-config",
        "kind": "configmaps",
        "causes": [
            {
                "reason": "NamespaceTerminating",
                "message": "namespace desk is being terminated",
                "field": "metadata.namespace",
            }
        ],
    },
    "code": 403,
}


def test_a_create_refused_in_a_namespace_being_deleted_is_recognised() -> None:
    error = _api_error(status=403, text=json.dumps(TERMINATING))
    assert error.namespace_terminating
    assert error.reason == "Forbidden" and "being terminated" in error.message


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"kind": "Status", "reason": "Forbidden", "message": "RBAC: access denied"}),
        json.dumps({"reason": "Forbidden", "details": {"causes": "not a list"}}),
        json.dumps(["not", "a", "Status"]),
        "<html>forbidden by a proxy</html>",
    ],
)
def test_other_refusals_are_not_taken_for_a_namespace_being_deleted(text: str) -> None:
    error = _api_error(status=403, text=text)
    assert error.status == 403 and not error.namespace_terminating
