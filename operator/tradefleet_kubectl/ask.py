"""``kubectl tradefleet ask NAME "question"``: answers in plain words from a bot's facts.

Pure and deterministic, called by :mod:`tradefleet_kubectl.cli`. A question is matched by its
keywords to one of the topics below; each answer is built from the bot's status, conditions,
events and revisions (:class:`~tradefleet_kubectl.facts.BotFacts`) and quotes them, with what to
do taken from the operator's reason documentation
(:func:`tradefleet_operator.spec.reason_docs.documented`). A question matching no topic gets the
list of questions the plugin answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tradefleet_operator.spec.enums import BotPhase
from tradefleet_operator.spec.phases import BOT_PHASES
from tradefleet_operator.spec.reason_docs import documented
from tradefleet_operator.spec.vocabulary import ConditionType, Reason

from tradefleet_kubectl.facts import BotFacts, ConditionFact, ago

CHANGE_WINDOW = timedelta(hours=24)


class Topic(StrEnum):
    """The questions ``ask`` answers."""

    ROLLED_BACK = "why did it roll back?"
    CHANGED = "what changed since yesterday?"
    HALTED = "why is it halted?"
    NOT_TRADING = "why is it not trading?"
    UNKNOWN = "unknown"


# Matched in this order: the first topic with a keyword in the question wins.
_KEYWORDS: tuple[tuple[Topic, tuple[str, ...]], ...] = (
    (Topic.ROLLED_BACK, ("roll back", "rolled back", "rollback", "roll-back", "rolled")),
    (Topic.CHANGED, ("changed", "change", "yesterday", "24h", "24 h", "happened", "recent")),
    (Topic.HALTED, ("halt", "kill", "stopped", "breaker")),
    (
        Topic.NOT_TRADING,
        ("trading", "trade", "idle", "no position", "no order", "paused", "doing nothing"),
    ),
)


def topic_of(question: str) -> Topic:
    """The topic a question asks about, by its keywords."""
    text = " ".join(question.lower().split())
    for topic, words in _KEYWORDS:
        if any(word in text for word in words):
            return topic
    return Topic.UNKNOWN


@dataclass(frozen=True, kw_only=True, slots=True)
class Answer:
    topic: Topic
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _todo(reason: str) -> str | None:
    doc = documented(reason)
    return f"What to do: {doc.action}." if doc and doc.action != "nothing" else None


def _cond_line(c: ConditionFact, *, facts: BotFacts) -> str:
    doc = documented(c.reason)
    meaning = f" ({doc.meaning})" if doc else ""
    since = f", since {ago(moment=c.since, now=facts.now)} ago" if c.since else ""
    message = f": {c.message}" if c.message else ""
    return f"{c.type}={c.status}, reason {c.reason}{meaning}{since}{message}"


def _kill_switch_lines(facts: BotFacts) -> list[str]:
    if not facts.kill_switch_set:
        return []
    kill = facts.control.get("killSwitch") or {}
    lines = ["The kill switch is set (annotation tradefleet.io/kill-switch=true)."]
    if kill.get("state"):
        lines.append(
            f"  Kill switch state {kill.get('state')} since {kill.get('since') or '-'}: "
            f"{kill.get('message') or ''}".rstrip()
        )
    lines.append(f"  To trade again: kubectl tradefleet unkill {facts.name} -n {facts.namespace}")
    return lines


def _breaker_lines(facts: BotFacts) -> list[str]:
    if facts.breaker.get("state") != "Open":
        return []
    reason = str(facts.breaker.get("reason") or Reason.TRIPPED)
    doc = documented(reason)
    lines = [
        f"A circuit breaker is open: {reason}"
        + (f" ({doc.meaning})" if doc else "")
        + f", since {facts.breaker.get('since') or '-'}.",
    ]
    if facts.breaker.get("message"):
        lines.append(f"  The runtime says: {facts.breaker['message']}")
    if doc:
        lines.append(f"  What to do: {doc.action}.")
    lines.append(
        f"  To reset it: kubectl tradefleet reset-breaker {facts.name} -n {facts.namespace}"
    )
    return lines


def _runtime_halt_lines(facts: BotFacts) -> list[str]:
    runtime = facts.runtime
    if not runtime.get("halted") or runtime.get("userHalted"):
        return []
    lines = [f"The runtime halted itself: {runtime.get('haltReason') or 'no reason given'}."]
    trading = facts.condition(ConditionType.TRADING)
    if trading is not None and trading.status == "False":
        lines.append(f"  {_cond_line(trading, facts=facts)}")
        todo = _todo(trading.reason)
        if todo:
            lines.append(f"  {todo}")
    return lines


def why_halted(facts: BotFacts) -> Answer:
    causes = [*_kill_switch_lines(facts), *_breaker_lines(facts), *_runtime_halt_lines(facts)]
    ready = facts.condition(ConditionType.READY)
    if ready is not None and ready.reason == Reason.KILL_SWITCH_NOT_CONFIRMED:
        causes.append(f"  {_cond_line(ready, facts=facts)}")
    head = f"{facts.namespace}/{facts.name} is in phase {facts.phase}."
    if not causes:
        lines = [
            head,
            "It is not halted: no kill switch, no open circuit breaker, no runtime halt.",
        ]
        if facts.phase != BotPhase.RUNNING:
            lines.append(f'Ask "why is it not trading?" for what keeps it in {facts.phase}.')
        return Answer(topic=Topic.HALTED, lines=tuple(lines))
    return Answer(topic=Topic.HALTED, lines=(head, *causes))


def why_not_trading(facts: BotFacts) -> Answer:
    lines = [f"{facts.namespace}/{facts.name} is in phase {facts.phase}."]
    trading = facts.condition(ConditionType.TRADING)
    if trading is not None and trading.status == "True":
        # The runtime trades; anything else that means trouble is worth a look, not a cause.
        others = [c for c in facts.troubles if c.type != ConditionType.TRADING]
        lines.append(f"It is trading: {_cond_line(trading, facts=facts)}.")
        lines += [f"  Also: {_cond_line(c, facts=facts)}" for c in others]
        return Answer(topic=Topic.NOT_TRADING, lines=tuple(lines))
    shown: set[str] = {ConditionType.ROLLED_BACK}
    if facts.spec.get("paused"):
        lines.append(
            f"spec.paused is true: it opens no new positions. To trade: "
            f"kubectl tradefleet resume {facts.name} -n {facts.namespace}"
        )
        shown.add(ConditionType.PAUSED)
    lines += _kill_switch_lines(facts) + _breaker_lines(facts) + _runtime_halt_lines(facts)
    if facts.breaker.get("state") == "Open":
        shown.add(ConditionType.CIRCUIT_BREAKER_OPEN)
    for c in facts.troubles:
        if c.type in shown:
            continue
        lines.append(_cond_line(c, facts=facts))
        todo = _todo(c.reason)
        if todo:
            lines.append(f"  {todo}")
    if len(lines) == 1:
        phase_doc = next((text for phase, text in BOT_PHASES.items() if phase == facts.phase), None)
        lines.append(
            f"No condition says why; phase {facts.phase}: {phase_doc}."
            if phase_doc
            else "The operator has reported no status for it yet: is its region's operator running?"
        )
    return Answer(topic=Topic.NOT_TRADING, lines=tuple(lines))


def what_changed(facts: BotFacts) -> Answer:
    since = facts.now - CHANGE_WINDOW
    found: list[tuple[float, str]] = []

    def add(moment: object, text: str) -> None:
        if isinstance(moment, datetime) and moment >= since:
            found.append((moment.timestamp(), f"{ago(moment=moment, now=facts.now)} ago: {text}"))

    for r in facts.revisions:
        add(
            r.created_at,
            f"revision {r.number} created"
            + (f" ({r.source})" if r.source else "")
            + (f": {r.reason}" if r.reason else ""),
        )
    for c in facts.conditions:
        add(c.since, f"{c.type} became {c.status} ({c.reason})")
    for e in facts.events:
        count = f" (x{e.count})" if e.count > 1 else ""
        add(e.at, f"event {e.type} {e.reason}{count} on {e.kind}/{e.name}: {e.message}")
    head = f"What changed for {facts.namespace}/{facts.name} in the last 24 h (newest first):"
    if not found:
        return Answer(
            topic=Topic.CHANGED,
            lines=(
                f"Nothing recorded for {facts.namespace}/{facts.name} in the last 24 h: no new "
                "revision, no condition transition, no event.",
                "(The apiserver keeps events for its --event-ttl, 1 h by default.)",
            ),
        )
    found.sort(key=lambda item: -item[0])
    return Answer(topic=Topic.CHANGED, lines=(head, *(f"  {text}" for _, text in found)))


def why_rolled_back(facts: BotFacts) -> Answer:
    rollback = facts.rollback
    cond = facts.condition(ConditionType.ROLLED_BACK)
    if not rollback:
        text = "No rollback is recorded for it"
        return Answer(
            topic=Topic.ROLLED_BACK,
            lines=(f"{text}: {_cond_line(cond, facts=facts)}." if cond else f"{text}.",),
        )
    failed, restored = rollback.get("fromRevision"), rollback.get("toRevision")
    lines = [
        f"Revision {failed} of {facts.namespace}/{facts.name} was rolled back to revision "
        f"{restored} at {rollback.get('at') or '-'}.",
        f"Why: {rollback.get('reason') or 'not recorded'}",
    ]
    by_number = {r.number: r for r in facts.revisions}
    for number, role in ((failed, "failed"), (restored, "restored")):
        rev = by_number.get(int(number)) if isinstance(number, int) else None
        if rev is not None:
            lines.append(
                f"  The {role} revision {rev.number} ({rev.hash[:12]}) was created "
                f"{ago(moment=rev.created_at, now=facts.now)} ago"
                + (f" by {rev.source}" if rev.source else "")
                + (f": {rev.reason}" if rev.reason else "")
            )
    if cond is not None:
        lines.append(_cond_line(cond, facts=facts))
        if cond.reason == Reason.ROLLED_FORWARD:
            lines.append(
                f"  The spec changed since: it runs revision {facts.status.get('currentRevision')}."
            )
    todo = _todo(Reason.PROGRESS_DEADLINE_EXCEEDED)
    if todo and (cond is None or cond.status == "True"):
        lines.append(todo)
    return Answer(topic=Topic.ROLLED_BACK, lines=tuple(lines))


def answer(*, facts: BotFacts, question: str) -> Answer:
    """The answer to ``question`` about the bot, or the list of questions ``ask`` answers."""
    topic = topic_of(question)
    if topic is Topic.HALTED:
        return why_halted(facts)
    if topic is Topic.NOT_TRADING:
        return why_not_trading(facts)
    if topic is Topic.CHANGED:
        return what_changed(facts)
    if topic is Topic.ROLLED_BACK:
        return why_rolled_back(facts)
    return Answer(
        topic=Topic.UNKNOWN,
        lines=(
            f"I cannot answer {question!r}. I answer these questions about a bot:",
            *(f"  {t.value}" for t in Topic if t is not Topic.UNKNOWN),
        ),
    )
