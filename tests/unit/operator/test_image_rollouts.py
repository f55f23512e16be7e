"""Issue 15, item 8: a new runtime image is a new revision, rolled out like a spec change.

Whole reconcile passes of bots of one region, against the fake API, with the operator's runtime
image changed between them as a Helm upgrade changes it: each bot rolls forward to one new revision
that pins the image, a revision not healthy within its progress deadline rolls back to the last
good one and its image, and at most ``maxConcurrentRollouts`` bots of the region roll at once while
the others keep running their revision.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from succession_support import SETTINGS, FakeKube, stamp
from tradefleet_api import content_hash
from tradefleet_operator.outcome import Outcome
from tradefleet_operator.reconcile import Reconciler
from tradefleet_operator.settings import OperatorSettings, SettingsError, load_settings
from tradefleet_operator.spec import SelfHealingSpec

pytestmark = pytest.mark.unit

OLD = replace(SETTINGS, runtime_image="registry.example/bot-runtime:1.0")
NEW_IMAGE = "registry.example/bot-runtime:1.1"
# spec.selfHealing.progressDeadlineSeconds, the default.
DEADLINE_S = SelfHealingSpec().progress_deadline_seconds


def _body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "tradefleet.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "generation": 1,
            "creationTimestamp": stamp(datetime.now(UTC)),
        },
        "spec": {"exchange": "binance", "market": "futures", "symbol": "BTC/USDT:USDT"},
    }


class Bot:
    """One bot as the cluster holds it: its body with the last status, and its children."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.body = _body(name)
        self.children: dict[tuple[str, str], dict[str, Any]] = {}

    async def run(self, reconciler: Reconciler, kube: FakeKube) -> Outcome:
        """One pass; what it applied becomes the cluster's, its status the bot's."""
        kube.written.clear()
        outcome = await reconciler.reconcile_bot(
            body=copy.deepcopy(self.body), children=copy.deepcopy(self.children), sources={}
        )
        for (kind, name), obj in kube.written.items():
            stored = copy.deepcopy(obj)
            if kind == "Deployment":
                stored["metadata"]["generation"] = 1
            self.children[(kind, name)] = stored
        self.body["status"] = outcome.status
        return outcome

    def rolled_out(self) -> None:
        """The Deployment's current template is rolled out and available (a healthy runtime)."""
        deployment = self.children[("Deployment", self.name)]
        deployment["status"] = {
            "observedGeneration": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1,
        }

    def started_at(self, when: datetime) -> None:
        self.body["status"]["currentRevisionSince"] = stamp(when)

    @property
    def image(self) -> str:
        deployment = self.children[("Deployment", self.name)]
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    @property
    def template_revision(self) -> str:
        deployment = self.children[("Deployment", self.name)]
        return str(
            deployment["spec"]["template"]["metadata"]["annotations"]["tradefleet.io/revision"]
        )


def _progressing(outcome: Outcome) -> dict[str, Any]:
    return next(c for c in outcome.status["conditions"] if c["type"] == "Progressing")


async def _healthy(bot: Bot, *, settings: OperatorSettings) -> None:
    """``bot`` running revision 1 of ``settings``' image, healthy."""
    kube = FakeKube()
    reconciler = Reconciler(kube=kube, settings=settings)  # type: ignore[arg-type]
    await bot.run(reconciler, kube)
    bot.rolled_out()
    await bot.run(reconciler, kube)
    bot.rolled_out()
    assert bot.body["status"]["lastGoodRevision"] == 1


async def test_a_new_runtime_image_is_a_new_revision_that_rolls_back_when_unhealthy() -> None:
    bot = Bot("alpha")
    await _healthy(bot, settings=OLD)
    assert bot.image == OLD.runtime_image
    kube = FakeKube()
    upgraded = Reconciler(kube=kube, settings=replace(OLD, runtime_image=NEW_IMAGE))  # type: ignore[arg-type]
    outcome = await bot.run(upgraded, kube)
    assert outcome.status["currentRevision"] == 2, "the image change is no revision"
    assert bot.image == NEW_IMAGE and bot.template_revision == "2"
    assert any(e.reason == "RevisionCreated" for e in outcome.events)
    kept = next(
        obj
        for (kind, _), obj in bot.children.items()
        if kind == "ControllerRevision" and obj["revision"] == 2
    )
    assert kept["data"]["image"] == NEW_IMAGE
    # The new image never becomes available: past the progress deadline it is rolled back.
    bot.started_at(datetime.now(UTC) - timedelta(seconds=DEADLINE_S + 5))
    outcome = await bot.run(upgraded, kube)
    assert outcome.status["rollback"]["toRevision"] == 1
    outcome = await bot.run(upgraded, kube)
    assert outcome.status["currentRevision"] == 1
    assert bot.image == OLD.runtime_image, "the rollback kept the bad image"
    # And it stays there while the operator's image is the one that failed.
    await bot.run(upgraded, kube)
    assert bot.image == OLD.runtime_image


