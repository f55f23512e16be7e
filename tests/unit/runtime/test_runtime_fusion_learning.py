"""Fusion learning in the runtime: spec.strategy.fusionLearning parsed (off by default), the
bot learning at each closed bar from the signals it fused, the learned weights in /status, in
the tradefleet_bot_fusion_weight gauge and in Redis, and taken up again after a restart."""

from __future__ import annotations

import copy
import random
from types import SimpleNamespace
from typing import Any

import pytest
from test_runtime_config import RENDERED
from tradefleet_runtime.config import (
    RuntimeConfig,
    parse_runtime_config,
)
from tradefleet_runtime.document import ConfigError
from tradefleet_runtime.execution.model import Candle
from tradefleet_runtime.persistence.store import Flags, PersistedState
from tradefleet_runtime.service.bot import BotService
from tradefleet_runtime.service.read_view import BotReadView
from tradefleet_runtime.signals.learning import LearnerState
from tradefleet_runtime.signals.reading import SignalReading
from tradefleet_runtime.signals.regime_config import RegimeTradingParams

pytestmark = pytest.mark.unit

BAR_MS = 300_000  # RENDERED decides on 5m bars
LEARNING = {"enabled": True, "halfLifeBars": 10, "maxStepPerUpdate": 0.02, "floor": 0.05}
PARAMS = RegimeTradingParams(position_size_multiplier=1.0, stop_loss_pct=1.0, take_profit_pct=2.0)


def _config(learning: dict[str, Any] | None) -> RuntimeConfig:
    document = copy.deepcopy(RENDERED)
    document["exchange"].update(mode="paper", credentials=None)
    if learning is not None:
        document["strategy"]["fusionLearning"] = learning
    return parse_runtime_config(document)


def _service(learning: dict[str, Any] | None) -> tuple[BotService, list[dict[str, object]]]:
    service = BotService(config=_config(learning), environ={})
    saved: list[dict[str, object]] = []

    async def save(state: dict[str, object]) -> None:
        saved.append(state)

    service.store.save_fusion_learning = save  # type: ignore[method-assign,assignment]
    return service, saved


async def _trade_bars(service: BotService, *, bars: int) -> None:
    """Each bar: a decision just before its close fuses a predictive ``ofi`` and a noisy
    ``regime``; the bar closes; the next bar's return follows ``ofi``."""
    rng = random.Random(3)
    price = 100.0
    for index in range(1, bars + 1):
        close_ms = index * BAR_MS
        ofi = rng.uniform(-1.0, 1.0)
        readings = [
            SignalReading(name="ofi", value=ofi, confidence=1.0, as_of_ms=close_ms - 1),
            SignalReading(
                name="regime", value=rng.uniform(-1, 1), confidence=1.0, as_of_ms=close_ms - 1
            ),
        ]
        fused = service.fusion.fuse(
            symbol=service.symbol, readings=readings, regime_params=PARAMS, now_ms=close_ms - 1
        )
        service.last_decision = SimpleNamespace(fused=fused)  # type: ignore[assignment]
        service.market.bars.add(
            Candle(
                timestamp_ms=close_ms - BAR_MS,
                open=price,
                high=price * 1.001,
                low=price * 0.999,
                close=price,
                volume=1.0,
            )
        )
        await service._learn_at_bar_close()
        price *= 1.0 + 0.003 * ofi + rng.gauss(0.0, 0.0005)


def test_learning_is_off_unless_enabled_and_bounded() -> None:
    assert _config(None).strategy.fusion_learning.enabled is False
    settings = _config(LEARNING).strategy.fusion_learning
    assert (settings.enabled, settings.half_life_bars, settings.floor) == (True, 10, 0.05)
    assert settings.horizon_bars == 1
    with pytest.raises(ConfigError, match="floor"):
        _config({"enabled": True, "floor": 0.0})
    with pytest.raises(ConfigError, match="halfLifeBars"):
        _config({"enabled": True, "halfLifeBars": 0})


async def test_disabled_the_bot_fuses_with_the_configured_weights_exactly() -> None:
    service, saved = _service(None)
    await _trade_bars(service, bars=40)
    status = BotReadView(service=service).status()
    assert status["fusionWeights"] == dict(service.config.strategy.fusion_weights)
    assert status["fusionLearning"]["enabled"] is False  # type: ignore[index]
    assert status["fusionLearning"]["updates"] == 0  # type: ignore[index]
    assert saved == []


async def test_enabled_the_learned_weights_drive_fusion_and_show_in_status_and_metrics() -> None:
    service, saved = _service(LEARNING)
    await _trade_bars(service, bars=120)
    status = BotReadView(service=service).status()
    weights = status["fusionWeights"]
    learning = status["fusionLearning"]
    assert learning["enabled"] is True  # type: ignore[index]
    assert learning["updates"] == 119  # type: ignore[index]
    assert learning["ic"]["ofi"] > 0.8  # type: ignore[index]
    assert weights["ofi"] > 0.4  # type: ignore[index]
    assert weights["regime"] == pytest.approx(0.05)  # type: ignore[index]
    assert sum(weights.values()) == pytest.approx(1.0)  # type: ignore[attr-defined]
    assert service.pipeline.fusion is service.fusion
    assert dict(service.fusion.config.weights) == weights
    metrics = service.metrics.render().decode()
    assert "tradefleet_bot_fusion_weight{" in metrics
    ofi_line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("tradefleet_bot_fusion_weight{") and 'signal="ofi"' in line
    )
    assert float(ofi_line.rsplit(" ", 1)[1]) == pytest.approx(weights["ofi"])  # type: ignore[index]
    assert saved[-1] == service.fusion_weights.state.to_dict()  # type: ignore[union-attr]

    # A restart takes up the saved state: same weights, and learning goes on from there.
    restarted, _ = _service(LEARNING)
    restarted._restore(
        PersistedState(
            flags=Flags(),
            epoch=None,
            sequence=0,
            unresolved=(),
            position=None,
            balance=None,
            portfolio=None,
            breaker=None,
            last_decision=None,
            fusion_learning=saved[-1],
        )
    )
    assert dict(restarted.fusion.config.weights) == weights
    assert restarted.pipeline.fusion is restarted.fusion
    assert restarted.fusion_weights.state == LearnerState.from_dict(
        saved[-1],
        config=restarted.fusion_weights._config,  # type: ignore[arg-type]
    )


async def test_a_reload_keeps_what_was_learned_unless_the_learning_changes() -> None:
    service, _ = _service(LEARNING)
    await _trade_bars(service, bars=60)
    learned = dict(service.fusion.config.weights)
    state = service.fusion_weights.state
    document = copy.deepcopy(dict(service.config.document))
    document["strategy"]["thresholds"] = {"buy": 0.3, "strongBuy": 0.6}
    service._apply_config(parse_runtime_config(document))
    assert service.fusion_weights.state is state
    assert dict(service.pipeline.fusion.config.weights) == learned
    assert service.pipeline.fusion.config.buy_threshold == 0.3
    document["strategy"]["fusionLearning"] = {**LEARNING, "maxStepPerUpdate": 0.05}
    service._apply_config(parse_runtime_config(document))
    assert service.fusion_weights.state is not None
    assert service.fusion_weights.state.updates == 0
    assert dict(service.pipeline.fusion.config.weights) == dict(
        service.config.strategy.fusion_weights
    )
