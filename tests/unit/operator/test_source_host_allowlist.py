"""A SignalSource whose feed lies outside the operator's host allow-list (Helm:
``runtime.sourceAllowedHosts``) is ``Invalid`` with reason ``HostNotAllowed`` naming the field,
and nothing of it runs; the settings file carries the list. A whole pass against a fake API."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pass_support import condition, source_pass
from succession_support import SETTINGS
from tradefleet_operator.settings import load_settings

pytestmark = pytest.mark.unit


async def test_a_source_fetching_from_a_host_outside_the_list_is_invalid_and_not_run() -> None:
    outcome, kube = await source_pass(
        spec={
            "kind": "macro",
            "symbols": ["BTC/USDT"],
            "macro": {
                "feeds": [
                    "https://www.federalreserve.gov/feeds/press_all.xml",
                    "http://10.0.0.7:9200/_cat/indices",
                ]
            },
        },
        settings=replace(SETTINGS, source_allowed_hosts=("federalreserve.gov",)),
    )
    assert outcome.status["phase"] == "Invalid"
    ready = condition(outcome, "Ready")
    assert ready["reason"] == "HostNotAllowed"
    assert ready["message"].startswith("spec.macro.feeds[1]: '10.0.0.7' is not among the hosts")
    assert kube.written == {}


def test_the_settings_file_names_the_allowed_hosts(tmp_path: Path) -> None:
    path = tmp_path / "operator.yaml"
    path.write_text("region: ap-northeast-1\nsourceAllowedHosts: [federalreserve.gov]\n")
    assert load_settings(path=path).source_allowed_hosts == ("federalreserve.gov",)
