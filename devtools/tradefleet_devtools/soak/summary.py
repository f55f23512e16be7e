"""The soak's result and its printout: trials, faults injected by kind, violations by invariant.

The soak runner (``tradefleet_devtools.soak.runner``) builds a ``SoakReport`` from its trials;
the soak test (``tests/integration/soak``) prints ``format_summary`` and fails with the
violations it lists. Pure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from tradefleet_devtools.soak.evidence import TrialObservation
from tradefleet_devtools.soak.invariants import Invariant, Violation

NOT_INJECTED = frozenset({"runtime exit"})


@dataclass(frozen=True, kw_only=True, slots=True)
class TrialOutcome:
    """One trial: how long it took, what was injected, what broke (``error``: the harness
    could not carry it out)."""

    trial: int
    seed: int
    seconds: float
    faults: tuple[tuple[str, int], ...] = ()
    trading: tuple[tuple[str, int], ...] = ()
    violations: tuple[Violation, ...] = ()
    error: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SoakReport:
    outcomes: tuple[TrialOutcome, ...]
    seconds: float
    parallel: int

    @property
    def violations(self) -> tuple[Violation, ...]:
        return tuple(v for o in self.outcomes for v in o.violations)

    @property
    def errors(self) -> tuple[TrialOutcome, ...]:
        return tuple(o for o in self.outcomes if o.error is not None)

    def faults(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for outcome in self.outcomes:
            total.update(dict(outcome.faults))
        return total

    def trading(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for outcome in self.outcomes:
            total.update(dict(outcome.trading))
        return total


def faults_injected(obs: TrialObservation) -> tuple[tuple[str, int], ...]:
    """Faults the exchange applied (by fault kind) and what the harness did (by action)."""
    counts: Counter[str] = Counter(hit.kind for hit in obs.fault_hits)
    counts.update(a.kind for a in obs.actions if a.kind not in NOT_INJECTED)
    return tuple(sorted(counts.items()))


def trading_done(obs: TrialObservation) -> tuple[tuple[str, int], ...]:
    """What the bot did on the exchange: executed entries by side, exits, stops placed and
    triggered (so a soak that traded little shows it)."""
    counts: Counter[str] = Counter()
    for order in obs.ledger.get("orders", []):
        if order.get("algo_id") is not None or Decimal(order["executed_quantity"]) == 0:
            continue
        if order["reduce_only"]:
            counts["exits"] += 1
        else:
            counts["long entries" if order["side"] == "BUY" else "short entries"] += 1
    for algo in obs.ledger.get("algo_orders", []):
        counts["stops placed"] += 1
        counts["stops triggered"] += algo.get("triggered_ms") is not None
    counts["runtime processes"] += len(obs.incarnations)
    return tuple(sorted(counts.items()))


def format_summary(report: SoakReport) -> str:
    outcomes = report.outcomes
    seeds = sorted(o.seed for o in outcomes)
    seed_range = f"seeds {seeds[0]}..{seeds[-1]}" if seeds else "no seeds"
    faults = report.faults()
    by_invariant = Counter(v.invariant for v in report.violations)
    slowest = max((o.seconds for o in outcomes), default=0.0)
    lines = [
        f"trials {len(outcomes)} ({seed_range}; {report.parallel} at a time; "
        f"{report.seconds:.0f}s in all, slowest trial {slowest:.0f}s)",
        "faults injected by kind: "
        + (", ".join(f"{kind} {n}" for kind, n in sorted(faults.items())) or "none"),
        "trading: " + ", ".join(f"{kind} {n}" for kind, n in sorted(report.trading().items())),
        "violations by invariant: "
        + ", ".join(
            f"{invariant.value} {by_invariant.get(invariant, 0)}" for invariant in Invariant
        ),
    ]
    if report.errors:
        lines.append(f"trials the harness could not carry out: {len(report.errors)}")
    return "\n".join(lines)


def format_details(report: SoakReport) -> str:
    """Every violation with its evidence, and every trial the harness could not carry out."""
    parts = [violation.render() for violation in report.violations]
    parts += [f"[harness error] trial {o.trial} (seed {o.seed}): {o.error}" for o in report.errors]
    return "\n".join(parts)
