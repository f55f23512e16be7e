"""The strategy plugins: their rules on hand-made bars, regime switching, registry, fusion input."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from tradefleet_runtime.signals.fusion import AlphaFusion, FusedAction, FusionConfig
from tradefleet_runtime.signals.regime_config import RegimeTradingParams
from tradefleet_runtime.strategies import (
    STRATEGIES,
    Bar,
    StrategyAction,
    StrategyConfigError,
    StrategyDataError,
    StrategyParameters,
    StrategySignal,
    create_strategy,
)
from tradefleet_runtime.strategies.ema_rsi import (
    NO_SIGNAL,
    OVERBOUGHT_SHORT,
    OVERSOLD_LONG,
    TREND_LONG,
    TREND_SHORT,
    ema_rsi_rule,
)
from tradefleet_runtime.strategies.regime_adaptive import RegimeAdaptiveStrategy

pytestmark = pytest.mark.unit


def closes_to_bars(
    closes: Sequence[float],
    *,
    volumes: Sequence[float] | None = None,
    regimes: Sequence[str | None] | None = None,
) -> list[Bar]:
    """Bars whose open is the previous close and whose range just covers open and close."""
    bars = []
    previous = closes[0]
    for index, close in enumerate(closes):
        bars.append(
            Bar(
                timestamp_ms=index * 60_000,
                open=previous,
                high=max(previous, close),
                low=min(previous, close),
                close=close,
                volume=volumes[index] if volumes is not None else 1.0,
                regime=regimes[index] if regimes is not None else None,
            )
        )
        previous = close
    return bars


@pytest.mark.parametrize(
    ("fast", "slow", "rsi", "expected"),
    [
        (101.0, 100.0, 60.0, TREND_LONG),  # trend up, RSI not stretched
        (99.0, 100.0, 40.0, TREND_SHORT),  # trend down, RSI not stretched
        (101.0, 100.0, 75.0, OVERBOUGHT_SHORT),  # trend up but RSI above 70: fade it
        (99.0, 100.0, 25.0, OVERSOLD_LONG),  # trend down but RSI below 30: fade it
        (100.0, 100.0, 50.0, NO_SIGNAL),  # no trend, no extreme
        (100.0, 100.0, 20.0, OVERSOLD_LONG),  # no trend, RSI extreme
        (math.nan, 100.0, 20.0, NO_SIGNAL),  # an indicator still warming up
    ],
)
def test_ema_rsi_rule(fast: float, slow: float, rsi: float, expected: int) -> None:
    assert ema_rsi_rule(fast, slow, rsi, 70.0, 30.0) == expected


def test_ema_rsi_strategy_holds_while_warming_up_then_fades_and_follows() -> None:
    strategy = create_strategy(
        name="ema_rsi",
        parameters={"emaFast": 2, "emaSlow": 3, "rsiPeriod": 2, "rsiOverbought": 85},
    )
    signals = [strategy.on_bar(bar) for bar in closes_to_bars([100, 102, 104, 105, 104])]
    assert [signal.action for signal in signals[:2]] == [StrategyAction.HOLD] * 2
    assert "warming up" in signals[0].reason
    # Bar 2: EMA2 103 > EMA3 102, but RSI(2) = 100 > 85: the overbought fallback.
    assert signals[2].action is StrategyAction.SELL
    assert signals[2].value == -0.5
    assert signals[2].confidence == pytest.approx(1.0)  # RSI at 100 is as extreme as it gets
    assert "fallback short" in signals[2].reason
    # Bar 4: EMA2 104.11 > EMA3 103.75 and RSI 60 < 85: trend long.
    assert signals[4].action is StrategyAction.BUY
    assert signals[4].value == 1.0
    assert 0.0 < signals[4].confidence <= 1.0
    assert "trend long" in signals[4].reason


MEAN_REVERSION = {"bollingerPeriod": 5, "bollingerStdDev": 1.5, "rsiPeriod": 2}


def test_mean_reversion_buys_a_close_below_the_band_with_rsi_oversold() -> None:
    closes = [100.0, 101.0, 100.0, 101.0, 100.0, 94.0]
    strategy = create_strategy(name="mean_reversion", parameters=MEAN_REVERSION)
    signals = [strategy.on_bar(bar) for bar in closes_to_bars(closes)]
    window = np.array(closes[-5:])
    z_score = (94.0 - window.mean()) / window.std()  # −1.97, past the 1.5 band
    # RSI(2): changes +1, −1 seed gain 0.5 / loss 0.5; +1 → 0.75 / 0.25; −1 → 0.375 / 0.625;
    # −6 → 0.1875 / 3.3125 → RSI = 100 · 0.1875 / 3.5.
    rsi = 100.0 * 0.1875 / 3.5
    signal = signals[-1]
    assert signal.action is StrategyAction.BUY
    assert signal.value == pytest.approx(-z_score / 3.0)
    assert signal.confidence == pytest.approx(0.5 + 0.5 * (30.0 - rsi) / 30.0)
    assert all(previous.action is StrategyAction.HOLD for previous in signals[:-1])


def test_mean_reversion_needs_rsi_to_confirm_the_band_break() -> None:
    strategy = create_strategy(
        name="mean_reversion", parameters={**MEAN_REVERSION, "rsiOversold": 3}
    )
    signals = [strategy.on_bar(bar) for bar in closes_to_bars([100, 101, 100, 101, 100, 94])]
    assert signals[-1].action is StrategyAction.HOLD
    assert "no band break confirmed by RSI" in signals[-1].reason


def test_mean_reversion_sells_a_spike_above_the_band() -> None:
    strategy = create_strategy(name="mean_reversion", parameters=MEAN_REVERSION)
    signals = [strategy.on_bar(bar) for bar in closes_to_bars([100, 99, 100, 99, 100, 106])]
    assert signals[-1].action is StrategyAction.SELL
    assert signals[-1].value < 0.0


BREAKOUT = {"breakoutLookback": 3, "volumeWindow": 3, "volumeSpikeMultiplier": 1.5}


@pytest.mark.parametrize(
    ("last_close", "last_volume", "action", "reason"),
    [
        (103.0, 3.0, StrategyAction.BUY, "above the 3-bar channel 101.5 on volume 3.00×"),
        (103.0, 1.2, StrategyAction.HOLD, "without volume confirmation"),
        (97.0, 2.0, StrategyAction.SELL, "below the 3-bar channel 99"),
        (100.5, 5.0, StrategyAction.HOLD, "inside the channel"),
    ],
)
def test_momentum_breakout_needs_a_volume_spike(
    last_close: float, last_volume: float, action: StrategyAction, reason: str
) -> None:
    # Channel of bars 1–3 (the breakout bar excluded): highs 101.5, lows 99; mean volume 1.
    closes = [100.0, 101.0, 99.0, 101.5, last_close]
    strategy = create_strategy(name="momentum_breakout", parameters=BREAKOUT)
    signals = [
        strategy.on_bar(bar)
        for bar in closes_to_bars(closes, volumes=[1.0, 1.0, 1.0, 1.0, last_volume])
    ]
    assert [signal.action for signal in signals[:4]] == [StrategyAction.HOLD] * 4
    assert signals[-1].action is action
    assert reason in signals[-1].reason
    if action is not StrategyAction.HOLD:
        assert signals[-1].confidence == pytest.approx(min(1.0, last_volume / 3.0))


def test_regime_adaptive_follows_the_strategy_assigned_to_each_bar_regime() -> None:
    rng = np.random.default_rng(11)
    closes = (100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 300)))).tolist()
    volumes = rng.uniform(0.5, 3.0, 300).tolist()
    labels = ["bullish_calm", "bearish_volatile", "squeeze", None]
    regimes = [labels[(index // 25) % 4] for index in range(300)]
    parameters = StrategyParameters(
        ema_fast=3, ema_slow=8, rsi_period=5, bollinger_period=10, breakout_lookback=5
    )
    adaptive = create_strategy(name="regime_adaptive", parameters=parameters)
    alone = {name: create_strategy(name=name, parameters=parameters) for name in STRATEGIES}
    expected_by_label = {
        "bullish_calm": "ema_rsi",
        "bearish_volatile": "momentum_breakout",
        "squeeze": "mean_reversion",
        None: "ema_rsi",
    }
    seen_actions = set()
    for bar in closes_to_bars(closes, volumes=volumes, regimes=regimes):
        signal = adaptive.on_bar(bar)
        solo = {
            name: strategy.on_bar(bar)
            for name, strategy in alone.items()
            if name != "regime_adaptive"
        }[expected_by_label[bar.regime]]
        assert (signal.action, signal.value, signal.confidence) == (
            solo.action,
            solo.value,
            solo.confidence,
        )
        assert signal.strategy == "regime_adaptive"
        assert signal.reason.startswith(f"regime {bar.regime or 'unknown'} → ")
        seen_actions.add(signal.action)
    assert seen_actions == set(StrategyAction)


def test_regime_adaptive_refuses_unknown_labels_and_bad_assignments() -> None:
    strategy = create_strategy(name="regime_adaptive")
    with pytest.raises(StrategyDataError, match="regime 'sideways'"):
        strategy.on_bar(closes_to_bars([100.0], regimes=["sideways"])[0])
    with pytest.raises(StrategyConfigError, match="must assign the 'unknown' regime"):
        RegimeAdaptiveStrategy(
            parameters=StrategyParameters(), regime_strategies={"squeeze": "ema_rsi"}
        )
    with pytest.raises(StrategyConfigError, match="assigned 'regime_adaptive'"):
        RegimeAdaptiveStrategy(
            parameters=StrategyParameters(), regime_strategies={"unknown": "regime_adaptive"}
        )


def test_the_registry_names_every_plugin_and_explains_fusion() -> None:
    assert set(STRATEGIES) == {"ema_rsi", "mean_reversion", "momentum_breakout", "regime_adaptive"}
    for name in STRATEGIES:
        strategy = create_strategy(name=name, parameters={"emaFast": 5, "emaSlow": 9})
        assert strategy.name == name
        assert strategy.parameters.ema_fast == 5
        assert strategy.warmup_bars >= 9
    with pytest.raises(StrategyConfigError, match="fusion-only bots run no strategy plugin"):
        create_strategy(name="fusion")
    with pytest.raises(StrategyConfigError, match="'grid' is not a strategy plugin"):
        create_strategy(name="grid")
    with pytest.raises(StrategyConfigError, match="emaSlow"):
        create_strategy(name="ema_rsi", parameters={"emaSlow": 0})


def test_a_strategy_signal_joins_fusion_as_a_weighted_component() -> None:
    signal = StrategySignal(
        strategy="ema_rsi",
        action=StrategyAction.BUY,
        value=1.0,
        confidence=0.8,
        reason="trend long",
        as_of_ms=1_000,
    )
    reading = signal.as_reading()
    assert (reading.name, reading.value, reading.confidence) == ("strategy", 1.0, 0.8)
    fusion = AlphaFusion(config=FusionConfig(weights={"strategy": 0.6, "regime": 0.4}))
    fused = fusion.fuse(
        symbol="BTC/USDT",
        readings=[reading],
        regime_params=RegimeTradingParams(
            position_size_multiplier=1.0, stop_loss_pct=1.0, take_profit_pct=2.0
        ),
        now_ms=2_000,
    )
    # Only the strategy is fresh: score = 1.0 · 0.8 (weights renormalised), confidence 0.6 · 0.8.
    assert fused.score == pytest.approx(0.8)
    assert fused.signal is FusedAction.STRONG_BUY
    assert fused.confidence == pytest.approx(0.48)
    assert any("strategy ema_rsi buy: trend long" in line for line in fused.reasoning)


@pytest.mark.parametrize(
    ("action", "value", "confidence", "message"),
    [
        (StrategyAction.BUY, -0.5, 0.5, "a buy signal cannot have value -0.5"),
        (StrategyAction.HOLD, 0.2, 0.5, "a hold signal cannot have value 0.2"),
        (StrategyAction.SELL, -1.5, 0.5, r"value must be in \[-1, 1\]"),
        (StrategyAction.SELL, -0.5, 1.5, r"confidence must be in \[0, 1\]"),
    ],
)
def test_inconsistent_signals_are_refused(
    action: StrategyAction, value: float, confidence: float, message: str
) -> None:
    with pytest.raises(StrategyDataError, match=message):
        StrategySignal(
            strategy="x", action=action, value=value, confidence=confidence, reason="", as_of_ms=0
        )


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ((100.0, 101.0, 99.0, math.nan), "finite and > 0"),
        ((100.0, 99.0, 98.0, 98.5), "low <= open, close <= high"),
    ],
)
def test_bad_bars_are_refused(prices: tuple[float, float, float, float], message: str) -> None:
    open_, high, low, close = prices
    with pytest.raises(StrategyDataError, match=message):
        Bar(timestamp_ms=0, open=open_, high=high, low=low, close=close, volume=1.0)