async def test_the_first_upgrade_rolls_back_to_the_image_a_revision_without_one_ran() -> None:
    """A revision kept by an operator from before images were part of revisions has no image: a
    rollback to it restores the image its Deployment ran, not the new one that failed."""
    bot = Bot("alpha")
    await _healthy(bot, settings=OLD)
    legacy = next(obj for (kind, _), obj in bot.children.items() if kind == "ControllerRevision")
    del legacy["data"]["image"]
    legacy["metadata"]["annotations"]["tradefleet.io/config-hash"] = content_hash(legacy["data"])
    bot.body["status"].pop("lastGoodImage", None)
    kube = FakeKube()
    upgraded = Reconciler(kube=kube, settings=replace(OLD, runtime_image=NEW_IMAGE))  # type: ignore[arg-type]
    outcome = await bot.run(upgraded, kube)
    assert outcome.status["currentRevision"] == 2 and bot.image == NEW_IMAGE
    bot.started_at(datetime.now(UTC) - timedelta(seconds=DEADLINE_S + 5))
    await bot.run(upgraded, kube)
    outcome = await bot.run(upgraded, kube)
    assert outcome.status["currentRevision"] == 1
    assert bot.image == OLD.runtime_image, "the rollback ran the image that failed"
    assert outcome.status["lastGoodImage"] == OLD.runtime_image


async def test_at_most_max_concurrent_rollouts_bots_of_a_region_roll_at_once() -> None:
    bots = [Bot(name) for name in ("alpha", "beta", "gamma")]
    for bot in bots:
        await _healthy(bot, settings=OLD)
    kube = FakeKube()
    settings = replace(OLD, runtime_image=NEW_IMAGE, max_concurrent_rollouts=2)
    upgraded = Reconciler(kube=kube, settings=settings)  # type: ignore[arg-type]
    outcomes = [await bot.run(upgraded, kube) for bot in bots]
    assert [bot.image for bot in bots] == [NEW_IMAGE, NEW_IMAGE, OLD.runtime_image]
    queued = _progressing(outcomes[2])
    assert queued["reason"] == "RolloutQueued" and queued["status"] == "True"
    assert "maxConcurrentRollouts 2" in queued["message"]
    assert outcomes[2].status["currentRevision"] == 1 and bots[2].template_revision == "1"
    assert outcomes[2].status["phase"] == "Running"
    assert not [k for k in bots[2].children if k[0] == "ControllerRevision" and k[1].endswith("2")]
    # Still queued while both hold their slots.
    await bots[2].run(upgraded, kube)
    assert bots[2].image == OLD.runtime_image
    # One of them becomes healthy on the new image: its slot goes to the one that waited.
    bots[0].rolled_out()
    await bots[0].run(upgraded, kube)
    assert bots[0].body["status"]["lastGoodRevision"] == 2
    outcome = await bots[2].run(upgraded, kube)
    assert bots[2].image == NEW_IMAGE and outcome.status["currentRevision"] == 2
    assert _progressing(outcome)["reason"] != "RolloutQueued"


async def test_a_rollout_under_way_keeps_its_slot_and_a_new_bot_needs_none() -> None:
    rolling, steady = Bot("alpha"), Bot("beta")
    for bot in (rolling, steady):
        await _healthy(bot, settings=OLD)
    kube = FakeKube()
    settings = replace(OLD, runtime_image=NEW_IMAGE, max_concurrent_rollouts=1)
    # An operator restarted in the middle of alpha's rollout: alpha re-takes its slot first.
    first = Reconciler(kube=kube, settings=settings)  # type: ignore[arg-type]
    await rolling.run(first, kube)
    restarted = Reconciler(kube=kube, settings=settings)  # type: ignore[arg-type]
    await rolling.run(restarted, kube)
    assert rolling.image == NEW_IMAGE
    outcome = await steady.run(restarted, kube)
    assert _progressing(outcome)["reason"] == "RolloutQueued"
    # A new bot has no healthy revision to keep: it starts at once.
    fresh = Bot("gamma")
    outcome = await fresh.run(restarted, kube)
    assert fresh.image == NEW_IMAGE and _progressing(outcome)["reason"] != "RolloutQueued"


def test_max_concurrent_rollouts_is_an_operator_setting(tmp_path: Any) -> None:
    path = tmp_path / "operator.yaml"
    path.write_text("region: r\nmaxConcurrentRollouts: 3\n")
    assert load_settings(path=path).max_concurrent_rollouts == 3
    path.write_text("region: r\nmaxConcurrentRollouts: 0\n")
    with pytest.raises(SettingsError, match="maxConcurrentRollouts"):
        load_settings(path=path)


async def test_a_new_bot_records_no_event_until_its_runtime_is_ready() -> None:
    """A burst of 1,000 new bots is 1,000 events fewer: creating a bot and rolling out its first
    revision is what the user asked for; its becoming ready is news."""
    bot = Bot("fresh")
    kube = FakeKube()
    reconciler = Reconciler(kube=kube, settings=OLD)  # type: ignore[arg-type]
    first = await bot.run(reconciler, kube)
    assert first.status["currentRevision"] == 1
    assert first.events == []
    again = await bot.run(reconciler, kube)
    assert again.events == []
    bot.rolled_out()
    ready = await bot.run(reconciler, kube)
    assert {(e.type, e.reason) for e in ready.events} == {
        ("Normal", "RuntimeAvailable"),
        ("Normal", "RolloutComplete"),
    }
