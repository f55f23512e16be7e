"""Run the chaos soak: N trials, a few at a time in one event loop, each judged on its own.

Called by the soak test (``tests/integration/soak/test_money_soak.py``) and usable from a
shell (``python -m tradefleet_devtools.soak N``). Trial ``i`` draws its plan from seed
``first_seed + i``, so a trial named in a violation can be replayed alone with
``first_seed`` set to its seed and ``trials=1``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from tradefleet_devtools.soak.invariants import check_all
from tradefleet_devtools.soak.plan import PlanOptions, draw_plan
from tradefleet_devtools.soak.summary import (
    SoakReport,
    TrialOutcome,
    faults_injected,
    trading_done,
)
from tradefleet_devtools.soak.trial import run_trial

DEFAULT_TRIALS = 30
DEFAULT_FIRST_SEED = 20_251_204
TRIALS_ENV = "TRADEFLEET_SOAK"
SEED_ENV = "TRADEFLEET_SOAK_SEED"


def trials_from_env(environ: dict[str, str] | None = None) -> int:
    return int((environ if environ is not None else os.environ).get(TRIALS_ENV, DEFAULT_TRIALS))


def first_seed_from_env(environ: dict[str, str] | None = None) -> int:
    env = environ if environ is not None else os.environ
    return int(env.get(SEED_ENV, DEFAULT_FIRST_SEED))


def default_parallel() -> int:
    """Two trials per core: a trial mostly waits (leases, restarts, settling)."""
    return max(1, min(6, 2 * (os.cpu_count() or 1)))


async def run_soak(
    *,
    trials: int,
    workdir: Path,
    first_seed: int = DEFAULT_FIRST_SEED,
    parallel: int | None = None,
    options: PlanOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> SoakReport:
    """Run ``trials`` trials, ``parallel`` at a time; every trial is judged by every invariant."""
    width = parallel or default_parallel()
    gate = asyncio.Semaphore(width)
    begun = time.monotonic()

    async def one(index: int) -> TrialOutcome:
        async with gate:
            outcome = await _trial(
                index=index, seed=first_seed + index, workdir=workdir, options=options
            )
        if progress is not None:
            state = "error" if outcome.error else f"{len(outcome.violations)} violation(s)"
            progress(f"trial {index} (seed {outcome.seed}) {outcome.seconds:.0f}s: {state}")
        return outcome

    outcomes = await asyncio.gather(*(one(i) for i in range(trials)))
    return SoakReport(outcomes=tuple(outcomes), seconds=time.monotonic() - begun, parallel=width)


async def _trial(
    *, index: int, seed: int, workdir: Path, options: PlanOptions | None
) -> TrialOutcome:
    plan = draw_plan(trial=index, seed=seed, options=options)
    begun = time.monotonic()
    directory = workdir / f"trial-{index:04d}-{seed}"
    try:
        observation = await run_trial(plan=plan, workdir=directory)
        # Kept next to the runtimes' logs, to look into a violation afterwards.
        record = {"plan": asdict(plan), "observation": asdict(observation)}
        (directory / "observation.json").write_text(json.dumps(record, default=_jsonable))
    except Exception:
        return TrialOutcome(
            trial=index,
            seed=seed,
            seconds=time.monotonic() - begun,
            error=traceback.format_exc(limit=8),
        )
    return TrialOutcome(
        trial=index,
        seed=seed,
        seconds=time.monotonic() - begun,
        faults=faults_injected(observation),
        trading=trading_done(observation),
        violations=tuple(check_all(observation)),
    )


def _jsonable(value: object) -> object:
    if isinstance(value, frozenset | set):
        return sorted(str(v) for v in value)
    return str(value)
