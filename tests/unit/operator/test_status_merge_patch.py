"""The status write is a JSON merge patch from the stored status: whatever the new status no
longer has, at any depth, is removed from the stored one (``kubectl get -o yaml`` shows no
stale state), and everything else is written as it is."""

from __future__ import annotations

import pytest
from tradefleet_operator.outcome import status_merge_patch

pytestmark = pytest.mark.unit


def apply_merge_patch(target: object, patch: object) -> object:
    """RFC 7396, as the apiserver applies a merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def test_a_kill_switch_lifted_leaves_no_kill_switch_state_in_status() -> None:
    stored = {
        "phase": "Halted",
        "control": {
            "killSwitch": {"state": "ScaledDown", "since": "2026-12-05T05:00:00Z"},
            "killSwitchApplied": True,
            "breakerResetAcknowledged": "2026-12-04T10:00:00Z",
        },
        "circuitBreaker": {"state": "Closed"},
    }
    new = {
        "phase": "Running",
        "control": {"killSwitchApplied": False, "breakerResetAcknowledged": "2026-12-04T10:00:00Z"},
    }
    written = apply_merge_patch(stored, status_merge_patch(old=stored, new=new))
    assert written == new


def test_lists_and_new_fields_are_written_as_they_are() -> None:
    stored = {"conditions": [{"type": "Ready", "status": "False"}], "restarts": 2}
    new = {"conditions": [{"type": "Ready", "status": "True"}], "restarts": 0, "region": "x"}
    assert apply_merge_patch(stored, status_merge_patch(old=stored, new=new)) == new
