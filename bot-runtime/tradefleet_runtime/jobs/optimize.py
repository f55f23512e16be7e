"""The optimization Job: ``python -m tradefleet_runtime optimize``.

Started by the Job the operator creates for ``spec.optimizer`` (schedule or the
``tradefleet.io/optimize-now`` annotation). It reads the bot's rendered config, fetches
``lookbackBars`` recent candles from the bot's exchange, runs
:func:`~tradefleet_runtime.backtest.optimize.run_optimization_job` on the bot's strategy plugin
(search of the parameters it reads on the older bars, verdict on the held-out newer ones; a
fusion bot runs no plugin and has none to tune), and writes the result as a ConfigMap the
operator reads: a result that beats the running parameters out of sample becomes the bot's next
revision. A bot
that weights the ``ml`` fusion input also gets its ML ensemble trained on the same candles and
stored in Redis (:mod:`tradefleet_runtime.persistence.ml_models`), where its runtime loads it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tradefleet_runtime.backtest.data import BarSeries
from tradefleet_runtime.backtest.optimize import OptimizationResult, run_optimization_job
from tradefleet_runtime.config import RuntimeConfig
from tradefleet_runtime.execution.venue import CcxtVenue, VenueMode, ccxt_exchange_id
from tradefleet_runtime.persistence.ml_models import MlModelStore
from tradefleet_runtime.persistence.store import RedisLogin, StateStoreError, redis_client
from tradefleet_runtime.signals.errors import SignalError
from tradefleet_runtime.signals.ml_ensemble import SIGNAL_NAME as ML_SIGNAL
from tradefleet_runtime.signals.ml_ensemble import MlConfig, technical_features, train_ensemble
from tradefleet_runtime.strategies.registry import FUSION_ONLY

LOG = logging.getLogger("tradefleet_runtime.optimize")
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
RESULT_FILE = "result.json"
# The operator adopts a result only with this HMAC (tradefleet_operator.optimizer.result_digest).
ANNOTATION_RESULT_DIGEST = "tradefleet.io/optimizer-digest"


class OptimizeJobError(RuntimeError):
    """The Job cannot run: missing environment, no candles, or the apiserver refused the result."""


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name)
    if not value:
        raise OptimizeJobError(
            f"environment variable {name} is not set (the operator's Job sets it)"
        )
    return value


async def fetch_bars(*, config: RuntimeConfig, bars: int) -> BarSeries:
    """The bot's ``bars`` most recent candles at its strategy timeframe."""
    exchange = config.exchange
    venue = CcxtVenue(
        exchange_id=ccxt_exchange_id(exchange=exchange.exchange, market=exchange.market.value),
        mode=VenueMode.MARKET_DATA,
        base_url_override=exchange.base_url,
    )
    try:
        await venue.load_markets()
        candles = await venue.fetch_ohlcv(
            symbol=exchange.symbol, timeframe=config.strategy.timeframe, limit=bars
        )
    finally:
        await venue.close()
    if len(candles) < 2:
        raise OptimizeJobError(
            f"{exchange.exchange} returned {len(candles)} candles for {exchange.symbol}"
        )
    return BarSeries(
        timestamp_ms=np.array([c.timestamp_ms for c in candles], dtype=np.int64),
        open=np.array([c.open for c in candles], dtype=np.float64),
        high=np.array([c.high for c in candles], dtype=np.float64),
        low=np.array([c.low for c in candles], dtype=np.float64),
        close=np.array([c.close for c in candles], dtype=np.float64),
        volume=np.array([c.volume for c in candles], dtype=np.float64),
        bar_seconds=config.strategy.bar_seconds,
    )


# What a fusion-only bot's Job reports: it runs no plugin, so there are no parameters to tune.
NO_PLUGIN_SUMMARY = (
    "a fusion bot runs no strategy plugin, so it has no strategy parameters to tune "
    "(with spec.strategy.fusionWeights.ml above 0 the Job trains its ML ensemble)"
)


def optimize(*, config: RuntimeConfig, bars: BarSeries, seed: int) -> OptimizationResult:
    settings: Mapping[str, Any] = config.document.get("optimizer") or {}
    return run_optimization_job(
        bars=bars,
        strategy_name=config.strategy.name,
        current_parameters=dict(config.strategy.parameters),
        objective=str(settings.get("objective", "sharpe")),
        trials=int(settings.get("trials", 60)),
        drawdown_penalty=float(settings.get("drawdownPenalty", 0.5)),
        min_trades=int(settings.get("minTrades", 5)),
        seed=seed,
    )


