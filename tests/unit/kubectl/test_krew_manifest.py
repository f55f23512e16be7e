"""The krew manifest of `kubectl tradefleet` names the archive scripts/krew_archive.py builds, and
the shim in that archive runs the plugin (or says how to install it)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO / "plugins" / "krew" / "tradefleet.yaml"


def _build(out: Path) -> bytes:
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "krew_archive.py"), str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out.read_bytes()


def test_the_manifest_names_the_reproducible_archive(tmp_path: Path) -> None:
    first, second = _build(tmp_path / "a.tar.gz"), _build(tmp_path / "b.tar.gz")
    assert first == second
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "tradefleet"
    (platform,) = manifest["spec"]["platforms"]
    assert platform["sha256"] == hashlib.sha256(first).hexdigest()
    assert platform["bin"] == "kubectl-tradefleet"
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        assert [m.name for m in tar.getmembers()] == [f["from"] for f in platform["files"]]


def test_the_shim_runs_the_plugin_or_says_how_to_install_it(tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(_build(tmp_path / "k.tar.gz"))) as tar:
        tar.extractall(tmp_path, filter="data")
    shim = tmp_path / "kubectl-tradefleet"
    source = os.pathsep.join(str(REPO / p) for p in ("operator", "bot-runtime", "devtools"))
    env = {**os.environ, "PYTHONPATH": source, "TRADEFLEET_PYTHON": sys.executable}
    ran = subprocess.run(
        [str(shim), "--help"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert "reset-breaker" in ran.stdout and "rollback" in ran.stdout

    # No Python on PATH at all: the shim says what to install.
    (tmp_path / "empty").mkdir()
    bare = {"PATH": str(tmp_path / "empty"), "HOME": str(tmp_path)}
    missing = subprocess.run(
        [str(shim), "status"], capture_output=True, text=True, env=bare, timeout=60, check=False
    )
    assert missing.returncode == 1
    assert 'pip install "tradefleet[operator]"' in missing.stderr
