"""Before it applies over a child that its plain create or replace wrote, the operator owns that
write's fields as applied, so the apply can remove what the new rendering leaves out."""

from __future__ import annotations

import pytest
from tradefleet_operator.field_ownership import as_applied

pytestmark = pytest.mark.unit

MANAGER = "tradefleet-operator"


def _entry(operation: str, fields: dict[str, object], **extra: str) -> dict[str, object]:
    return {
        "manager": extra.pop("manager", MANAGER),
        "operation": operation,
        "apiVersion": "apps/v1",
        "time": extra.pop("time", "2026-12-06T20:00:00Z"),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        **extra,
    }


def test_a_created_childs_fields_become_the_operators_applied_ones() -> None:
    controller = _entry("Update", {"f:status": {}}, manager="kube-controller-manager")
    created = _entry("Update", {"f:spec": {"f:replicas": {}}, "f:metadata": {"f:labels": {}}})
    rewritten = as_applied(managed_fields=[created, controller], manager=MANAGER)
    assert rewritten == [
        {**created, "operation": "Apply"},
        controller,
    ]


def test_fields_already_applied_and_those_of_a_later_replace_are_one_set() -> None:
    applied = _entry("Apply", {"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}})
    replaced = _entry(
        "Update",
        {"f:spec": {"f:strategy": {"f:type": {}}, "f:template": {"f:metadata": {}}}},
        time="2026-12-06T21:00:00Z",
    )
    rewritten = as_applied(managed_fields=[applied, replaced], manager=MANAGER)
    assert rewritten is not None and len(rewritten) == 1
    assert rewritten[0]["operation"] == "Apply"
    assert rewritten[0]["time"] == "2026-12-06T21:00:00Z"
    assert rewritten[0]["fieldsV1"] == {
        "f:spec": {
            "f:strategy": {"f:type": {}},
            "f:template": {"f:metadata": {}, "f:spec": {"f:containers": {}}},
        }
    }


def test_nothing_is_rewritten_without_a_plain_write_of_the_operators() -> None:
    applied = _entry("Apply", {"f:data": {}})
    someone = _entry("Update", {"f:data": {"f:extra": {}}}, manager="kubectl-edit")
    status = _entry("Update", {"f:status": {}}, subresource="status")
    assert as_applied(managed_fields=[applied, someone, status], manager=MANAGER) is None
    assert as_applied(managed_fields=[], manager=MANAGER) is None
