"""On the stack exchange's cycle market, the optimization Job's search finds what the starting
parameters miss, in whatever window it is given.

This is the premise of the optimization e2e test (``tests/e2e/optimizer``): its outcome must not
depend on when it runs. The windows below are the ones the Job would fetch from the stack's
exchange started at various offsets within a minute and queried up to an hour after it started.
"""

from __future__ import annotations

import pytest
from support.optimization import (
    HISTORY_STEPS,
    OPTIMIZER,
    STARTING_PARAMETERS,
    STEP_MS,
    cycle_market,
    latest_bars,
)
from tradefleet_runtime.backtest.optimize import run_optimization_job

pytestmark = pytest.mark.unit

EPOCH_MS = 1_800_000_000_000
LATEST_QUERY_S = 3600


@pytest.mark.parametrize("start_offset_s", [0, 17, 38, 59])
def test_search_beats_the_starting_parameters_in_every_window(start_offset_s: int) -> None:
    epoch_ms = EPOCH_MS + start_offset_s * STEP_MS
    market = cycle_market(epoch_ms=epoch_ms, steps=HISTORY_STEPS + LATEST_QUERY_S)
    verdicts = []
    for elapsed_s in range(0, LATEST_QUERY_S, 211):
        bars = latest_bars(
            market=market,
            now_ms=epoch_ms + (HISTORY_STEPS + elapsed_s) * STEP_MS,
            count=OPTIMIZER["lookbackBars"],
        )
        assert len(bars) == OPTIMIZER["lookbackBars"]
        result = run_optimization_job(
            bars=bars,
            strategy_name="ema_rsi",
            current_parameters=STARTING_PARAMETERS,
            objective=OPTIMIZER["objective"],
            trials=OPTIMIZER["trials"],
            drawdown_penalty=0.5,
            min_trades=OPTIMIZER["minTrades"],
            seed=OPTIMIZER["seed"],
        )
        verdicts.append((elapsed_s, result.beats_current_out_of_sample, result.reason))
        # The starting parameters really are poor: they lose money on the held-out bars.
        assert result.current_out_of_sample.metrics.total_pnl < 0, result.reason
    missed = [verdict for verdict in verdicts if not verdict[1]]
    assert missed == [], f"{len(missed)}/{len(verdicts)} windows kept the starting parameters"
