"""Bring the real node's pieces up to date before it starts: the build scripts, run as a subprocess.

Called by the launcher (:mod:`.launcher`) before it locates the pieces, so a real node always runs
images built from the sources as they are now, whoever started it (``scripts/test.sh`` and
``scripts/demo.sh`` have usually run the same scripts already, and then this takes about a second:
both are cached by content hash and serialised by a lock). The output goes to
``$TRADEFLEET_CACHE/realnode/build.log``; a failure is :class:`RealNodeUnavailableError` quoting
its tail, so the ``auto`` node kind falls back to the dev node agent.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from tradefleet_devtools.realnode.artifacts import CACHE
from tradefleet_devtools.realnode.errors import RealNodeUnavailableError

REPO = Path(__file__).resolve().parents[3]
STEPS = (("scripts/build-node.sh", "--runtime"), ("scripts/build-images.sh",))


@functools.cache
def ensure_built(*, repo: Path = REPO, timeout_s: float = 1800.0) -> None:
    """Run ``build-node.sh --runtime`` then ``build-images.sh``; raise with the log's tail on failure.

    Once per process (a success is remembered): the e2e suite builds before its first test, and
    its stack then starts on what was built, even while sources change under a long run."""
    log_path = CACHE / "realnode" / "build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TRADEFLEET_CACHE": str(CACHE)}
    with log_path.open("w") as log:
        for step in STEPS:
            script = repo / step[0]
            try:
                done = subprocess.run(
                    ["bash", str(script), *step[1:]],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    timeout=timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise RealNodeUnavailableError(f"{step[0]} took over {timeout_s:.0f}s") from exc
            if done.returncode != 0:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-12:])
                raise RealNodeUnavailableError(
                    f"{' '.join(step)} failed (exit {done.returncode}); {log_path} ends:\n{tail}"
                )
