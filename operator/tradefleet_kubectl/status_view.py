"""What ``kubectl tradefleet status`` prints: the fleet as a table, one bot in detail.

Pure text from :class:`~tradefleet_kubectl.facts.BotFacts`, called by :mod:`tradefleet_kubectl.cli`
(and by :mod:`tradefleet_kubectl.report`, which puts the detail in its bundle). The fleet table has
one row per bot with its region, phase, PnL, drawdown, breaker, revision and the reason of every
condition that means trouble; the detail view reads like ``kubectl cnpg status``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tradefleet_kubectl.facts import BotFacts, ago

RECENT_EVENTS = 10


def _number(value: object, *, digits: int = 2, suffix: str = "") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:.{digits}f}{suffix}"


def pnl_text(status: Mapping[str, Any]) -> str:
    pnl = _number(status.get("pnl"))
    pct = status.get("pnlPct")
    return pnl if pct is None else f"{pnl} ({_number(pct, suffix='%')})"


def breaker_text(facts: BotFacts) -> str:
    breaker = facts.breaker
    state = str(breaker.get("state") or "-")
    return f"{state}:{breaker['reason']}" if state == "Open" and breaker.get("reason") else state


def revision_text(status: Mapping[str, Any]) -> str:
    current, good = status.get("currentRevision"), status.get("lastGoodRevision")
    if current is None:
        return "-"
    return str(current) if good in (None, current) else f"{current} (good {good})"


def problems_text(facts: BotFacts) -> str:
    """``Type=Reason`` of every condition that means trouble, ``-`` when none."""
    return ", ".join(f"{c.type}={c.reason}" for c in facts.troubles) or "-"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def fleet_table(bots: Sequence[BotFacts]) -> str:
    """The fleet, one row per bot, by region, namespace and name."""
    if not bots:
        return "No TradingBots found."
    header = (
        "REGION",
        "NAMESPACE",
        "NAME",
        "PHASE",
        "PNL",
        "DRAWDOWN",
        "BREAKER",
        "REVISION",
        "PROBLEMS",
    )
    rows = [header]
    for bot in sorted(bots, key=lambda b: (b.region, b.namespace, b.name)):
        rows.append(
            (
                bot.region,
                bot.namespace,
                bot.name,
                bot.phase,
                pnl_text(bot.status),
                _number(bot.status.get("drawdownPct"), suffix="%"),
                breaker_text(bot),
                revision_text(bot.status),
                problems_text(bot),
            )
        )
    return _table(rows)


def _position_text(status: Mapping[str, Any]) -> str:
    position = status.get("position")
    if not isinstance(position, Mapping) or position.get("side") in (None, "flat"):
        return "flat"
    return f"{position.get('side')} {position.get('size')} @ {_number(position.get('entryPrice'))}"


def _overview(facts: BotFacts) -> list[str]:
    status, spec = facts.status, facts.spec
    # status.control.killSwitch says where the kill switch stands while the annotation is set.
    kill = (facts.control.get("killSwitch") or {}) if facts.kill_switch_set else {}
    lines = [
        f"TradingBot {facts.namespace}/{facts.name}",
        f"  Phase:        {facts.phase}",
        f"  Region:       {facts.region}   Node: {status.get('node') or '-'}   "
        f"Pod: {facts.pod or '-'}",
        f"  Exchange:     {spec.get('exchange', '-')} {spec.get('market', '')} "
        f"{spec.get('symbol', '')}   mode {spec.get('mode', 'paper')}",
        f"  Paused:       {bool(spec.get('paused'))} (spec.paused)   "
        f"Kill switch: {'set' if facts.kill_switch_set else 'not set'}"
        + (f" ({kill.get('state')}: {kill.get('message')})" if kill.get("state") else ""),
        f"  Equity:       {_number(status.get('equity'))}   PnL: {pnl_text(status)}   "
        f"Drawdown: {_number(status.get('drawdownPct'), suffix='%')}",
        f"  Position:     {_position_text(status)}   Regime: {status.get('regime') or '-'}",
        f"  Breaker:      {breaker_text(facts)}"
        + (f" — {facts.breaker.get('message')}" if facts.breaker.get("message") else ""),
        f"  Heartbeat:    {status.get('lastHeartbeat') or '-'}",
    ]
    runtime = facts.runtime
    for key, label in (
        ("haltReason", "Halted"),
        ("pauseReason", "Paused"),
        ("ordersBlocked", "Blocked"),
    ):
        if runtime.get(key):
            lines.append(f"  Runtime:      {label}: {runtime[key]}")
    ml = status.get("ml")
    if isinstance(ml, Mapping):
        lines.append(f"  ML input:     {_ml_text(ml)}")
    return lines


def _ml_text(ml: Mapping[str, Any]) -> str:
    """The ML fusion input: its model and score, or why there is none in use."""
    if ml.get("state") != "Ready":
        return f"{ml.get('state')}: {ml.get('reason') or '-'}"
    accuracy = ml.get("walkForwardAccuracy")
    shown = f"model v{ml.get('version')} by {ml.get('trainedBy') or '-'}"
    if isinstance(accuracy, int | float):
        shown += f", walk-forward accuracy {100 * accuracy:.1f}%"
    if isinstance(ml.get("probabilityUp"), int | float):
        shown += f", P(up) {100 * ml['probabilityUp']:.0f}%"
    return shown


def _conditions(facts: BotFacts) -> list[str]:
    lines = ["", "Conditions:"]
    rows = [("TYPE", "STATUS", "REASON", "SINCE", "MESSAGE")]
    for c in facts.conditions:
        mark = "!" if c.trouble else ""
        rows.append(
            (
                f"{mark}{c.type}",
                c.status,
                c.reason,
                ago(moment=c.since, now=facts.now),
                c.message.replace("\n", " "),
            )
        )
    lines.extend("  " + line for line in _table(rows).splitlines())
    return lines


def _revisions(facts: BotFacts) -> list[str]:
    status = facts.status
    lines = [
        "",
        f"Revisions: current {status.get('currentRevision', '-')}, "
        f"last good {status.get('lastGoodRevision', '-')}",
    ]
    rows = [("REVISION", "HASH", "AGE", "SOURCE", "REASON")]
    for r in reversed(facts.revisions):
        rows.append(
            (
                str(r.number),
                r.hash[:12],
                ago(moment=r.created_at, now=facts.now),
                r.source or "-",
                r.reason or "-",
            )
        )
    if len(rows) > 1:
        lines.extend("  " + line for line in _table(rows).splitlines())
    rollback = facts.rollback
    if rollback:
        lines.append(
            f"  Rolled back {rollback.get('fromRevision')} -> {rollback.get('toRevision')} at "
            f"{rollback.get('at')}: {rollback.get('reason')}"
        )
    return lines


def _restarts(facts: BotFacts) -> list[str]:
    healing = facts.status.get("selfHealing") or {}
    recent = healing.get("recentRestarts") or []
    lines = ["", f"Restarts in window: {facts.status.get('restarts', 0)}"]
    for entry in recent[:5]:
        lines.append(f"  {entry.get('at')}  {entry.get('cause')}  {entry.get('message', '')}")
    return lines


def _events(facts: BotFacts) -> list[str]:
    lines = ["", "Recent events:"]
    recent = facts.events[-RECENT_EVENTS:]
    if not recent:
        return [*lines, "  none"]
    rows = [("AGE", "TYPE", "REASON", "OBJECT", "MESSAGE")]
    for e in recent:
        rows.append(
            (
                ago(moment=e.at, now=facts.now),
                e.type,
                e.reason,
                f"{e.kind}/{e.name}",
                e.message.replace("\n", " "),
            )
        )
    lines.extend("  " + line for line in _table(rows).splitlines())
    return lines


def bot_detail(facts: BotFacts) -> str:
    """One bot in detail: overview, conditions, revisions, restarts, recent events."""
    return "\n".join(
        [
            *_overview(facts),
            *_conditions(facts),
            *_revisions(facts),
            *_restarts(facts),
            *_events(facts),
        ]
    )
