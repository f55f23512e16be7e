"""Status writes of a running bot: a change of substance at once, live figures at a pace.

At 1,000 bots, a status write per runtime poll is 200 writes a second that say nothing new; a
user still sees every phase, condition, position side or fill change at once.
"""

from __future__ import annotations

import time
from typing import Any

import kopf
import pytest
from tradefleet_operator.outcome import Outcome
from tradefleet_operator.passes import OperatorState, WrittenStatus, write_outcome
from tradefleet_operator.settings import OperatorSettings
from tradefleet_operator.status_pacing import hold_s


def _status(**changes: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": "Running",
        "observedGeneration": 3,
        "currentRevision": 2,
        "pnl": 12.5,
        "equity": 10_012.5,
        "lastHeartbeat": "2026-12-05T08:00:00Z",
        "position": {"side": "long", "size": 0.01, "entryPrice": 50_000.0},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "RuntimeAvailable",
                "message": "revision 2 is running and ready",
                "observedGeneration": 3,
                "lastTransitionTime": "2026-12-05T07:00:00Z",
            }
        ],
    }
    status.update(changes)
    return status


def _ready(status: str, reason: str, message: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "Ready",
            "status": status,
            "reason": reason,
            "message": message,
            "observedGeneration": 3,
            "lastTransitionTime": "2026-12-05T08:00:00Z",
        }
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"pnl": 13.0, "equity": 10_013.0, "lastHeartbeat": "2026-12-05T08:00:05Z"},
        {"position": {"side": "long", "size": 0.01, "entryPrice": 50_010.0}},
    ],
    ids=["figures", "entry-price"],
)
def test_live_figures_wait_for_the_interval(changes: dict[str, Any]) -> None:
    held = hold_s(
        stored=_status(), new=_status(**changes), last_written_s=100.0, now_s=105.0, interval_s=30
    )
    assert held == pytest.approx(25.0)
    due = hold_s(
        stored=_status(), new=_status(**changes), last_written_s=100.0, now_s=131.0, interval_s=30
    )
    assert due == 0.0


@pytest.mark.parametrize(
    "changes",
    [
        {"phase": "Halted"},
        {"observedGeneration": 4},
        {"currentRevision": 3},
        {"position": {"side": "flat", "size": 0.0, "entryPrice": 0.0}},
        {"conditions": _ready("False", "PodNotReady", "pod x is not ready")},
        {"conditions": _ready("True", "Standby", "revision 2 is running and ready")},
        {"conditions": _ready("True", "RuntimeAvailable", "revision 2 runs")},
        {"circuitBreaker": {"state": "Open", "reason": "Drawdown"}},
        {"notifications": {"notified": {"position": "long 0.02 @ 50000"}}},
    ],
    ids=[
        "phase",
        "generation",
        "revision",
        "position-side",
        "condition-status",
        "condition-reason",
        "condition-message",
        "breaker",
        "fill-notified",
    ],
)
def test_a_change_of_substance_is_written_at_once(changes: dict[str, Any]) -> None:
    assert (
        hold_s(
            stored=_status(),
            new=_status(**changes),
            last_written_s=100.0,
            now_s=100.5,
            interval_s=30,
        )
        == 0.0
    )


def _held_in_a_burst(*, new: dict[str, Any], now_s: float) -> float:
    """How long ``new`` waits at ``now_s`` after a write at 100 s, while passes on specs not
    yet reconciled wait."""
    return hold_s(
        stored=_status(), new=new, last_written_s=100.0, now_s=now_s, interval_s=30, busy=True
    )


def test_while_new_specs_wait_a_status_that_tells_nothing_new_waits_at_most_three_intervals() -> (
    None
):
    """In a burst of new bots the apiserver serves their children first; live figures and a
    pod's progress are written later, never more than three intervals old."""
    figures = _status(pnl=13.0, equity=10_013.0)
    assert _held_in_a_burst(new=figures, now_s=131.0) == pytest.approx(30.0)
    assert _held_in_a_burst(new=figures, now_s=175.0) == pytest.approx(15.0)
    assert _held_in_a_burst(new=figures, now_s=190.0) == 0.0
    # What says something new is written at once, busy or not.
    assert _held_in_a_burst(new=_status(phase="Halted"), now_s=101.0) == 0.0


