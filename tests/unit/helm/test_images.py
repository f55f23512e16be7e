"""The images' Dockerfile and the kind end-to-end script (which cannot run here: no Docker).

The Dockerfile is checked for what the chart relies on (targets, non-root uid 10001, the right
extras, no dev tooling); scripts/kind-e2e.sh is run with the tools missing and must stop at once
with a message that says what is missing, before it sets anything up.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"
KIND_E2E = REPO / "scripts" / "kind-e2e.sh"


def _stages() -> dict[str, str]:
    """Stage name → its instructions."""
    text = DOCKERFILE.read_text()
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize(
    ("target", "extras", "module"),
    [
        ("operator", "operator", "tradefleet_operator"),
        ("runtime", "runtime", "tradefleet_runtime"),
        # The optimizer Job's image: `optimize` imports optuna, numba and tqdm (issue 16).
        ("research", "runtime research", "tradefleet_runtime"),
    ],
)
def test_each_image_installs_its_extras_and_runs_as_uid_10001(
    target: str, extras: str, module: str
) -> None:
    stages = _stages()
    final = stages[target]
    assert "USER 10001:10001" in final
    assert f'ENTRYPOINT ["python", "-m", "{module}"]' in final
    # The dependencies' virtualenv, then the project's packages on top.
    deps = re.search(r"COPY --from=(\S+) /opt/tradefleet /opt/tradefleet", final)
    project = re.search(r"COPY --from=(\S+) /opt/project \$\{SITE\}", final)
    assert deps is not None and project is not None
    assert deps.group(1) == f"{target}-deps"
    installed = stages[deps.group(1)]
    assert f"python scripts/requirements.py {extras} > /tmp/requirements.txt" in installed
    assert "pip install --disable-pip-version-check -r /tmp/requirements.txt" in installed
    assert "--no-deps --no-compile" in stages[project.group(1)]
    assert "useradd --system --uid 10001 --gid 10001" in stages["base"]


def test_every_image_builds_on_the_python_image_argument() -> None:
    """One Dockerfile: Docker builds on python:3.11-slim-bookworm, buildah on the debootstrap base."""
    text = DOCKERFILE.read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in text
    bases = re.findall(r"^FROM\s+(\S+)\s+AS", text, flags=re.MULTILINE)
    stages = set(_stages())
    assert {b for b in bases if b not in stages} == {"${PYTHON_IMAGE}"}


def test_the_build_context_holds_only_the_packages() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {
        "!pyproject.toml",
        "!README.md",
        "!scripts/requirements.py",
        "!operator/",
        "!bot-runtime/",
    } <= set(lines)
    assert "!devtools/" not in lines


def _run_without(tmp_path: Path, *, fake: dict[str, int]) -> subprocess.CompletedProcess[str]:
    """Run kind-e2e.sh with a PATH holding only fake tools (name → exit code)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, code in fake.items():
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\nexit {code}\n")
        tool.chmod(0o755)
    return subprocess.run(
        ["/bin/bash", str(KIND_E2E)],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_kind_e2e_stops_at_once_without_docker(tmp_path: Path) -> None:
    done = _run_without(tmp_path, fake={})
    assert done.returncode == 1
    assert "kind-e2e: 'docker' is not installed or not on PATH" in done.stderr
    assert "bash scripts/test.sh" in done.stderr
    assert done.stdout == ""


def test_kind_e2e_names_the_missing_kind(tmp_path: Path) -> None:
    done = _run_without(tmp_path, fake={"docker": 0, "kubectl": 0})
    assert done.returncode == 1
    assert "'kind' is not installed" in done.stderr


def test_kind_e2e_says_when_the_docker_engine_is_down(tmp_path: Path) -> None:
    tools = {"kind": 0, "kubectl": 0, "python3": 0, "redis-server": 0, "ip": 0}
    done = _run_without(tmp_path, fake={"docker": 1, **tools})
    assert done.returncode == 1
    assert "the Docker engine is not reachable" in done.stderr