def result_digest(*, key: str, job: str, job_uid: str, payload: str) -> str:
    """HMAC-SHA256, keyed by the bot's control token, of the Job's name and UID and the result."""
    message = f"{job}\n{job_uid}\n{payload}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def result_config_map(
    *, config: RuntimeConfig, result: OptimizationResult | None, environ: Mapping[str, str]
) -> dict[str, Any]:
    """The ConfigMap the operator reads (labels and key as ``tradefleet_operator.render`` expects);
    ``result`` None: the bot runs no plugin, nothing was searched."""
    job = _required(environ, "TRADEFLEET_OPTIMIZER_JOB")
    bot = config.bot_name
    payload = {
        "job": job,
        "beatsCurrentOutOfSample": result is not None and result.beats_current_out_of_sample,
        "basedOnParameters": _required(environ, "TRADEFLEET_OPTIMIZER_BASED_ON"),
        "bestParameters": dict(result.best_parameters or {}) if result is not None else {},
        "summary": NO_PLUGIN_SUMMARY
        if result is None
        else f"{result.reason} (seed {result.seed}, {result.valid_trials}/{result.trials} "
        "trials valid)",
        "result": result.to_dict() if result is not None else None,
    }
    data = json.dumps(payload, sort_keys=True)
    job_uid = _required(environ, "TRADEFLEET_OPTIMIZER_JOB_UID")
    digest = result_digest(
        key=_required(environ, "TRADEFLEET_OPTIMIZER_KEY"), job=job, job_uid=job_uid, payload=data
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": _required(environ, "TRADEFLEET_OPTIMIZER_RESULT"),
            "annotations": {ANNOTATION_RESULT_DIGEST: digest},
            "namespace": config.namespace,
            "labels": {
                "app.kubernetes.io/name": "tradefleet-bot",
                "app.kubernetes.io/instance": bot,
                "app.kubernetes.io/managed-by": "tradefleet-operator",
                "tradefleet.io/bot": bot,
                "tradefleet.io/optimizer-result": "true",
            },
            "ownerReferences": [
                {
                    "apiVersion": "tradefleet.io/v1alpha1",
                    "kind": "TradingBot",
                    "name": bot,
                    "uid": _required(environ, "TRADEFLEET_OWNER_UID"),
                },
                # Owned by the Job too: the operator trusts only its own Jobs' results.
                {"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": job_uid},
            ],
        },
        "data": {RESULT_FILE: data},
    }


def publish(*, body: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """Create the result ConfigMap through the in-cluster API with the Job's service account."""
    host = _required(environ, "KUBERNETES_SERVICE_HOST")
    port = environ.get("KUBERNETES_SERVICE_PORT", "443")
    token = (SERVICE_ACCOUNT / "token").read_text().strip()
    context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    namespace = body["metadata"]["namespace"]
    answer = httpx.post(
        f"https://{host}:{port}/api/v1/namespaces/{namespace}/configmaps",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        verify=context,
        timeout=30,
    )
    if answer.status_code == 409:
        LOG.info("result %s already exists (Job retried)", body["metadata"]["name"])
        return
    if answer.status_code >= 400:
        raise OptimizeJobError(
            f"apiserver refused the result: {answer.status_code} {answer.text[:300]}"
        )


async def run_job(
    *, config: RuntimeConfig, environ: Mapping[str, str] = os.environ
) -> OptimizationResult | None:
    """Fetch the candles, search the bot's plugin's parameters (none for a fusion bot), publish
    the result, and train the ML ensemble when the bot weights it."""
    lookback = int((config.document.get("optimizer") or {}).get("lookbackBars", 2000))
    bars = await fetch_bars(config=config, bars=lookback)
    seed_text = _required(environ, "TRADEFLEET_OPTIMIZER_SEED")
    try:
        seed = int(seed_text)
    except ValueError:
        raise OptimizeJobError(
            f"TRADEFLEET_OPTIMIZER_SEED must be an integer, got {seed_text!r}"
        ) from None
    result: OptimizationResult | None = None
    if config.strategy.name == FUSION_ONLY:
        LOG.info("no optimization: %s", NO_PLUGIN_SUMMARY)
    else:
        result = optimize(config=config, bars=bars, seed=seed)
        LOG.info(
            "optimization of %s on %d candles: %s the running parameters out of sample (%s)",
            config.strategy.name,
            len(bars.close),
            "beats" if result.beats_current_out_of_sample else "does not beat",
            result.reason,
        )
    publish(body=result_config_map(config=config, result=result, environ=environ), environ=environ)
    if config.strategy.fusion_weights.get(ML_SIGNAL, 0.0) > 0.0:
        await train_ml_ensemble(config=config, bars=bars, environ=environ)
    return result


async def train_ml_ensemble(
    *, config: RuntimeConfig, bars: BarSeries, environ: Mapping[str, str]
) -> int:
    """Train the bot's ML ensemble on ``bars`` (walk-forward scored) and store it where the
    bot's runtime loads it at its next bar; returns the stored version."""
    ml_config = MlConfig()
    try:
        features = technical_features(
            high=bars.high, low=bars.low, close=bars.close, volume=bars.volume, config=ml_config
        )
        ensemble = await asyncio.to_thread(
            train_ensemble, features=features, close=bars.close, config=ml_config
        )
    except SignalError as error:
        raise OptimizeJobError(
            f"ML ensemble not trained on {len(bars.close)} candles: {error} "
            "(spec.optimizer.lookbackBars sets how many candles it reads)"
        ) from None
    redis = redis_client(
        url=config.redis.url, login=RedisLogin.from_environ(environ), timeout_s=10.0
    )
    try:
        version = await MlModelStore(redis=redis, prefix=config.redis.key_prefix).save(
            ensemble=ensemble, trained_by=_required(environ, "TRADEFLEET_OPTIMIZER_JOB")
        )
    except StateStoreError as error:
        raise OptimizeJobError(str(error)) from None
    finally:
        await redis.aclose()
    LOG.info(
        "ML ensemble v%d trained on %d rows: walk-forward accuracy %.1f%% (folds %s)",
        version,
        ensemble.trained_rows,
        100 * ensemble.walk_forward_accuracy,
        ", ".join(f"{100 * accuracy:.1f}%" for accuracy in ensemble.fold_accuracies),
    )
    return version
