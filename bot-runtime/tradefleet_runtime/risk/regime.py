"""Choice of the regime risk profile for one evaluation.

Called by ``RiskEngine.evaluate``. Precedence: a crash seen by the emergency layer selects
CRASH whatever the label; otherwise the signal engine's label is mapped (``regimeMap``, with
``strongMomentumRegimeMap`` taking over when momentum reaches ``strongMomentum``); a bot at
least ``recoveryDrawdownPct`` below its high-water mark then sizes as RECOVERY unless the
market profile is already more cautious (a smaller position multiplier).
"""

from __future__ import annotations

from tradefleet_runtime.risk.config import UNKNOWN_LABEL, RiskLimits, RiskRegime


def select_regime(
    *, limits: RiskLimits, label: str, momentum: float, crash: bool, drawdown_pct: float
) -> RiskRegime:
    if crash:
        return RiskRegime.CRASH
    regime = limits.regime_map.get(label, limits.regime_map[UNKNOWN_LABEL])
    if momentum >= limits.strong_momentum and label in limits.strong_momentum_regime_map:
        regime = limits.strong_momentum_regime_map[label]
    if drawdown_pct >= limits.recovery_drawdown_pct:
        profiles = limits.regime_profiles
        recovery = profiles[RiskRegime.RECOVERY]
        if recovery.position_multiplier <= profiles[regime].position_multiplier:
            return RiskRegime.RECOVERY
    return regime
