"""``python -m tradefleet_devtools.soak [N] [--workdir DIR] [--seed S] [--parallel P]``: run the
chaos soak from a shell and print its summary and every violation (dev/test tooling only);
``--judge DIR`` judges the trials saved under DIR again (their ``observation.json``).

The soak test (``tests/integration/soak/test_money_soak.py``) is the usual way in; this entry
point is for replaying a trial named in a violation (``--seed <its seed> 1``) and for judging
saved trials after a check changed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tradefleet_devtools.soak.evidence import observation_from_json
from tradefleet_devtools.soak.invariants import Invariant, check_all
from tradefleet_devtools.soak.runner import first_seed_from_env, run_soak, trials_from_env
from tradefleet_devtools.soak.summary import format_details, format_summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradefleet_devtools.soak")
    parser.add_argument("trials", type=int, nargs="?", default=trials_from_env())
    parser.add_argument("--seed", type=int, default=first_seed_from_env())
    parser.add_argument("--parallel", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--judge", type=Path, default=None, help="judge saved trials again")
    args = parser.parse_args(argv)
    if args.judge is not None:
        return _judge(args.judge)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tradefleet-soak-"))
    report = asyncio.run(
        run_soak(
            trials=args.trials,
            workdir=workdir,
            first_seed=args.seed,
            parallel=args.parallel,
            progress=lambda line: print(line, flush=True),
        )
    )
    print(format_summary(report))
    details = format_details(report)
    if details:
        print(details)
    print(f"trial directories: {workdir}")
    return 1 if report.violations or report.errors else 0


def _judge(directory: Path) -> int:
    violations = []
    paths = sorted(directory.glob("trial-*/observation.json"))
    for path in paths:
        raw = json.loads(path.read_text())["observation"]
        violations.extend(check_all(observation_from_json(raw)))
    for violation in violations:
        print(violation.render())
    counts = Counter(v.invariant for v in violations)
    listed = ", ".join(f"{i.value} {counts.get(i, 0)}" for i in Invariant)
    print(f"trials {len(paths)}\nviolations by invariant: {listed}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
