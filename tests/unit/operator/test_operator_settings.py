"""The operator's settings file: a bad value stops start-up with a message naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from tradefleet_operator.settings import SettingsError, load_settings

pytestmark = pytest.mark.unit


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "operator.yaml"
    path.write_text(text)
    return path


def test_the_settings_file_sets_the_pass_limit(tmp_path: Path) -> None:
    settings = load_settings(
        path=_write(tmp_path, "region: ap-northeast-1\nmaxConcurrentReconciles: 8\n")
    )
    assert settings.max_concurrent_reconciles == 8
    assert settings.region == "ap-northeast-1"


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("maxConcurrentReconciles: 0", "maxConcurrentReconciles"),
        ("maxConcurrentReconciles: 2.5", "maxConcurrentReconciles"),
        ("maxConcurrentReconciles: true", "maxConcurrentReconciles"),
        ("reconcileIntervalSeconds: soon", "reconcileIntervalSeconds"),
        ("namespaces: trading", "namespaces"),
        ("webhookService: tradefleet-webhook", "webhookService"),
        ("webhookService: trading/", "webhookService"),
    ],
)
def test_a_bad_value_is_refused_by_name(tmp_path: Path, line: str, named: str) -> None:
    with pytest.raises(SettingsError, match=f"invalid operator setting {named}: "):
        load_settings(path=_write(tmp_path, f"region: ap-northeast-1\n{line}\n"))


def test_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="unknown operator setting"):
        load_settings(path=_write(tmp_path, "region: ap-northeast-1\nmaxReconciles: 4\n"))
