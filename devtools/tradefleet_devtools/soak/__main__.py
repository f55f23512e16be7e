"""``python -m tradefleet_devtools.soak [N] [--workdir DIR] [--seed S] [--parallel P]``: run the
chaos soak from a shell and print its summary and every violation (dev/test tooling only).

The soak test (``tests/integration/soak/test_money_soak.py``) is the usual way in; this entry
point is for replaying a trial named in a violation (``--seed <its seed> 1``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tradefleet_devtools.soak.runner import first_seed_from_env, run_soak, trials_from_env
from tradefleet_devtools.soak.summary import format_details, format_summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradefleet_devtools.soak")
    parser.add_argument("trials", type=int, nargs="?", default=trials_from_env())
    parser.add_argument("--seed", type=int, default=first_seed_from_env())
    parser.add_argument("--parallel", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
