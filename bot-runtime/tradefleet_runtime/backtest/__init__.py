"""Backtesting and parameter optimization of the strategy plugins (research tools; needs numba).

* :mod:`~tradefleet_runtime.backtest.engine` — the event-driven backtester: bars (and L1
  books) through the live strategy, fusion and risk code (``run_backtest``);
* :mod:`~tradefleet_runtime.backtest.grid` — the numba grid engine for ``ema_rsi``, many
  parameter sets per call, trade-for-trade identical to the event-driven engine;
* :mod:`~tradefleet_runtime.backtest.search` — the objectives, random and Bayesian search;
* :mod:`~tradefleet_runtime.backtest.walk_forward` — walk-forward analysis of the search;
* :mod:`~tradefleet_runtime.backtest.optimize` — ``run_optimization_job`` for the operator's
  optimization Job;
* :mod:`~tradefleet_runtime.backtest.report` — summary table, equity/drawdown PNG, HTML;
* ``python -m tradefleet_runtime.backtest`` — the CLI.

Import the submodules directly; this package imports nothing on its own.
"""
