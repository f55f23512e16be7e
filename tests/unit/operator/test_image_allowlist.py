"""Issue 20, item 1: a bot author cannot run an image of their choosing with the bot's credentials.

The operator holds a list of allowed image prefixes (Helm: ``runtime.allowedImagePrefixes``; its
own runtime and optimizer repositories are always allowed). A TradingBot or SignalSource whose
``spec.image`` is outside it is ``Invalid`` with reason ``ImageNotAllowed`` and a message that
names the field and the fix, and nothing of it is rendered. Whole passes against a fake API.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pass_support import condition, one_pass, source_pass
from succession_support import SETTINGS, FakeKube, bot_body
from tradefleet_operator.reconcile import Reconciler
from tradefleet_operator.settings import SettingsError, load_settings
from tradefleet_operator.spec.validation import validate_image

pytestmark = pytest.mark.unit

FOREIGN = "docker.io/attacker/miner:1"


def _bot(image: str) -> dict[str, Any]:
    body = bot_body(self_healing={})
    body["spec"]["image"] = image
    return body


def _deployment_image(kube: FakeKube) -> str:
    pod = kube.written[("Deployment", "bot")]["spec"]["template"]["spec"]
    return str(pod["containers"][0]["image"])


async def test_a_bot_whose_image_is_outside_the_allowed_prefixes_is_invalid_and_not_run() -> None:
    kube, outcome = await one_pass(body=_bot(FOREIGN), children={}, port=1)
    assert outcome.status["phase"] == "Invalid"
    ready = condition(outcome, "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "ImageNotAllowed"
    assert ready["message"].startswith(f"spec.image: {FOREIGN!r} is not under")
    assert "ghcr.io/tradefleet/bot-runtime" in ready["message"]
    assert "runtime.allowedImagePrefixes" in ready["message"]
    assert kube.written == {}, "a child of the refused bot was written"


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/tradefleet/bot-runtime:0.2.0",
        "ghcr.io/tradefleet/bot-runtime@sha256:" + "a" * 64,
        "ghcr.io/tradefleet/research:0.1.0",
    ],
)
async def test_another_tag_or_digest_of_the_operators_own_images_runs(image: str) -> None:
    kube, outcome = await one_pass(body=_bot(image), children={}, port=1)
    assert outcome.status["phase"] != "Invalid", condition(outcome, "Ready")
    assert _deployment_image(kube) == image


async def test_an_image_under_a_configured_prefix_runs() -> None:
    settings = replace(SETTINGS, allowed_image_prefixes=("registry.example.com/quant/",))
    kube = FakeKube()
    reconciler = Reconciler(kube=kube, settings=settings)  # type: ignore[arg-type]
    try:
        outcome = await reconciler.reconcile_bot(
            body=_bot("registry.example.com/quant/bot:7"), children={}, sources={}
        )
    finally:
        await reconciler.runtime.close()
    assert outcome.status["phase"] != "Invalid", outcome.status["conditions"]
    assert _deployment_image(kube) == "registry.example.com/quant/bot:7"


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("ghcr.io/tradefleet/bot-runtime", True),
        ("ghcr.io/tradefleet/bot-runtime:1", True),
        ("ghcr.io/tradefleet/bot-runtime/debug:1", True),
        ("registry.example.com/quant/x:1", True),
        # A prefix ends at a name boundary: no look-alike repository or registry passes.
        ("ghcr.io/tradefleet/bot-runtime-evil:1", False),
        ("ghcr.io/tradefleet/bot-runtimex", False),
        ("ghcr.io/tradefleet.evil.example/bot-runtime:1", False),
        ("registry.example.com/quantx/x:1", False),
        ("docker.io/library/python:3.11", False),
    ],
)
def test_a_prefix_admits_only_what_lies_under_it(image: str, allowed: bool) -> None:
    prefixes = ("ghcr.io/tradefleet/bot-runtime", "registry.example.com/quant/")
    problems = validate_image(field="spec.image", image=image, allowed_prefixes=prefixes)
    assert (problems == []) is allowed, problems


def test_no_image_means_the_operators_and_is_always_allowed() -> None:
    assert validate_image(field="spec.image", image=None, allowed_prefixes=()) == []


async def test_a_signal_source_whose_image_is_outside_the_allowed_prefixes_is_invalid() -> None:
    outcome, kube = await source_pass(
        spec={
            "kind": "macro",
            "symbols": ["BTC/USDT"],
            "macro": {"feeds": ["https://www.federalreserve.gov/feeds/press_all.xml"]},
            "image": FOREIGN,
        }
    )
    assert outcome.status["phase"] == "Invalid"
    ready = condition(outcome, "Ready")
    assert ready["reason"] == "ImageNotAllowed"
    assert ready["message"].startswith(f"spec.image: {FOREIGN!r} is not under")
    assert kube.written == {}


def test_the_settings_file_names_the_allowed_prefixes(tmp_path: Path) -> None:
    path = tmp_path / "operator.yaml"
    path.write_text(
        "region: ap-northeast-1\n"
        "runtimeImage: registry.local/tradefleet/bot-runtime:dev\n"
        "allowedImagePrefixes: [registry.example.com/quant/]\n"
    )
    settings = load_settings(path=path)
    assert settings.allowed_image_prefixes == ("registry.example.com/quant/",)
    # The operator's own runtime and optimizer repositories are always allowed.
    assert settings.image_prefixes() == (
        "registry.example.com/quant/",
        "registry.local/tradefleet/bot-runtime",
        "ghcr.io/tradefleet/research",
    )
    path.write_text("region: ap-northeast-1\nallowedImagePrefixes: registry.example.com\n")
    with pytest.raises(SettingsError, match="allowedImagePrefixes"):
        load_settings(path=path)
