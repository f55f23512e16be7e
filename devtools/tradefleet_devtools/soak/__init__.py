"""The chaos soak of the runtime's money-safety guarantees (dev/test tooling only).

Runs a bot runtime (a real subprocess, real ccxt) against the local exchange and a Redis with
``appendfsync everysec``, trial after trial, with faults drawn at random from a seeded RNG:
exchange faults of every kind but the clock and authentication ones, SIGKILL of the runtime
at random moments (including between the exchange accepting an order and Redis recording it),
SIGKILL of Redis, a second runtime for the same bot, the exchange unreachable for a while.
After each trial the invariants of ``tradefleet_devtools.soak.invariants`` are checked from the
exchange's own ledger. Used by ``tests/integration/soak/test_money_soak.py``
(``TRADEFLEET_SOAK=N`` trials, 30 by default) and ``python -m tradefleet_devtools.soak N``.

Modules: ``plan`` (what a trial does, drawn), ``trial``/``world``/``steps`` (carrying it out),
``processes`` and ``market`` (runtimes, Redis, prices, the fault tap), ``evidence`` (what was
observed), ``invariants``/``books``/``spans`` (the pure checks), ``summary`` and ``runner``.
"""

from __future__ import annotations

from tradefleet_devtools.soak.invariants import Invariant, Violation, check_all
from tradefleet_devtools.soak.plan import PlanOptions, TrialPlan, draw_plan
from tradefleet_devtools.soak.runner import (
    DEFAULT_TRIALS,
    first_seed_from_env,
    run_soak,
    trials_from_env,
)
from tradefleet_devtools.soak.summary import SoakReport, format_details, format_summary

__all__ = [
    "DEFAULT_TRIALS",
    "Invariant",
    "PlanOptions",
    "SoakReport",
    "TrialPlan",
    "Violation",
    "check_all",
    "draw_plan",
    "first_seed_from_env",
    "format_details",
    "format_summary",
    "run_soak",
    "trials_from_env",
]
