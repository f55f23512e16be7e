"""The images built from the Dockerfile by scripts/build-images.sh (debootstrap base + buildah),
run with ``buildah run``: no kubelet needed. The research image runs the optimizer Job's code; the
runtime image alone cannot (issue 16: `ModuleNotFoundError: optuna` in every real cluster), which
is why the operator's Jobs use the research image (the chart's ``runtime.optimizerImage``)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest
from tradefleet_devtools.realnode import ImageSet, RealNodeUnavailableError
from tradefleet_devtools.realnode.artifacts import buildah_argv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def images() -> ImageSet:
    try:
        return ImageSet.locate()
    except RealNodeUnavailableError as exc:
        pytest.skip(f"images not built here: {exc}")


@pytest.fixture(scope="module")
def run_in() -> Iterator[object]:
    """``run_in(image, code)``: run Python in a throwaway container of the image, as the image's
    user, with no network; returns the completed process."""
    made: list[str] = []

    def run(image: str, code: str) -> subprocess.CompletedProcess[str]:
        name = f"tradefleet-test-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            [*buildah_argv(), "from", "--pull-never", "--name", name, image],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        made.append(name)
        return subprocess.run(
            [*buildah_argv(), "run", "--network", "none", name, "--", "python", "-c", code],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    yield run
    for name in made:
        subprocess.run([*buildah_argv(), "rm", name], capture_output=True, check=False)


def test_the_research_image_runs_the_optimizer_job_code_as_uid_10001(
    images: ImageSet, run_in: object
) -> None:
    run = run_in
    assert callable(run)
    done = run(
        images.research.ref,
        "import os, optuna, numba, tqdm; import tradefleet_runtime.jobs.optimize as job; "
        "print(os.getuid(), job.__name__)",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["10001", "tradefleet_runtime.jobs.optimize"]


def test_the_runtime_image_has_no_research_stack_and_no_dev_tooling(
    images: ImageSet, run_in: object
) -> None:
    run = run_in
    assert callable(run)
    missing = run(images.runtime.ref, "import optuna")
    assert missing.returncode != 0
    assert "No module named 'optuna'" in missing.stderr
    checked = run(
        images.runtime.ref,
        "import importlib.util as u, os, tradefleet_runtime; "
        "print(os.getuid(), u.find_spec('tradefleet_devtools') is None, "
        "tradefleet_runtime.__file__)",
    )
    assert checked.returncode == 0, checked.stderr
    uid, no_devtools, where = checked.stdout.split()
    assert (uid, no_devtools) == ("10001", "True")
    assert where.startswith("/opt/tradefleet/lib/python3.11/site-packages/tradefleet_runtime/")


def test_the_operator_image_reads_its_access_without_loading_the_kubernetes_package(
    images: ImageSet, run_in: object
) -> None:
    """The entry point keeps the package out of its process (its memory; asked for its help
    here, which loads Kopf and the handlers), and the image's child process reads a kubeconfig
    with it."""
    run = run_in
    assert callable(run)
    done = run(
        images.operator.ref,
        "import sys, tempfile, pathlib\n"
        "from tradefleet_operator.__main__ import main\n"
        "sys.argv = ['tradefleet-operator', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "from tradefleet_operator.access import read_access\n"
        "path = pathlib.Path(tempfile.mkdtemp()) / 'config'\n"
        f"path.write_text({KUBECONFIG!r})\n"
        "access = read_access(kubeconfig=path)\n"
        "loaded = any(v for m, v in sys.modules.items() if m.startswith('kubernetes'))\n"
        "assert 'kopf' in sys.modules and 'tradefleet_operator.handlers' in sys.modules\n"
        "print('RESULT', access.server, access.authorization == 'Bearer t0k3n', loaded)",
    )
    assert done.returncode == 0, done.stderr
    result = done.stdout.strip().splitlines()[-1].split()
    assert result == ["RESULT", "https://10.9.8.7:6443", "True", "False"]


KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://10.9.8.7:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t0k3n}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""
