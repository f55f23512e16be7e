"""The chaos soak of the runtime's money-safety guarantees: trials of a real runtime against
the local exchange and a Redis running ``appendfsync everysec``, with faults drawn at random.

Each trial (``tradefleet_devtools.soak``) kills the runtime at random moments (including
between the exchange accepting an order and Redis recording it), kills Redis, starts a second
runtime for the same bot, makes the exchange unreachable and injects the exchange's other
faults (all but ``auth_failure``, left out of the draw: an authentication failure halts a bot
for a human by design),
then lets the bot settle and checks the invariants from the exchange's own ledger: at most
one order per decision, position equals the sum of fills, every open position protected
within 2 s, no orphan orders, no order sent by a fenced runtime, reported equity matches the
account, and the bot settles once faults clear (definitions in
``tradefleet_devtools.soak.invariants``).

``TRADEFLEET_SOAK=N`` runs N trials (30 by default, what CI runs); trial ``i`` draws its plan
from seed ``TRADEFLEET_SOAK_SEED`` (default 20251204) plus ``i``, so
``TRADEFLEET_SOAK_SEED=<seed of a failed trial> TRADEFLEET_SOAK=1`` replays it alone.
The summary (trials, faults injected by kind, violations by invariant) is always printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tradefleet_devtools.soak import (
    first_seed_from_env,
    format_details,
    format_summary,
    run_soak,
    trials_from_env,
)

TRIALS = trials_from_env()

pytestmark = [pytest.mark.integration, pytest.mark.soak]


@pytest.mark.timeout(600 + 60 * TRIALS)
async def test_money_safety_holds_under_random_faults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = await run_soak(trials=TRIALS, workdir=tmp_path, first_seed=first_seed_from_env())
    summary = format_summary(report)
    with capsys.disabled():
        print(f"\nchaos soak ({tmp_path}):\n{summary}")
    assert not report.violations and not report.errors, f"{summary}\n{format_details(report)}"
