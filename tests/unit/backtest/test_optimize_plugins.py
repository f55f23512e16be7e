"""The optimization Job tunes the plugin the bot runs: the parameters that plugin reads, scored
by backtests of that plugin; a fusion bot, which runs none, has nothing to tune."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest
from tradefleet_runtime.backtest.data import synthetic_bars
from tradefleet_runtime.backtest.engine import run_backtest
from tradefleet_runtime.backtest.search import Objective, ObjectiveSpec, random_search, score_sets
from tradefleet_runtime.config import parse_runtime_config
from tradefleet_runtime.jobs import optimize as job
from tradefleet_runtime.strategies.parameters import StrategyParameters, spec_key
from tradefleet_runtime.strategies.registry import STRATEGIES

pytestmark = pytest.mark.unit

BARS = synthetic_bars(seed=4, n_bars=1_500)
OWN_KEYS = {
    "ema_rsi": {"emaFast", "emaSlow", "rsiPeriod", "rsiOverbought", "rsiOversold"},
    "mean_reversion": {
        "bollingerPeriod", "bollingerStdDev", "rsiPeriod", "rsiOverbought", "rsiOversold",
    },
    "momentum_breakout": {"breakoutLookback", "volumeWindow", "volumeSpikeMultiplier"},
}  # fmt: skip
TRADE_KEYS = {"stopLossPct", "takeProfitPct", "riskPerTradePct"}


def _config(strategy: str) -> Any:
    return parse_runtime_config(
        {
            "apiVersion": "tradefleet.io/v1alpha1",
            "kind": "RuntimeConfig",
            "bot": {"name": "tuned", "namespace": "trading"},
            "exchange": {
                "id": "binance",
                "market": "futures",
                "symbol": "BTC/USDT:USDT",
                "mode": "paper",
                "liveTradingOptIn": False,
                "baseUrl": None,
                "credentials": None,
            },
            "strategy": {"name": strategy, "timeframe": "1m"},
            "risk": {},
            "signalSources": [],
            "redis": {"url": "redis://redis:6379/0", "keyPrefix": "tradefleet:bot:trading:t"},
            "api": {"port": 8080, "controlTokenEnv": "TRADEFLEET_CONTROL_TOKEN"},
            "heartbeatTimeoutSeconds": 30,
            "optimizer": {"objective": "pnl", "trials": 12, "minTrades": 1},
        }
    )


@pytest.mark.parametrize("strategy", sorted(OWN_KEYS))
def test_the_job_tunes_what_the_bots_plugin_reads(strategy: str) -> None:
    result = job.optimize(config=_config(strategy), bars=BARS, seed=5)
    assert result.best_parameters is not None, result.reason
    assert set(result.best_parameters) == OWN_KEYS[strategy] | TRADE_KEYS
    assert set(result.current_parameters) == OWN_KEYS[strategy] | TRADE_KEYS


@pytest.mark.parametrize("strategy", ["mean_reversion", "momentum_breakout"])
def test_a_plugins_trials_are_backtests_of_that_plugin(strategy: str) -> None:
    result = job.optimize(config=_config(strategy), bars=BARS, seed=5)
    assert result.best_parameters is not None and result.best_out_of_sample is not None
    best = StrategyParameters.from_spec(result.best_parameters)
    # The held-out score is that plugin's own event-driven backtest from the first test bar.
    replayed = run_backtest(
        bars=BARS, strategy_name=strategy, parameters=best, start_index=result.train_bars
    )
    assert result.best_out_of_sample.metrics == replayed.metrics
    # And not what EMA/RSI would have scored with the same parameters.
    (as_ema_rsi,) = score_sets(
        bars=BARS,
        parameter_sets=[best],
        spec=ObjectiveSpec(objective=Objective.PNL, min_trades=0),
        config=replayed.config,
        start_index=result.train_bars,
        min_trades=0,
    )
    assert as_ema_rsi.metrics != replayed.metrics


def test_trials_vary_only_the_tuned_fields() -> None:
    base = StrategyParameters(ema_fast=5, ema_slow=9)
    found = random_search(
        bars=BARS,
        trials=20,
        spec=ObjectiveSpec(objective=Objective.PNL, min_trades=0),
        seed=2,
        base=base,
        strategy_name="momentum_breakout",
    )
    tuned = set(STRATEGIES["momentum_breakout"].tuned_parameters)
    untouched = {spec_key(item.name) for item in fields(StrategyParameters)} - {
        spec_key(name) for name in tuned
    }
    for trial in found.trials:
        drawn = trial.parameters.to_spec()
        assert {key: drawn[key] for key in untouched} == {
            key: value for key, value in base.to_spec().items() if key in untouched
        }
    assert len({trial.parameters.breakout_lookback for trial in found.trials}) > 5


def test_a_fusion_bots_job_reports_nothing_to_tune() -> None:
    environ = {
        "TRADEFLEET_OPTIMIZER_JOB": "tuned-opt-1",
        "TRADEFLEET_OPTIMIZER_RESULT": "tuned-opt-1-result",
        "TRADEFLEET_OPTIMIZER_BASED_ON": "abc",
        "TRADEFLEET_OWNER_UID": "uid",
        "TRADEFLEET_OPTIMIZER_JOB_UID": "job-uid",
        "TRADEFLEET_OPTIMIZER_KEY": "key",
    }
    config_map = job.result_config_map(config=_config("fusion"), result=None, environ=environ)
    payload = json.loads(config_map["data"][job.RESULT_FILE])
    assert payload["beatsCurrentOutOfSample"] is False
    assert payload["bestParameters"] == {}
    assert payload["result"] is None
    assert "no strategy parameters to tune" in payload["summary"]
