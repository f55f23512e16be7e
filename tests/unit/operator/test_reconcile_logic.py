"""Pure parts of reconciliation: drift comparison, condition transitions, revision numbering, names,
and when a bot's next pass is due without a change to wake it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tradefleet_api import content_hash
from tradefleet_operator.conditions import Condition, merge_conditions
from tradefleet_operator.drift import object_in_sync
from tradefleet_operator.kube import pack_object, unpack_object
from tradefleet_operator.render import MAX_NAME, child_name
from tradefleet_operator.revisions import choose_revision, next_look_s, revision_content
from tradefleet_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit


def test_server_defaults_are_not_drift_but_edits_are() -> None:
    desired = {
        "kind": "Deployment",
        "metadata": {"labels": {"a": "1"}},
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"}},
    }
    defaulted = {
        "kind": "Deployment",
        "metadata": {"labels": {"a": "1", "extra": "x"}, "uid": "u"},
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "revisionHistoryLimit": 10},
    }
    assert object_in_sync(actual=defaulted, desired=desired)
    edited = {**defaulted, "spec": {**defaulted["spec"], "strategy": {"type": "RollingUpdate"}}}
    assert not object_in_sync(actual=edited, desired=desired)
    relabelled = {**defaulted, "metadata": {"labels": {"a": "2"}}}
    assert not object_in_sync(actual=relabelled, desired=desired)


def test_canonicalised_quantities_are_not_drift() -> None:
    desired = {"spec": {"resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}}}}
    stored = {"spec": {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}}
    assert object_in_sync(actual=stored, desired=desired)


def test_last_transition_time_moves_only_when_status_flips() -> None:
    first = merge_conditions(
        previous=None,
        observed=[Condition(type="Ready", status=False, reason="WaitingForPod", message="m")],
        generation=1,
        now="2026-11-21T10:00:00Z",
    )
    same_status = merge_conditions(
        previous=first,
        observed=[Condition(type="Ready", status=False, reason="PodNotReady", message="m2")],
        generation=1,
        now="2026-11-21T10:05:00Z",
    )
    assert same_status[0]["lastTransitionTime"] == "2026-11-21T10:00:00Z"
    assert same_status[0]["reason"] == "PodNotReady"
    flipped = merge_conditions(
        previous=same_status,
        observed=[Condition(type="Ready", status=True, reason="RuntimeAvailable", message="ok")],
        generation=2,
        now="2026-11-21T10:06:00Z",
    )
    assert flipped[0]["lastTransitionTime"] == "2026-11-21T10:06:00Z"
    assert flipped[0]["observedGeneration"] == 2


def _kept(number: int, content: dict[str, object]) -> dict[str, object]:
    return {
        "revision": number,
        "metadata": {"annotations": {"tradefleet.io/config-hash": content_hash(content)}},
    }


def test_revisions_grow_and_a_revert_becomes_the_newest() -> None:
    one = revision_content(
        config={"risk": {"maxPositionPct": 10}}, raw_spec={"paused": False, "symbol": "BTC/USDT"}
    )
    two = revision_content(config={"risk": {"maxPositionPct": 5}}, raw_spec={"symbol": "BTC/USDT"})
    first, new = choose_revision(content=one, existing=[])
    assert (first.number, new) == (1, True)
    same, new = choose_revision(content=one, existing=[_kept(1, one)])
    assert (same.number, new) == (1, False)
    second, _ = choose_revision(content=two, existing=[_kept(1, one)])
    assert second.number == 2
    reverted, new = choose_revision(content=one, existing=[_kept(1, one), _kept(2, two)])
    assert (reverted.number, new) == (3, True)


def test_pausing_is_not_a_revision() -> None:
    running = revision_content(config={}, raw_spec={"symbol": "BTC/USDT", "paused": False})
    paused = revision_content(config={}, raw_spec={"symbol": "BTC/USDT", "paused": True})
    assert running == paused


def test_child_names_stay_valid_and_unique_when_bots_have_long_names() -> None:
    long_a = "a" * 70 + "-one"
    long_b = "a" * 70 + "-two"
    names = {child_name(owner=long_a, suffix="config"), child_name(owner=long_b, suffix="config")}
    assert len(names) == 2
    assert all(len(n) <= MAX_NAME and n.endswith("-config") for n in names)
    assert child_name(owner="short", suffix="config") == "short-config"


def test_children_kept_in_memory_round_trip_without_managed_fields() -> None:
    pod: dict[str, Any] = {
        "kind": "Pod",
        "metadata": {
            "name": "bot-0",
            "resourceVersion": "42",
            "labels": {"tradefleet.io/bot": "bot"},
            "managedFields": [{"manager": "kube-scheduler", "fieldsV1": {"f:status": {}}}] * 50,
        },
        "status": {"phase": "Running", "podIP": "10.0.0.7"},
    }
    packed = pack_object(pod)
    without = {k: v for k, v in pod["metadata"].items() if k != "managedFields"}
    assert unpack_object(packed) == {**pod, "metadata": without}
    assert len(packed) < len(json.dumps(pod)) / 4


def test_only_running_runtimes_are_polled_and_stuck_revisions_wake_at_the_deadline() -> None:
    settings = OperatorSettings(region="ap-northeast-1", health_poll_interval_s=5.0)

    def look(*, polling: bool, rollback_due_s: float | None, rolled_back_now: bool = False) -> Any:
        return next_look_s(
            rolled_back_now=rolled_back_now,
            polling=polling,
            rollback_due_s=rollback_due_s,
            settings=settings,
        )

    # A pending pod: its changes come as watch events, nothing to poll, nothing due.
    assert look(polling=False, rollback_due_s=None) is None
    assert look(polling=True, rollback_due_s=None) == 5.0
    # A revision that may roll back is looked at again just after its deadline, poll or not.
    assert look(polling=False, rollback_due_s=42.3) == pytest.approx(43.3)
    assert look(polling=True, rollback_due_s=2.0) == pytest.approx(3.0)
    assert look(polling=False, rollback_due_s=-3.0) == pytest.approx(1.0)
    # Right after a rollback, at once: the next pass restores the last good revision.
    assert look(polling=True, rollback_due_s=None, rolled_back_now=True) == 0.0