def test_an_accounts_new_peak_equity_is_written_at_once_even_in_a_burst() -> None:
    """The drawdown halt measures from the stored peak: a held peak lost to a fall would let
    the account lose more than its limit before it halts."""
    stored = {"phase": "Active", "equity": 10_000.0, "peakEquity": 10_000.0}
    new = {"phase": "Active", "equity": 10_400.0, "peakEquity": 10_400.0}
    assert (
        hold_s(stored=stored, new=new, last_written_s=100.0, now_s=101.0, interval_s=30, busy=True)
        == 0.0
    )
    assert hold_s(
        stored=stored,
        new={**stored, "equity": 9_900.0},
        last_written_s=100.0,
        now_s=101.0,
        interval_s=30,
    ) == pytest.approx(29.0)


def test_nothing_is_held_before_the_first_write_of_this_process() -> None:
    assert (
        hold_s(stored=_status(), new=_status(pnl=1.0), last_written_s=None, now_s=0, interval_s=30)
        == 0.0
    )


class _CountingKube:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    async def patch_merge(self, **request: Any) -> dict[str, Any]:
        self.patches.append(request["patch"])
        return {"metadata": {"resourceVersion": str(100 + len(self.patches))}, "status": {}}


class _Reconciler:
    def __init__(self) -> None:
        self.kube = _CountingKube()


def _body(status: dict[str, Any]) -> kopf.Body:
    return kopf.Body(
        {
            "apiVersion": "tradefleet.io/v1alpha1",
            "kind": "TradingBot",
            "metadata": {
                "name": "alpha",
                "namespace": "bots",
                "uid": "u-1",
                "resourceVersion": "50",
                "generation": 3,
            },
            "status": status,
        }
    )


async def test_the_operator_writes_a_pnl_tick_only_when_its_interval_is_up() -> None:
    state = OperatorState(settings=OperatorSettings(region="ap-northeast-1", status_interval_s=30))
    reconciler = _Reconciler()
    state.reconciler = reconciler  # type: ignore[assignment]
    stored = _status()
    state.written_status["u-1"] = WrittenStatus(
        resource_version=60, status=stored, written_s=time.monotonic()
    )
    body = _body(stored)

    ticked = await write_outcome(
        state=state, body=body, kind="TradingBot", outcome=Outcome(status=_status(pnl=20.0))
    )
    assert reconciler.kube.patches == [], "a PnL tick 0 s after the last write was written"
    assert 29.0 < ticked.held_s <= 30.0
    assert ticked.status == stored

    halted = await write_outcome(
        state=state, body=body, kind="TradingBot", outcome=Outcome(status=_status(phase="Halted"))
    )
    assert halted.held_s == 0.0
    assert [p["status"]["phase"] for p in reconciler.kube.patches] == ["Halted"]


def test_a_pod_on_its_way_is_progress_written_every_third_interval() -> None:
    """Each step says the bot is still not ready; in a rollout of many bots each bot takes each
    step, and a write per step and bot would load the apiserver that is starting the pods."""
    waiting = _status(conditions=_ready("False", "WaitingForPod", "waiting for the pod of rev 2"))
    scheduled = _status(
        conditions=_ready("False", "PodNotReady", "pod x on node-a is not ready yet"), node="node-a"
    )
    held = hold_s(stored=waiting, new=scheduled, last_written_s=100.0, now_s=105.0, interval_s=30)
    assert held == pytest.approx(85.0)
    # Live figures that change with it are written at the interval, the progress with them.
    ticking = _status(pnl=3.0, conditions=scheduled["conditions"], node="node-a")
    assert hold_s(
        stored=waiting, new=ticking, last_written_s=100.0, now_s=105.0, interval_s=30
    ) == pytest.approx(25.0)


@pytest.mark.parametrize(
    "conditions",
    [
        _ready("True", "RuntimeAvailable", "revision 2 is running and ready"),
        _ready("False", "Unschedulable", "pod x cannot be scheduled: 0/2 nodes are available"),
        _ready("False", "ImagePullBackOff", "pod x: ImagePullBackOff"),
        _ready("False", "CrashLoopBackOff", "pod x: CrashLoopBackOff; last exit: code 1"),
    ],
    ids=["ready", "unschedulable", "image", "crash-loop"],
)
def test_a_pod_that_gets_ready_or_stuck_is_written_at_once(
    conditions: list[dict[str, Any]],
) -> None:
    waiting = _status(conditions=_ready("False", "WaitingForPod", "waiting for the pod of rev 2"))
    new = _status(conditions=conditions)
    assert hold_s(stored=waiting, new=new, last_written_s=100.0, now_s=105.0, interval_s=30) == 0
